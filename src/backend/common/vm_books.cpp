#include "backend/common/vm_books.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {
namespace {

constexpr std::uint64_t kChunkShift = 12;  // 4096 page slots per chunk
constexpr std::uint64_t kChunkSlots = std::uint64_t{1} << kChunkShift;

std::uint32_t record_index(std::uint64_t id) {
  return static_cast<std::uint32_t>(id & 0xffff'ffffu) - 1;
}

}  // namespace

VmBooks::VmBooks(const DeviceInfo& info, std::uint64_t page_size)
    : info_(info), page_size_(page_size) {}

void VmBooks::check_heap(std::uint32_t heap, const char* operation) const {
  if (heap >= info_.heaps.size()) {
    throw InvalidArgument(
        fmt::format("{} device '{}': {} on heap {}, which does not exist (it has {})",
                    info_.backend, info_.name, operation, heap, info_.heaps.size()));
  }
}

void VmBooks::check_reservation_size(std::uint32_t heap, std::uint64_t size) const {
  check_heap(heap, "reserve");
  if (size == 0 || size % page_size_ != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': reserve of {} bytes on heap '{}' is not a positive multiple of the page "
        "size ({})",
        info_.backend, info_.name, size, info_.heaps[heap].name, format_bytes(page_size_)));
  }
}

void VmBooks::add_reservation(std::uint32_t heap, std::uint64_t base, std::uint64_t size) {
  Reservation r;
  r.heap = heap;
  r.size = size;
  r.chunks.resize((size / page_size_ + kChunkSlots - 1) >> kChunkShift);
  std::lock_guard lock(mutex_);
  reservations_.emplace(base, std::move(r));
  reserves_.fetch_add(1, std::memory_order_relaxed);
}

void VmBooks::remove_reservation(std::uint32_t heap, std::uint64_t base, std::uint64_t size) {
  check_heap(heap, "unreserve");
  std::lock_guard lock(mutex_);
  auto it = reservations_.find(base);
  if (it == reservations_.end() || it->second.heap != heap || it->second.size != size) {
    throw InvalidHandle(fmt::format(
        "{} device '{}': unreserve of [{:#x}, +{}) on heap '{}': no such reservation (given "
        "back already, never reserved, or reserved with another size or heap)",
        info_.backend, info_.name, base, format_bytes(size), info_.heaps[heap].name));
  }
  if (it->second.mapped != 0) {
    std::uint64_t first = 0;
    for (std::uint64_t address = base; first == 0; address += page_size_) {
      if (const std::uint64_t* s = slot(it, address, false); s != nullptr && *s != 0) {
        first = address;
      }
    }
    throw InvalidArgument(fmt::format(
        "{} device '{}': unreserve of [{:#x}, +{}) on heap '{}' with {} page(s) still mapped, "
        "the first at {:#x}; unmap them first",
        info_.backend, info_.name, base, format_bytes(size), info_.heaps[heap].name,
        it->second.mapped, first));
  }
  reservations_.erase(it);
  unreserves_.fetch_add(1, std::memory_order_relaxed);
}

PhysicalPage VmBooks::add_page(std::uint32_t heap, std::uint64_t backing) {
  std::lock_guard lock(mutex_);
  std::uint32_t index = 0;
  if (free_records_.empty()) {
    index = static_cast<std::uint32_t>(pages_.size());
    pages_.emplace_back();
  } else {
    index = free_records_.back();
    free_records_.pop_back();
  }
  PageRecord& p = pages_[index];
  ++p.generation;
  p.backing = backing;
  p.heap = heap;
  p.mappings = 0;
  p.live = true;
  page_creations_.fetch_add(1, std::memory_order_relaxed);
  return {.id = (std::uint64_t{p.generation} << 32) | (std::uint64_t{index} + 1)};
}

std::uint32_t VmBooks::live_page(std::uint32_t heap, PhysicalPage page,
                                 const char* operation) const {
  const std::uint32_t index = record_index(page.id);
  if (!page || index >= pages_.size() || !pages_[index].live ||
      pages_[index].generation != static_cast<std::uint32_t>(page.id >> 32)) {
    throw InvalidHandle(fmt::format(
        "{} device '{}': {} of page {:#x}: not a live page (released already, or not created "
        "by this device)",
        info_.backend, info_.name, operation, page.id));
  }
  if (pages_[index].heap != heap) {
    throw InvalidArgument(
        fmt::format("{} device '{}': {} of page {:#x} on heap '{}': the page belongs to heap '{}'",
                    info_.backend, info_.name, operation, page.id, info_.heaps[heap].name,
                    info_.heaps[pages_[index].heap].name));
  }
  return index;
}

