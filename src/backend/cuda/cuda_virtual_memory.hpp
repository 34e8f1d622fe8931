// CUDA's virtual memory management behind gpumem's VirtualMemory: reservations are
// cuMemAddressReserve ranges, pieces of physical memory are cuMemCreate allocations of whole
// granules (pages) of device memory, and map() is cuMemMap plus cuMemSetAccess (read/write for
// the owning device). It serves the device-local heap only. Misuse the driver would reject or
// that would leak (mapping outside a reservation or over a mapped page, unmapping from inside a
// piece, releasing mapped memory, unreserving with pages mapped) is refused with InvalidArgument
// or InvalidHandle before the driver is called.
//
//   detail::CudaVirtualMemory vm(api, info, ordinal, 2 * kMiB);
//   std::uint64_t base = vm.reserve(0, 64 * kMiB);
//   PhysicalMemory memory = vm.try_create(0, 4);  // one cuMemCreate of 8 MiB
//   vm.map(0, base, memory);
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
  PhysicalMemory try_create(std::uint32_t heap, std::uint64_t pages) override;
  void release(std::uint32_t heap, PhysicalMemory memory) override;
  void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) override;
  void unmap(std::uint32_t heap, std::uint64_t address) override;
  // A cuMemMap per piece (~1-3 us on an H200), then one cuMemSetAccess for the run (~25-45 us
  // per piece it covers, up to 512 MiB pieces: the driver's work is per piece, not per call).
  void map_run(std::uint32_t heap, std::uint64_t address,
               std::span<const PhysicalMemory> pieces) override;
  // One cuMemUnmap for the run (~17-25 us per piece it covers on an H200).
  void unmap_run(std::uint32_t heap, std::uint64_t address,
                 std::span<const PhysicalMemory> pieces) override;

  // Makes all memory mapped now or later readable and writable by device `peer` as well (peer
  // access for virtual memory is per mapping; cudaDeviceEnablePeerAccess does not cover it).
  void grant_peer_access(int peer);

  // Bytes of physical memory held (created and not released).
  std::uint64_t page_bytes() const noexcept { return page_bytes_.load(std::memory_order_relaxed); }

  // The device's VMM granularity, or 0 with `why` set where the device has no VMM.
  static std::uint64_t granularity(const DriverApi& api, int ordinal, std::string& why);

 private:
  struct Reservation {
    std::uint64_t size = 0;
    std::uint64_t mapped = 0;  // pieces mapped inside it
  };
  struct Memory {
    CUmemGenericAllocationHandle handle = 0;
    std::uint64_t pages = 0;
    std::uint32_t mappings = 0;
  };
  struct Mapping {
    std::uint64_t memory = 0;       // PhysicalMemory id
    std::uint64_t bytes = 0;        // of the piece
    std::uint64_t reservation = 0;  // base of the reservation holding it
    bool settled = false;           // false while map() or unmap() is in the driver
  };

  void check_heap(std::uint32_t heap, const char* operation) const;
  std::string where() const;
  // The reservation holding page-aligned `address`; InvalidArgument otherwise. mutex_ held.
  std::map<std::uint64_t, Reservation>::iterator reservation_at(std::uint64_t address,
                                                                const char* operation);
  // The live memory `memory`, of its size; InvalidHandle otherwise. mutex_ held.
  Memory& live_memory(PhysicalMemory memory, const char* operation);

  // Claims the mappings of pieces mapped back to back from `address` (checked as map() checks
  // them) and returns their handles; either all are claimed or none. mutex_ held.
  std::vector<CUmemGenericAllocationHandle> claim_mappings(std::uint64_t address,
                                                           std::span<const PhysicalMemory> pieces);
  // Drops the records of the first `count` mappings of a run from `address`. mutex_ held.
  void drop_mappings(std::uint64_t address, std::size_t count);

  // The owning device and the granted peers, for cuMemSetAccess. access_mutex_ held.
  std::vector<CUmemAccessDesc> accessors() const;

  const DriverApi& api_;
  const DeviceInfo& info_;
  const int ordinal_;
  const std::uint64_t page_size_;

  std::mutex mutex_;
  std::map<std::uint64_t, Reservation> reservations_;  // by base
  std::unordered_map<std::uint64_t, Memory> memory_;   // by PhysicalMemory id
  std::map<std::uint64_t, Mapping> mappings_;          // by start address
  std::uint64_t next_memory_id_ = 1;
  std::atomic<std::uint64_t> page_bytes_{0};

  std::mutex access_mutex_;  // guards peers_; held across cuMemSetAccess so no grant is missed
  std::uint64_t peers_ = 0;  // bit n: device n was granted access
};

}  // namespace gpumem::detail
