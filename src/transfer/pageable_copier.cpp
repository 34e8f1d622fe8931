#include "gpumem/transfer/pageable_copier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "transfer/transfer_checks.hpp"

namespace gpumem {
namespace {

const PageableCopierOptions& checked(const PageableCopierOptions& o) {
  if (o.chunk_size == 0)
    throw InvalidArgument("pageable copier options: chunk_size must be above 0");
  if (o.chunks < 2) {
    throw InvalidArgument(fmt::format(
        "pageable copier options: chunks is {}, at least 2 are needed for copies to overlap",
        o.chunks));
  }
  if (o.copy_threads == 0) {
    throw InvalidArgument("pageable copier options: copy_threads must be at least 1");
  }
  return o;
}

}  // namespace

PageableCopier::PageableCopier(Manager& manager, PageableCopierOptions options)
    : options_(checked(options)),
      ring_(manager, {.ring_size = options_.chunk_size * options_.chunks,
                      .chunk_size = options_.chunk_size,
                      .policy = FullRingPolicy::Wait,
                      .copy_threads = options_.copy_threads,
                      .tag = Tag("pageable-upload")}),
      readback_(manager, {.buffer_size = options_.chunk_size,
                          .pre_allocate = options_.chunks,
                          // Every chunk of every caller waits for a buffer instead of failing.
                          .max_pending_ops = UINT32_MAX,
                          .copy_threads = options_.copy_threads,
                          .tag = Tag("pageable-download")}) {}

void PageableCopier::upload(std::span<const std::byte> bytes, const RawBlock& dst,
                            std::uint64_t dst_offset) {
  // The ring splits and pipelines: chunk k+1 is filled while chunk k is copied.
  ring_.wait(ring_.stage_upload(bytes, dst, dst_offset));
}

void PageableCopier::upload(std::span<const std::byte> bytes, const Allocation& dst,
                            std::uint64_t dst_offset) {
  ring_.wait(ring_.stage_upload(bytes, dst, dst_offset));
}

void PageableCopier::download(const Allocation& src, std::uint64_t src_offset,
                              std::span<std::byte> out) {
  detail::check_range("pageable copier: download", out.size(), src, src_offset);
  download(src.block(), src.offset() + src_offset, out);
}

void PageableCopier::download(const RawBlock& src, std::uint64_t src_offset,
                              std::span<std::byte> out) {
  detail::check_range("pageable copier: download", out.size(), src, src_offset);
  // A window of `chunks` downloads in flight: while the host threads copy chunk k out of its
  // buffer, the copy engine fills the next ones, and chunk k's buffer then serves chunk k+chunks.
  const std::uint64_t size = out.size();
  const std::uint64_t step = options_.chunk_size;
  std::deque<TransferTicket> window;
  std::uint64_t started = 0;
  std::uint64_t collected = 0;
  try {
    while (collected < size) {
      while (started < size && window.size() < options_.chunks) {
        const std::uint64_t n = std::min(step, size - started);
        window.push_back(readback_.start_download(src, src_offset + started, n));
        started += n;
      }
      const std::uint64_t n = std::min(step, size - collected);
      readback_.wait_download(window.front(), out.subspan(collected, n));
      window.pop_front();
      collected += n;
    }
  } catch (...) {
    // Collect what is still in flight so its buffers go back to the pool, then report.
    for (const TransferTicket t : window) {
      try {
        static_cast<void>(readback_.wait_download(t));
      } catch (...) {  // the first failure is the one worth reporting
      }
    }
    throw;
  }
}

}  // namespace gpumem
