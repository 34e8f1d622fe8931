// A staging ring for uploads: caller bytes are copied into a ring of host-visible memory (pinned
// memory on CUDA, an upload memory type on Vulkan, a CL_MEM_ALLOC_HOST_PTR buffer on OpenCL), the
// device copies them from there to their destination, and each range is reused once the copy's
// fence has completed. The ring's memory is allocated through the Manager on the heap it picks
// for uploads, so it counts against the host-visible budget like any other staging memory.
//
// An upload larger than a chunk is split into chunks and pipelined: chunk k+1 is filled while the
// copy engine moves chunk k. A chunk is filled by `copy_threads` threads, because one thread's
// memcpy is slower than the link. When the ring has no room the policy decides: wait for the
// oldest copy, grow by another ring-sized segment up to a cap (then wait), or throw
// TransferQueueFull. Segments added in a spike are given back once they have been empty for
// `shrink_after` (or at trim()).
//
//   gpumem::StagingRing ring(manager, {.ring_size = 64 * gpumem::kMiB});
//   gpumem::Allocation vertices = manager.allocate({.size = bytes.size()});
//   gpumem::TransferTicket t = ring.stage_upload(bytes, vertices);
//   ...                      // the CPU is free meanwhile; `bytes` may be reused at once
//   ring.wait(t);            // vertices now holds the bytes
//
// Thread safety: every method may be called from several threads at once; uploads of different
// threads fill their chunks concurrently. Destroying the ring waits for every pending copy; it
// must outlive no Manager (it holds allocations of one) and no thread still calling it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "gpumem/alloc/linear_allocator.hpp"
#include "gpumem/core/tag.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"
#include "gpumem/transfer/transfer_ticket.hpp"

namespace gpumem {

namespace detail {
class BlockCopier;
class ParallelMemcpy;
}  // namespace detail

enum class FullRingPolicy : std::uint8_t {
  Wait,  // wait for the oldest copy in flight to complete
  Grow,  // add a segment of ring_size bytes while the total stays within max_ring_size, then wait
  Fail,  // throw TransferQueueFull
};

std::string_view to_string(FullRingPolicy policy) noexcept;

struct StagingRingOptions {
  std::uint64_t ring_size = 64 * kMiB;
  // Uploads are split into chunks of at most this many bytes (1..ring_size).
  std::uint64_t chunk_size = 8 * kMiB;
  FullRingPolicy policy = FullRingPolicy::Wait;
  // Grow: the most memory the ring may hold, segments added in spikes included (>= ring_size).
  std::uint64_t max_ring_size = 256 * kMiB;
  // Grow: how long an added segment must stay empty before it is given back.
  std::chrono::milliseconds shrink_after{100};
  // Threads that fill one chunk, the calling thread included (chunks below 512 KiB use one).
  std::uint32_t copy_threads = 1;
  // Offset alignment of each chunk in the ring (a power of two).
  std::uint64_t alignment = 256;
  // The heap of the ring's memory; when empty, Manager::heap_for(HeapKind::Upload).
  std::optional<std::uint32_t> heap;
  Tag tag = Tag("staging-ring");
};

struct StagingStatistics {
  std::uint64_t uploads = 0;           // stage_upload calls that staged bytes
  std::uint64_t chunks = 0;            // copies submitted
  std::uint64_t bytes_staged = 0;      // bytes copied into the ring
  std::uint64_t bytes_completed = 0;   // bytes whose copy is known to have completed
  std::uint64_t stalls = 0;            // chunks that waited for room
  std::uint64_t grows = 0;             // segments added (policy Grow)
  std::uint64_t shrinks = 0;           // segments given back
  std::uint64_t active_transfers = 0;  // tickets not yet known complete
  std::uint64_t capacity = 0;          // bytes of ring memory held now
  std::uint64_t used_bytes = 0;        // of which reserved by copies in flight
  double occupancy = 0.0;              // used_bytes / capacity
  // bytes_completed over the time some upload was in flight (from its submission to the moment
  // its completion was observed), in 10^9 bytes per second.
  double achieved_gbps = 0.0;
};

class StagingRing {
 public:
  // Allocates ring_size bytes from the manager (BudgetExceeded / OutOfMemory if it cannot);
  // InvalidArgument for inconsistent options; Unsupported when the heap cannot be mapped.
  explicit StagingRing(Manager& manager, StagingRingOptions options = {});
  ~StagingRing();
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;

