// Runs the fuzz target's entry point over generated inputs in the ordinary
// test run (and under ASan/UBSan), so the target always builds and its
// harness stays sound; tools/fuzz.sh runs it under libFuzzer for real.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// One record in the target's input format.
void AppendRecord(std::vector<uint8_t>* input, uint8_t op, uint16_t number,
                  uint16_t total, uint8_t next, uint16_t length,
                  std::mt19937* rng) {
  const uint8_t header[] = {op,
                            uint8_t(number >> 8), uint8_t(number),
                            uint8_t(total >> 8),  uint8_t(total),
                            next,
                            uint8_t(length >> 8), uint8_t(length)};
  input->insert(input->end(), header, header + sizeof(header));
  if (length == 0xFFFF) return;
  for (size_t i = 0; i < length % 2048u; ++i) {
    input->push_back(static_cast<uint8_t>((*rng)()));
  }
}

// Well-formed messages in shuffled order with duplicates, restarts, other
// Message IDs and resets mixed in, then mutated.
TEST(IkeFragmentFuzzerTest, SurvivesGeneratedSequences) {
  std::mt19937 rng(4242);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> input;
    const int messages = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < messages; ++m) {
      const uint16_t total = static_cast<uint16_t>(1 + rng() % (i % 10 == 0 ? 70 : 6));
      std::vector<uint16_t> order(total);
      for (uint16_t n = 0; n < total; ++n) order[n] = n + 1;
      std::shuffle(order.begin(), order.end(), rng);
      for (uint16_t n : order) {
        const uint8_t op = static_cast<uint8_t>(m & 3);
        const uint16_t length =
            rng() % 50 == 0 ? 0xFFFF : static_cast<uint16_t>(rng() % 300);
        AppendRecord(&input, op, n, total, n == 1 ? 35 : 0, length, &rng);
        if (rng() % 8 == 0) {  // Duplicate.
          AppendRecord(&input, op, n, total, 0, 10, &rng);
        }
        if (rng() % 20 == 0) {  // Larger total: restart.
          AppendRecord(&input, op, n, total + 1, 0, 10, &rng);
        }
        if (rng() % 30 == 0) {  // Reset.
          AppendRecord(&input, 0xF0, 0, 0, 0, 0, &rng);
        }
      }
    }
    if (i % 2 == 1 && !input.empty()) {
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % input.size());
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

TEST(IkeFragmentFuzzerTest, SurvivesRandomInputs) {
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> input(rng() % 400);
    for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

// Hand-made edge cases: empty input, a lone header, 64 fragments that fill
// 64 KiB exactly, and one byte more.
TEST(IkeFragmentFuzzerTest, HandMadeInputs) {
  std::mt19937 rng(1);
  ASSERT_EQ(LLVMFuzzerTestOneInput(nullptr, 0), 0);
  const uint8_t lone[] = {0, 0, 1, 0, 1, 35, 0, 0};
  ASSERT_EQ(LLVMFuzzerTestOneInput(lone, sizeof(lone)), 0);
  // 64 fragments of 1024 bytes: 1024 % 2048 = 1024, total 64 KiB.
  std::vector<uint8_t> full;
  for (uint16_t n = 64; n >= 1; --n) {
    AppendRecord(&full, 0, n, 64, n == 1 ? 35 : 0, 1024, &rng);
  }
  ASSERT_EQ(LLVMFuzzerTestOneInput(full.data(), full.size()), 0);
  std::vector<uint8_t> over = full;
  AppendRecord(&over, 1, 1, 2, 35, 1024, &rng);
  for (uint16_t n = 1; n <= 64; ++n) {
    AppendRecord(&over, 2, n, 64, 0, n == 64 ? 1025 : 1024, &rng);
  }
  ASSERT_EQ(LLVMFuzzerTestOneInput(over.data(), over.size()), 0);
}

}  // namespace
