// Runs the fuzz target over seeds, mutations of them and random bytes in
// every test run (and under ASan/UBSan); tools/fuzz.sh runs the manual
// cc_binary under libFuzzer.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> Seeds() {
  const std::string login =
      "<config-auth client=\"vpn\" type=\"auth-reply\"><auth><username>alice"
      "</username><password>pw</password><group_list>b</group_list></auth>"
      "</config-auth>";
  return {
      std::string("\x07") +
          "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 27\r\n\r\n"
          "<config-auth type=\"init\"/>\n"
          "POST /auth HTTP/1.1\r\nHost: gw\r\nContent-Length: " +
          std::to_string(login.size()) + "\r\n\r\n" + login +
          "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: gw\r\nCookie: webvpn=00"
          "\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\nX-CSTP-MTU: 1300\r\n\r\n",
      std::string("\x40") +
          "GET / HTTP/1.1\r\nHost: gw\r\n\r\nGET /x HTTP/1.0\r\n\r\n"
          "PUT / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\n\r\nx"
          "POST /auth HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
}

TEST(AnyConnectRequestFuzzRegressionTest, SeedsMutationsAndRandomInputs) {
  std::mt19937 rng(20261122);
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& s : seeds) {
    ASSERT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(s.data()), s.size()),
              0);
  }
  for (int i = 0; i < 3000; ++i) {
    std::string input;
    if (i % 2 == 0) {
      input = seeds[rng() % seeds.size()];
      for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
        input[rng() % input.size()] = static_cast<char>(rng());
      }
      if (rng() % 3 == 0) input.resize(1 + rng() % input.size());
    } else {
      input.resize(rng() % 200);
      for (char& c : input) c = static_cast<char>(rng());
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(input.data()), input.size()),
              0);
  }
}

}  // namespace
