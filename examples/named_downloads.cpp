// Uploads through a staging ring and the seeds' named-buffer downloads on top of AsyncReadback:
// start_async_download(name) starts a copy and returns at once, wait_for_download(name) collects
// it; in between the CPU is free. Downloads complete and are collected in any order.
//
//   ./build/examples/named_downloads
#include <cstddef>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "gpumem/gpumem.hpp"

namespace {

// The named-buffer pattern: a map from a buffer's name to the ticket of its download.
class NamedDownloads {
 public:
  NamedDownloads(gpumem::AsyncReadback& readback,
                 const std::map<std::string, gpumem::Allocation>& buffers)
      : readback_(readback), buffers_(buffers) {}

  void start_async_download(const std::string& name) {
    pending_[name] = readback_.start_download(buffers_.at(name));
  }
  std::vector<std::byte> wait_for_download(const std::string& name) {
    return readback_.wait_download(pending_.extract(name).mapped());
  }

 private:
  gpumem::AsyncReadback& readback_;
  const std::map<std::string, gpumem::Allocation>& buffers_;
  std::map<std::string, gpumem::TransferTicket> pending_;
};

}  // namespace

int main() {
  try {
    gpumem::Manager manager(gpumem::open_best_device());
    std::cout << "device: " << manager.device().info().name << '\n';

    // Two buffers in device memory, filled through the staging ring.
    gpumem::StagingRing ring(manager, {.ring_size = 8 * gpumem::kMiB, .chunk_size = gpumem::kMiB});
    std::map<std::string, gpumem::Allocation> buffers;
    for (const auto& [name, value] :
         {std::pair{"positions", std::byte{1}}, {"normals", std::byte{2}}}) {
      const std::vector<std::byte> bytes(3 * gpumem::kMiB, value);
      gpumem::Allocation& buffer = buffers[name] = manager.allocate({.size = bytes.size()});
      ring.stage_upload(bytes, buffer);  // `bytes` may go: it was copied into the ring
    }
    ring.flush();

    gpumem::AsyncReadback readback(manager, {.buffer_size = gpumem::kMiB, .pre_allocate = 6});
    NamedDownloads downloads(readback, buffers);
    downloads.start_async_download("positions");
    downloads.start_async_download("normals");
    // ... other work while the copies run ...
    for (const char* name : {"normals", "positions"}) {
      const std::vector<std::byte> bytes = downloads.wait_for_download(name);
      std::cout << name << ": " << bytes.size() << " bytes, first "
                << static_cast<int>(bytes.front()) << '\n';
    }
    const gpumem::StagingStatistics s = ring.statistics();
    std::cout << "ring: " << s.uploads << " uploads in " << s.chunks << " chunks, "
              << s.achieved_gbps << " GB/s\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
