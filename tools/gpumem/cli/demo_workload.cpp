// Section 2 of the demo: a renderer's textures and buffers for one scene, allocated through a
// Manager with Config::defaults(), then the metrics the manager keeps about them.
#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "cli/demo_sections.hpp"
#include "cli/text_table.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/tag.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::cli {
namespace {

struct Resource {
  std::string tag;
  std::string what;
  Category category = Category::Buffer;
  HeapKind kind = HeapKind::DeviceLocal;
  std::uint64_t size = 0;
};

// Sizes come from gpumem's texture accounting, so they are the bytes the texels really take
// (BCn rounds every mip level up to whole 4x4 blocks).
Resource texture(std::string tag, TextureFormat format, std::uint32_t side, bool mips,
                 std::uint32_t layers = 1) {
  TextureDesc desc{.format = format, .width = side, .height = side, .array_layers = layers};
  desc.mip_levels = mips ? full_mip_count(side, side) : 1;
  const std::string count = layers > 1 ? fmt::format("{} x ", layers) : "";
  return {.tag = std::move(tag),
          .what = fmt::format("{}{}x{} {}, {} mip{}", count, side, side, to_string(format),
                              desc.mip_levels, desc.mip_levels == 1 ? "" : "s"),
          .category = Category::Texture,
          .kind = HeapKind::DeviceLocal,
          .size = texture_size_bytes(desc)};
}

std::vector<Resource> frame_resources() {
  constexpr std::uint64_t kVertices = 1'048'576;
  constexpr std::uint64_t kVertexBytes = 32;  // position, normal, uv as half floats, tangent
  constexpr std::uint64_t kIndices = 3 * kVertices;
  std::vector<Resource> r;
  r.push_back(texture("terrain/albedo", TextureFormat::BC7_SRGB_BLOCK, 4096, true));
  for (const char* material : {"rock", "brick", "metal"}) {
    r.push_back(
        texture(fmt::format("{}/normal", material), TextureFormat::BC5_UNORM_BLOCK, 2048, true));
  }
  r.push_back(texture("ui/atlas", TextureFormat::R8G8B8A8_SRGB, 1024, false));
  r.push_back(texture("shadow/cascades", TextureFormat::D32_SFLOAT, 2048, false, 4));
  r.push_back({.tag = "city/vertices",
               .what = fmt::format("vertex buffer, {} vertices x {} B", kVertices, kVertexBytes),
               .size = kVertices * kVertexBytes});
  r.push_back({.tag = "city/indices",
               .what = fmt::format("index buffer, {} x uint32", kIndices),
               .size = kIndices * 4});
  for (int frame = 0; frame < 3; ++frame) {
    r.push_back({.tag = "frame/uniforms",
                 .what = fmt::format("uniform buffer, frame in flight {}", frame),
                 .kind = HeapKind::Upload,
                 .size = 256 * kKiB});
  }
  r.push_back({.tag = "upload/staging",
               .what = "staging buffer for texture uploads",
               .category = Category::Staging,
               .kind = HeapKind::Upload,
               .size = 64 * kMiB});
  r.push_back({.tag = "gpu-timers/readback",
               .what = "query results read back by the CPU",
               .category = Category::Staging,
               .kind = HeapKind::Readback,
               .size = 64 * kKiB});
  return r;
}

bool has_heap_for(const Manager& manager, HeapKind kind) {
  try {
    manager.heap_for(kind);
    return true;
  } catch (const InvalidArgument&) {
    return false;
  }
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

void write_metrics(const MetricsSnapshot& m, std::ostream& out) {
  using Align = TextTable::Align;
  out << "\n  Per category (manager.metrics().by_category):\n";
  TextTable categories({"category", "live", "live bytes", "peak bytes", "allocated in all"},
                       {Align::Left, Align::Right, Align::Right, Align::Right, Align::Right});
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    const UsageFigures& f = m.by_category[c];
    if (f.allocated_count == 0) continue;
    categories.add_row({std::string(to_string(static_cast<Category>(c))),
                        std::to_string(f.live_count), format_bytes(f.live_bytes),
                        format_bytes(f.peak_bytes), format_bytes(f.allocated_bytes)});
  }
  categories.write(out, "    ");

  out << "\n  Per heap (manager.metrics().heaps):\n";
  TextTable heaps({"heap", "live", "live bytes", "reserved", "peak reserved", "hard budget",
                   "of budget", "pressure"},
                  {Align::Left, Align::Right, Align::Right, Align::Right, Align::Right,
                   Align::Right, Align::Right, Align::Left});
  for (const HeapFigures& h : m.heaps) {
    heaps.add_row({h.name, std::to_string(h.usage.live_count), format_bytes(h.usage.live_bytes),
                   format_bytes(h.reserved_bytes), format_bytes(h.peak_reserved_bytes),
                   format_bytes(h.budget_hard), percent(h.reserved_bytes, h.budget_hard),
                   std::string(to_string(h.pressure))});
  }
  heaps.write(out, "    ");
  out << fmt::format("\n  Total: {} live allocations, {} live, peak {}; within budget: {}\n",
                     m.total.live_count, format_bytes(m.total.live_bytes),
                     format_bytes(m.total.peak_bytes), m.within_budget ? "yes" : "no");
}

}  // namespace

void demo_workload(const std::shared_ptr<Device>& device, std::ostream& out) {
  write_heading(out, 2, "A scene's textures and buffers");
  Manager manager(device, Config::defaults());
  out << "A Manager with Config::defaults() allocates textures and buffers, each with a Tag and\n"
         "a Category; requests for the upload and readback kinds go to those heaps.\n\n";

  using Align = TextTable::Align;
  TextTable table({"tag", "category", "heap", "size", "what"},
                  {Align::Left, Align::Left, Align::Left, Align::Right, Align::Left});
  std::vector<Allocation> live;
  std::optional<std::size_t> staging;  // index into live
  std::vector<std::string> skipped;
  for (const Resource& r : frame_resources()) {
    if (!has_heap_for(manager, r.kind)) {
      skipped.push_back(fmt::format("{} (no {} or shared heap)", r.tag, to_string(r.kind)));
      continue;
    }
    live.push_back(manager.allocate(
        {.size = r.size, .kind = r.kind, .category = r.category, .tag = Tag(r.tag)}));
    if (r.category == Category::Staging && r.kind == HeapKind::Upload) staging = live.size() - 1;
    table.add_row({r.tag, std::string(to_string(r.category)),
                   manager.heaps()[live.back().heap()].name, format_bytes(r.size), r.what});
  }
  table.write(out);
  for (const std::string& s : skipped) out << fmt::format("  skipped: {}\n", s);

  if (staging) {
    out << fmt::format(
        "\nThe texture uploads are done: upload/staging ({}) is freed, so the peak\n"
        "stays above what is live.\n",
        format_bytes(live[*staging].size()));
    live[*staging].reset();
  }
  write_metrics(manager.metrics(), out);

  const std::size_t count = live.size();
  live.clear();  // each Allocation frees itself
  const MetricsSnapshot after = manager.metrics();
  out << fmt::format(
      "\nFreed the other {} allocations: {} live, {}; the peak stays {}\n"
      "(manager.reset_peak() starts a new high-water mark).\n",
      count - (staging ? 1 : 0), after.total.live_count, format_bytes(after.total.live_bytes),
      format_bytes(after.total.peak_bytes));
}

}  // namespace gpumem::cli
