#include "backend/cuda/cuda_virtual_memory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/cuda_check.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {
namespace {

CUmemAllocationProp device_pages(int ordinal) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = ordinal;
  return prop;
}

}  // namespace

std::uint64_t CudaVirtualMemory::granularity(const DriverApi& api, int ordinal, std::string& why) {
  CUdevice device = 0;
  if (const CUresult r = api.device_get(&device, ordinal); r != CUDA_SUCCESS) {
    why = "cuDeviceGet failed: " + driver_error_text(api, r);
    return 0;
  }
  int supported = 0;
  if (const CUresult r = api.device_get_attribute(
          &supported, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, device);
      r != CUDA_SUCCESS) {
    why = "cuDeviceGetAttribute failed: " + driver_error_text(api, r);
    return 0;
  }
  if (supported == 0) {
    why = "the device does not support virtual memory management";
    return 0;
  }
  const CUmemAllocationProp prop = device_pages(ordinal);
  std::size_t minimum = 0;
  std::size_t recommended = 0;
  CUresult r =
      api.mem_get_allocation_granularity(&minimum, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  if (r == CUDA_SUCCESS) {
    r = api.mem_get_allocation_granularity(&recommended, &prop,
                                           CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
  }
  if (r != CUDA_SUCCESS) {
    why = "cuMemGetAllocationGranularity failed: " + driver_error_text(api, r);
    return 0;
  }
  const std::uint64_t granule = std::max(minimum, recommended);
  if (!is_power_of_two(granule)) {
    why = fmt::format("the driver reports a granularity of {} bytes, not a power of two", granule);
    return 0;
  }
  return granule;
}

CudaVirtualMemory::CudaVirtualMemory(const DriverApi& api, const DeviceInfo& info, int ordinal,
                                     std::uint64_t page_size)
    : api_(api), info_(info), ordinal_(ordinal), page_size_(page_size) {}

CudaVirtualMemory::~CudaVirtualMemory() {
  // Whatever is still out goes back to the driver; errors have nobody left to report to.
  if (cudaSetDevice(ordinal_) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return;
  }
  for (const auto& [address, mapping] : mappings_) {
    static_cast<void>(api_.mem_unmap(address, page_size_));
  }
  for (const auto& [id, page] : pages_) static_cast<void>(api_.mem_release(page.handle));
  for (const auto& [base, reservation] : reservations_) {
    static_cast<void>(api_.mem_address_free(base, reservation.size));
  }
}

std::string CudaVirtualMemory::where() const {
  return fmt::format("cuda device {} '{}'", info_.index, info_.name);
}

void CudaVirtualMemory::check_heap(std::uint32_t heap, const char* operation) const {
  if (heap == 0) return;
  if (heap >= info_.heaps.size()) {
    throw InvalidArgument(fmt::format("{}: {} on heap {}, which does not exist (it has {})",
                                      where(), operation, heap, info_.heaps.size()));
  }
  throw InvalidArgument(
      fmt::format("{}: {} on heap '{}': virtual memory serves only the device-local heap (0)",
                  where(), operation, info_.heaps[heap].name));
}

std::uint64_t CudaVirtualMemory::page_size(std::uint32_t heap) const {
  check_heap(heap, "page_size");
  return page_size_;
}

std::uint64_t CudaVirtualMemory::reserve(std::uint32_t heap, std::uint64_t size) {
  check_heap(heap, "reserve");
  if (size == 0 || size % page_size_ != 0) {
    throw InvalidArgument(
        fmt::format("{}: reserve of {} bytes is not a positive multiple of the page size ({})",
                    where(), size, format_bytes(page_size_)));
  }
  const ScopedDevice current(ordinal_, where());
  CUdeviceptr base = 0;
  const CUresult r = api_.mem_address_reserve(&base, size, page_size_, 0, 0);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) return 0;  // address space exhausted
  check_driver(api_, r, where(), fmt::format("cuMemAddressReserve({})", format_bytes(size)));
  std::lock_guard lock(mutex_);
  reservations_.emplace(base, Reservation{.size = size, .mapped = 0});
  return base;
}

void CudaVirtualMemory::unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) {
  check_heap(heap, "unreserve");
  {
    std::lock_guard lock(mutex_);
    auto it = reservations_.find(base);
    if (it == reservations_.end() || it->second.size != size) {
      throw InvalidHandle(fmt::format(
          "{}: unreserve of [{:#x}, +{}): no such reservation (given back already, never "
          "reserved, or reserved with another size)",
          where(), base, format_bytes(size)));
    }
    if (it->second.mapped != 0) {
      throw InvalidArgument(fmt::format(
          "{}: unreserve of [{:#x}, +{}) with {} page(s) still mapped; unmap them first", where(),
          base, format_bytes(size), it->second.mapped));
    }
    reservations_.erase(it);
  }
  const ScopedDevice current(ordinal_, where());
  check_driver(api_, api_.mem_address_free(base, size), where(),
               fmt::format("cuMemAddressFree({:#x}, {})", base, format_bytes(size)));
}

