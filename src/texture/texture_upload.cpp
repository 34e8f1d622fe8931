#include "gpumem/texture/texture_upload.hpp"

#include <fmt/format.h>

#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem {

void UploadedTexture::check_level(std::uint32_t level) const {
  if (level >= level_offsets_.size()) {
    throw InvalidArgument(fmt::format("uploaded texture: level {} of a texture with {} level{}",
                                      level, level_offsets_.size(),
                                      level_offsets_.size() == 1 ? "" : "s"));
  }
}

std::uint64_t UploadedTexture::level_offset(std::uint32_t level) const {
  check_level(level);
  return level_offsets_[level];
}

std::uint64_t UploadedTexture::level_bytes(std::uint32_t level) const {
  check_level(level);
  return level_bytes_[level];
}

bool UploadedTexture::is_complete() {
  // Tickets seen complete are dropped, so later calls ask about fewer.
  std::erase_if(pending_, [this](TransferTicket t) { return ring_->is_complete(t); });
  return pending_.empty();
}

void UploadedTexture::wait() {
  for (const TransferTicket t : pending_) ring_->wait(t);
  pending_.clear();
}

UploadedTexture upload_texture(const LoadedTexture& texture, StagingRing& ring,
                               const TextureUploadOptions& options) {
  const std::string name = texture.source.empty() ? std::string("texture") : texture.source;
  if (!is_power_of_two(options.level_alignment)) {
    throw InvalidArgument(
        fmt::format("upload_texture({}): level alignment {} is not a power of two", name,
                    options.level_alignment));
  }
  if (texture.levels.empty()) {
    throw InvalidArgument(fmt::format(
        "upload_texture({}): no level data (a description from describe_texture? load it with "
        "load_texture)",
        name));
  }
  if (texture.levels.size() != texture.level_bytes.size()) {
    throw InvalidArgument(fmt::format("upload_texture({}): {} levels of data for {} level sizes",
                                      name, texture.levels.size(), texture.level_bytes.size()));
  }
  // A level must start on a whole texel block (3-byte RGB8 blocks too), and on the alignment.
  const std::uint64_t block = format_info(texture.desc.format).bytes_per_block;
  const std::uint64_t alignment = std::lcm(options.level_alignment, block);

  UploadedTexture result;
  std::uint64_t end = 0;
  for (std::size_t level = 0; level < texture.levels.size(); ++level) {
    if (texture.levels[level].size() != texture.level_bytes[level]) {
      throw InvalidArgument(
          fmt::format("upload_texture({}): level {} holds {} bytes, its size is {}", name, level,
                      texture.levels[level].size(), texture.level_bytes[level]));
    }
    const std::uint64_t offset = (end + alignment - 1) / alignment * alignment;
    result.level_offsets_.push_back(offset);
    result.level_bytes_.push_back(texture.level_bytes[level]);
    end = offset + texture.level_bytes[level];
  }

  result.memory_ = ring.manager().allocate({.size = end,
                                            .alignment = options.level_alignment,
                                            .kind = options.kind,
                                            .category = Category::Texture,
                                            .tag = options.tag,
                                            .movable = false});
  result.ring_ = &ring;
  result.desc_ = texture.desc;
  for (std::size_t level = 0; level < texture.levels.size(); ++level) {
    const TransferTicket ticket = ring.stage_upload(std::span(texture.levels[level]),
                                                    result.memory_, result.level_offsets_[level]);
    if (ticket) result.pending_.push_back(ticket);
  }
  return result;
}

}  // namespace gpumem
