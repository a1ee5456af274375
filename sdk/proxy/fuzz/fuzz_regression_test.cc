// Runs the fuzz targets' entry points over generated and hand-made inputs in
// the ordinary test run (and under ASan/UBSan), so the targets always build
// and their harnesses stay sound; tools/fuzz.sh runs them under libFuzzer.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

// Built once per target (BUILD sets STOW_FUZZ_TARGET): each target's
// library defines the one LLVMFuzzerTestOneInput.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Target = int (*)(const uint8_t*, size_t);

[[maybe_unused]] std::vector<uint8_t> B(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

void RunMutations(Target target, const std::vector<std::vector<uint8_t>>& seeds) {
  std::mt19937 rng(4242);
  for (const auto& seed : seeds) {
    ASSERT_EQ(target(seed.data(), seed.size()), 0);
    for (size_t n = 0; n <= seed.size(); ++n) {
      ASSERT_EQ(target(seed.data(), n), 0);  // Every prefix.
    }
  }
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> input = seeds[rng() % seeds.size()];
    if (!input.empty()) {
      for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % input.size());
    }
    if (rng() % 4 == 0) {
      input.resize(rng() % 300);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    }
    ASSERT_EQ(target(input.data(), input.size()), 0);
  }
}

#if STOW_FUZZ_TARGET == 1
TEST(ProxyFuzzRegressionTest, Socks5Request) {
  RunMutations(LLVMFuzzerTestOneInput,
               {{5, 2, 0, 2},
                {1, 3, 'b', 'o', 'b', 2, 'p', 'w'},
                {5, 1, 0, 1, 10, 0, 0, 1, 0, 80},
                {5, 1, 0, 3, 6, 'a', '.', 't', 'e', 's', 't', 0, 80},
                {5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                 0, 53}});
}

#elif STOW_FUZZ_TARGET == 2
TEST(ProxyFuzzRegressionTest, Socks5Udp) {
  RunMutations(LLVMFuzzerTestOneInput,
               {{0, 0, 0, 1, 10, 99, 0, 1, 0, 7, 'h', 'i'},
                {0, 0, 0, 3, 4, 'a', '.', 'b', 'c', 0, 53, 'x'},
                {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                 0, 53}});
}

#elif STOW_FUZZ_TARGET == 3
TEST(ProxyFuzzRegressionTest, HttpProxyRequest) {
  RunMutations(
      LLVMFuzzerTestOneInput,
      {B("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"),
       B("CONNECT [::1]:22 HTTP/1.1\r\nHost: x\r\n\r\n"),
       B("GET http://h.test:8080/p?q#f HTTP/1.1\r\nHost: h.test\r\n"
         "Connection: a, b\r\na: 1\r\nProxy-Connection: close\r\n\r\n"),
       B("GET http://h HTTP/1.0\r\n\r\n"), B("\r\n\r\nCONNECT "),
       B("GET / HTTP/1.1\r\nHost: h\r\n\r\n")});
}
#endif

}  // namespace