PhysicalPage CudaVirtualMemory::try_create_page(std::uint32_t heap) {
  check_heap(heap, "try_create_page");
  const ScopedDevice current(ordinal_, where());
  const CUmemAllocationProp prop = device_pages(ordinal_);
  CUmemGenericAllocationHandle handle = 0;
  const CUresult r = api_.mem_create(&handle, page_size_, &prop, 0);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) return {};
  check_driver(api_, r, where(), fmt::format("cuMemCreate({})", format_bytes(page_size_)));
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_page_id_++;
  pages_.emplace(id, Page{.handle = handle, .mappings = 0});
  page_bytes_.fetch_add(page_size_, std::memory_order_relaxed);
  return {.id = id};
}

CudaVirtualMemory::Page& CudaVirtualMemory::live_page(PhysicalPage page, const char* operation) {
  auto it = pages_.find(page.id);
  if (it == pages_.end()) {
    throw InvalidHandle(fmt::format(
        "{}: {} of page {:#x}: not a live page (released already, or not created by this device)",
        where(), operation, page.id));
  }
  return it->second;
}

void CudaVirtualMemory::release_page(std::uint32_t heap, PhysicalPage page) {
  check_heap(heap, "release_page");
  CUmemGenericAllocationHandle handle = 0;
  {
    std::lock_guard lock(mutex_);
    const Page& p = live_page(page, "release_page");
    if (p.mappings != 0) {
      throw InvalidArgument(
          fmt::format("{}: release_page of page {:#x} while it is mapped at {} address(es); unmap "
                      "it first",
                      where(), page.id, p.mappings));
    }
    handle = p.handle;
    pages_.erase(page.id);
  }
  page_bytes_.fetch_sub(page_size_, std::memory_order_relaxed);
  const ScopedDevice current(ordinal_, where());
  check_driver(api_, api_.mem_release(handle), where(), "cuMemRelease");
}

std::map<std::uint64_t, CudaVirtualMemory::Reservation>::iterator CudaVirtualMemory::reservation_at(
    std::uint64_t address, const char* operation) {
  if (address % page_size_ != 0) {
    throw InvalidArgument(
        fmt::format("{}: {} at {:#x}: the address is not a multiple of the page size ({})", where(),
                    operation, address, format_bytes(page_size_)));
  }
  auto it = reservations_.upper_bound(address);
  if (it != reservations_.begin()) {
    --it;
    if (address - it->first < it->second.size) return it;
  }
  throw InvalidArgument(fmt::format("{}: {} at {:#x}: no reservation holds the address", where(),
                                    operation, address));
}

void CudaVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) {
  map_run(heap, address, std::span(&page, 1));
}

std::vector<CUmemGenericAllocationHandle> CudaVirtualMemory::claim_mappings(
    std::uint64_t address, std::span<const PhysicalPage> pages) {
  std::vector<CUmemGenericAllocationHandle> handles;
  handles.reserve(pages.size());
  try {
    for (const PhysicalPage page : pages) {
      const std::uint64_t at = address + handles.size() * page_size_;
      const auto reservation = reservation_at(at, "map");
      Page& p = live_page(page, "map");
      if (const auto it = mappings_.find(at); it != mappings_.end()) {
        throw InvalidArgument(fmt::format(
            "{}: map of page {:#x} at {:#x}: page {:#x} is mapped there already; unmap it first",
            where(), page.id, at, it->second.page));
      }
      // Claimed before the driver call, so that no other thread maps here or releases the page.
      mappings_.emplace(at, Mapping{.page = page.id, .reservation = reservation->first});
      ++p.mappings;
      ++reservation->second.mapped;
      handles.push_back(p.handle);
    }
  } catch (...) {
    drop_mappings(address, handles.size());
    throw;
  }
  return handles;
}

void CudaVirtualMemory::drop_mappings(std::uint64_t address, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto it = mappings_.find(address + i * page_size_);
    --pages_.at(it->second.page).mappings;
    --reservations_.at(it->second.reservation).mapped;
    mappings_.erase(it);
  }
}

