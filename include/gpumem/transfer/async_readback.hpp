// Asynchronous downloads into pooled readback buffers: start_download() submits copies from
// device memory into host-visible buffers (a cached readback memory type on Vulkan, pinned memory
// on CUDA) and returns at once; the caller collects the bytes later with wait_download() or polls
// with try_get(), in any order. Buffers come from a pool filled up front (pre_allocate), so a
// steady stream of downloads allocates nothing; a download larger than one buffer takes several.
// Results nobody collects are discarded after `discard_after`, so forgotten downloads leak
// neither buffers nor budget. Buffers are allocated through the Manager (the host-visible budget).
//
//   gpumem::AsyncReadback readback(manager, {.buffer_size = 8 * gpumem::kMiB, .pre_allocate = 4});
//   gpumem::TransferTicket t = readback.start_download(results);  // an Allocation
//   do_other_work();
//   std::vector<std::byte> bytes = readback.wait_download(t);
//
// The seeds' named-buffer pattern is a map from name to ticket (examples/named_downloads.cpp):
//   pending[name] = readback.start_download(buffers.at(name));      // start_async_download
//   auto bytes = readback.wait_download(pending.extract(name).mapped());  // wait_for_download
//
// Thread safety: every method may be called from several threads at once; a ticket is collected
// once (by whichever thread gets to it first). Destroying the object waits for copies in flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "gpumem/core/tag.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"
#include "gpumem/transfer/transfer_ticket.hpp"

namespace gpumem {

namespace detail {
class BlockCopier;
class ParallelMemcpy;
}  // namespace detail

struct AsyncReadbackOptions {
  std::uint64_t buffer_size = 8 * kMiB;  // bytes per pooled buffer (> 0)
  std::uint32_t pre_allocate = 4;        // buffers made at construction and kept in the pool
  // Downloads started and not yet collected or discarded (> 0); start_download throws
  // TransferQueueFull beyond it, try_start_download returns nothing.
  std::uint32_t max_pending_ops = 64;
  // A completed download nobody collected this long after its start is discarded.
  std::chrono::milliseconds discard_after{10'000};
  // Threads that copy a collected result out of its buffers, the calling thread included.
  std::uint32_t copy_threads = 1;
  // The heap of the buffers; when empty, Manager::heap_for(HeapKind::Readback).
  std::optional<std::uint32_t> heap;
  Tag tag = Tag("readback");
};

struct ReadbackStatistics {
  std::uint64_t downloads = 0;  // downloads started
  std::uint64_t collected = 0;  // downloads whose bytes were taken
  std::uint64_t bytes_collected = 0;
  std::uint64_t discarded = 0;           // completed and never collected in time
  std::uint64_t pending = 0;             // started, not yet collected or discarded
  std::uint64_t buffers = 0;             // buffers held now (pooled and in use)
  std::uint64_t pooled = 0;              // of which free in the pool
  std::uint64_t buffer_allocations = 0;  // buffers made because the pool was empty
};

class AsyncReadback {
 public:
  // Allocates options.pre_allocate buffers (BudgetExceeded / OutOfMemory if it cannot);
  // InvalidArgument for bad options; Unsupported when the heap cannot be mapped.
  explicit AsyncReadback(Manager& manager, AsyncReadbackOptions options = {});
  ~AsyncReadback();
  AsyncReadback(const AsyncReadback&) = delete;
  AsyncReadback& operator=(const AsyncReadback&) = delete;

  // Makes the pool hold at least `buffers` buffers from now on (more are kept after a spike).
  void pre_allocate(std::uint32_t buffers);

  // Copies [offset, +size) of `src` into pooled buffers; returns without waiting. InvalidArgument
  // for a range outside `src`; TransferQueueFull at max_pending_ops.
  TransferTicket start_download(const RawBlock& src, std::uint64_t offset, std::uint64_t size);
  TransferTicket start_download(const Allocation& src, std::uint64_t offset, std::uint64_t size);
  TransferTicket start_download(const Allocation& src);  // all of it
  // As start_download, but nothing instead of TransferQueueFull.
  std::optional<TransferTicket> try_start_download(const RawBlock& src, std::uint64_t offset,
                                                   std::uint64_t size);

  // The collecting calls take the result: a ticket is collected once. A ticket that is not
  // pending (never issued, collected already, or discarded) throws InvalidHandle.
  bool is_complete(TransferTicket ticket);
  std::vector<std::byte> wait_download(TransferTicket ticket);
  // Into caller memory of exactly the download's size (InvalidArgument otherwise).
  void wait_download(TransferTicket ticket, std::span<std::byte> out);
  // The result if the download is complete, else nothing (and the ticket stays pending).
  std::optional<std::vector<std::byte>> try_get(TransferTicket ticket);
  bool try_get(TransferTicket ticket, std::span<std::byte> out);

  // Discards completed downloads older than discard_after now (start_download does it too);
  // how many it discarded.
  std::size_t discard_expired();

  ReadbackStatistics statistics() const;
  std::uint32_t heap() const noexcept { return heap_; }
  const AsyncReadbackOptions& options() const noexcept { return options_; }

 private:
  struct Buffer;
  struct Piece {
    std::unique_ptr<Buffer> buffer;
    FenceValue fence = 0;
    std::uint64_t size = 0;
  };
  struct Download {
    std::vector<Piece> pieces;
    std::uint64_t size = 0;
    Clock::time_point started;
  };
  using Lock = std::unique_lock<std::mutex>;

  std::optional<TransferTicket> start(const RawBlock& src, std::uint64_t offset, std::uint64_t size,
                                      bool throw_when_full);
  std::unique_ptr<Buffer> make_buffer();
  // With mutex_ held: the download if pending, else InvalidHandle.
  Download& pending(TransferTicket ticket);
  bool complete(Download& d);  // polls its fences; mutex_ held
  // Takes a pending download out (when only_if_complete, only a complete one: empty otherwise),
  // after checking that the output's size, if given, matches.
  std::optional<Download> take(TransferTicket ticket, std::optional<std::uint64_t> out_size,
                               bool only_if_complete);
  // Waits for its copies, copies its bytes to `out`, returns its buffers to the pool.
  void deliver(Download& d, std::span<std::byte> out);
  // Returns the pieces' buffers to the pool; those beyond its size come back, to be freed once
  // mutex_ (held here) is released.
  std::vector<std::unique_ptr<Buffer>> recycle(std::vector<Piece>& pieces);
  std::vector<std::unique_ptr<Buffer>> discard_expired_locked(Clock::time_point now);

  Manager& manager_;
  Device& device_;
  const AsyncReadbackOptions options_;
  const std::uint32_t heap_;
  std::unique_ptr<detail::BlockCopier> copy_;
  std::unique_ptr<detail::ParallelMemcpy> memcpy_;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Buffer>> pool_;
  std::unordered_map<std::uint64_t, Download> pending_;
  std::uint32_t starting_ = 0;  // downloads between their slot being taken and registered
  std::uint32_t keep_ = 0;      // buffers the pool keeps
  std::uint64_t next_id_ = 1;
  ReadbackStatistics stats_;
};

}  // namespace gpumem
