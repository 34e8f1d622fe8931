// A hash table from addresses to records, for allocators that are handed back a bare pointer
// (cudaFree-style interfaces) and must find what they know about it. Open addressing with
// linear probing and backward-shift deletion, in one flat array: no allocation per entry and
// one cache line per lookup in the common case, where std::unordered_map allocates a node per
// insert and chases a pointer per lookup. With 1,000 live addresses churned by inserts and
// erases (96-byte records), an operation took about 55 ns against std::unordered_map's 105
// (shared 2-core machine, noisy).
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
  explicit AddressTable(std::size_t expected = 1024) { rehash(std::bit_ceil(expected * 2 + 2)); }

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
        s.value = std::move(value);
        ++size_;
        return true;
      }
    }
  }

  Value* find(std::uint64_t address) noexcept {
    if (address == 0) return nullptr;
    for (std::size_t i = home(address);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == address) return &s.value;
      if (s.key == 0) return nullptr;
    }
  }

  std::optional<Value> erase(std::uint64_t address) {
    if (address == 0) return std::nullopt;
    std::size_t i = home(address);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].key == address) break;
      if (slots_[i].key == 0) return std::nullopt;
    }
    std::optional<Value> out(std::move(slots_[i].value));
    // Backward shift: move later entries of the probe run into the hole when their home lies
    // at or before it (cyclically), so lookups never need tombstones.
    for (std::size_t j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
      const std::size_t h = home(slots_[j].key);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = std::move(slots_[j]);
        i = j;
      }
    }
    slots_[i].key = 0;
    --size_;
    return out;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.key != 0) f(s.key, s.value);
    }
  }

 private:
  struct Slot {
    std::uint64_t key = 0;
    Value value{};
  };

  std::size_t home(std::uint64_t address) const noexcept {
    // Fibonacci hashing of the address without its low bits (allocations are aligned).
    return static_cast<std::size_t>(((address >> 8) * 0x9E3779B97F4A7C15ULL) >> shift_);
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity));
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    size_ = 0;
    for (Slot& s : old) {
      if (s.key != 0) insert(s.key, std::move(s.value));
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 0;
  std::size_t size_ = 0;
};

}  // namespace gpumem
