#include "gpumem/transfer/staging_ring.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <exception>

#include "gpumem/core/log.hpp"
#include "transfer/block_copier.hpp"
#include "transfer/parallel_memcpy.hpp"
#include "transfer/transfer_checks.hpp"

namespace gpumem {

std::string_view to_string(FullRingPolicy policy) noexcept {
  switch (policy) {
    case FullRingPolicy::Wait:
      return "wait";
    case FullRingPolicy::Grow:
      return "grow";
    case FullRingPolicy::Fail:
      return "fail";
  }
  return "unknown";
}

// One stretch of ring memory: the ring proper, or a segment added by the Grow policy.
struct StagingRing::Segment {
  Allocation memory;
  RawBlock block;
  std::uint64_t base;  // the allocation's offset in its block
  std::byte* host;
  LinearAllocator ring;
  const bool added;                              // by the Grow policy, to be given back when idle
  Clock::time_point empty_since = Clock::now();  // for added segments: when last emptied

  Segment(Allocation a, bool grown)
      : memory(std::move(a)),
        block(memory.block()),
        base(memory.offset()),
        host(memory.map()),
        ring(memory.size(), LinearMode::Ring),
        added(grown) {}
};

namespace {

void check_options(const StagingRingOptions& o) {
  const auto bad = [](std::string_view what) {
    throw InvalidArgument(fmt::format("staging ring options: {}", what));
  };
  if (o.ring_size == 0) bad("ring_size must be above 0");
  if (o.chunk_size == 0 || o.chunk_size > o.ring_size) {
    bad(fmt::format("chunk_size {} must be in 1..ring_size ({})", o.chunk_size, o.ring_size));
  }
  if (o.max_ring_size < o.ring_size) {
    bad(fmt::format("max_ring_size {} is below ring_size {}", o.max_ring_size, o.ring_size));
  }
  if (!std::has_single_bit(o.alignment)) {
    bad(fmt::format("alignment {} is not a power of two", o.alignment));
  }
  if (o.copy_threads == 0) bad("copy_threads must be at least 1 (the calling thread)");
}

}  // namespace

StagingRing::StagingRing(Manager& manager, StagingRingOptions options)
    : manager_(manager),
      device_(manager.device()),
      options_(options),
      heap_((check_options(options_),
             detail::transfer_heap("staging ring", manager, options_.heap, HeapKind::Upload))),
      copy_(std::make_unique<detail::BlockCopier>(device_)),
      memcpy_(std::make_unique<detail::ParallelMemcpy>(options_.copy_threads)) {
  segments_.push_back(
      std::make_unique<Segment>(manager_.allocate(detail::staging_request(
                                    options_.ring_size, heap_, options_.alignment, options_.tag)),
                                false));
}

StagingRing::~StagingRing() {
  try {
    flush();
  } catch (const std::exception& e) {
    // The copies' fences failed: the device is lost and the memory goes back with it.
    log_message(LogLevel::Error,
                fmt::format("staging ring: waiting for pending uploads: {}", e.what()));
  }
}

StagingRing::Ticket* StagingRing::live_ticket(std::uint64_t id) {
  return id < first_ticket_id_ ? nullptr : &tickets_[id - first_ticket_id_];
}

void StagingRing::check_ticket(TransferTicket ticket) const {
  if (ticket.id == 0 || ticket.id >= first_ticket_id_ + tickets_.size()) {
    throw InvalidHandle(
        fmt::format("staging ring: ticket {} was not issued by this ring", ticket.id));
  }
}

TransferTicket StagingRing::stage_upload(std::span<const std::byte> bytes, const Allocation& dst,
                                         std::uint64_t dst_offset) {
  detail::check_range("staging ring: upload", bytes.size(), dst, dst_offset);
  return stage_upload(bytes, dst.block(), dst.offset() + dst_offset);
}

TransferTicket StagingRing::stage_upload(std::span<const std::byte> bytes, const RawBlock& dst,
                                         std::uint64_t dst_offset) {
  detail::check_range("staging ring: upload", bytes.size(), dst, dst_offset);
  if (bytes.empty()) {
    Lock lock(mutex_);
    tickets_.push_back(Ticket{.submitting = false, .done = true});
    const std::uint64_t id = first_ticket_id_ + tickets_.size() - 1;
    drop_retired();
    return {id};
  }
  return {submit_chunks(bytes, dst, dst_offset)};
}

std::uint64_t StagingRing::submit_chunks(std::span<const std::byte> bytes, const RawBlock& dst,
                                         std::uint64_t dst_offset) {
  const std::uint64_t size = bytes.size();
  std::vector<std::unique_ptr<Segment>> idle;  // given back once the lock is released
  std::uint64_t ticket = 0;
  std::uint64_t done = 0;
  Lock lock(mutex_, std::defer_lock);
  // Closes the ticket: from here its chunks alone decide when it is complete.
  const auto close = [&] {
    Ticket& t = *live_ticket(ticket);
    t.submitting = false;
    if (t.pending == 0) finish(t);
    drop_retired();
    changed_.notify_all();
  };
  // One lock per chunk to reserve its room (the first also opens the ticket), one to record its
  // fence (the last also closes the ticket); the memcpy and the copy call run unlocked.
  while (done < size) {
    const std::uint64_t n = std::min(options_.chunk_size, size - done);
    std::uint64_t seq = 0;
    lock.lock();
    if (ticket == 0) {
      ticket = first_ticket_id_ + tickets_.size();
      tickets_.push_back(Ticket{});
      if (stats_.active_transfers++ == 0) busy_since_ = Clock::now();
      ++stats_.uploads;
      if (segments_.size() > 1) idle = take_idle_segments(false);
    }
    try {
      seq = reserve_chunk(lock, ticket, n, size, done);
    } catch (...) {
      close();
      throw;
    }
    const Chunk& reserved = chunk(seq);
    Segment& segment = *reserved.segment;
    const std::uint64_t offset = reserved.range.offset();
    lock.unlock();
    FenceValue fence = 0;
    try {
      memcpy_->copy(segment.host + offset, bytes.data() + done, n);
      fence = (*copy_)(segment.block, segment.base + offset, dst, dst_offset + done, n);
    } catch (...) {
      lock.lock();
      retire(chunk(seq), false);
      close();
      throw;
    }
    lock.lock();
    Chunk& c = chunk(seq);
    c.fence = fence;
    c.state = ChunkState::InFlight;
    ++stats_.chunks;
    stats_.bytes_staged += n;
    done += n;
    if (done == size) {
      close();
    } else {
      changed_.notify_all();
    }
    lock.unlock();
  }
  return ticket;
}

std::uint64_t StagingRing::reserve_chunk(Lock& lock, std::uint64_t ticket, std::uint64_t size,
                                         std::uint64_t upload_size, std::uint64_t submitted) {
  bool stalled = false;
  for (;;) {
    retire_completed();
    if (const std::optional<std::uint64_t> seq = try_place(ticket, size)) {
      if (stalled) ++stats_.stalls;
      return *seq;
    }
    if (growing_) {
      changed_.wait(lock);
      continue;
    }
    if (options_.policy == FullRingPolicy::Fail) {
      const std::uint64_t cap = capacity();
      throw TransferQueueFull(fmt::format(
          "staging ring on heap '{}': no room for a {} chunk of a {} upload ({} of {} in use by "
          "copies in flight) and the full-ring policy is 'fail'; {} of this upload were "
          "submitted and will still arrive",
          manager_.heaps()[heap_].name, format_bytes(size), format_bytes(upload_size),
          format_bytes(used_bytes()), format_bytes(cap), format_bytes(submitted)));
    }
    if (options_.policy == FullRingPolicy::Grow && grow(lock)) continue;
    stalled = true;
    wait_for_oldest(lock);
  }
}

std::optional<std::uint64_t> StagingRing::try_place(std::uint64_t ticket, std::uint64_t size) {
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const std::size_t index = (current_segment_ + i) % segments_.size();
    Segment& segment = *segments_[index];
    if (std::optional<LinearAllocation> range =
            segment.ring.try_allocate(size, options_.alignment)) {
      current_segment_ = index;
      chunks_.push_back({.segment = &segment, .range = *range, .ticket = ticket});
      const std::uint64_t seq = first_chunk_seq_ + chunks_.size() - 1;
      Ticket& t = *live_ticket(ticket);
      if (t.first_chunk == 0) t.first_chunk = seq;
      t.last_chunk = seq;
      ++t.pending;
      return seq;
    }
  }
  return std::nullopt;
}

