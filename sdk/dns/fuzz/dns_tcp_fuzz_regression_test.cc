// Runs the DNS-over-TCP reader fuzz target over framed answers cut and
// mutated, and random bytes, in every test run (and under ASan/UBSan);
// tools/fuzz.sh runs it under libFuzzer for real.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "netstack/testing/leak_check.h"
#include "sdk/dns/message.h"
#include "sdk/dns/tcp_framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stow::dns {
namespace {

using ::stow::netstack::testing::LeakCheck;

// Seeds: a piece-size byte, then a framed answer (A with a CNAME; NXDOMAIN
// with a SOA; a truncated answer).
std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> messages;
  std::vector<uint8_t> a =
      *BuildQuery(0x1234, "www.example.com", RecordType::kA);
  messages.push_back(BuildTestResponse(
      a, Rcode::kNoError,
      {{"www.example.com", 5, 300, EncodeNameForTest("cdn.example.net")},
       {"cdn.example.net", 1, 60, {192, 0, 2, 1}}}));
  messages.push_back(BuildTestResponse(
      a, Rcode::kNxDomain, {}, false,
      {{"example.com", 6, 3600, SoaRdataForTest(300)}}));
  messages.push_back(BuildTestResponse(a, Rcode::kNoError, {}, true));
  std::vector<std::vector<uint8_t>> seeds;
  uint8_t pattern = 0x31;
  for (const std::vector<uint8_t>& m : messages) {
    std::vector<uint8_t> seed = {pattern};
    pattern = static_cast<uint8_t>(pattern * 5 + 2);
    std::vector<uint8_t> framed = *FrameTcpMessage(m);
    seed.insert(seed.end(), framed.begin(), framed.end());
    seeds.push_back(seed);
  }
  return seeds;
}

TEST(DnsTcpReaderFuzzerTest, SeedsAreWholeAnswers) {
  for (const std::vector<uint8_t>& seed : Seeds()) {
    TcpMessageReader reader;
    EXPECT_EQ(reader.Feed(absl::MakeConstSpan(seed).subspan(1)),
              seed.size() - 1);
    ASSERT_EQ(reader.state(), TcpMessageReader::State::kComplete);
    EXPECT_TRUE(
        ParseAnswer(reader.message(), 0x1234, "www.example.com", RecordType::kA)
            .ok());
  }
}

TEST(DnsTcpReaderFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::mt19937 rng(1035);
  const std::vector<std::vector<uint8_t>> seeds = Seeds();
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    if (i % 4 != 3) {
      input = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && !input.empty(); ++m) {
        switch (rng() % 4) {
          case 0:  // Random byte.
            input[rng() % input.size()] = static_cast<uint8_t>(rng());
            break;
          case 1:  // Another length prefix.
            if (input.size() >= 3) {
              input[1] = static_cast<uint8_t>(rng() % 2 ? 0 : rng());
              input[2] = static_cast<uint8_t>(rng());
            }
            break;
          case 2:  // Cut.
            input.resize(rng() % (input.size() + 1));
            break;
          case 3:  // Bytes after the message.
            for (int k = static_cast<int>(rng() % 20); k > 0; --k) {
              input.push_back(static_cast<uint8_t>(rng()));
            }
            break;
        }
      }
    } else {
      input.resize(rng() % 300);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
  EXPECT_EQ(LeakCheck(), 0);
}

// Every prefix of every seed, and every piece-size pattern on each seed.
TEST(DnsTcpReaderFuzzerTest, EveryPrefixAndPattern) {
  for (const std::vector<uint8_t>& seed : Seeds()) {
    for (size_t n = 0; n <= seed.size(); ++n) {
      std::vector<uint8_t> prefix(seed.begin(), seed.begin() + n);
      ASSERT_EQ(LLVMFuzzerTestOneInput(prefix.data(), prefix.size()), 0);
    }
    std::vector<uint8_t> input = seed;
    for (int pattern = 0; pattern < 256; ++pattern) {
      input[0] = static_cast<uint8_t>(pattern);
      ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
    }
  }
}

}  // namespace
}  // namespace stow::dns
