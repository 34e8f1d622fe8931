#include "backend/host/host_virtual_memory.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
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

std::uint64_t HostVirtualMemory::take_offset(std::uint32_t heap) {
  HeapFile& file = files_[heap];
  if (!file.free_offsets.empty()) {
    const std::uint64_t offset = file.free_offsets.back();
    file.free_offsets.pop_back();
    return offset;
  }
  if (file.fd < 0) {
    const int fd =
        ::memfd_create(fmt::format("gpumem-{}", info_.heaps[heap].name).c_str(), MFD_CLOEXEC);
    // Sparse: the file's length costs nothing until its pages are written.
    const std::uint64_t length = (info_.heaps[heap].size + kPageSize - 1) & ~(kPageSize - 1);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(length)) != 0) {
      log_message(LogLevel::Error,
                  fmt::format("host device '{}': no memory file for heap '{}': {}", info_.name,
                              info_.heaps[heap].name, std::generic_category().message(errno)));
      if (fd >= 0) ::close(fd);
      return UINT64_MAX;
    }
    file.fd = fd;
  }
  const std::uint64_t offset = file.next_offset;
  file.next_offset += kPageSize;
  return offset;
}

PhysicalPage HostVirtualMemory::try_create_page(std::uint32_t heap) {
  books_.check_heap(heap, "try_create_page");
  if (!ledger_.try_take(heap, kPageSize)) return {};
  std::uint64_t offset = UINT64_MAX;
  {
    std::lock_guard lock(files_mutex_);
    offset = take_offset(heap);
  }
  if (offset == UINT64_MAX) {
    ledger_.give_back(heap, kPageSize);
    return {};
  }
  return books_.add_page(heap, offset);
}

void HostVirtualMemory::release_page(std::uint32_t heap, PhysicalPage page) {
  const std::uint64_t offset = books_.remove_page(heap, page);
  {
    std::lock_guard lock(files_mutex_);
    HeapFile& file = files_[heap];
    // Gives the memory back to the system; the offset's next page starts out zeroed.
    ::fallocate(file.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(kPageSize));
    file.free_offsets.push_back(offset);
  }
  ledger_.give_back(heap, kPageSize);
}

void HostVirtualMemory::map(std::uint32_t heap, std::uint64_t address, PhysicalPage page) {
  books_.map(heap, address, page, [&](std::uint64_t offset) {
    // The file's descriptor never changes once open, and a live page's heap has one.
    if (::mmap(to_pointer(address), kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
               files_[heap].fd, static_cast<off_t>(offset)) == MAP_FAILED) {
      throw Error(fmt::format("host device '{}': mapping page {:#x} at {:#x} failed: {}",
                              info_.name, page.id, address,
                              std::generic_category().message(errno)));
    }
  });
}

void HostVirtualMemory::unmap(std::uint32_t heap, std::uint64_t address) {
  books_.unmap(heap, address, [&] {
    // Put the placeholder back rather than munmap: the addresses stay reserved, so nothing else
    // in the process can be mapped into the hole.
    if (::mmap(to_pointer(address), kPageSize, PROT_NONE, kPlaceholderFlags | MAP_FIXED, -1, 0) ==
        MAP_FAILED) {
      throw Error(fmt::format("host device '{}': unmapping {:#x} failed: {}", info_.name, address,
                              std::generic_category().message(errno)));
    }
  });
}

}  // namespace gpumem::detail
