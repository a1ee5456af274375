// SOCKS5 wire format: byte layouts from RFC 1928 sections 3, 4, 6 and 7 and
// RFC 1929 section 2.
#include "sdk/proxy/socks5.h"

#include <vector>

#include "gtest/gtest.h"

namespace stow::proxy::socks5 {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(Socks5Test, GreetingNeedsAllMethods) {
  Greeting g;
  size_t used = 0;
  EXPECT_EQ(ParseGreeting(Bytes{}, &g, &used), ParseState::kNeedMore);
  EXPECT_EQ(ParseGreeting(Bytes{5}, &g, &used), ParseState::kNeedMore);
  EXPECT_EQ(ParseGreeting(Bytes{5, 2, 0}, &g, &used), ParseState::kNeedMore);
  ASSERT_EQ(ParseGreeting(Bytes{5, 2, 0, 2, 0xAA}, &g, &used),
            ParseState::kComplete);
  EXPECT_EQ(used, 4u);
  EXPECT_EQ(g.methods, (Bytes{0, 2}));
  EXPECT_EQ(ParseGreeting(Bytes{4, 1, 0}, &g, &used), ParseState::kError);
  EXPECT_EQ(ParseGreeting(Bytes{5, 0}, &g, &used), ParseState::kError);
}

TEST(Socks5Test, Credentials) {
  Credentials c;
  size_t used = 0;
  const Bytes ok = {1, 3, 'b', 'o', 'b', 2, 'p', 'w'};
  for (size_t n = 0; n < ok.size(); ++n) {
    EXPECT_EQ(ParseCredentials(absl::MakeConstSpan(ok.data(), n), &c, &used),
              ParseState::kNeedMore)
        << n;
  }
  ASSERT_EQ(ParseCredentials(ok, &c, &used), ParseState::kComplete);
  EXPECT_EQ(used, ok.size());
  EXPECT_EQ(c.username, "bob");
  EXPECT_EQ(c.password, "pw");
  // An empty password is allowed; an empty username and VER != 1 are not.
  EXPECT_EQ(ParseCredentials(Bytes{1, 1, 'a', 0}, &c, &used),
            ParseState::kComplete);
  EXPECT_EQ(c.password, "");
  EXPECT_EQ(ParseCredentials(Bytes{1, 0, 0}, &c, &used), ParseState::kError);
  EXPECT_EQ(ParseCredentials(Bytes{5, 1, 'a', 0}, &c, &used),
            ParseState::kError);
}

TEST(Socks5Test, RequestAddressTypes) {
  Request r;
  size_t used = 0;
  Reply reply = Reply::kSucceeded;
  ASSERT_EQ(ParseRequest(Bytes{5, 1, 0, 1, 10, 0, 0, 1, 0x1F, 0x90}, &r,
                         &used, &reply),
            ParseState::kComplete);
  EXPECT_EQ(used, 10u);
  EXPECT_EQ(r.command, kCommandConnect);
  EXPECT_FALSE(r.address.is_name);
  EXPECT_EQ(r.address.ip, IpAddress::V4(10, 0, 0, 1));
  EXPECT_EQ(r.address.port, 8080);
  EXPECT_EQ(r.address.Host(), "10.0.0.1");

  Bytes v6 = {5, 3, 0, 4};
  for (int i = 0; i < 15; ++i) v6.push_back(0);
  v6.push_back(1);
  v6.push_back(0);
  v6.push_back(53);
  ASSERT_EQ(ParseRequest(v6, &r, &used, &reply), ParseState::kComplete);
  EXPECT_EQ(used, 22u);
  EXPECT_EQ(r.command, kCommandUdpAssociate);
  EXPECT_EQ(r.address.Host(), "::1");
  EXPECT_EQ(r.address.port, 53);

  const Bytes name = {5, 1, 0, 3, 6, 'a', '.', 't', 'e', 's', 't', 0, 80};
  for (size_t n = 0; n < name.size(); ++n) {
    EXPECT_EQ(ParseRequest(absl::MakeConstSpan(name.data(), n), &r, &used,
                           &reply),
              ParseState::kNeedMore)
        << n;
  }
  ASSERT_EQ(ParseRequest(name, &r, &used, &reply), ParseState::kComplete);
  EXPECT_TRUE(r.address.is_name);
  EXPECT_EQ(r.address.name, "a.test");
  EXPECT_EQ(r.address.port, 80);
}

TEST(Socks5Test, RequestErrorsCarryTheReplyCode) {
  Request r;
  size_t used = 0;
  Reply reply = Reply::kSucceeded;
  EXPECT_EQ(ParseRequest(Bytes{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}, &r, &used,
                         &reply),
            ParseState::kError);
  EXPECT_EQ(reply, Reply::kAddressTypeNotSupported);
  EXPECT_EQ(ParseRequest(Bytes{4, 1, 0, 1}, &r, &used, &reply),
            ParseState::kError);
  EXPECT_EQ(reply, Reply::kGeneralFailure);
  reply = Reply::kSucceeded;
  EXPECT_EQ(ParseRequest(Bytes{5, 1, 7, 1}, &r, &used, &reply),
            ParseState::kError);
  EXPECT_EQ(reply, Reply::kGeneralFailure);
  reply = Reply::kSucceeded;
  EXPECT_EQ(ParseRequest(Bytes{5, 1, 0, 3, 0, 0, 80}, &r, &used, &reply),
            ParseState::kError);
  EXPECT_EQ(reply, Reply::kGeneralFailure);
}

TEST(Socks5Test, UdpHeader) {
  UdpHeader h;
  const Bytes d = {0, 0, 0, 1, 10, 99, 0, 1, 0, 7, 'h', 'i'};
  ASSERT_EQ(ParseUdpHeader(d, &h), UdpParse::kOk);
  EXPECT_EQ(h.frag, 0);
  EXPECT_EQ(h.header_size, 10u);
  EXPECT_EQ(h.address.ip, IpAddress::V4(10, 99, 0, 1));
  EXPECT_EQ(h.address.port, 7);
  EXPECT_EQ(ParseUdpHeader(Bytes{0, 0, 3, 1, 1, 2, 3, 4, 0, 1}, &h),
            UdpParse::kOk);
  EXPECT_EQ(h.frag, 3);
  EXPECT_EQ(ParseUdpHeader(Bytes{0, 0, 0, 1, 1, 2}, &h), UdpParse::kTruncated);
  EXPECT_EQ(ParseUdpHeader(Bytes{0, 1, 0, 1, 1, 2, 3, 4, 0, 1}, &h),
            UdpParse::kBadReserved);
  EXPECT_EQ(ParseUdpHeader(Bytes{0, 0, 0, 2, 1, 2, 3, 4, 0, 1}, &h),
            UdpParse::kBadAddressType);
  EXPECT_EQ(ParseUdpHeader(Bytes{0, 0, 0, 3, 0, 0, 1}, &h),
            UdpParse::kBadAddressType);
}

TEST(Socks5Test, Encoders) {
  EXPECT_EQ(EncodeMethodChoice(kMethodNoAcceptable), (Bytes{5, 0xFF}));
  EXPECT_EQ(EncodeAuthStatus(false), (Bytes{1, 1}));
  EXPECT_EQ(EncodeReply(Reply::kHostUnreachable,
                        SocketAddress(IpAddress::V4(127, 0, 0, 1), 1080)),
            (Bytes{5, 4, 0, 1, 127, 0, 0, 1, 0x04, 0x38}));
  Bytes out;
  AppendUdpHeader(SocketAddress(*IpAddress::Parse("::1"), 53), &out);
  Bytes want = {0, 0, 0, 4};
  for (int i = 0; i < 15; ++i) want.push_back(0);
  want.push_back(1);
  want.push_back(0);
  want.push_back(53);
  EXPECT_EQ(out, want);
  UdpHeader h;
  ASSERT_EQ(ParseUdpHeader(out, &h), UdpParse::kOk);
  EXPECT_EQ(h.header_size, out.size());
}

}  // namespace
}  // namespace stow::proxy::socks5
