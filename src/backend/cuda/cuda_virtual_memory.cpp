#include "backend/cuda/cuda_virtual_memory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <utility>
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
    static_cast<void>(api_.mem_unmap(address, mapping.bytes));
  }
  for (const auto& [id, memory] : memory_) static_cast<void>(api_.mem_release(memory.handle));
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

PhysicalMemory CudaVirtualMemory::try_create(std::uint32_t heap, std::uint64_t pages) {
  check_heap(heap, "try_create");
  const std::uint64_t heap_pages = std::max<std::uint64_t>(info_.heaps[0].size / page_size_, 1);
  if (pages == 0 || pages > heap_pages) {
    throw InvalidArgument(fmt::format("{}: try_create of {} page(s): a piece holds 1 to {} pages",
                                      where(), pages, heap_pages));
  }
  const std::uint64_t bytes = pages * page_size_;
  const ScopedDevice current(ordinal_, where());
  const CUmemAllocationProp prop = device_pages(ordinal_);
  CUmemGenericAllocationHandle handle = 0;
  const CUresult r = api_.mem_create(&handle, bytes, &prop, 0);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) return {};
  check_driver(api_, r, where(), fmt::format("cuMemCreate({})", format_bytes(bytes)));
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_memory_id_++;
  memory_.emplace(id, Memory{.handle = handle, .pages = pages, .mappings = 0});
  page_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  return {.id = id, .pages = pages};
}

CudaVirtualMemory::Memory& CudaVirtualMemory::live_memory(PhysicalMemory memory,
                                                          const char* operation) {
  auto it = memory_.find(memory.id);
  if (it == memory_.end() || it->second.pages != memory.pages) {
    throw InvalidHandle(fmt::format(
        "{}: {} of memory {:#x} ({} page(s)): not live memory of that size (released already, "
        "not created by this device, or created with another size)",
        where(), operation, memory.id, memory.pages));
  }
  return it->second;
}

void CudaVirtualMemory::release(std::uint32_t heap, PhysicalMemory memory) {
  check_heap(heap, "release");
  CUmemGenericAllocationHandle handle = 0;
  {
    std::lock_guard lock(mutex_);
    const Memory& m = live_memory(memory, "release");
    if (m.mappings != 0) {
      throw InvalidArgument(
          fmt::format("{}: release of memory {:#x} while it is mapped at {} address(es); unmap "
                      "it first",
                      where(), memory.id, m.mappings));
    }
    handle = m.handle;
    memory_.erase(memory.id);
  }
  page_bytes_.fetch_sub(memory.pages * page_size_, std::memory_order_relaxed);
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

void CudaVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) {
  map_run(heap, address, std::span(&memory, 1));
}

std::vector<CUmemGenericAllocationHandle> CudaVirtualMemory::claim_mappings(
    std::uint64_t address, std::span<const PhysicalMemory> pieces) {
  std::vector<CUmemGenericAllocationHandle> handles;
  handles.reserve(pieces.size());
  std::uint64_t at = address;
  try {
    for (const PhysicalMemory piece : pieces) {
      Memory& m = live_memory(piece, "map");
      const std::uint64_t bytes = piece.pages * page_size_;
      const auto reservation = reservation_at(at, "map");
      if (reservation->second.size - (at - reservation->first) < bytes) {
        throw InvalidArgument(fmt::format(
            "{}: map of memory {:#x} ({}) at {:#x}: it runs past the end of the reservation at "
            "{:#x} (+{})",
            where(), piece.id, format_bytes(bytes), at, reservation->first,
            format_bytes(reservation->second.size)));
      }
      // Mappings do not overlap: the one starting next must start past this piece, the one
      // before must end by its start.
      const auto next = mappings_.lower_bound(at);
      const auto overlap = [&]() -> const std::pair<const std::uint64_t, Mapping>* {
        if (next != mappings_.end() && next->first < at + bytes) return &*next;
        if (next != mappings_.begin()) {
          const auto before = std::prev(next);
          if (before->first + before->second.bytes > at) return &*before;
        }
        return nullptr;
      }();
      if (overlap != nullptr) {
        throw InvalidArgument(fmt::format(
            "{}: map of memory {:#x} ({}) at {:#x}: memory {:#x} is mapped at {:#x} (+{}) "
            "already; unmap it first",
            where(), piece.id, format_bytes(bytes), at, overlap->second.memory, overlap->first,
            format_bytes(overlap->second.bytes)));
      }
      // Claimed before the driver call, so that no other thread maps here or releases the memory.
      mappings_.emplace(
          at, Mapping{.memory = piece.id, .bytes = bytes, .reservation = reservation->first});
      ++m.mappings;
      ++reservation->second.mapped;
      handles.push_back(m.handle);
      at += bytes;
    }
  } catch (...) {
    drop_mappings(address, handles.size());
    throw;
  }
  return handles;
}

void CudaVirtualMemory::drop_mappings(std::uint64_t address, std::size_t count) {
  std::uint64_t at = address;
  for (std::size_t i = 0; i < count; ++i) {
    const auto it = mappings_.find(at);
    at += it->second.bytes;
    --memory_.at(it->second.memory).mappings;
    --reservations_.at(it->second.reservation).mapped;
    mappings_.erase(it);
  }
}