bool StagingRing::grow(Lock& lock) {
  if (capacity() + options_.ring_size > options_.max_ring_size) return false;
  growing_ = true;
  lock.unlock();
  std::unique_ptr<Segment> added;
  try {
    // try_allocate: a budget that says no means waiting, not failing.
    if (Allocation a = manager_.try_allocate(
            detail::staging_request(options_.ring_size, heap_, options_.alignment, options_.tag))) {
      added = std::make_unique<Segment>(std::move(a), true);
    }
  } catch (...) {
    lock.lock();
    growing_ = false;
    changed_.notify_all();
    throw;
  }
  lock.lock();
  growing_ = false;
  changed_.notify_all();
  if (!added) return false;
  segments_.push_back(std::move(added));
  current_segment_ = segments_.size() - 1;
  ++stats_.grows;
  return true;
}

void StagingRing::wait_for_oldest(Lock& lock) {
  for (std::uint64_t seq = first_chunk_seq_; seq < first_chunk_seq_ + chunks_.size(); ++seq) {
    const Chunk& c = chunk(seq);
    if (c.state != ChunkState::InFlight) continue;
    const FenceValue fence = c.fence;
    lock.unlock();
    device_.wait(fence);
    lock.lock();
    return;  // the caller's retire_completed() retires it, with any others done meanwhile
  }
  if (chunks_.empty()) {
    throw Error(fmt::format("staging ring: an empty ring of {} has no room for {} (a bug)",
                            format_bytes(capacity()), format_bytes(options_.chunk_size)));
  }
  changed_.wait(lock);  // only chunks other threads are filling hold the room
}

