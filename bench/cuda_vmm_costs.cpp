// What CUDA's virtual memory management costs per call and per page, measured on the device:
// the figures the page-mapped arena's design rests on (how large physical allocations should
// be). cuMemMap maps a whole physical allocation or nothing (CUDA 13 refuses a nonzero offset
// with CUDA_ERROR_NOT_SUPPORTED), so an allocation is mapped, moved and unmapped as a unit. For
// each physical-allocation size it times, in microseconds per allocation:
//   create    cuMemCreate
//   map       cuMemMap
//   access    cuMemSetAccess (read/write for the device)
//   unmap     cuMemUnmap
//   move      cuMemUnmap, then cuMemMap and cuMemSetAccess at another address (what taking a
//             cached allocation for a request elsewhere costs)
//   release   cuMemRelease
// with --held pages of 2 MiB mapped beforehand (the driver's per-mapping work may grow with what
// is mapped), next to cudaMalloc/cudaFree of the same size. One JSON line per size.
//
//   ./build/bench/cuda_vmm_costs --sizes-mib 2,16,64,128,512 --repeat 8 --held 2048
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cuda/cuda_driver_api.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using gpumem::detail::DriverApi;

struct Options {
  std::vector<std::uint64_t> sizes_mib{2, 16, 64, 128, 512};
  int repeat = 8;
  std::uint64_t held = 2048;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw gpumem::InvalidArgument(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--sizes-mib") {
      o.sizes_mib.clear();
      const std::string list = value();
      for (std::size_t at = 0; at < list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        o.sizes_mib.push_back(std::stoull(list.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (arg == "--repeat") {
      o.repeat = std::stoi(value());
    } else if (arg == "--held") {
      o.held = std::stoull(value());
    } else {
      throw gpumem::InvalidArgument(
          fmt::format("unknown argument '{}' (--sizes-mib A,B,.. --repeat N --held PAGES)", arg));
    }
  }
  return o;
}

class Probe {
 public:
  explicit Probe(const DriverApi& api) : api_(api) {
    prop_.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop_.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop_.location.id = 0;
    access_.location = prop_.location;
    access_.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    check(api_.mem_get_allocation_granularity(&page_, &prop_, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED),
          "cuMemGetAllocationGranularity");
    check(api_.mem_address_reserve(&base_, kRange, page_, 0, 0), "cuMemAddressReserve");
  }
  ~Probe() {
    for (std::size_t i = 0; i < held_.size(); ++i) {
      static_cast<void>(api_.mem_unmap(held_at(i), page_));
      static_cast<void>(api_.mem_release(held_[i]));
    }
    static_cast<void>(api_.mem_address_free(base_, kRange));
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  std::uint64_t page() const { return page_; }

  // Pages mapped at the top of the range for the rest of the run.
  void hold(std::uint64_t pages) {
    for (std::uint64_t i = 0; i < pages; ++i) {
      CUmemGenericAllocationHandle h = create(page_);
      held_.push_back(h);
      map(held_at(held_.size() - 1), page_, 0, h);
      allow(held_at(held_.size() - 1), page_);
    }
  }

  CUmemGenericAllocationHandle create(std::uint64_t size) {
    CUmemGenericAllocationHandle h = 0;
    check(api_.mem_create(&h, size, &prop_, 0), "cuMemCreate");
    return h;
  }
  void release(CUmemGenericAllocationHandle h) { check(api_.mem_release(h), "cuMemRelease"); }
  void map(CUdeviceptr at, std::uint64_t size, std::uint64_t offset,
           CUmemGenericAllocationHandle h) {
    check(api_.mem_map(at, size, offset, h, 0), "cuMemMap");
  }
  void allow(CUdeviceptr at, std::uint64_t size) {
    check(api_.mem_set_access(at, size, &access_, 1), "cuMemSetAccess");
  }
  void unmap(CUdeviceptr at, std::uint64_t size) { check(api_.mem_unmap(at, size), "cuMemUnmap"); }
  // Two working areas far apart in the range.
  CUdeviceptr area(int which) const { return base_ + static_cast<std::uint64_t>(which) * kArea; }

 private:
  static constexpr std::uint64_t kArea = 64 * gpumem::kGiB;
  static constexpr std::uint64_t kRange = 4 * kArea;
  CUdeviceptr held_at(std::size_t i) const { return base_ + 3 * kArea + i * page_; }
  void check(CUresult r, const char* call) const {
    if (r != CUDA_SUCCESS) {
      throw gpumem::Error(
          fmt::format("{} failed: {}", call, gpumem::detail::driver_error_text(api_, r)));
    }
  }

  const DriverApi& api_;
  CUmemAllocationProp prop_{};
  CUmemAccessDesc access_{};
  std::size_t page_ = 0;
  CUdeviceptr base_ = 0;
  std::vector<CUmemGenericAllocationHandle> held_;
};

struct Timer {
  Clock::time_point start = Clock::now();
  double us() const {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }
};

// Mean microseconds per allocation of each step, over `repeat` allocations of `size` bytes.
struct Costs {
  double create = 0, map = 0, access = 0, unmap = 0, move = 0, release = 0;
  double cuda_malloc = 0, cuda_free = 0;
};

Costs measure(Probe& probe, std::uint64_t size, int repeat) {
  Costs c;
  std::vector<CUmemGenericAllocationHandle> handles(static_cast<std::size_t>(repeat));
  // Created together, so creation is timed apart from mapping.
  Timer t;
  for (auto& h : handles) h = probe.create(size);
  c.create = t.us();
  // Whole: one mapping per allocation.
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const CUdeviceptr at = probe.area(0) + static_cast<std::uint64_t>(i) * size;
    Timer m;
    probe.map(at, size, 0, handles[i]);
    c.map += m.us();
    Timer a;
    probe.allow(at, size);
    c.access += a.us();
  }
  for (std::size_t i = 0; i < handles.size(); ++i) {
    Timer u;
    probe.unmap(probe.area(0) + static_cast<std::uint64_t>(i) * size, size);
    c.unmap += u.us();
  }
  // Moved: unmapped where it was, mapped and made accessible elsewhere (what stealing a cached
  // allocation for a request somewhere else costs).
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const CUdeviceptr from = probe.area(0) + static_cast<std::uint64_t>(i) * size;
    const CUdeviceptr to = probe.area(1) + static_cast<std::uint64_t>(i) * size;
    probe.map(from, size, 0, handles[i]);
    probe.allow(from, size);
    Timer mv;
    probe.unmap(from, size);
    probe.map(to, size, 0, handles[i]);
    probe.allow(to, size);
    c.move += mv.us();
    probe.unmap(to, size);
  }
  Timer r;
  for (const auto h : handles) probe.release(h);
  c.release = r.us();
  std::vector<void*> blocks(static_cast<std::size_t>(repeat));
  Timer cm;
  for (void*& b : blocks) {
    if (cudaMalloc(&b, size) != cudaSuccess) throw gpumem::Error("cudaMalloc failed");
  }
  c.cuda_malloc = cm.us();
  Timer cf;
  for (void* b : blocks) static_cast<void>(cudaFree(b));
  c.cuda_free = cf.us();
  for (double* v : {&c.create, &c.map, &c.access, &c.unmap, &c.move, &c.release, &c.cuda_malloc,
                    &c.cuda_free}) {
    *v /= repeat;
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options options = parse(argc, argv);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    fmt::print("cuda_vmm_costs: no CUDA device; nothing measured\n");
    return 0;
  }
  static_cast<void>(cudaSetDevice(0));
  static_cast<void>(cudaFree(nullptr));
  std::string why;
  const DriverApi* api = gpumem::detail::driver_api(why);
  if (api == nullptr) throw gpumem::Error("driver API: " + why);
  Probe probe(*api);
  probe.hold(options.held);
  measure(probe, probe.page(), 2);  // warm-up
  fmt::print(
      "{:>6} {:>6} | {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>10} {:>8}   (us per "
      "allocation; {} pages of {} held)\n",
      "MiB", "pages", "create", "map", "access", "unmap", "move", "release", "cudaMalloc",
      "cudaFree", options.held, gpumem::format_bytes(probe.page()));
  for (const std::uint64_t mib : options.sizes_mib) {
    const std::uint64_t size = mib * gpumem::kMiB;
    if (size % probe.page() != 0) {
      throw gpumem::InvalidArgument(fmt::format("{} MiB is not a multiple of the page", mib));
    }
    const Costs c = measure(probe, size, options.repeat);
    fmt::print("{:>6} {:>6} | {:8.1f} {:8.1f} {:8.1f} {:8.1f} {:8.1f} {:8.1f} | {:10.1f} {:8.1f}\n",
               mib, size / probe.page(), c.create, c.map, c.access, c.unmap, c.move, c.release,
               c.cuda_malloc, c.cuda_free);
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "cuda_vmm_costs: {}\n", e.what());
  return 1;
}
