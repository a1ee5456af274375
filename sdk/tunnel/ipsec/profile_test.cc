#include "sdk/tunnel/ipsec/profile.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stow::ipsec {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"({
  "name": "demo",
  "gateway": "127.0.0.1:4500",
  "ipv4": "10.99.0.2",
  "ipv6": "fd99::2",
  "routes": ["10.99.0.0/16", "fd99::/64"],
  "dns": ["10.99.0.1"],
  "mtu": 1400,
  "nat_keepalive_seconds": 20,
  "esp": {
    "algorithm": "aes128gcm16",
    "esn": true,
    "i2r": {"spi": "0x1000a001", "key": "000102030405060708090a0b0c0d0e0f10111213"},
    "r2i": {"spi": 3221225473, "key": "101112131415161718191a1b1c1d1e1f20212223"},
    "lifetime": {"seconds": 3600, "bytes": 1000000000}
  }
})";

// kGood with `from` replaced by `to` (which must occur).
std::string With(const std::string& from, const std::string& to) {
  std::string text = kGood;
  EXPECT_NE(text.find(from), std::string::npos) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

std::string ErrorOf(const std::string& json) {
  auto p = ParseEspProfile(json);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(p.status().message());
}

TEST(EspProfileTest, ParsesEveryField) {
  auto p = ParseEspProfile(kGood);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "demo");
  EXPECT_EQ(p->gateway.ToString(), "127.0.0.1:4500");
  EXPECT_EQ(p->ipv4->ToString(), "10.99.0.2");
  EXPECT_EQ(p->ipv6->ToString(), "fd99::2");
  ASSERT_EQ(p->routes.size(), 2u);
  EXPECT_EQ(p->routes[1].ToString(), "fd99::/64");
  ASSERT_EQ(p->dns.size(), 1u);
  EXPECT_EQ(p->mtu, 1400);
  EXPECT_EQ(p->nat_keepalive, absl::Seconds(20));
  EXPECT_EQ(p->keys.transform, esp::Algorithm::kAes128Gcm16);
  EXPECT_TRUE(p->keys.esn);
  EXPECT_EQ(p->keys.i2r.spi, 0x1000a001u);
  EXPECT_EQ(p->keys.r2i.spi, 3221225473u);
  ASSERT_EQ(p->keys.i2r.key_material.size(), 20u);
  EXPECT_EQ(p->keys.i2r.key_material[19], 0x13);
  EXPECT_EQ(p->keys.lifetime.time, absl::Seconds(3600));
  EXPECT_EQ(p->keys.lifetime.bytes, 1000000000u);
  EXPECT_EQ(p->keys.lifetime.packets, 0u);
}

TEST(EspProfileTest, RoundTripsThroughJson) {
  auto p = ParseEspProfile(kGood);
  ASSERT_TRUE(p.ok());
  auto again = ParseEspProfile(EspProfileToJson(*p));
  ASSERT_TRUE(again.ok()) << again.status() << EspProfileToJson(*p);
  EXPECT_EQ(EspProfileToJson(*again), EspProfileToJson(*p));
  EXPECT_EQ(again->keys.r2i.key_material, p->keys.r2i.key_material);
}

TEST(EspProfileTest, WrongKeyLengthNamesTheField) {
  EXPECT_EQ(ErrorOf(With("0c0d0e0f10111213", "0c0d0e0f101112")),
            "esp.i2r.key: 19 bytes, aes128gcm16 needs 20 (16-byte key + "
            "4-byte salt)");
  // The same key is too short for a 256-bit transform.
  EXPECT_THAT(ErrorOf(With("aes128gcm16", "chacha20poly1305")),
              HasSubstr("esp.i2r.key: 20 bytes, chacha20poly1305 needs 36"));
  EXPECT_EQ(ErrorOf(With("0c0d0e0f10111213", "0c0d0e0f1011121x")),
            "esp.i2r.key: must be hexadecimal digits");
}

