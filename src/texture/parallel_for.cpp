#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "bc_encoders.hpp"

namespace gpumem::detail {

void parallel_for(std::size_t count, unsigned threads,
                  const std::function<void(std::size_t, std::size_t)>& body) {
  if (count == 0) return;
  // Chunks small enough to balance uneven blocks (BC7 blocks differ a lot in cost), large
  // enough that the atomic counter is not contended.
  const std::size_t chunk = std::max<std::size_t>(1, std::min<std::size_t>(64, count / 64));
  const std::size_t chunks = (count + chunk - 1) / chunk;
  threads = static_cast<unsigned>(std::min<std::size_t>(std::max(1U, threads), chunks));
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
