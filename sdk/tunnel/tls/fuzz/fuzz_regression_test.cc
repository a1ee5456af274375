// Runs a fuzz target's entry point over seeds, mutations of them and random
// bytes in every test run (and under ASan/UBSan); tools/fuzz.sh runs the
// manual cc_binary under libFuzzer. STOW_FUZZ_SEEDS picks the seed set.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> Seeds() {
#if STOW_FUZZ_SEEDS == 1
  return {std::string("\x05\x03", 2) +
              std::string("STF\x01\x00\x12\x05\x00\xb0" "Aborted by caller", 26) +
              std::string("STF\x01\x00\x00\x07\x00", 8) +
              std::string("STF\x01\x00\x02\x00\x00\x45\x00", 10)};
#elif STOW_FUZZ_SEEDS == 2
  return {"\x03HTTP/1.1 200 CONNECTED\r\nX-CSTP-Address: 10.233.100.50\r\n"
          "X-CSTP-Netmask: 255.255.255.0\r\nX-CSTP-Split-Include: "
          "10.233.2.0/255.255.255.0\r\nX-CSTP-MTU: 1434\r\nX-DTLS-Port: 443\r\n"
          "X-DTLS-App-ID: 68dd\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\n\r\nSTF",
          "\x07HTTP/1.1 200 OK\r\nContent-Length: 4\r\nSet-Cookie: webvpn=x; "
          "Secure\r\n\r\n<a/>"};
#else
  return {"<?xml version=\"1.0\"?>\n<config-auth client=\"vpn\" "
          "type=\"auth-request\"><opaque is-for=\"sg\"><x>&amp;</x></opaque>"
          "<auth id=\"main\"><message>M&#65;</message><form method=\"post\" "
          "action=\"/auth\"><select name=\"group_list\"><option>a</option>"
          "</select><input type=\"password\" name=\"password\" label=\"P\"/>"
          "</form></auth></config-auth>",
          "<config-auth type=\"complete\"><session-token>t</session-token>"
          "<auth id=\"success\"/></config-auth>"};
#endif
}

TEST(FuzzRegressionTest, SeedsMutationsAndRandomInputs) {
  std::mt19937 rng(20261122);
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& s : seeds) {
    ASSERT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0);
  }
  for (int i = 0; i < 4000; ++i) {
    std::string input;
    if (i % 2 == 0) {
      input = seeds[rng() % seeds.size()];
      for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) {
        input[rng() % input.size()] = static_cast<char>(rng());
      }
      if (rng() % 3 == 0) input.resize(rng() % input.size());
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
