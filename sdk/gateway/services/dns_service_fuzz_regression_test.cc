// Runs the DNS query fuzz target over hand-made and mutated queries in
// every test run (and under ASan/UBSan), so the target always builds and
// its invariants hold; tools/fuzz.sh runs it under libFuzzer for real.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

int Feed(const Bytes& b) { return LLVMFuzzerTestOneInput(b.data(), b.size()); }

Bytes Header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
             uint16_t ar) {
  return {0xAB,
          0xCD,
          static_cast<uint8_t>(flags >> 8),
          static_cast<uint8_t>(flags),
          static_cast<uint8_t>(qd >> 8),
          static_cast<uint8_t>(qd),
          static_cast<uint8_t>(an >> 8),
          static_cast<uint8_t>(an),
          static_cast<uint8_t>(ns >> 8),
          static_cast<uint8_t>(ns),
          static_cast<uint8_t>(ar >> 8),
          static_cast<uint8_t>(ar)};
}

Bytes WithQuestion(Bytes h, const Bytes& name, uint16_t type,
                   uint16_t klass = 1) {
  h.insert(h.end(), name.begin(), name.end());
  h.insert(h.end(), {static_cast<uint8_t>(type >> 8),
                     static_cast<uint8_t>(type),
                     static_cast<uint8_t>(klass >> 8),
                     static_cast<uint8_t>(klass)});
  return h;
}

std::vector<Bytes> Seeds() {
  const Bytes www = {3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0};
  const Bytes many = {4, 'm', 'a', 'n', 'y', 4, 't', 'e', 's', 't', 0};
  const Bytes ent = {1, 'c', 4, 't', 'e', 's', 't', 0};
  Bytes edns = WithQuestion(Header(0x0100, 1, 0, 0, 1), www, 1);
  edns.insert(edns.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
  Bytes long_name = Header(0x0100, 1, 0, 0, 0);
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'x');
  }
  long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
  return {
      WithQuestion(Header(0x0100, 1, 0, 0, 0), www, 1),
      WithQuestion(Header(0x0000, 1, 0, 0, 0), www, 28),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), www, 255),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), many, 1),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), ent, 1),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), www, 252),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), www, 1, 3),
      WithQuestion(Header(0x1100, 1, 0, 0, 0), www, 1),
      WithQuestion(Header(0x8100, 1, 0, 0, 0), www, 1),
      WithQuestion(Header(0x0100, 1, 0, 0, 0), {0xC0, 0x0C}, 1),
      WithQuestion(Header(0x0100, 2, 0, 0, 0), www, 1),
      edns,
      long_name,
      Header(0x0100, 1, 0, 0, 0),
  };
}

TEST(DnsQueryFuzzerTest, HandMadeInputs) {
  for (const Bytes& seed : Seeds()) ASSERT_EQ(Feed(seed), 0);
  for (size_t n = 0; n < 13; ++n) ASSERT_EQ(Feed(Bytes(n, 0)), 0);
}

TEST(DnsQueryFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::mt19937 rng(5353);
  const std::vector<Bytes> seeds = Seeds();
  for (int i = 0; i < 20000; ++i) {
    Bytes input;
    if (i % 2 == 0) {
      input = seeds[rng() % seeds.size()];
      for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % (input.size() + 1));
    } else {
      input.resize(rng() % 300);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
      if (input.size() > 2) input[2] &= 0x7F;  // A query, mostly.
    }
    ASSERT_EQ(Feed(input), 0);
  }
}

}  // namespace
