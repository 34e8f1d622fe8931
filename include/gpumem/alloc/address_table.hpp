// A hash table from addresses to records, for allocators that are handed back a bare pointer
// (cudaFree-style interfaces) and must find what they know about it. Open addressing with
// linear probing and backward-shift deletion over an index of 16-byte slots (address, record
// number); the records sit densely in a second array, a freed place reused by the next insert
// (last freed first, so it is still in cache). No allocation per entry, and a lookup reads one
// index line and one record where std::unordered_map chases a node per lookup. With the records
// inside the slots (96-byte slots) the index of StreamOrderedAllocator's 1,000 live allocations
// on churn200k was 384 KiB, and the allocator missed the 512 KiB L2 0.28 times per event; split,
// 0.01 (cachegrind; bench/replay_bench stream/churn200k/arena, docs/PERFORMANCE.md). At most
// 2^32 entries.
//
//   gpumem::AddressTable<Record> table;
//   table.insert(address, record);
//   if (Record* r = table.find(address)) use(*r);
//   std::optional<Record> gone = table.erase(address);
//
// Address 0 is the empty marker and cannot be a key. Not thread-safe: callers lock.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace gpumem {

template <typename Value>
class AddressTable {
 public:
  explicit AddressTable(std::size_t expected = 1024) {
    values_.reserve(expected);
    rehash(std::bit_ceil(expected * 2 + 2));
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // False (and nothing changed) when `address` is already a key, or is 0.
  bool insert(std::uint64_t address, Value value) {
    if (address == 0) return false;
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.size() * 2);  // load at most 3/4
    for (std::size_t i = home(address);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == address) return false;
      if (s.key == 0) {
        s.key = address;
        s.value = store(std::move(value));
        ++size_;
        return true;
      }
    }
  }

  // Valid until the next insert or erase.
  Value* find(std::uint64_t address) noexcept {
    const std::size_t i = slot_of(address);
    return i == kNone ? nullptr : &values_[slots_[i].value];
  }

  std::optional<Value> erase(std::uint64_t address) {
    const std::size_t i = slot_of(address);
    if (i == kNone) return std::nullopt;
    std::optional<Value> out(std::move(values_[slots_[i].value]));
    remove_slot(i);
    return out;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.key != 0) f(s.key, values_[s.value]);
    }
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};

  // The index holds keys and value numbers only (16 bytes a slot), so probing stays within a
  // few cache lines; the values sit densely in values_, freed places reused last-freed first,
  // where the next insert finds them still in cache.
  struct Slot {
    std::uint64_t key = 0;
    std::uint32_t value = 0;
  };

  std::size_t home(std::uint64_t address) const noexcept {
    // Fibonacci hashing of the address without its low bits (allocations are aligned).
    return static_cast<std::size_t>(((address >> 8) * 0x9E3779B97F4A7C15ULL) >> shift_);
  }

  std::size_t slot_of(std::uint64_t address) const noexcept {
    if (address == 0) return kNone;
    for (std::size_t i = home(address);; i = (i + 1) & mask_) {
      if (slots_[i].key == address) return i;
      if (slots_[i].key == 0) return kNone;
    }
  }

  std::uint32_t store(Value&& value) {
    if (free_values_.empty()) {
      values_.push_back(std::move(value));
      return static_cast<std::uint32_t>(values_.size() - 1);
    }
    const std::uint32_t v = free_values_.back();
    free_values_.pop_back();
    values_[v] = std::move(value);
    return v;
  }

  void remove_slot(std::size_t i) {
    free_values_.push_back(slots_[i].value);
    // Backward shift: move later entries of the probe run into the hole when their home lies
    // at or before it (cyclically), so lookups never need tombstones.
    for (std::size_t j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
      const std::size_t h = home(slots_[j].key);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].key = 0;
    --size_;
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity));
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    for (const Slot& s : old) {
      if (s.key == 0) continue;
      std::size_t i = home(s.key);
      while (slots_[i].key != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::vector<Value> values_;
  std::vector<std::uint32_t> free_values_;  // places in values_ not in use
  std::size_t mask_ = 0;
  unsigned shift_ = 0;
  std::size_t size_ = 0;
};

}  // namespace gpumem