void StagingRing::retire(Chunk& c, bool completed) {
  c.segment->ring.free(c.range);
  c.state = ChunkState::Retired;
  if (completed) stats_.bytes_completed += c.range.size();
  if (c.segment->added && c.segment->ring.empty()) c.segment->empty_since = Clock::now();
  Ticket& t = *live_ticket(c.ticket);
  if (--t.pending == 0 && !t.submitting) finish(t);
}

void StagingRing::finish(Ticket& t) {
  t.done = true;
  if (--stats_.active_transfers == 0) busy_ += Clock::now() - busy_since_;
}

void StagingRing::retire_completed() {
  // Oldest first, stopping at the first copy still running: the copies of one device complete
  // in submission order or close to it, so the rest would only be asked in vain.
  for (Chunk& c : chunks_) {
    if (c.state != ChunkState::InFlight) continue;
    if (!device_.is_complete(c.fence)) break;
    retire(c, true);
  }
  drop_retired();
}

void StagingRing::drop_retired() {
  while (!chunks_.empty() && chunks_.front().state == ChunkState::Retired) {
    chunks_.pop_front();
    ++first_chunk_seq_;
  }
  while (!tickets_.empty() && tickets_.front().done) {
    tickets_.pop_front();
    ++first_ticket_id_;
  }
}

bool StagingRing::poll(std::uint64_t id) {
  Ticket* t = live_ticket(id);
  if (t == nullptr || t->done) return true;
  for (std::uint64_t seq = std::max(t->first_chunk, first_chunk_seq_);
       t->first_chunk != 0 && seq <= t->last_chunk; ++seq) {
    Chunk& c = chunk(seq);
    if (c.ticket == id && c.state == ChunkState::InFlight && device_.is_complete(c.fence)) {
      retire(c, true);
    }
  }
  const bool done = t->done;
  drop_retired();
  return done;
}

bool StagingRing::is_complete(TransferTicket ticket) {
  Lock lock(mutex_);
  check_ticket(ticket);
  return poll(ticket.id);
}

void StagingRing::wait(TransferTicket ticket) {
  Lock lock(mutex_);
  check_ticket(ticket);
  while (!poll(ticket.id)) {
    const Ticket& t = *live_ticket(ticket.id);
    std::optional<std::uint64_t> running;
    for (std::uint64_t seq = std::max(t.first_chunk, first_chunk_seq_);
         t.first_chunk != 0 && seq <= t.last_chunk; ++seq) {
      if (chunk(seq).ticket == ticket.id && chunk(seq).state == ChunkState::InFlight) {
        running = seq;
        break;
      }
    }
    if (!running) {  // its chunks are still being filled
      changed_.wait(lock);
      continue;
    }
    const FenceValue fence = chunk(*running).fence;
    lock.unlock();
    device_.wait(fence);
    lock.lock();
    // The chunk may have been retired (and dropped) by another thread meanwhile.
    if (*running >= first_chunk_seq_ && chunk(*running).state == ChunkState::InFlight) {
      retire(chunk(*running), true);
      changed_.notify_all();
    }
  }
}

void StagingRing::flush() {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
  {
    Lock lock(mutex_);
    first = first_ticket_id_;
    end = first_ticket_id_ + tickets_.size();
  }
  for (std::uint64_t id = first; id < end; ++id) wait({id});
}

void StagingRing::trim() {
  std::vector<std::unique_ptr<Segment>> idle;
  {
    Lock lock(mutex_);
    idle = take_idle_segments(true);
  }
}

std::vector<std::unique_ptr<StagingRing::Segment>> StagingRing::take_idle_segments(bool now) {
  std::vector<std::unique_ptr<Segment>> idle;
  const Clock::time_point t = Clock::now();
  for (std::size_t i = segments_.size(); i-- > 1;) {
    Segment& s = *segments_[i];
    if (s.ring.empty() && (now || t - s.empty_since >= options_.shrink_after)) {
      idle.push_back(std::move(segments_[i]));
      segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(i));
      ++stats_.shrinks;
    }
  }
  current_segment_ = std::min(current_segment_, segments_.size() - 1);
  return idle;
}

std::uint64_t StagingRing::capacity() const {
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->ring.size();
  return total;
}

std::uint64_t StagingRing::used_bytes() const {
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s->ring.used_bytes();
  return total;
}

StagingStatistics StagingRing::statistics() const {
  Lock lock(mutex_);
  StagingStatistics s = stats_;
  s.capacity = capacity();
  s.used_bytes = used_bytes();
  s.occupancy =
      s.capacity == 0 ? 0.0 : static_cast<double>(s.used_bytes) / static_cast<double>(s.capacity);
  Clock::duration busy = busy_;
  if (s.active_transfers != 0) busy += Clock::now() - busy_since_;
  const double seconds = std::chrono::duration<double>(busy).count();
  s.achieved_gbps = seconds > 0 ? static_cast<double>(s.bytes_completed) / seconds / 1e9 : 0.0;
  return s;
}

}  // namespace gpumem
