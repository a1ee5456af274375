#include "sdk/tunnel/ipsec/esp/udp_encap.h"

#include <vector>

#include "gtest/gtest.h"

namespace stow::esp {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes IkeHeaderLike(size_t size) {
  Bytes ike(size);
  for (size_t i = 0; i < size; ++i) ike[i] = static_cast<uint8_t>(0xA0 + i);
  return ike;
}

TEST(UdpEncapTest, NatKeepalive) {
  absl::Span<const uint8_t> keepalive = NatKeepaliveDatagram();
  ASSERT_EQ(keepalive.size(), 1u);
  EXPECT_EQ(keepalive[0], 0xFF);
  UdpClassified c = ClassifyUdp(keepalive);
  EXPECT_EQ(c.kind, UdpKind::kNatKeepalive);
  EXPECT_TRUE(c.payload.empty());
  // Any other single byte is not a keepalive.
  Bytes other = {0xFE};
  EXPECT_EQ(ClassifyUdp(other).kind, UdpKind::kMalformed);
  Bytes zero = {0x00};
  EXPECT_EQ(ClassifyUdp(zero).kind, UdpKind::kMalformed);
}

TEST(UdpEncapTest, IkeWithMarkerRoundTrips) {
  Bytes ike = IkeHeaderLike(kIkeHeaderSize + 40);
  Bytes datagram = IkeDatagram(ike);
  ASSERT_EQ(datagram.size(), kNonEspMarkerSize + ike.size());
  EXPECT_EQ(Bytes(datagram.begin(), datagram.begin() + 4), Bytes(4, 0));
  UdpClassified c = ClassifyUdp(datagram);
  ASSERT_EQ(c.kind, UdpKind::kIke);
  EXPECT_EQ(Bytes(c.payload.begin(), c.payload.end()), ike);
  EXPECT_EQ(c.payload.data(), datagram.data() + 4) << "points into input";
  EXPECT_EQ(c.spi, 0u);
}

TEST(UdpEncapTest, WriteIkeDatagramChecksRoomAndMayRunInPlace) {
  Bytes ike = IkeHeaderLike(kIkeHeaderSize);
  Bytes small(kNonEspMarkerSize + ike.size() - 1);
  EXPECT_EQ(WriteIkeDatagram(ike, absl::MakeSpan(small)), 0u);
  // The message already at the start of the buffer: shifted behind the marker.
  Bytes buffer = ike;
  buffer.resize(ike.size() + kNonEspMarkerSize);
  size_t n = WriteIkeDatagram(absl::MakeConstSpan(buffer.data(), ike.size()),
                              absl::MakeSpan(buffer));
  ASSERT_EQ(n, buffer.size());
  EXPECT_EQ(buffer, IkeDatagram(ike));
}

TEST(UdpEncapTest, ShortIkeAfterMarkerIsMalformed) {
  Bytes marker_only(kNonEspMarkerSize, 0);
  EXPECT_EQ(ClassifyUdp(marker_only).kind, UdpKind::kMalformed);
  Bytes short_ike = IkeDatagram(IkeHeaderLike(kIkeHeaderSize - 1));
  EXPECT_EQ(ClassifyUdp(short_ike).kind, UdpKind::kMalformed);
}

TEST(UdpEncapTest, Esp) {
  Bytes esp = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xAA, 0xBB};
  UdpClassified c = ClassifyUdp(esp);
  ASSERT_EQ(c.kind, UdpKind::kEsp);
  EXPECT_EQ(c.spi, 0x12345678u);
  EXPECT_EQ(c.payload.data(), esp.data());
  EXPECT_EQ(c.payload.size(), esp.size());
  // SPI + sequence number is the least an ESP packet has.
  Bytes min = {0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(ClassifyUdp(min).kind, UdpKind::kEsp);
  EXPECT_EQ(ClassifyUdp(min).spi, 1u);
  for (size_t n = 2; n < kMinEspDatagramSize; ++n) {
    Bytes truncated(esp.begin(), esp.begin() + n);
    EXPECT_EQ(ClassifyUdp(truncated).kind, UdpKind::kMalformed) << n;
  }
  // Only the first four bytes decide: a zero in them is not a marker.
  Bytes partial_zero = {0, 0, 0, 7, 1, 2, 3, 4};
  EXPECT_EQ(ClassifyUdp(partial_zero).kind, UdpKind::kEsp);
  // A leading 0xFF in a longer datagram is an SPI, not a keepalive.
  Bytes ff = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1};
  EXPECT_EQ(ClassifyUdp(ff).kind, UdpKind::kEsp);
}

TEST(UdpEncapTest, EmptyIsMalformed) {
  UdpClassified c = ClassifyUdp({});
  EXPECT_EQ(c.kind, UdpKind::kMalformed);
  EXPECT_TRUE(c.payload.empty());
  EXPECT_STREQ(UdpKindName(c.kind), "malformed");
  EXPECT_STREQ(UdpKindName(UdpKind::kEsp), "esp");
}

}  // namespace
}  // namespace stow::esp