void CudaVirtualMemory::map_run(std::uint32_t heap, std::uint64_t address,
                                std::span<const PhysicalPage> pages) {
  check_heap(heap, "map");
  if (pages.empty()) return;
  std::vector<CUmemGenericAllocationHandle> handles;
  {
    std::lock_guard lock(mutex_);
    handles = claim_mappings(address, pages);
  }
  const std::uint64_t run = pages.size() * page_size_;
  std::size_t mapped = 0;
  try {
    const ScopedDevice current(ordinal_, where());
    for (; mapped < handles.size(); ++mapped) {
      const std::uint64_t at = address + mapped * page_size_;
      check_driver(api_, api_.mem_map(at, page_size_, 0, handles[mapped], 0), where(),
                   fmt::format("cuMemMap({:#x})", at));
    }
    // Held from reading the accessors to setting them, so a peer granted meanwhile is not missed.
    std::lock_guard access_lock(access_mutex_);
    const std::vector<CUmemAccessDesc> access = accessors();
    check_driver(api_, api_.mem_set_access(address, run, access.data(), access.size()), where(),
                 fmt::format("cuMemSetAccess({:#x}, {})", address, format_bytes(run)));
  } catch (...) {
    for (std::size_t i = 0; i < mapped; ++i) {
      static_cast<void>(api_.mem_unmap(address + i * page_size_, page_size_));
    }
    std::lock_guard lock(mutex_);
    drop_mappings(address, pages.size());
    throw;
  }
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < pages.size(); ++i) {
    mappings_.at(address + i * page_size_).settled = true;
  }
}

std::vector<CUmemAccessDesc> CudaVirtualMemory::accessors() const {
  std::vector<CUmemAccessDesc> list;
  for (int device = 0; device < 64; ++device) {
    if (device != ordinal_ && (peers_ >> device & 1U) == 0) continue;
    CUmemAccessDesc access{};
    access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    access.location.id = device;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    list.push_back(access);
  }
  return list;
}

void CudaVirtualMemory::grant_peer_access(int peer) {
  if (peer < 0 || peer >= 64) {
    throw InvalidArgument(fmt::format("{}: peer device {} is out of range", where(), peer));
  }
  std::lock_guard access_lock(access_mutex_);
  peers_ |= std::uint64_t{1} << peer;
  std::vector<std::uint64_t> mapped;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [address, mapping] : mappings_) {
      if (mapping.settled) mapped.push_back(address);
    }
  }
  // Pages still in map() get the new list there (it waits for access_mutex_); pages unmapped
  // meanwhile make the driver refuse, which only means there is nothing to grant.
  const std::vector<CUmemAccessDesc> access = accessors();
  const ScopedDevice current(ordinal_, where());
  for (const std::uint64_t address : mapped) {
    static_cast<void>(api_.mem_set_access(address, page_size_, access.data(), access.size()));
  }
}

void CudaVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  PhysicalPage page;
  {
    std::lock_guard lock(mutex_);
    const auto it = mappings_.find(address);
    if (it == mappings_.end()) {
      reservation_at(address, "unmap");  // names a bad address or one outside reservations
      throw InvalidArgument(
          fmt::format("{}: unmap at {:#x}: no page is mapped there", where(), address));
    }
    page.id = it->second.page;
  }
  unmap_run(heap, address, std::span(&page, 1));
}

void CudaVirtualMemory::unmap_run(std::uint32_t heap, std::uint64_t address,
                                  std::span<const PhysicalPage> pages) {
  check_heap(heap, "unmap");
  if (pages.empty()) return;
  const auto set_settled = [&](std::size_t count, bool settled) {
    for (std::size_t i = 0; i < count; ++i) {
      mappings_.at(address + i * page_size_).settled = settled;
    }
  };
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < pages.size(); ++i) {
      const std::uint64_t at = address + i * page_size_;
      const auto it = mappings_.find(at);
      std::string why;
      if (it == mappings_.end()) {
        set_settled(i, true);
        reservation_at(at, "unmap");  // names a bad address or one outside reservations
        throw InvalidArgument(
            fmt::format("{}: unmap at {:#x}: no page is mapped there", where(), at));
      }
      if (it->second.page != pages[i].id) {
        why =
            fmt::format("page {:#x} is mapped there, not page {:#x}", it->second.page, pages[i].id);
      } else if (!it->second.settled) {
        why = "another thread is mapping or unmapping there";
      }
      if (!why.empty()) {
        set_settled(i, true);
        throw InvalidArgument(fmt::format("{}: unmap at {:#x}: {}", where(), at, why));
      }
      it->second.settled = false;
    }
  }
  const std::uint64_t run = pages.size() * page_size_;
  try {
    const ScopedDevice current(ordinal_, where());
    check_driver(api_, api_.mem_unmap(address, run), where(),
                 fmt::format("cuMemUnmap({:#x}, {})", address, format_bytes(run)));
  } catch (...) {
    std::lock_guard lock(mutex_);
    set_settled(pages.size(), true);
    throw;
  }
  std::lock_guard lock(mutex_);
  drop_mappings(address, pages.size());
}

}  // namespace gpumem::detail
