#include "cli/ktx_decompress_command.hpp"

#include <fmt/format.h>

#include "cli/image_file.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2.hpp"
#include "gpumem/texture/load_texture.hpp"

namespace gpumem::cli {

void run_ktx_decompress(const KtxDecompressOptions& options, std::ostream& out) {
  const LoadedTexture texture = load_texture(options.input);
  const Image image = decode_image(texture, options.level, 0);
  write_image_file(options.output, image);
  out << fmt::format("{} -> {}: level {} of {}, {}x{}\n", options.input, options.output,
                     options.level, to_string(texture.desc.format), image.width(), image.height());
}

}  // namespace gpumem::cli
