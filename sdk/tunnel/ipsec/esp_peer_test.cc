#include "sdk/tunnel/ipsec/esp_peer.h"

#include <vector>

#include "gtest/gtest.h"

namespace stow::ipsec {
namespace {

ChildSaKeys Keys(esp::Algorithm transform) {
  ChildSaKeys keys;
  keys.transform = transform;
  const size_t n = esp::KeyMaterialSize(transform);
  keys.i2r = {0x1111, std::vector<uint8_t>(n, 0x11)};
  keys.r2i = {0x2222, std::vector<uint8_t>(n, 0x22)};
  return keys;
}

// A minimal IPv4 packet 10.99.0.2 -> 10.99.0.1 with `payload` bytes.
std::vector<uint8_t> V4Packet(size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0xA5);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  const uint8_t src[] = {10, 99, 0, 2}, dst[] = {10, 99, 0, 1};
  std::copy(src, src + 4, p.begin() + 12);
  std::copy(dst, dst + 4, p.begin() + 16);
  return p;
}

uint64_t CounterOf(const EspPeer& peer, const std::string& name) {
  for (const auto& [n, v] : peer.Counters()) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

TEST(EspPeerTest, InitiatorAndResponderRoundTripEveryTransform) {
  for (esp::Algorithm t : esp::kAlgorithms) {
    auto client = EspPeer::Create(Keys(t), EspRole::kInitiator, {});
    auto gateway = EspPeer::Create(Keys(t), EspRole::kResponder, {});
    ASSERT_TRUE(client.ok() && gateway.ok());
    EXPECT_EQ((*client)->outbound_spi(), (*gateway)->inbound_spi());
    EXPECT_EQ((*gateway)->outbound_spi(), (*client)->inbound_spi());
    std::vector<uint8_t> seal_buf, open_buf;
    const std::vector<uint8_t> packet = V4Packet(1000);
    // The packet as two fragments, split inside the IP header.
    absl::Span<const uint8_t> parts[] = {
        absl::MakeConstSpan(packet.data(), 7),
        absl::MakeConstSpan(packet.data() + 7, packet.size() - 7)};
    absl::Span<const uint8_t> esp =
        (*client)->Seal(parts, &seal_buf, absl::Seconds(1));
    ASSERT_FALSE(esp.empty());
    absl::Span<const uint8_t> inner =
        (*gateway)->Open(esp, &open_buf, absl::Seconds(1));
    EXPECT_EQ(std::vector<uint8_t>(inner.begin(), inner.end()), packet);
    // The client cannot open its own packet: the directions differ.
    std::vector<uint8_t> other;
    EXPECT_TRUE((*client)->Open(esp, &other, absl::Seconds(1)).empty());
    EXPECT_EQ(CounterOf(**gateway, "esp_rx_packets"), 1u);
  }
}

TEST(EspPeerTest, NonIpInnerIsNotSealed) {
  auto client = *EspPeer::Create(Keys(esp::Algorithm::kAes128Gcm16),
                                 EspRole::kInitiator, {});
  std::vector<uint8_t> buf;
  const std::vector<uint8_t> junk(100, 0x12);  // Version 1.
  absl::Span<const uint8_t> one[] = {junk};
  EXPECT_TRUE(client->Seal(one, &buf, {}).empty());
  EXPECT_EQ(CounterOf(*client, "esp_tx_not_ip"), 1u);
}

TEST(EspPeerTest, ReplayIsDroppedAndCounted) {
  auto keys = Keys(esp::Algorithm::kAes128Gcm16);
  auto client = *EspPeer::Create(keys, EspRole::kInitiator, {});
  auto gateway = *EspPeer::Create(keys, EspRole::kResponder, {});
  std::vector<uint8_t> seal_buf, open_buf;
  const std::vector<uint8_t> packet = V4Packet(64);
  absl::Span<const uint8_t> one[] = {packet};
  absl::Span<const uint8_t> esp = client->Seal(one, &seal_buf, {});
  const std::vector<uint8_t> copy(esp.begin(), esp.end());
  EXPECT_FALSE(gateway->Open(copy, &open_buf, {}).empty());
  EXPECT_TRUE(gateway->Open(copy, &open_buf, {}).empty());
  EXPECT_EQ(CounterOf(*gateway, "esp_rx_replay"), 1u);
}

TEST(EspPeerTest, LifetimesRaiseRekeyThenExpiry) {
  auto keys = Keys(esp::Algorithm::kAes128Gcm16);
  keys.lifetime.packets = 10;  // Rekey at 9, expire at 10.
  keys.lifetime.time = absl::Seconds(100);
  auto client = *EspPeer::Create(keys, EspRole::kInitiator, {});
  std::vector<uint8_t> buf;
  const std::vector<uint8_t> packet = V4Packet(10);
  absl::Span<const uint8_t> one[] = {packet};
  std::vector<tunnel::TunnelEvent::Kind> kinds;
  int sealed = 0;
  for (int i = 0; i < 12; ++i) {
    if (!client->Seal(one, &buf, absl::Seconds(1)).empty()) ++sealed;
    for (const auto& e : client->TakeEvents()) kinds.push_back(e.kind);
  }
  EXPECT_EQ(sealed, 10);
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[0], tunnel::TunnelEvent::Kind::kRekeyNeeded);
  EXPECT_EQ(kinds[1], tunnel::TunnelEvent::Kind::kExpired);
  EXPECT_EQ(CounterOf(*client, "esp_tx_expired"), 2u);

  // Time: rekey at 90 s, expiry at 100 s, for the inbound SA too.
  auto gateway = *EspPeer::Create(keys, EspRole::kResponder, {});
  std::vector<uint8_t> open_buf;
  EXPECT_TRUE(gateway->Open(std::vector<uint8_t>(40, 0), &open_buf,
                            absl::Seconds(89)).empty());
  EXPECT_TRUE(gateway->TakeEvents().empty());
  gateway->Open(std::vector<uint8_t>(40, 0), &open_buf, absl::Seconds(91));
  auto events = gateway->TakeEvents();
  EXPECT_EQ(events.size(), 2u);  // Both SAs of the pair.
  gateway->Open(std::vector<uint8_t>(40, 0), &open_buf, absl::Seconds(101));
  events = gateway->TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, tunnel::TunnelEvent::Kind::kExpired);
}

