#include "netstack/packet_check.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace stow::netstack {
namespace {

// An IPv6 header (fd00::2 -> fd00::1) followed by `payload`, with the
// payload length and next header set.
std::vector<uint8_t> V6(uint8_t next, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(payload.size() >> 8);
  p[5] = static_cast<uint8_t>(payload.size());
  p[6] = next;
  p[7] = 64;
  p[8] = 0xfd;
  p[23] = 2;
  p[24] = 0xfd;
  p[39] = 1;
  if (!payload.empty()) p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

TEST(CheckIpv6Test, PlainUpperLayerPasses) {
  EXPECT_EQ(CheckIpv6(V6(17, std::vector<uint8_t>(8, 0))),
            PacketVerdict::kPass);
  EXPECT_EQ(CheckIpv6(V6(6, {})), PacketVerdict::kPass);
}

TEST(CheckIpv6Test, PayloadLengthBeyondThePacketIsMalformed) {
  std::vector<uint8_t> p = V6(17, std::vector<uint8_t>(8, 0));
  p[5] = 9;
  EXPECT_EQ(CheckIpv6(p), PacketVerdict::kMalformed);
  EXPECT_EQ(CheckIpv6(std::vector<uint8_t>(39, 0x60)),
            PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, WellFormedOptionsPass) {
  // Hop-by-hop (8 bytes): Pad1, PadN without data, an option of type 5
  // without data, Pad1. Then destination options with PadN(4), then UDP.
  const std::vector<uint8_t> chain = {
      60, 0, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00,  // hop-by-hop
      17, 0, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,  // destination options
      0,  1, 0,    2,    0,    8,    0,    0};     // UDP header
  EXPECT_EQ(CheckIpv6(V6(0, chain)), PacketVerdict::kPass);
}

TEST(CheckIpv6Test, ExtensionHeaderCutShortIsMalformed) {
  // Destination options declared with length 1 (16 bytes), only 8 present.
  EXPECT_EQ(CheckIpv6(V6(60, {17, 1, 1, 4, 0, 0, 0, 0})),
            PacketVerdict::kMalformed);
  // Fewer than 8 bytes of any extension header.
  for (uint8_t next : {0, 43, 44, 60}) {
    for (size_t len = 0; len < 8; ++len) {
      EXPECT_EQ(CheckIpv6(V6(next, std::vector<uint8_t>(len, 0))),
                PacketVerdict::kMalformed)
          << "next " << int{next} << " len " << len;
    }
  }
}

TEST(CheckIpv6Test, OptionRunningPastItsHeaderIsMalformed) {
  // PadN claiming 7 data bytes in a header with 6 bytes of options.
  EXPECT_EQ(CheckIpv6(V6(0, {17, 0, 0x01, 0x07, 0, 0, 0, 0})),
            PacketVerdict::kMalformed);
  // An option type in the last byte with no room for its length.
  EXPECT_EQ(CheckIpv6(V6(0, {17, 0, 0x01, 0x03, 0, 0, 0, 0x05})),
            PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, LaterFragmentsAreNotParsedFurther) {
  // Fragment header with offset 8: what follows is the middle of a payload.
  EXPECT_EQ(CheckIpv6(V6(44, {0, 0, 0x00, 0x08, 0, 0, 0, 1, 0xde, 0xad})),
            PacketVerdict::kFragment);
  // First fragment: the chain continues (here into a truncated header).
  EXPECT_EQ(CheckIpv6(V6(44, {60, 0, 0x00, 0x01, 0, 0, 0, 1, 17, 0})),
            PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, FragmentsGoingToReassemblyAreFlagged) {
  // First fragment (offset 0, M) of a UDP datagram.
  EXPECT_EQ(CheckIpv6(V6(44, {17, 0, 0x00, 0x01, 0, 0, 0, 1,  //
                              0, 1, 0, 2, 0, 16, 0x12, 0x34})),
            PacketVerdict::kFragment);
  // Last fragment (offset 16, no M), 3 bytes of data.
  EXPECT_EQ(CheckIpv6(V6(44, {17, 0, 0x00, 0x10, 0, 0, 0, 1, 7, 8, 9})),
            PacketVerdict::kFragment);
  // Behind a destination options header.
  EXPECT_EQ(CheckIpv6(V6(60, {44, 0, 1, 4, 0, 0, 0, 0,  //
                              17, 0, 0x00, 0x09, 0, 0, 0, 1, 1, 2})),
            PacketVerdict::kFragment);
  // An atomic fragment (offset 0, no M) is not reassembled: lwIP skips the
  // header, even when nothing follows it.
  EXPECT_EQ(CheckIpv6(V6(44, {17, 0, 0, 0, 0, 0, 0, 1,  //
                              0, 1, 0, 2, 0, 8, 0x12, 0x34})),
            PacketVerdict::kPass);
  EXPECT_EQ(CheckIpv6(V6(44, {59, 0, 0, 0, 0, 0, 0, 1})), PacketVerdict::kPass);
  // Router advertisements stay ignored inside a first fragment.
  EXPECT_EQ(CheckIpv6(V6(44, {58, 0, 0x00, 0x01, 0, 0, 0, 1,  //
                              134, 0, 0, 0, 64, 0, 0, 0})),
            PacketVerdict::kIgnored);
}

// lwIP 2.1.3 queues a fragment without data as the range [offset, offset)
// and then drops the real fragment at that offset as a duplicate.
TEST(CheckIpv6Test, FragmentWithoutDataIsMalformed) {
  for (uint8_t low : {0x01, 0x08, 0x09, 0xf8}) {
    EXPECT_EQ(CheckIpv6(V6(44, {17, 0, 0x00, low, 0, 0, 0, 1})),
              PacketVerdict::kMalformed)
        << int{low};
  }
  EXPECT_EQ(CheckIpv6(V6(0, {44, 0, 1, 4, 0, 0, 0, 0,  //
                             17, 0, 0x01, 0x01, 0, 0, 0, 1})),
            PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, SecondFragmentHeaderIsMalformed) {
  // First fragment whose data starts with another Fragment header.
  EXPECT_EQ(CheckIpv6(V6(44, {44, 0, 0x00, 0x01, 0, 0, 0, 1,  //
                              17, 0, 0x00, 0x01, 0, 0, 0, 2,  //
                              0, 1, 0, 2, 0, 16, 0x12, 0x34})),
            PacketVerdict::kMalformed);
  // Two atomic fragment headers.
  EXPECT_EQ(CheckIpv6(V6(44, {44, 0, 0, 0, 0, 0, 0, 1,  //
                              59, 0, 0, 0, 0, 0, 0, 2})),
            PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, EndlessChainIsMalformed) {
  std::vector<uint8_t> chain;
  for (int i = 0; i < 20; ++i) {
    chain.insert(chain.end(), {60, 0, 1, 4, 0, 0, 0, 0});
  }
  EXPECT_EQ(CheckIpv6(V6(60, chain)), PacketVerdict::kMalformed);
}

TEST(CheckIpv6Test, RouterAdvertisementAndRedirectAreIgnored) {
  EXPECT_EQ(CheckIpv6(V6(58, {134, 0, 0, 0, 64, 0, 0, 0})),
            PacketVerdict::kIgnored);
  EXPECT_EQ(CheckIpv6(V6(58, {137, 0, 0, 0, 0, 0, 0, 0})),
            PacketVerdict::kIgnored);
  EXPECT_EQ(CheckIpv6(V6(58, {128, 0, 0, 0, 0, 1, 0, 1})),
            PacketVerdict::kPass);
}

}  // namespace
}  // namespace stow::netstack
