#include "sdk/crypto/random.h"

#include <bitset>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace stow::crypto {
namespace {

TEST(RandomTest, EmptyIsANoOp) {
  RandomBytes(absl::Span<uint8_t>());
  EXPECT_TRUE(RandomVector(0).empty());
}

TEST(RandomTest, FillsExactlyTheSpan) {
  // Guard bytes around the span must stay untouched.
  std::vector<uint8_t> buffer(64 + 2, 0xA5);
  absl::Span<uint8_t> inner = absl::MakeSpan(buffer).subspan(1, 64);
  for (int attempt = 0; attempt < 4; ++attempt) {
    RandomBytes(inner);
    EXPECT_EQ(buffer.front(), 0xA5);
    EXPECT_EQ(buffer.back(), 0xA5);
  }
  EXPECT_EQ(RandomVector(33).size(), 33u);
}

TEST(RandomTest, OutputsDiffer) {
  // 32 random bytes repeat with probability 2^-256.
  std::set<std::vector<uint8_t>> seen;
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(seen.insert(RandomVector(32)).second);
  }
  std::set<uint64_t> words;
  for (int i = 0; i < 100; ++i) words.insert(RandomUint64());
  EXPECT_EQ(words.size(), 100u);  // A collision: probability ~2^-51.
  std::set<uint32_t> small;
  for (int i = 0; i < 100; ++i) small.insert(RandomUint32());
  EXPECT_GE(small.size(), 99u);  // Two collisions: probability ~2^-40.
}

TEST(RandomTest, BitsAreBalanced) {
  // 64 KiB = 524288 bits; the count of ones has mean 262144 and standard
  // deviation 362. The band below is more than 13 deviations wide on each
  // side: a false failure is far less likely than a hardware fault.
  std::vector<uint8_t> bytes = RandomVector(65536);
  size_t ones = 0;
  std::vector<int> byte_counts(256, 0);
  for (uint8_t b : bytes) {
    ones += std::bitset<8>(b).count();
    ++byte_counts[b];
  }
  EXPECT_GT(ones, 262144u - 5000u);
  EXPECT_LT(ones, 262144u + 5000u);
  // Each byte value is expected 256 times; seeing none has probability
  // ~e^-256 per value.
  for (int v = 0; v < 256; ++v) EXPECT_GT(byte_counts[v], 0) << v;
}

}  // namespace
}  // namespace stow::crypto
