// A loaded texture's levels in device memory: one Manager allocation (Category::Texture) holding
// every level at aligned offsets, level 0 first, each level as load_texture gives it (layers,
// faces and slices in KTX2 order; RGBA8 where the device could not sample the stored format),
// uploaded through a StagingRing. The layout is a buffer's: a Vulkan application copies the
// levels into its image with vkCmdCopyBufferToImage at level_offset(), a CUDA program makes its
// texture or array from them.
//
//   gpumem::StagingRing ring(manager);
//   gpumem::LoadedTexture t = gpumem::load_texture("albedo.ktx2", {.samplable = can_sample});
//   gpumem::UploadedTexture gpu = gpumem::upload_texture(t, ring, {.tag = gpumem::Tag("albedo")});
//   gpu.wait();  // or poll gpu.is_complete() while the CPU does other work
//
// Thread safety: an UploadedTexture is a move-only value for one thread at a time; it must not
// outlive the ring it was uploaded through (is_complete and wait ask that ring).
#pragma once

#include <cstdint>
#include <vector>

#include "gpumem/core/tag.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/memory/allocation.hpp"
#include "gpumem/texture/load_texture.hpp"
#include "gpumem/transfer/staging_ring.hpp"

namespace gpumem {

struct TextureUploadOptions {
  Tag tag;
  HeapKind kind = HeapKind::DeviceLocal;
  // Offset alignment of each level in the allocation (a power of two, at least the format's
  // block size): 256 suits vkCmdCopyBufferToImage and CUDA's texture pitch alike.
  std::uint64_t level_alignment = 256;
};

class UploadedTexture {
 public:
  UploadedTexture() = default;

  const TextureDesc& desc() const noexcept { return desc_; }
  const Allocation& memory() const noexcept { return memory_; }
  std::uint32_t level_count() const noexcept {
    return static_cast<std::uint32_t>(level_offsets_.size());
  }
  // InvalidArgument for a level the texture does not have.
  std::uint64_t level_offset(std::uint32_t level) const;
  std::uint64_t level_bytes(std::uint32_t level) const;

  // Whether every level has arrived in device memory.
  bool is_complete();
  void wait();

 private:
  friend UploadedTexture upload_texture(const LoadedTexture&, StagingRing&,
                                        const TextureUploadOptions&);
  void check_level(std::uint32_t level) const;

  StagingRing* ring_ = nullptr;
  TextureDesc desc_;
  Allocation memory_;
  std::vector<std::uint64_t> level_offsets_;
  std::vector<std::uint64_t> level_bytes_;
  std::vector<TransferTicket> pending_;  // tickets not yet seen complete
};

// Allocates the texture's memory from the ring's manager and stages every level; returns once
// all are submitted (the LoadedTexture may then be dropped). InvalidArgument for a texture without
// level data (describe_texture's) or whose levels disagree with its sizes, or a bad alignment;
// BudgetExceeded / OutOfMemory as Manager::allocate, with nothing staged.
UploadedTexture upload_texture(const LoadedTexture& texture, StagingRing& ring,
                               const TextureUploadOptions& options = {});

}  // namespace gpumem
