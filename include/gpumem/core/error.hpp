// The exceptions gpumem throws at its API boundary. All derive from gpumem::Error and carry the
// facts that explain them (heap, requested bytes, budget, usage, pressure; for files the field and
// byte offset), so what() reads as a complete sentence and callers can act on the fields.
//
//   try { auto a = manager.allocate({.size = 8 * gpumem::kGiB}); }
//   catch (const gpumem::BudgetExceeded& e) { shrink_cache(e.facts().requested); }
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "gpumem/core/pressure_level.hpp"

namespace gpumem {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A caller passed something gpumem cannot accept: a bad size, alignment, heap or configuration.
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message) : Error(message) {}
};

// A handle that is not live in the manager it was given to: freed twice, or from another manager.
class InvalidHandle : public InvalidArgument {
 public:
  explicit InvalidHandle(const std::string& message) : InvalidArgument(message) {}
};

// The backend or device cannot do what was asked (not a failure of the request itself).
class Unsupported : public Error {
 public:
  explicit Unsupported(const std::string& message) : Error(message) {}
};

// What a memory error knows about the heap at the moment it was raised.
struct MemoryFacts {
  std::string heap;             // heap name, e.g. "device-local"
  std::uint64_t requested = 0;  // bytes asked for
  std::uint64_t budget = 0;     // hard limit in force for the heap
  std::uint64_t usage = 0;      // bytes counted against that limit before the request
  PressureLevel pressure = PressureLevel::Low;
  std::string tag;  // the request's tag; empty when the limit is the heap's
  // What the allocator held, where one reports them (0 otherwise): device memory reserved
  // (cached included), bytes of live allocations, the largest free range it could still place.
  std::uint64_t reserved = 0;
  std::uint64_t live = 0;
  std::uint64_t largest_free = 0;
};

// A request would cross a hard budget (of a heap or of a tag). Nothing was allocated.
class BudgetExceeded : public Error {
 public:
  explicit BudgetExceeded(MemoryFacts facts);
  const MemoryFacts& facts() const noexcept { return facts_; }

 private:
  MemoryFacts facts_;
};

// The device (or the simulated device) has no memory left for the request.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(MemoryFacts facts, const std::string& detail = {});
  const MemoryFacts& facts() const noexcept { return facts_; }

 private:
  MemoryFacts facts_;
};

// A file or stream that does not follow its format; names the source, field and byte offset.
class FormatError : public Error {
 public:
  FormatError(std::string source, std::string field, std::uint64_t offset,
              const std::string& problem);
  const std::string& source() const noexcept { return source_; }
  const std::string& field() const noexcept { return field_; }
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  std::string source_;
  std::string field_;
  std::uint64_t offset_;
};

}  // namespace gpumem