TEST(ReadIpAddressesTest, BothFamiliesAndShortHeaders) {
  IpAddress src, dst;
  const std::vector<uint8_t> v4 = V4Packet(0);
  absl::Span<const uint8_t> one[] = {v4};
  ASSERT_TRUE(ReadIpAddresses(one, &src, &dst));
  EXPECT_EQ(src.ToString(), "10.99.0.2");
  EXPECT_EQ(dst.ToString(), "10.99.0.1");
  std::vector<uint8_t> v6(40, 0);
  v6[0] = 0x60;
  v6[8] = 0xfd;
  v6[23] = 2;
  v6[24] = 0xfd;
  v6[39] = 1;
  absl::Span<const uint8_t> halves[] = {absl::MakeConstSpan(v6.data(), 30),
                                        absl::MakeConstSpan(v6.data() + 30, 10)};
  ASSERT_TRUE(ReadIpAddresses(halves, &src, &dst));
  EXPECT_EQ(src.ToString(), "fd00::2");
  EXPECT_EQ(dst.ToString(), "fd00::1");
  absl::Span<const uint8_t> short_v6[] = {absl::MakeConstSpan(v6.data(), 39)};
  EXPECT_FALSE(ReadIpAddresses(short_v6, &src, &dst));
  absl::Span<const uint8_t> short_v4[] = {absl::MakeConstSpan(v4.data(), 19)};
  EXPECT_FALSE(ReadIpAddresses(short_v4, &src, &dst));
}

}  // namespace
}  // namespace stow::ipsec
