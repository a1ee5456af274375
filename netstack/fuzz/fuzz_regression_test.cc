// Runs the fuzz target's entry point over generated inputs in the ordinary
// test run (and under ASan/UBSan), so the target always builds and its
// harness stays sound; tools/fuzz.sh runs it under libFuzzer for real.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// A plausible IPv4/TCP SYN to 10.0.0.1:80, to be mutated.
std::vector<uint8_t> Syn() {
  return {0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00,
          0x00, 10,   0,    0,    2,    10,   0,    0,    1,    0x30, 0x39,
          0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50,
          0x02, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00};
}

TEST(IpInputFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint8_t> input;
    if (i % 2 == 0) {
      input = Syn();
      for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % input.size());
    } else {
      input.resize(rng() % 200);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
      if (!input.empty()) input[0] = (rng() % 2) ? 0x45 : 0x60;
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

}  // namespace
