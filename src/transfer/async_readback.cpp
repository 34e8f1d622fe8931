#include "gpumem/transfer/async_readback.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>

#include "gpumem/core/log.hpp"
#include "transfer/block_copier.hpp"
#include "transfer/parallel_memcpy.hpp"
#include "transfer/transfer_checks.hpp"

namespace gpumem {

struct AsyncReadback::Buffer {
  Allocation memory;
  RawBlock block;
  std::uint64_t base;  // the allocation's offset in its block
  std::byte* host;

  explicit Buffer(Allocation a)
      : memory(std::move(a)), block(memory.block()), base(memory.offset()), host(memory.map()) {}
};

namespace {

void check_options(const AsyncReadbackOptions& o) {
  const auto bad = [](std::string_view what) {
    throw InvalidArgument(fmt::format("async readback options: {}", what));
  };
  if (o.buffer_size == 0) bad("buffer_size must be above 0");
  if (o.max_pending_ops == 0) bad("max_pending_ops must be above 0");
  if (o.copy_threads == 0) bad("copy_threads must be at least 1 (the calling thread)");
}

}  // namespace

AsyncReadback::AsyncReadback(Manager& manager, AsyncReadbackOptions options)
    : manager_(manager),
      device_(manager.device()),
      options_(options),
      heap_((check_options(options_),
             detail::transfer_heap("async readback", manager, options_.heap, HeapKind::Readback))),
      copy_(std::make_unique<detail::BlockCopier>(device_)),
      memcpy_(std::make_unique<detail::ParallelMemcpy>(options_.copy_threads)) {
  pre_allocate(options_.pre_allocate);
}

AsyncReadback::~AsyncReadback() {
  // The device must not write into buffers after they are freed.
  for (auto& [id, download] : pending_) {
    for (const Piece& p : download.pieces) {
      try {
        device_.wait(p.fence);
      } catch (const std::exception& e) {
        log_message(LogLevel::Error,
                    fmt::format("async readback: waiting for download {}: {}", id, e.what()));
      }
    }
  }
}

std::unique_ptr<AsyncReadback::Buffer> AsyncReadback::make_buffer() {
  return std::make_unique<Buffer>(
      manager_.allocate(detail::staging_request(options_.buffer_size, heap_, 256, options_.tag)));
}

void AsyncReadback::pre_allocate(std::uint32_t buffers) {
  std::uint64_t missing = 0;
  {
    Lock lock(mutex_);
    keep_ = std::max(keep_, buffers);
    missing = keep_ > stats_.buffers ? keep_ - stats_.buffers : 0;
    stats_.buffers += missing;
  }
  std::vector<std::unique_ptr<Buffer>> made;
  try {
    while (made.size() < missing) made.push_back(make_buffer());
  } catch (...) {
    Lock lock(mutex_);
    stats_.buffers -= missing - made.size();
    for (auto& b : made) pool_.push_back(std::move(b));
    throw;
  }
  Lock lock(mutex_);
  for (auto& b : made) pool_.push_back(std::move(b));
}

TransferTicket AsyncReadback::start_download(const RawBlock& src, std::uint64_t offset,
                                             std::uint64_t size) {
  return *start(src, offset, size, true);
}

TransferTicket AsyncReadback::start_download(const Allocation& src, std::uint64_t offset,
                                             std::uint64_t size) {
  detail::check_range("async readback: download", size, src, offset);
  return *start(src.block(), src.offset() + offset, size, true);
}

TransferTicket AsyncReadback::start_download(const Allocation& src) {
  return start_download(src, 0, src.size());
}

std::optional<TransferTicket> AsyncReadback::try_start_download(const RawBlock& src,
                                                                std::uint64_t offset,
                                                                std::uint64_t size) {
  return start(src, offset, size, false);
}

std::optional<TransferTicket> AsyncReadback::start(const RawBlock& src, std::uint64_t offset,
                                                   std::uint64_t size, bool throw_when_full) {
  detail::check_range("async readback: download", size, src, offset);
  const std::uint64_t bs = options_.buffer_size;
  std::vector<Piece> pieces((size + bs - 1) / bs);
  const Clock::time_point now = Clock::now();
  std::vector<std::unique_ptr<Buffer>> surplus;  // freed after the lock is released
  Lock lock(mutex_);
  surplus = discard_expired_locked(now);
  if (pending_.size() + starting_ >= options_.max_pending_ops) {
    if (!throw_when_full) return std::nullopt;
    throw TransferQueueFull(fmt::format(
        "async readback: {} downloads are pending, the most max_pending_ops allows; collect some "
        "with wait_download or try_get first",
        options_.max_pending_ops));
  }
  ++starting_;
  const std::uint64_t id = next_id_++;
  std::size_t pooled = 0;
  for (; pooled < pieces.size() && !pool_.empty(); ++pooled) {
    pieces[pooled].buffer = std::move(pool_.back());
    pool_.pop_back();
  }
  stats_.buffers += pieces.size() - pooled;
  stats_.buffer_allocations += pieces.size() - pooled;
  lock.unlock();
  surplus.clear();
  try {
    for (std::size_t i = pooled; i < pieces.size(); ++i) pieces[i].buffer = make_buffer();
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      Piece& p = pieces[i];
      p.size = std::min(bs, size - i * bs);
      p.fence = (*copy_)(src, offset + i * bs, p.buffer->block, p.buffer->base, p.size);
    }
  } catch (...) {
    std::vector<Piece> made;
    for (Piece& p : pieces) {
      if (p.fence != 0) device_.wait(p.fence);  // not to be written once back in the pool
      if (p.buffer) made.push_back(std::move(p));
    }
    lock.lock();
    --starting_;
    stats_.buffers -= pieces.size() - made.size();
    surplus = recycle(made);
    lock.unlock();
    throw;
  }
  lock.lock();
  --starting_;
  ++stats_.downloads;
  pending_.emplace(id, Download{.pieces = std::move(pieces), .size = size, .started = now});
  return TransferTicket{id};
}

