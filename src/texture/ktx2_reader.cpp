#include "gpumem/texture/ktx2_reader.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>

#include "gpumem/core/error.hpp"
#include "texture/read_context.hpp"
#include "texture/supercompression.hpp"

namespace gpumem::ktx2 {
namespace detail {

void check_supercompressed_levels(ReadContext& ctx) {
  if (!ctx.inflatable() || !ctx.options.verify_supercompressed_levels) return;
  for (std::uint32_t level = 0; level < ctx.levels(); ++level) {
    // Throws FormatError naming the level.
    (void)level_data(ctx.file, level, ctx.options.max_inflated_level_bytes);
  }
}

}  // namespace detail

Ktx2File read_ktx2(std::span<const std::byte> bytes, std::string source,
                   const ReadOptions& options) {
  Ktx2File file;
  file.source = std::move(source);
  detail::ReadContext ctx{
      .view = detail::ByteView(bytes, file.source), .options = options, .file = file, .traits = {}};
  detail::check_header(ctx);
  detail::check_index(ctx);
  detail::check_level_index(ctx);
  detail::check_dfd(ctx);
  detail::check_level_lengths(ctx);
  detail::check_key_values(ctx);
  detail::check_global_data(ctx);
  file.bytes.assign(bytes.begin(), bytes.end());
  detail::check_supercompressed_levels(ctx);
  if (options.gltf_basisu) detail::check_gltf_basisu(ctx);
  return file;
}

Ktx2File read_ktx2_file(const std::filesystem::path& path, const ReadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(fmt::format("cannot open '{}'", path.string()));
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InvalidArgument(fmt::format("cannot read '{}'", path.string()));
  const auto* data = reinterpret_cast<const std::byte*>(chars.data());
  return read_ktx2({data, chars.size()}, path.string(), options);
}

}  // namespace gpumem::ktx2