std::uint64_t VmBooks::remove_page(std::uint32_t heap, PhysicalPage page) {
  check_heap(heap, "release_page");
  std::lock_guard lock(mutex_);
  PageRecord& p = pages_[live_page(heap, page, "release_page")];
  if (p.mappings != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': release_page of page {:#x} on heap '{}' while it is still mapped at {} "
        "address(es); unmap it first",
        info_.backend, info_.name, page.id, info_.heaps[heap].name, p.mappings));
  }
  p.live = false;
  free_records_.push_back(record_index(page.id));
  page_releases_.fetch_add(1, std::memory_order_relaxed);
  return p.backing;
}

VmBooks::ReservationMap::iterator VmBooks::reservation_at(std::uint32_t heap, std::uint64_t address,
                                                          const char* operation) {
  check_heap(heap, operation);
  if (address % page_size_ != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': {} at {:#x} on heap '{}': the address is not a multiple of the page "
        "size ({})",
        info_.backend, info_.name, operation, address, info_.heaps[heap].name,
        format_bytes(page_size_)));
  }
  auto it = reservations_.upper_bound(address);
  if (it != reservations_.begin()) {
    --it;
    if (it->second.heap == heap && address - it->first < it->second.size) return it;
  }
  throw InvalidArgument(fmt::format(
      "{} device '{}': {} at {:#x} on heap '{}': no reservation of that heap holds the address",
      info_.backend, info_.name, operation, address, info_.heaps[heap].name));
}

std::uint64_t* VmBooks::slot(ReservationMap::iterator r, std::uint64_t address, bool create) {
  const std::uint64_t index = (address - r->first) / page_size_;
  std::unique_ptr<std::uint64_t[]>& chunk = r->second.chunks[index >> kChunkShift];
  if (!chunk) {
    if (!create) return nullptr;
    chunk = std::make_unique<std::uint64_t[]>(kChunkSlots);  // zeroed: every slot a hole
  }
  return &chunk[index & (kChunkSlots - 1)];
}

VmBooks::MapTarget VmBooks::check_map(std::uint32_t heap, std::uint64_t address,
                                      PhysicalPage page) {
  const auto r = reservation_at(heap, address, "map");
  const std::uint32_t record = live_page(heap, page, "map");
  std::uint64_t* s = slot(r, address, true);
  if (*s != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': map of page {:#x} at {:#x} on heap '{}': page {:#x} is mapped there "
        "already; unmap it first",
        info_.backend, info_.name, page.id, address, info_.heaps[heap].name, *s));
  }
  return {{r, s}, record};
}

void VmBooks::commit_map(const MapTarget& target, PhysicalPage page) noexcept {
  *target.slot = page.id;
  ++pages_[target.record].mappings;
  ++target.reservation->second.mapped;
  maps_.fetch_add(1, std::memory_order_relaxed);
}

VmBooks::SlotRef VmBooks::check_unmap(std::uint32_t heap, std::uint64_t address) {
  const auto r = reservation_at(heap, address, "unmap");
  std::uint64_t* s = slot(r, address, false);
  if (s == nullptr || *s == 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': unmap at {:#x} on heap '{}': nothing is mapped there (a hole in the "
        "reservation at {:#x})",
        info_.backend, info_.name, address, info_.heaps[heap].name, r->first));
  }
  return {r, s};
}

void VmBooks::commit_unmap(const SlotRef& target) noexcept {
  --pages_[record_index(*target.slot)].mappings;
  *target.slot = 0;
  --target.reservation->second.mapped;
  unmaps_.fetch_add(1, std::memory_order_relaxed);
}

SimVmCounters VmBooks::counts() const noexcept {
  return {.reserves = reserves_.load(std::memory_order_relaxed),
          .unreserves = unreserves_.load(std::memory_order_relaxed),
          .page_creations = page_creations_.load(std::memory_order_relaxed),
          .page_releases = page_releases_.load(std::memory_order_relaxed),
          .maps = maps_.load(std::memory_order_relaxed),
          .unmaps = unmaps_.load(std::memory_order_relaxed),
          .map_calls = map_calls_.load(std::memory_order_relaxed),
          .unmap_calls = unmap_calls_.load(std::memory_order_relaxed)};
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> VmBooks::reservations() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& [base, r] : reservations_) out.emplace_back(base, r.size);
  return out;
}

}  // namespace gpumem::detail
