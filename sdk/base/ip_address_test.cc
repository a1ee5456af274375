#include "sdk/base/ip_address.h"

#include "gtest/gtest.h"

namespace stow {
namespace {

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  absl::StatusOr<IpAddress> v4 = IpAddress::Parse("10.99.0.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->ToString(), "10.99.0.1");
  EXPECT_EQ(*v4, IpAddress::V4(10, 99, 0, 1));

  absl::StatusOr<IpAddress> v6 = IpAddress::Parse("fd00:0:0::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->ToString(), "fd00::1");
}

TEST(IpAddressTest, RejectsGarbage) {
  EXPECT_EQ(IpAddress::Parse("10.99.0").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IpAddress::Parse("").status().code(),
            absl::StatusCode::kInvalidArgument);
  const uint8_t three[3] = {1, 2, 3};
  EXPECT_FALSE(IpAddress::FromBytes(three).ok());
}

TEST(IpAddressTest, PrefixMatch) {
  IpAddress a = *IpAddress::Parse("10.99.3.7");
  EXPECT_TRUE(a.InPrefix(*IpAddress::Parse("10.99.0.0"), 16));
  EXPECT_FALSE(a.InPrefix(*IpAddress::Parse("10.98.0.0"), 16));
  EXPECT_TRUE(a.InPrefix(*IpAddress::Parse("10.99.2.0"), 23));
  EXPECT_FALSE(a.InPrefix(*IpAddress::Parse("10.99.2.0"), 24));
  EXPECT_TRUE(a.InPrefix(*IpAddress::Parse("0.0.0.0"), 0));
  EXPECT_FALSE(a.InPrefix(*IpAddress::Parse("::"), 0));
}

TEST(SocketAddressTest, RoundTripsThroughTextAndSockaddr) {
  for (const char* text : {"127.0.0.1:4500", "[::1]:443", "[fd00::2]:0"}) {
    absl::StatusOr<SocketAddress> sa = SocketAddress::Parse(text);
    ASSERT_TRUE(sa.ok()) << text;
    EXPECT_EQ(sa->ToString(), text);
    sockaddr_storage ss;
    sa->ToSockaddr(&ss);
    absl::StatusOr<SocketAddress> back =
        SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, *sa);
  }
}

TEST(SocketAddressTest, RejectsMalformed) {
  for (const char* text : {"127.0.0.1", "::1:80", "[::1]80", "1.2.3.4:99999",
                           "1.2.3.4:x", "[::1"}) {
    EXPECT_FALSE(SocketAddress::Parse(text).ok()) << text;
  }
}

}  // namespace
}  // namespace stow
