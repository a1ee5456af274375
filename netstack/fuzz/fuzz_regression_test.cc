// Runs the fuzz target's entry point over generated inputs in the ordinary
// test run (and under ASan/UBSan), so the target always builds and its
// harness stays sound; tools/fuzz.sh runs it under libFuzzer for real.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
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

// Found by libFuzzer: an IPv6 destination-options header cut short made
// lwIP 2.1.3's ip6_input read past the packet (now refused in
// netstack/packet_check.cc before lwIP sees it).
TEST(IpInputFuzzerTest, TruncatedIpv6ExtensionHeaderFromFuzzing) {
  const std::vector<uint8_t> input = {
      0x69, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0xfe, 0x00, 0x00, 0x00, 0xff,
      0x00, 0x00, 0x00, 0x00, 0xf7, 0x8e, 0x00, 0x2a, 0x8e, 0xff, 0xfe, 0x60,
      0x00, 0x00, 0x40, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x00, 0x0e, 0xf7, 0xfd,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x01, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00};
  ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
}

// Inputs libFuzzer found, kept as files in regressions/.
TEST(IpInputFuzzerTest, SavedFindings) {
  for (const char* name : {"ipv6_fragments_leak"}) {
    const std::string path =
        std::string("netstack/fuzz/regressions/") + name;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    std::vector<uint8_t> input((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    ASSERT_FALSE(input.empty()) << path;
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0) << path;
  }
}

}  // namespace
