// Runs the DTLS ClientHello fuzz target over a hand-made ClientHello,
// mutations of it and random bytes in every test run (and under
// ASan/UBSan); tools/fuzz.sh runs the manual cc_binary under libFuzzer.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> Seed() {
  std::vector<uint8_t> d = {22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 83,
                            1,  0,    0,    71, 0, 0, 0, 0, 0, 0, 0, 0, 71,
                            0xfe, 0xfd};
  for (int i = 0; i < 32; ++i) d.push_back(i);
  d.push_back(32);
  for (int i = 0; i < 32; ++i) d.push_back(0xa0 + i);
  d.push_back(0);
  d.push_back(2);
  d.push_back(0x00);
  d.push_back(0x8d);
  return d;
}

TEST(DtlsClientHelloFuzzRegressionTest, SeedMutationsAndRandomInputs) {
  std::mt19937 rng(20261123);
  const std::vector<uint8_t> seed = Seed();
  ASSERT_EQ(LLVMFuzzerTestOneInput(seed.data(), seed.size()), 0);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    if (i % 2 == 0) {
      input = seed;
      for (int m = 0; m < 1 + static_cast<int>(rng() % 3); ++m) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % input.size());
    } else {
      input.resize(rng() % 120);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
      if (input.size() > 13 && rng() % 2 == 0) {
        input[0] = 22;
        input[1] = 0xfe;
        input[3] = input[4] = 0;
        input[13] = 1;
      }
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

}  // namespace
