// Large copies between ordinary (pageable) host memory and device memory at close to the link's
// speed. A plain cudaMemcpy from pageable memory runs at a fraction of it (the driver stages
// through small bounce buffers one at a time); pinning the caller's memory instead costs more than
// the copy (page-locking 64 MiB takes ~42 ms on an H200 and synchronises the device). The copier
// moves the bytes through a few pinned chunks allocated once: several host threads memcpy into
// one chunk while the copy engine moves another, and in steady state nothing is allocated.
// Uploads go through a StagingRing, downloads through an AsyncReadback; any backend works.
//
//   gpumem::PageableCopier copier(manager, {.chunk_size = 8 * gpumem::kMiB, .copy_threads = 8});
//   std::vector<std::byte> weights = load_weights();          // 256 MiB of ordinary memory
//   copier.upload(weights, device_weights);                    // returns when it has arrived
//   copier.download(device_results, results_vector);
//
// Thread safety: every method may be called from several threads at once; each call returns when
// its bytes have arrived. Concurrent callers share the ring (waiting for room) and the download
// pool, which then makes extra buffers for the spike and gives them back afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"
#include "gpumem/transfer/async_readback.hpp"
#include "gpumem/transfer/staging_ring.hpp"

namespace gpumem {

struct PageableCopierOptions {
  std::uint64_t chunk_size = 8 * kMiB;  // bytes per pinned chunk (> 0)
  std::uint32_t chunks = 4;             // chunks per direction (>= 2, so that copies overlap)
  std::uint32_t copy_threads = 4;       // host threads per chunk, the calling thread included
};

class PageableCopier {
 public:
  // Allocates chunks * chunk_size bytes for each direction through the manager (host-visible
  // budget); InvalidArgument for bad options.
  explicit PageableCopier(Manager& manager, PageableCopierOptions options = {});

  // Copies `bytes` to [dst_offset, +size) of `dst`; returns once they have arrived.
  void upload(std::span<const std::byte> bytes, const RawBlock& dst, std::uint64_t dst_offset = 0);
  void upload(std::span<const std::byte> bytes, const Allocation& dst,
              std::uint64_t dst_offset = 0);
  // Copies [src_offset, +out.size()) of `src` into `out`; returns once they are there.
  void download(const RawBlock& src, std::uint64_t src_offset, std::span<std::byte> out);
  void download(const Allocation& src, std::uint64_t src_offset, std::span<std::byte> out);

  const StagingRing& ring() const noexcept { return ring_; }
  const AsyncReadback& readback() const noexcept { return readback_; }

 private:
  PageableCopierOptions options_;
  StagingRing ring_;
  AsyncReadback readback_;
};

}  // namespace gpumem