  // Copies `bytes` to [dst_offset, +size) of `dst` (a block of the manager's device) through the
  // ring and returns at once once every chunk is submitted; `bytes` may then be reused. An empty
  // span gives a ticket that is already complete. InvalidArgument for a range outside `dst`.
  TransferTicket stage_upload(std::span<const std::byte> bytes, const RawBlock& dst,
                              std::uint64_t dst_offset = 0);
  TransferTicket stage_upload(std::span<const std::byte> bytes, const Allocation& dst,
                              std::uint64_t dst_offset = 0);

  // InvalidHandle for a ticket this ring never issued.
  bool is_complete(TransferTicket ticket);
  void wait(TransferTicket ticket);
  // Waits for every upload staged before the call.
  void flush();
  // Gives back every added segment that is empty now.
  void trim();

  StagingStatistics statistics() const;
  const StagingRingOptions& options() const noexcept { return options_; }
  std::uint32_t heap() const noexcept { return heap_; }
  Manager& manager() const noexcept { return manager_; }

 private:
  struct Segment;
  enum class ChunkState : std::uint8_t { Filling, InFlight, Retired };
  struct Chunk {
    Segment* segment = nullptr;
    LinearAllocation range;
    FenceValue fence = 0;
    std::uint64_t ticket = 0;
    std::uint64_t next_of_ticket = 0;  // the ticket's next chunk (sequence number), 0 if none
    ChunkState state = ChunkState::Filling;
  };
  struct Ticket {
    std::uint64_t first_chunk = 0;  // sequence number; 0 while none
    std::uint64_t last_chunk = 0;
    std::uint32_t pending = 0;  // chunks not retired
    bool submitting = true;     // stage_upload still adding chunks
    bool done = false;          // submitted and every chunk retired
  };
  using Lock = std::unique_lock<std::mutex>;

  Chunk& chunk(std::uint64_t seq) { return chunks_[seq - first_chunk_seq_]; }
  // All below run with mutex_ held (reserve_chunk, grow and wait_for_oldest release it while
  // they wait or allocate).
  Ticket* live_ticket(std::uint64_t id);  // null once the ticket is complete and dropped
  void check_ticket(TransferTicket ticket) const;
  // Opens a ticket and submits the upload chunk by chunk; the ticket.
  std::uint64_t submit_chunks(std::span<const std::byte> bytes, const RawBlock& dst,
                              std::uint64_t dst_offset);
  // Room for `size` bytes per the policy; the new chunk's sequence number.
  std::uint64_t reserve_chunk(Lock& lock, std::uint64_t ticket, std::uint64_t size,
                              std::uint64_t upload_size, std::uint64_t submitted);
  std::optional<std::uint64_t> try_place(std::uint64_t ticket, std::uint64_t size);
  bool grow(Lock& lock);
  void wait_for_oldest(Lock& lock);
  void retire(Chunk& c, bool completed);
  void finish(Ticket& t);
  void retire_completed();
  void drop_retired();
  bool poll(std::uint64_t ticket);  // retires the ticket's completed chunks; whether it is done
  std::vector<std::unique_ptr<Segment>> take_idle_segments(bool now);
  std::uint64_t capacity() const;
  std::uint64_t used_bytes() const;

  Manager& manager_;
  Device& device_;
  const StagingRingOptions options_;
  const std::uint32_t heap_;
  std::unique_ptr<detail::BlockCopier> copy_;
  std::unique_ptr<detail::ParallelMemcpy> memcpy_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a chunk submitted or retired, or growth finished
  std::vector<std::unique_ptr<Segment>> segments_;  // [0] is the ring proper
  std::size_t current_segment_ = 0;
  bool growing_ = false;
  std::deque<Chunk> chunks_;  // by sequence number, oldest first
  std::uint64_t first_chunk_seq_ = 1;
  std::deque<Ticket> tickets_;  // by id, oldest live first
  std::uint64_t first_ticket_id_ = 1;
  StagingStatistics stats_;
  Clock::time_point busy_since_{};
  Clock::duration busy_{};
};

}  // namespace gpumem
