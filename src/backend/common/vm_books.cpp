#include "backend/common/vm_books.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {
namespace {

constexpr std::uint64_t kChunkShift = 12;  // 4096 page slots per chunk
constexpr std::uint64_t kChunkSlots = std::uint64_t{1} << kChunkShift;

// Set in a page's slot on every page of a piece after its first: unmapping starts only where a
// piece does. Ids keep it clear (generations are 31 bits).
constexpr std::uint64_t kContinued = std::uint64_t{1} << 63;
constexpr std::uint32_t kGenerationMask = 0x7fff'ffffu;

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

void VmBooks::check_piece_size(std::uint32_t heap, std::uint64_t pages,
                               const char* operation) const {
  check_heap(heap, operation);
  const std::uint64_t heap_pages = info_.heaps[heap].size / page_size_;
  if (pages == 0 || pages > std::max<std::uint64_t>(heap_pages, 1)) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': {} of {} page(s) on heap '{}': a piece holds 1 to {} pages of {}",
        info_.backend, info_.name, operation, pages, info_.heaps[heap].name,
        std::max<std::uint64_t>(heap_pages, 1), format_bytes(page_size_)));
  }
}

PhysicalMemory VmBooks::add_memory(std::uint32_t heap, std::uint64_t pages, std::uint64_t backing) {
  std::lock_guard lock(mutex_);
  std::uint32_t index = 0;
  if (free_records_.empty()) {
    index = static_cast<std::uint32_t>(records_.size());
    records_.emplace_back();
  } else {
    index = free_records_.back();
    free_records_.pop_back();
  }
  MemoryRecord& r = records_[index];
  r.generation = (r.generation + 1) & kGenerationMask;
  if (r.generation == 0) r.generation = 1;
  r.backing = backing;
  r.pages = pages;
  r.heap = heap;
  r.mappings = 0;
  r.live = true;
  creations_.fetch_add(1, std::memory_order_relaxed);
  page_creations_.fetch_add(pages, std::memory_order_relaxed);
  return {.id = (std::uint64_t{r.generation} << 32) | (std::uint64_t{index} + 1), .pages = pages};
}

std::uint32_t VmBooks::live_memory(std::uint32_t heap, PhysicalMemory memory,
                                   const char* operation) const {
  const std::uint32_t index = record_index(memory.id);
  if (!memory || index >= records_.size() || !records_[index].live ||
      records_[index].generation != static_cast<std::uint32_t>(memory.id >> 32) ||
      records_[index].pages != memory.pages) {
    throw InvalidHandle(
        fmt::format("{} device '{}': {} of memory {:#x} ({} page(s)): not live memory of that size "
                    "(released already, not created by this device, or created with another size)",
                    info_.backend, info_.name, operation, memory.id, memory.pages));
  }
  if (records_[index].heap != heap) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': {} of memory {:#x} on heap '{}': the memory belongs to heap '{}'",
        info_.backend, info_.name, operation, memory.id, info_.heaps[heap].name,
        info_.heaps[records_[index].heap].name));
  }
  return index;
}

std::uint64_t VmBooks::remove_memory(std::uint32_t heap, PhysicalMemory memory) {
  check_heap(heap, "release");
  std::lock_guard lock(mutex_);
  MemoryRecord& r = records_[live_memory(heap, memory, "release")];
  if (r.mappings != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': release of memory {:#x} on heap '{}' while it is still mapped at {} "
        "address(es); unmap it first",
        info_.backend, info_.name, memory.id, info_.heaps[heap].name, r.mappings));
  }
  r.live = false;
  free_records_.push_back(record_index(memory.id));
  releases_.fetch_add(1, std::memory_order_relaxed);
  page_releases_.fetch_add(r.pages, std::memory_order_relaxed);
  return r.backing;
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
                                      PhysicalMemory memory) {
  const auto r = reservation_at(heap, address, "map");
  const std::uint32_t record = live_memory(heap, memory, "map");
  const std::uint64_t bytes = memory.pages * page_size_;
  if (r->second.size - (address - r->first) < bytes) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': map of memory {:#x} ({}) at {:#x} on heap '{}': it runs past the end "
        "of the reservation at {:#x} (+{})",
        info_.backend, info_.name, memory.id, format_bytes(bytes), address, info_.heaps[heap].name,
        r->first, format_bytes(r->second.size)));
  }
  // Chunks are made here, so that recording the mapping cannot fail.
  for (std::uint64_t at = address; at < address + bytes; at += page_size_) {
    if (const std::uint64_t* s = slot(r, at, true); *s != 0) {
      throw InvalidArgument(fmt::format(
          "{} device '{}': map of memory {:#x} at {:#x} on heap '{}': memory {:#x} is mapped at "
          "{:#x} already; unmap it first",
          info_.backend, info_.name, memory.id, address, info_.heaps[heap].name, *s & ~kContinued,
          at));
    }
  }
  return {.reservation = r, .address = address, .record = record};
}

void VmBooks::commit_map(const MapTarget& target, PhysicalMemory memory) noexcept {
  for (std::uint64_t i = 0; i < memory.pages; ++i) {
    *slot(target.reservation, target.address + i * page_size_, false) =
        memory.id | (i == 0 ? 0 : kContinued);
  }
  ++records_[target.record].mappings;
  target.reservation->second.mapped += memory.pages;
  piece_maps_.fetch_add(1, std::memory_order_relaxed);
  maps_.fetch_add(memory.pages, std::memory_order_relaxed);
}

VmBooks::UnmapTarget VmBooks::check_unmap(std::uint32_t heap, std::uint64_t address) {
  const auto r = reservation_at(heap, address, "unmap");
  const std::uint64_t* s = slot(r, address, false);
  if (s == nullptr || *s == 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': unmap at {:#x} on heap '{}': nothing is mapped there (a hole in the "
        "reservation at {:#x})",
        info_.backend, info_.name, address, info_.heaps[heap].name, r->first));
  }
  if ((*s & kContinued) != 0) {
    throw InvalidArgument(fmt::format(
        "{} device '{}': unmap at {:#x} on heap '{}': memory {:#x} is mapped there, but its "
        "mapping starts before that address; a piece is unmapped whole, from its start",
        info_.backend, info_.name, address, info_.heaps[heap].name, *s & ~kContinued));
  }
  return {.reservation = r, .address = address, .record = record_index(*s)};
}

void VmBooks::commit_unmap(const UnmapTarget& target) noexcept {
  MemoryRecord& record = records_[target.record];
  for (std::uint64_t i = 0; i < record.pages; ++i) {
    *slot(target.reservation, target.address + i * page_size_, false) = 0;
  }
  --record.mappings;
  target.reservation->second.mapped -= record.pages;
  piece_unmaps_.fetch_add(1, std::memory_order_relaxed);
  unmaps_.fetch_add(record.pages, std::memory_order_relaxed);
}

SimVmCounters VmBooks::counts() const noexcept {
  return {.reserves = reserves_.load(std::memory_order_relaxed),
          .unreserves = unreserves_.load(std::memory_order_relaxed),
          .creations = creations_.load(std::memory_order_relaxed),
          .releases = releases_.load(std::memory_order_relaxed),
          .page_creations = page_creations_.load(std::memory_order_relaxed),
          .page_releases = page_releases_.load(std::memory_order_relaxed),
          .piece_maps = piece_maps_.load(std::memory_order_relaxed),
          .piece_unmaps = piece_unmaps_.load(std::memory_order_relaxed),
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
