// Runs the DNS response fuzz target over mutations of valid responses and
// random bytes in every test run (and under ASan/UBSan); tools/fuzz.sh runs
// it under libFuzzer for real.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "netstack/testing/leak_check.h"
#include "sdk/dns/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stow::dns {
namespace {

using ::stow::netstack::testing::LeakCheck;

// Seeds: a CNAME chain with A records, an AAAA answer, and a compressed
// answer (owner as a pointer to the question).
std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> seeds;
  std::vector<uint8_t> a =
      *BuildQuery(0x1234, "www.example.com", RecordType::kA);
  std::vector<uint8_t> target = EncodeNameForTest("cdn.example.net");
  seeds.push_back(
      BuildTestResponse(a, Rcode::kNoError,
                        {{"www.example.com", 5, 300, target},
                         {"cdn.example.net", 1, 60, {192, 0, 2, 1}},
                         {"cdn.example.net", 1, 60, {192, 0, 2, 2}}}));
  std::vector<uint8_t> aaaa =
      *BuildQuery(0x4321, "www.example.com", RecordType::kAaaa);
  std::vector<uint8_t> v6(16, 0);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = 0xb8;
  v6[15] = 1;
  seeds.push_back(BuildTestResponse(aaaa, Rcode::kNoError,
                                    {{"www.example.com", 28, 5, v6}}));
  // The last byte (v6[15] == 1) has its low bit set: the target asks AAAA.
  std::vector<uint8_t> compressed = BuildTestResponse(a, Rcode::kNoError, {});
  compressed[7] = 1;  // ANCOUNT
  for (uint8_t b : {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 10, 0, 4, 10, 0, 0, 2}) {
    compressed.push_back(b);
  }
  seeds.push_back(compressed);
  return seeds;
}

TEST(DnsResponseFuzzerTest, SeedsParse) {
  std::vector<std::vector<uint8_t>> seeds = Seeds();
  // The seeds are real answers, so mutations start from deep in the parser.
  absl::StatusOr<Response> r0 =
      ParseResponse(seeds[0], 0x1234, "www.example.com", RecordType::kA);
  ASSERT_TRUE(r0.ok()) << r0.status();
  EXPECT_EQ(r0->addresses.size(), 2u);
  absl::StatusOr<Response> r1 =
      ParseResponse(seeds[1], 0x4321, "www.example.com", RecordType::kAaaa);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->addresses.size(), 1u);
  absl::StatusOr<Response> r2 =
      ParseResponse(seeds[2], 0x1234, "www.example.com", RecordType::kA);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->addresses.size(), 1u);
}

TEST(DnsResponseFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::mt19937 rng(4711);
  const std::vector<std::vector<uint8_t>> seeds = Seeds();
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    if (i % 4 != 3) {
      input = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations; ++m) {
        switch (rng() % 4) {
          case 0:  // Random byte.
            input[rng() % input.size()] = static_cast<uint8_t>(rng());
            break;
          case 1:  // A compression pointer anywhere.
            if (input.size() >= 2) {
              const size_t at = rng() % (input.size() - 1);
              input[at] = 0xC0 | (rng() % 2);
              input[at + 1] = static_cast<uint8_t>(rng());
            }
            break;
          case 2:  // Cut.
            input.resize(rng() % (input.size() + 1));
            break;
          case 3:  // Bump a count.
            if (input.size() >= 12) input[6 + 2 * (rng() % 3) + 1] += 1;
            break;
        }
        if (input.empty()) break;
      }
    } else {
      input.resize(rng() % 300);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
  EXPECT_EQ(LeakCheck(), 0);
}

// Every prefix of every seed is refused without reading past the end.
TEST(DnsResponseFuzzerTest, EveryPrefixOfTheSeeds) {
  for (const std::vector<uint8_t>& seed : Seeds()) {
    for (size_t n = 0; n <= seed.size(); ++n) {
      std::vector<uint8_t> prefix(seed.begin(), seed.begin() + n);
      ASSERT_EQ(LLVMFuzzerTestOneInput(prefix.data(), prefix.size()), 0);
    }
  }
}

}  // namespace
}  // namespace stow::dns
