#include "sdk/gateway/tls/dtls_client_hello.h"

#include <vector>

#include "gtest/gtest.h"
#include "sdk/tunnel/tls/dtls_engine.h"

namespace stow::gateway::tls {
namespace {

// The first flight of a real PSK-NEGOTIATE client.
std::vector<uint8_t> RealClientHello(const std::vector<uint8_t>& app_id) {
  tunnel::tls::DtlsClientOptions options;
  options.psk.assign(32, 7);
  options.session_id = app_id;
  options.plain_psk_only = true;
  auto engine = tunnel::tls::DtlsEngine::Client(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  (*engine)->Start();
  std::vector<std::vector<uint8_t>> out;
  (*engine)->TakeDatagrams(&out);
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? std::vector<uint8_t>() : out[0];
}

TEST(DtlsClientHelloTest, ReadsTheAppIdOfARealClientHello) {
  std::vector<uint8_t> app_id(32);
  for (size_t i = 0; i < app_id.size(); ++i) app_id[i] = 0xa0 + i;
  const std::vector<uint8_t> hello = RealClientHello(app_id);
  auto info = ParseDtlsClientHello(hello);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->session_id, app_id);
  // Two ClientHellos differ in their random.
  auto again = ParseDtlsClientHello(RealClientHello(app_id));
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(info->random, again->random);
}

TEST(DtlsClientHelloTest, HandMade) {
  // Record: handshake, DTLS 1.0, epoch 0, seq 0, length 12 + 35 + 2.
  std::vector<uint8_t> d = {22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49,
                            // ClientHello, length 37, seq 0, offset 0,
                            // fragment 37.
                            1, 0, 0, 37, 0, 0, 0, 0, 0, 0, 0, 37,
                            // client_version DTLS 1.2.
                            0xfe, 0xfd};
  for (int i = 0; i < 32; ++i) d.push_back(i);  // random
  d.push_back(2);                                // session_id length
  d.push_back(0xab);
  d.push_back(0xcd);
  auto info = ParseDtlsClientHello(d);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->session_id, (std::vector<uint8_t>{0xab, 0xcd}));
  EXPECT_EQ(info->random[31], 31);

  // Each of these breaks it.
  for (const auto& [index, value] :
       std::vector<std::pair<size_t, uint8_t>>{{0, 23},   // not handshake
                                               {1, 0x03},  // TLS, not DTLS
                                               {4, 1},     // epoch 1
                                               {12, 200},  // record too long
                                               {13, 2},    // ServerHello
                                               {23, 1},    // offset 1
                                               {24, 200},  // fragment too long
                                               {59, 33}}) {  // id too long
    std::vector<uint8_t> bad = d;
    bad[index] = value;
    EXPECT_FALSE(ParseDtlsClientHello(bad).has_value()) << index;
  }
  // Every truncation: nothing, or (the record length cut too) still sound.
  for (size_t n = 0; n < d.size(); ++n) {
    EXPECT_FALSE(ParseDtlsClientHello(
                     absl::MakeConstSpan(d.data(), n)).has_value())
        << n;
  }
}

}  // namespace
}  // namespace stow::gateway::tls
