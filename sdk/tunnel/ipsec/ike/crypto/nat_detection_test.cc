#include "sdk/tunnel/ipsec/ike/crypto/nat_detection.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::ike {
namespace {

using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

uint64_t ToU64(const std::vector<uint8_t>& b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return v;
}

// Python-computed hashes and two captured from strongSwan 5.9.8 (see the
// data file's comments).
TEST(NatDetectionTest, KnownAnswers) {
  auto all = ReadKatFile("sdk/tunnel/ipsec/ike/crypto/testdata/ike_keys.txt");
  ASSERT_TRUE(all.ok()) << all.status();
  int count = 0, v6 = 0;
  for (const KatRecord& r : *all) {
    if (r.name().rfind("natd", 0) != 0) continue;
    SCOPED_TRACE(r.name());
    ++count;
    auto ip = IpAddress::Parse(r.Text("ip"));
    ASSERT_TRUE(ip.ok()) << r.Text("ip");
    if (ip->is_v6()) ++v6;
    const SocketAddress endpoint(*ip, static_cast<uint16_t>(r.Int("port")));
    const uint64_t spi_i = ToU64(r.Bytes("spi_i"));
    const uint64_t spi_r = ToU64(r.Bytes("spi_r"));
    EXPECT_EQ(ToHex(NatDetectionHash(spi_i, spi_r, endpoint)),
              ToHex(r.Bytes("hash")));
    EXPECT_TRUE(NatDetectionMatches(r.Bytes("hash"), spi_i, spi_r, endpoint));
    // Another port, address or SPI: a NAT.
    EXPECT_FALSE(NatDetectionMatches(
        r.Bytes("hash"), spi_i, spi_r,
        SocketAddress(*ip, static_cast<uint16_t>(r.Int("port") + 1))));
    EXPECT_FALSE(
        NatDetectionMatches(r.Bytes("hash"), spi_i, spi_r ^ 1, endpoint));
    std::vector<uint8_t> cut = r.Bytes("hash");
    cut.pop_back();
    EXPECT_FALSE(NatDetectionMatches(cut, spi_i, spi_r, endpoint));
  }
  EXPECT_EQ(count, 6);
  EXPECT_EQ(v6, 2);
}

TEST(NatDetectionTest, V4MappedDiffersFromV4) {
  auto v4 = IpAddress::Parse("172.29.1.1");
  auto mapped = IpAddress::Parse("::ffff:172.29.1.1");
  ASSERT_TRUE(v4.ok());
  if (!mapped.ok()) GTEST_SKIP() << "IpAddress does not parse v4-mapped";
  EXPECT_NE(NatDetectionHash(1, 2, *v4, 500),
            NatDetectionHash(1, 2, *mapped, 500));
  EXPECT_EQ(NatDetectionHash(1, 2, *v4, 500).size(), kNatDetectionHashSize);
}

}  // namespace
}  // namespace stow::ike