AsyncReadback::Download& AsyncReadback::pending(TransferTicket ticket) {
  const auto it = pending_.find(ticket.id);
  if (it == pending_.end()) {
    throw InvalidHandle(fmt::format(
        "async readback: ticket {} is not pending here (never issued, collected already, or "
        "discarded uncollected after {} ms)",
        ticket.id, options_.discard_after.count()));
  }
  return it->second;
}

bool AsyncReadback::complete(Download& d) {
  return std::all_of(d.pieces.begin(), d.pieces.end(),
                     [this](const Piece& p) { return device_.is_complete(p.fence); });
}

bool AsyncReadback::is_complete(TransferTicket ticket) {
  Lock lock(mutex_);
  return complete(pending(ticket));
}

std::optional<AsyncReadback::Download> AsyncReadback::take(TransferTicket ticket,
                                                           std::optional<std::uint64_t> out_size,
                                                           bool only_if_complete) {
  Lock lock(mutex_);
  Download& d = pending(ticket);
  if (out_size && *out_size != d.size) {
    throw InvalidArgument(
        fmt::format("async readback: ticket {} downloads {} bytes, the output holds {}", ticket.id,
                    d.size, *out_size));
  }
  if (only_if_complete && !complete(d)) return std::nullopt;
  return std::move(pending_.extract(ticket.id).mapped());
}

void AsyncReadback::deliver(Download& d, std::span<std::byte> out) {
  std::vector<std::unique_ptr<Buffer>> surplus;
  std::exception_ptr failure;
  try {
    std::uint64_t at = 0;
    for (const Piece& p : d.pieces) {
      device_.wait(p.fence);  // also makes a non-coherent buffer's bytes visible
      memcpy_->copy(out.data() + at, p.buffer->host, p.size);
      at += p.size;
    }
  } catch (...) {
    failure = std::current_exception();
  }
  {
    Lock lock(mutex_);
    if (!failure) {
      ++stats_.collected;
      stats_.bytes_collected += d.size;
    }
    surplus = recycle(d.pieces);
  }
  if (failure) std::rethrow_exception(failure);
}

std::vector<std::byte> AsyncReadback::wait_download(TransferTicket ticket) {
  Download d = *take(ticket, std::nullopt, false);
  std::vector<std::byte> bytes(d.size);
  deliver(d, bytes);
  return bytes;
}

void AsyncReadback::wait_download(TransferTicket ticket, std::span<std::byte> out) {
  Download d = *take(ticket, out.size(), false);
  deliver(d, out);
}

std::optional<std::vector<std::byte>> AsyncReadback::try_get(TransferTicket ticket) {
  std::optional<Download> d = take(ticket, std::nullopt, true);
  if (!d) return std::nullopt;
  std::vector<std::byte> bytes(d->size);
  deliver(*d, bytes);
  return bytes;
}

bool AsyncReadback::try_get(TransferTicket ticket, std::span<std::byte> out) {
  std::optional<Download> d = take(ticket, out.size(), true);
  if (!d) return false;
  deliver(*d, out);
  return true;
}

std::vector<std::unique_ptr<AsyncReadback::Buffer>> AsyncReadback::recycle(
    std::vector<Piece>& pieces) {
  std::vector<std::unique_ptr<Buffer>> surplus;
  for (Piece& p : pieces) {
    if (!p.buffer) continue;
    if (stats_.buffers > keep_) {
      surplus.push_back(std::move(p.buffer));
      --stats_.buffers;
    } else {
      pool_.push_back(std::move(p.buffer));
    }
  }
  pieces.clear();
  return surplus;
}

std::vector<std::unique_ptr<AsyncReadback::Buffer>> AsyncReadback::discard_expired_locked(
    Clock::time_point now) {
  std::vector<std::unique_ptr<Buffer>> surplus;
  for (auto it = pending_.begin(); it != pending_.end();) {
    Download& d = it->second;
    if (now - d.started >= options_.discard_after && complete(d)) {
      for (auto& b : recycle(d.pieces)) surplus.push_back(std::move(b));
      ++stats_.discarded;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return surplus;
}

std::size_t AsyncReadback::discard_expired() {
  std::vector<std::unique_ptr<Buffer>> surplus;
  Lock lock(mutex_);
  const std::uint64_t before = stats_.discarded;
  surplus = discard_expired_locked(Clock::now());
  return stats_.discarded - before;
}

ReadbackStatistics AsyncReadback::statistics() const {
  Lock lock(mutex_);
  ReadbackStatistics s = stats_;
  s.pending = pending_.size();
  s.pooled = pool_.size();
  return s;
}

}  // namespace gpumem
