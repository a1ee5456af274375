// Runs the ike_sa_fuzzer entry point in every test run (and under the
// sanitizers) over the strongSwan IKE_SA_INIT messages of the codec's
// regressions and mutations of them; tools/fuzz.sh runs it under libFuzzer.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> Read(const std::string& name) {
  const std::string path =
      "sdk/tunnel/ipsec/ike/codec/fuzz/regressions/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

TEST(IkeSaFuzzRegression, RealMessagesAndMutations) {
  std::mt19937 rng(7);
  for (const char* name :
       {"strongswan_ike_sa_init_request", "strongswan_ike_sa_init_response",
        "strongswan_ike_auth_request", "strongswan_ike_auth_response"}) {
    std::vector<uint8_t> seed = Read(name);
    ASSERT_FALSE(seed.empty());
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
    for (size_t cut = 0; cut < seed.size(); cut += 13)
      LLVMFuzzerTestOneInput(seed.data(), cut);
    for (int i = 0; i < 300; ++i) {
      std::vector<uint8_t> m = seed;
      int flips = 1 + rng() % 4;
      for (int f = 0; f < flips; ++f) m[rng() % m.size()] = rng();
      LLVMFuzzerTestOneInput(m.data(), m.size());
    }
  }
}

}  // namespace
