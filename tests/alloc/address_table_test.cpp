#include "gpumem/alloc/address_table.hpp"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

namespace gpumem {
namespace {

TEST(AddressTable, InsertsFindsAndErases) {
  AddressTable<int> t(4);
  EXPECT_TRUE(t.insert(0x1000, 1));
  EXPECT_FALSE(t.insert(0x1000, 2));  // already a key
  EXPECT_FALSE(t.insert(0, 3));       // 0 marks empty slots
  ASSERT_NE(t.find(0x1000), nullptr);
  EXPECT_EQ(*t.find(0x1000), 1);
  EXPECT_EQ(t.find(0x2000), nullptr);
  EXPECT_EQ(t.erase(0x1000), 1);
  EXPECT_EQ(t.erase(0x1000), std::nullopt);
  EXPECT_TRUE(t.empty());
}

// Random inserts and erases, with growth and long probe runs (addresses that collide in their
// hashed bits), checked against std::unordered_map after every step.
TEST(AddressTable, AgreesWithUnorderedMapUnderChurn) {
  AddressTable<std::uint64_t> table(2);
  std::unordered_map<std::uint64_t, std::uint64_t> model;
  std::vector<std::uint64_t> keys;
  std::mt19937_64 rng(11);
  for (int step = 0; step < 200000; ++step) {
    if (keys.empty() || rng() % 3 != 0) {
      // Few distinct high parts: many keys share probe runs.
      const std::uint64_t key = ((rng() % 4096) << 8 | (rng() % 4) << 40) + 256;
      const bool fresh = model.emplace(key, step).second;
      EXPECT_EQ(table.insert(key, static_cast<std::uint64_t>(step)), fresh);
      if (fresh) keys.push_back(key);
    } else {
      const std::size_t k = rng() % keys.size();
      const std::uint64_t key = keys[k];
      keys[k] = keys.back();
      keys.pop_back();
      ASSERT_EQ(table.erase(key), model.at(key));
      model.erase(key);
    }
    ASSERT_EQ(table.size(), model.size());
    if (step % 1000 == 0) {
      for (const auto& [key, value] : model) {
        ASSERT_NE(table.find(key), nullptr) << key;
        ASSERT_EQ(*table.find(key), value);
      }
    }
  }
  std::size_t seen = 0;
  table.for_each([&](std::uint64_t key, std::uint64_t value) {
    ++seen;
    EXPECT_EQ(model.at(key), value);
  });
  EXPECT_EQ(seen, model.size());
}

}  // namespace
}  // namespace gpumem