void CudaVirtualMemory::map_run(std::uint32_t heap, std::uint64_t address,
                                std::span<const PhysicalMemory> pieces) {
  check_heap(heap, "map");
  if (pieces.empty()) return;
  std::vector<CUmemGenericAllocationHandle> handles;
  {
    std::lock_guard lock(mutex_);
    handles = claim_mappings(address, pieces);
  }
  std::uint64_t run = 0;
  std::size_t mapped = 0;
  try {
    const ScopedDevice current(ordinal_, where());
    for (; mapped < handles.size(); ++mapped) {
      const std::uint64_t bytes = pieces[mapped].pages * page_size_;
      check_driver(api_, api_.mem_map(address + run, bytes, 0, handles[mapped], 0), where(),
                   fmt::format("cuMemMap({:#x}, {})", address + run, format_bytes(bytes)));
      run += bytes;
    }
    // Held from reading the accessors to setting them, so a peer granted meanwhile is not missed.
    std::lock_guard access_lock(access_mutex_);
    const std::vector<CUmemAccessDesc> access = accessors();
    check_driver(api_, api_.mem_set_access(address, run, access.data(), access.size()), where(),
                 fmt::format("cuMemSetAccess({:#x}, {})", address, format_bytes(run)));
  } catch (...) {
    std::uint64_t at = address;
    for (std::size_t i = 0; i < mapped; ++i) {
      const std::uint64_t bytes = pieces[i].pages * page_size_;
      static_cast<void>(api_.mem_unmap(at, bytes));
      at += bytes;
    }
    std::lock_guard lock(mutex_);
    drop_mappings(address, pieces.size());
    throw;
  }
  std::lock_guard lock(mutex_);
  for (std::uint64_t at = address; at < address + run;) {
    Mapping& m = mappings_.at(at);
    m.settled = true;
    at += m.bytes;
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
  std::vector<std::pair<std::uint64_t, std::uint64_t>> mapped;  // address, bytes
  {
    std::lock_guard lock(mutex_);
    for (const auto& [address, mapping] : mappings_) {
      if (mapping.settled) mapped.emplace_back(address, mapping.bytes);
    }
  }
  // Pages still in map() get the new list there (it waits for access_mutex_); pages unmapped
  // meanwhile make the driver refuse, which only means there is nothing to grant.
  const std::vector<CUmemAccessDesc> access = accessors();
  const ScopedDevice current(ordinal_, where());
  for (const auto& [address, bytes] : mapped) {
    static_cast<void>(api_.mem_set_access(address, bytes, access.data(), access.size()));
  }
}

void CudaVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  PhysicalMemory memory;
  {
    std::lock_guard lock(mutex_);
    const auto it = mappings_.find(address);
    if (it == mappings_.end()) {
      reservation_at(address, "unmap");  // names a bad address or one outside reservations
      throw InvalidArgument(fmt::format(
          "{}: unmap at {:#x}: no mapping starts there (a piece is unmapped whole, from its "
          "start)",
          where(), address));
    }
    memory = {.id = it->second.memory, .pages = it->second.bytes / page_size_};
  }
  unmap_run(heap, address, std::span(&memory, 1));
}

void CudaVirtualMemory::unmap_run(std::uint32_t heap, std::uint64_t address,
                                  std::span<const PhysicalMemory> pieces) {
  check_heap(heap, "unmap");
  if (pieces.empty()) return;
  const auto set_settled = [&](std::size_t count, bool settled) {
    std::uint64_t at = address;
    for (std::size_t i = 0; i < count; ++i) {
      Mapping& m = mappings_.at(at);
      m.settled = settled;
      at += m.bytes;
    }
  };
  std::uint64_t run = 0;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const std::uint64_t at = address + run;
      const auto it = mappings_.find(at);
      std::string why;
      if (it == mappings_.end()) {
        set_settled(i, true);
        reservation_at(at, "unmap");  // names a bad address or one outside reservations
        throw InvalidArgument(
            fmt::format("{}: unmap at {:#x}: no mapping starts there", where(), at));
      }
      if (it->second.memory != pieces[i].id || it->second.bytes != pieces[i].pages * page_size_) {
        why = fmt::format("memory {:#x} ({}) is mapped there, not memory {:#x} ({} page(s))",
                          it->second.memory, format_bytes(it->second.bytes), pieces[i].id,
                          pieces[i].pages);
      } else if (!it->second.settled) {
        why = "another thread is mapping or unmapping there";
      }
      if (!why.empty()) {
        set_settled(i, true);
        throw InvalidArgument(fmt::format("{}: unmap at {:#x}: {}", where(), at, why));
      }
      it->second.settled = false;
      run += it->second.bytes;
    }
  }
  try {
    const ScopedDevice current(ordinal_, where());
    check_driver(api_, api_.mem_unmap(address, run), where(),
                 fmt::format("cuMemUnmap({:#x}, {})", address, format_bytes(run)));
  } catch (...) {
    std::lock_guard lock(mutex_);
    set_settled(pieces.size(), true);
    throw;
  }
  std::lock_guard lock(mutex_);
  drop_mappings(address, pieces.size());
}

}  // namespace gpumem::detail
