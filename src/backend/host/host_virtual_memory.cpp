#include "backend/host/host_virtual_memory.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <system_error>

#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"

namespace gpumem::detail {
namespace {

void* to_pointer(std::uint64_t address) { return reinterpret_cast<void*>(address); }

// Addresses with nothing behind them: no access, no swap reserved.
constexpr int kPlaceholderFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

}  // namespace

HostVirtualMemory::HostVirtualMemory(const DeviceInfo& info, BlockLedger& ledger)
    : info_(info), ledger_(ledger), books_(info, kPageSize), files_(info.heaps.size()) {}

HostVirtualMemory::~HostVirtualMemory() {
  for (const auto& [base, size] : books_.reservations()) ::munmap(to_pointer(base), size);
  for (const HeapFile& file : files_) {
    if (file.fd >= 0) ::close(file.fd);
  }
}

std::uint64_t HostVirtualMemory::page_size(std::uint32_t heap) const {
  books_.check_heap(heap, "page_size");
  return kPageSize;
}

std::uint64_t HostVirtualMemory::reserve(std::uint32_t heap, std::uint64_t size) {
  books_.check_reservation_size(heap, size);
  // mmap aligns to the system page only: take a page more and cut the range to a whole page.
  void* raw = ::mmap(nullptr, size + kPageSize, PROT_NONE, kPlaceholderFlags, -1, 0);
  if (raw == MAP_FAILED) return 0;
  const auto start = reinterpret_cast<std::uint64_t>(raw);
  const std::uint64_t base = (start + kPageSize - 1) & ~(kPageSize - 1);
  if (base != start) ::munmap(raw, base - start);
  ::munmap(to_pointer(base + size), start + kPageSize - base);
  books_.add_reservation(heap, base, size);
  return base;
}

void HostVirtualMemory::unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) {
  books_.remove_reservation(heap, base, size);
  ::munmap(to_pointer(base), size);
}

std::uint64_t HostVirtualMemory::take_range(std::uint32_t heap, std::uint64_t bytes) {
  HeapFile& file = files_[heap];
  const auto fail = [&](const char* what) {
    log_message(LogLevel::Error,
                fmt::format("host device '{}': {} memory file for heap '{}': {}", info_.name, what,
                            info_.heaps[heap].name, std::generic_category().message(errno)));
    return UINT64_MAX;
  };
  if (file.fd < 0) {
    const int fd =
        ::memfd_create(fmt::format("gpumem-{}", info_.heaps[heap].name).c_str(), MFD_CLOEXEC);
    if (fd < 0) return fail("no");
    file.fd = fd;
  }
  for (auto it = file.free.begin(); it != file.free.end(); ++it) {
    if (it->second < bytes) continue;
    const std::uint64_t offset = it->first;
    if (it->second > bytes) file.free.emplace(offset + bytes, it->second - bytes);
    file.free.erase(it);
    return offset;
  }
  // Sparse: a longer file costs nothing until its pages are written. The free range at the
  // end, if any, is taken along.
  std::uint64_t offset = file.length;
  if (!file.free.empty()) {
    const auto last = std::prev(file.free.end());
    if (last->first + last->second == file.length) offset = last->first;
  }
  const std::uint64_t length =
      std::max(offset + bytes, (info_.heaps[heap].size + kPageSize - 1) & ~(kPageSize - 1));
  if (length != file.length && ::ftruncate(file.fd, static_cast<off_t>(length)) != 0) {
    return fail("could not lengthen the");
  }
  if (offset != file.length) file.free.erase(offset);
  if (offset + bytes < length) give_range(file, offset + bytes, length - offset - bytes);
  file.length = length;
  return offset;
}

void HostVirtualMemory::give_range(HeapFile& file, std::uint64_t offset, std::uint64_t bytes) {
  auto next = file.free.lower_bound(offset);
  if (next != file.free.end() && next->first == offset + bytes) {
    bytes += next->second;
    next = file.free.erase(next);
  }
  if (next != file.free.begin()) {
    const auto before = std::prev(next);
    if (before->first + before->second == offset) {
      before->second += bytes;
      return;
    }
  }
  file.free.emplace(offset, bytes);
}

PhysicalMemory HostVirtualMemory::try_create(std::uint32_t heap, std::uint64_t pages) {
  books_.check_piece_size(heap, pages, "try_create");
  const std::uint64_t bytes = pages * kPageSize;
  if (!ledger_.try_take(heap, bytes)) return {};
  std::uint64_t offset = UINT64_MAX;
  {
    std::lock_guard lock(files_mutex_);
    offset = take_range(heap, bytes);
  }
  if (offset == UINT64_MAX) {
    ledger_.give_back(heap, bytes);
    return {};
  }
  return books_.add_memory(heap, pages, offset);
}

void HostVirtualMemory::release(std::uint32_t heap, PhysicalMemory memory) {
  const std::uint64_t offset = books_.remove_memory(heap, memory);
  const std::uint64_t bytes = memory.pages * kPageSize;
  {
    std::lock_guard lock(files_mutex_);
    HeapFile& file = files_[heap];
    // Gives the memory back to the system; the range starts out zeroed when it is reused.
    ::fallocate(file.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(bytes));
    give_range(file, offset, bytes);
  }
  ledger_.give_back(heap, bytes);
}

void HostVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) {
  books_.map(heap, address, memory, [&](std::uint64_t offset) {
    // The file's descriptor never changes once open, and live memory's heap has one.
    if (::mmap(to_pointer(address), memory.pages * kPageSize, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_FIXED, files_[heap].fd, static_cast<off_t>(offset)) == MAP_FAILED) {
      throw Error(fmt::format(
          "host device '{}': mapping memory {:#x} ({} page(s)) at {:#x} "
          "failed: {}",
          info_.name, memory.id, memory.pages, address, std::generic_category().message(errno)));
    }
  });
}

void HostVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  books_.unmap(heap, address, [&](std::uint64_t pages) {
    // Put the placeholder back rather than munmap: the addresses stay reserved, so nothing else
    // in the process can be mapped into the hole.
    if (::mmap(to_pointer(address), pages * kPageSize, PROT_NONE, kPlaceholderFlags | MAP_FIXED, -1,
               0) == MAP_FAILED) {
      throw Error(fmt::format("host device '{}': unmapping {:#x} failed: {}", info_.name, address,
                              std::generic_category().message(errno)));
    }
  });
}

}  // namespace gpumem::detail
