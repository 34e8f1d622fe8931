#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "bc_encoders.hpp"

namespace gpumem::detail {

void parallel_for(std::size_t count, unsigned threads,
                  const std::function<void(std::size_t, std::size_t)>& body) {
  if (count == 0) return;
  threads = static_cast<unsigned>(std::min<std::size_t>(std::max(1U, threads), count));
  // About 16 chunks per thread: small enough that the last ones to finish leave the others idle
  // only briefly (BC7 blocks differ a lot in cost), large enough that the atomic counter is not
  // contended. Tied to the thread count, so more threads get finer chunks.
  const std::size_t chunk = std::clamp<std::size_t>(count / (std::size_t{threads} * 16), 1, 1024);
  const std::size_t chunks = (count + chunk - 1) / chunk;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      body(c * chunk, std::min(count, (c + 1) * chunk));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace gpumem::detail