TEST(EspProfileTest, UnknownAlgorithmIsListed) {
  EXPECT_EQ(ErrorOf(With("aes128gcm16", "aes128cbc")),
            "esp.algorithm: unknown algorithm \"aes128cbc\" (known: "
            "aes128gcm16, aes256gcm16, chacha20poly1305)");
}

TEST(EspProfileTest, BadAddressesNameTheField) {
  EXPECT_EQ(ErrorOf(With("\"10.99.0.2\"", "\"10.99.0.300\"")),
            "ipv4: not an IP address: \"10.99.0.300\"");
  EXPECT_EQ(ErrorOf(With("\"10.99.0.2\"", "\"fd99::5\"")),
            "ipv4: must be an IPv4 address");
  EXPECT_THAT(ErrorOf(With("127.0.0.1:4500", "127.0.0.1")),
              HasSubstr("gateway: not an address:port"));
  EXPECT_THAT(ErrorOf(With("127.0.0.1:4500", "127.0.0.1:0")),
              HasSubstr("gateway: not an address:port"));
  EXPECT_EQ(ErrorOf(With("\"10.99.0.1\"]", "\"dns.example\"]")),
            "dns[0]: not an IP address: \"dns.example\"");
  EXPECT_EQ(ErrorOf(With("\"fd99::/64\"", "\"fd99::/129\"")),
            "routes[1]: bad prefix length in \"fd99::/129\" (0..128)");
}

TEST(EspProfileTest, SpiRules) {
  EXPECT_EQ(ErrorOf(With("\"0x1000a001\"", "\"0xff\"")),
            "esp.i2r.spi: 255 is reserved (use 256 or more)");
  EXPECT_EQ(ErrorOf(With("\"0x1000a001\"", "\"0x1ffffffff\"")),
            "esp.i2r.spi: not a 32-bit number: \"0x1ffffffff\"");
  EXPECT_EQ(ErrorOf(With("3221225473", "\"0x1000a001\"")),
            "esp.r2i.spi: must differ from i2r.spi");
}

TEST(EspProfileTest, StructuralErrors) {
  EXPECT_EQ(ErrorOf("{").rfind("profile: not valid JSON at line 1, column ", 0), 0u)
      << ErrorOf("{");
  EXPECT_EQ(ErrorOf("{\n \"a\": }").rfind("profile: not valid JSON at line 2, column 7", 0), 0u)
      << ErrorOf("{\n \"a\": }");
  EXPECT_EQ(ErrorOf(With("\"mtu\"", "\"mtux\"")),
            "mtux: unknown field (known: name, gateway, ipv4, ipv6, routes, "
            "dns, mtu, nat_keepalive_seconds, esp)");
  EXPECT_EQ(ErrorOf(With("\"esn\": true", "\"esn\": 1")),
            "esp.esn: must be true or false");
  EXPECT_EQ(ErrorOf(With("\"mtu\": 1400", "\"mtu\": 1000")),
            "mtu: 1000 is outside 1280..9000 (IPv6 needs 1280)");
  EXPECT_EQ(ErrorOf(With("\"mtu\": 1400", "\"mtu\": -1")),
            "mtu: must be a non-negative integer");
  EXPECT_EQ(ErrorOf(With("\"r2i\"", "\"r2x\"")),
            "esp.r2x: unknown field (known: algorithm, esn, i2r, r2i, "
            "lifetime)");
}

TEST(EspProfileTest, NeedsAVirtualAddress) {
  std::string text = With("\"ipv4\": \"10.99.0.2\",", "");
  text = absl::StrReplaceAll(text, {{"\"ipv6\": \"fd99::2\",", ""}});
  EXPECT_EQ(ErrorOf(text),
            "ipv4: a virtual ipv4 or ipv6 address is required");
}

TEST(EspProfileTest, LoadNamesTheFile) {
  auto p = LoadEspProfile("/nonexistent/profile.json");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("/nonexistent/profile.json"));
}

}  // namespace
}  // namespace stow::ipsec
