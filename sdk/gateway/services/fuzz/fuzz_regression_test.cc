// Runs the HTTP request fuzz target over hand-made and mutated inputs in
// every test run (and under ASan/UBSan), so the target always builds and its
// invariants hold; tools/fuzz.sh runs it under libFuzzer for real.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int Feed(const std::string& s) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()),
                                s.size());
}

const char* const kSeeds[] = {
    "GET / HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n",
    "GET /bytes?n=1048576&seed=7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    "\r\n",
    "POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: "
    "100-continue\r\n\r\nhello",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET http://h:80/x?y HTTP/1.0\nConnection: keep-alive\n\n",
    "\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nX: \t\xff\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n"
    "Content-Length: 18446744073709551616\r\n\r\n",
    "GET / HTTP/1.1\rX",
};

TEST(HttpRequestFuzzerTest, HandMadeInputs) {
  for (const char* seed : kSeeds) ASSERT_EQ(Feed(seed), 0) << seed;
  ASSERT_EQ(Feed(""), 0);
  ASSERT_EQ(Feed(std::string(20000, 'A')), 0);
  ASSERT_EQ(Feed("GET / HTTP/1.1\r\n" + std::string(20000, 'x')), 0);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 200; ++i) many += "A: b\r\n";
  ASSERT_EQ(Feed(many + "\r\n"), 0);
}

TEST(HttpRequestFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::mt19937 rng(4242);
  const std::string alphabet = "GETPOST /?&=:\r\n\t1HTP.,-a\x01\x7f\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    switch (i % 3) {
      case 0: {
        input = kSeeds[rng() % (sizeof(kSeeds) / sizeof(kSeeds[0]))];
        for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
          if (input.empty()) break;
          input[rng() % input.size()] = static_cast<char>(rng());
        }
        if (rng() % 3 == 0) input.resize(rng() % (input.size() + 1));
        break;
      }
      case 1:
        input.resize(rng() % 300);
        for (char& c : input) c = alphabet[rng() % alphabet.size()];
        break;
      default:
        input.resize(rng() % 200);
        for (char& c : input) c = static_cast<char>(rng());
        break;
    }
    ASSERT_EQ(Feed(input), 0);
  }
}

}  // namespace
