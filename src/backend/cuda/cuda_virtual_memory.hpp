// CUDA's virtual memory management behind gpumem's VirtualMemory: reservations are
// cuMemAddressReserve ranges, pages are cuMemCreate allocations of one granule of device memory,
// and map() is cuMemMap plus cuMemSetAccess (read/write for the owning device). It serves the
// device-local heap only. Misuse the driver would reject or that would leak (mapping outside a
// reservation or over a mapped page, releasing a mapped page, unreserving with pages mapped) is
// refused with InvalidArgument or InvalidHandle before the driver is called.
//
//   detail::CudaVirtualMemory vm(api, info, ordinal, 2 * kMiB);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   PhysicalPage page = vm.try_create_page(0);
//   vm.map(0, base, page);
//
// Thread safety: every method may be called from several threads at once. The lock guards the
// bookkeeping only; driver calls run outside it, on records claimed beforehand.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_driver_api.hpp"
#include "gpumem/backend/device.hpp"
#include "gpumem/backend/virtual_memory.hpp"

namespace gpumem::detail {

class CudaVirtualMemory final : public VirtualMemory {
 public:
  // `api` and `info` must outlive this object.
  CudaVirtualMemory(const DriverApi& api, const DeviceInfo& info, int ordinal,
                    std::uint64_t page_size);
  // Unmaps, releases and unreserves whatever is still out.
  ~CudaVirtualMemory() override;

  std::uint64_t page_size(std::uint32_t heap) const override;
  std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) override;
  void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) override;
  PhysicalPage try_create_page(std::uint32_t heap) override;
  void release_page(std::uint32_t heap, PhysicalPage page) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;
  // A cuMemMap per page (~1 us each on an H200), then one cuMemSetAccess for the run (~28 us per
  // page it covers: the driver's work is per physical allocation, not per call).
  void map_run(std::uint32_t heap, std::uint64_t address,
               std::span<const PhysicalPage> pages) override;
  // One cuMemUnmap for the run (~20 us per page it covers on an H200, as page by page).
  void unmap_run(std::uint32_t heap, std::uint64_t address,
                 std::span<const PhysicalPage> pages) override;

  // Makes every page mapped now or later readable and writable by device `peer` as well (peer
  // access for virtual memory is per mapping; cudaDeviceEnablePeerAccess does not cover it).
  void grant_peer_access(int peer);

  // Bytes of physical pages held (created and not released).
  std::uint64_t page_bytes() const noexcept { return page_bytes_.load(std::memory_order_relaxed); }

  // The device's VMM granularity, or 0 with `why` set where the device has no VMM.
  static std::uint64_t granularity(const DriverApi& api, int ordinal, std::string& why);

 private:
  struct Reservation {
    std::uint64_t size = 0;
    std::uint64_t mapped = 0;  // pages mapped inside it
  };
  struct Page {
    CUmemGenericAllocationHandle handle = 0;
    std::uint32_t mappings = 0;
  };
  struct Mapping {
    std::uint64_t page = 0;         // PhysicalPage id
    std::uint64_t reservation = 0;  // base of the reservation holding it
    bool settled = false;           // false while map() or unmap() is in the driver
  };

  void check_heap(std::uint32_t heap, const char* operation) const;
  std::string where() const;
  // The reservation holding page-aligned `address`; InvalidArgument otherwise. mutex_ held.
  std::map<std::uint64_t, Reservation>::iterator reservation_at(std::uint64_t address,
                                                                const char* operation);
  // The live page `page`; InvalidHandle otherwise. mutex_ held.
  Page& live_page(PhysicalPage page, const char* operation);

  // Claims the mappings of pages[i] at address + i × page size (checked as map() checks them)
  // and returns their handles; either all are claimed or none. mutex_ held.
  std::vector<CUmemGenericAllocationHandle> claim_mappings(std::uint64_t address,
                                                           std::span<const PhysicalPage> pages);
  // Drops the records of `count` mappings from `address`. mutex_ held.
  void drop_mappings(std::uint64_t address, std::size_t count);

  // The owning device and the granted peers, for cuMemSetAccess. access_mutex_ held.
  std::vector<CUmemAccessDesc> accessors() const;

  const DriverApi& api_;
  const DeviceInfo& info_;
  const int ordinal_;
  const std::uint64_t page_size_;

  std::mutex mutex_;
  std::map<std::uint64_t, Reservation> reservations_;  // by base
  std::unordered_map<std::uint64_t, Page> pages_;      // by PhysicalPage id
  std::map<std::uint64_t, Mapping> mappings_;          // by address
  std::uint64_t next_page_id_ = 1;
  std::atomic<std::uint64_t> page_bytes_{0};

  std::mutex access_mutex_;  // guards peers_; held across cuMemSetAccess so no grant is missed
  std::uint64_t peers_ = 0;  // bit n: device n was granted access
};

}  // namespace gpumem::detail
