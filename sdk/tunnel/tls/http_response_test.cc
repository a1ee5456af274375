#include "sdk/tunnel/tls/http_response.h"

#include <string>

#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

// Server reply from the decrypted ocserv 1.1.6 capture (README), final
// round of auth.
const char kComplete[] =
    "HTTP/1.1 200 OK\r\n"
    "Connection: Keep-Alive\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 5\r\n"
    "X-Transcend-Version: 1\r\n"
    "Set-Cookie: webvpncontext=AEVK5vFlMzd23gUtr57cmniv4Lqk9QL39sqK29ZkmmM=; "
    "Secure; HttpOnly\r\n"
    "Set-Cookie: webvpn=AEVK5vFlMzd23gUtr57cmniv4Lqk9QL39sqK29ZkmmM=; Secure; "
    "HttpOnly\r\n"
    "Set-Cookie: webvpnc=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; "
    "Secure; HttpOnly\r\n"
    "\r\n"
    "<x/>\n";

absl::Status FeedAll(HttpResponseParser* p, const std::string& data,
                     size_t piece, size_t* total) {
  *total = 0;
  while (*total < data.size() && !p->done()) {
    size_t n = 0;
    absl::Status s = p->Feed(
        absl::string_view(data).substr(*total, piece), &n);
    if (!s.ok()) return s;
    *total += n;
    if (n == 0 && !p->done()) break;
  }
  return absl::OkStatus();
}

TEST(HttpResponseTest, ParsesAuthReplyInAnyPieces) {
  for (size_t piece : {1, 2, 3, 7, 1000}) {
    HttpResponseParser p(HttpResponseParser::Mode::kWithBody);
    size_t used = 0;
    ASSERT_TRUE(FeedAll(&p, std::string(kComplete) + "NEXT", piece, &used).ok());
    ASSERT_TRUE(p.done()) << piece;
    EXPECT_EQ(used, sizeof(kComplete) - 1);
    const HttpResponse& r = p.response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.body, "<x/>\n");
    ASSERT_NE(r.Find("content-type"), nullptr);
    EXPECT_EQ(*r.Find("CONTENT-TYPE"), "text/xml");
    EXPECT_EQ(r.FindAll("set-cookie").size(), 3u);
    std::string storage;
    ASSERT_NE(r.FindSetCookie("webvpn", &storage), nullptr);
    EXPECT_EQ(storage, "AEVK5vFlMzd23gUtr57cmniv4Lqk9QL39sqK29ZkmmM=");
    ASSERT_NE(r.FindSetCookie("webvpnc", &storage), nullptr);
    EXPECT_EQ(storage, "");
    EXPECT_EQ(r.FindSetCookie("nope", &storage), nullptr);
  }
}

TEST(HttpResponseTest, ConnectReplyLeavesTunnelBytes) {
  const std::string head =
      "HTTP/1.1 200 CONNECTED\r\nX-CSTP-Split-Include: 10.1.0.0/16\r\n"
      "X-CSTP-Split-Include: 10.2.0.0/16\r\n\r\n";
  const std::string stream = head + "STF\x01";
  HttpResponseParser p(HttpResponseParser::Mode::kConnect);
  size_t used = 0;
  ASSERT_TRUE(p.Feed(stream, &used).ok());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(used, head.size());
  EXPECT_EQ(p.response().reason, "CONNECTED");
  EXPECT_EQ(p.response().FindAll("x-cstp-split-include"),
            (std::vector<std::string>{"10.1.0.0/16", "10.2.0.0/16"}));
  // Done: consumes nothing more.
  ASSERT_TRUE(p.Feed("more", &used).ok());
  EXPECT_EQ(used, 0u);
}

TEST(HttpResponseTest, ConnectRefusal) {
  HttpResponseParser p(HttpResponseParser::Mode::kConnect);
  size_t used = 0;
  ASSERT_TRUE(
      p.Feed("HTTP/1.1 401 Cookie is not acceptable\r\n\r\n", &used).ok());
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.response().status, 401);
  EXPECT_EQ(p.response().reason, "Cookie is not acceptable");
}

absl::StatusCode Code(const std::string& input,
                      HttpLimits limits = HttpLimits()) {
  HttpResponseParser p(HttpResponseParser::Mode::kWithBody, limits);
  size_t used = 0;
  absl::Status s = p.Feed(input, &used);
  if (s.ok() && !p.done()) return absl::StatusCode::kUnavailable;
  return s.code();
}

TEST(HttpResponseTest, Malformed) {
  using C = absl::StatusCode;
  EXPECT_EQ(Code("HTTP/2.0 200 OK\r\n\r\n"), C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 20 OK\r\n\r\n"), C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 099 X\r\n\r\n"), C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200OK\r\n\r\n"), C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"), C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"),
            C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"),
            C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n"),
            C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                 "Content-Length: 2\r\n\r\n"),
            C::kInvalidArgument);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            C::kUnimplemented);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\n\r\n"), C::kUnimplemented);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"),
            C::kResourceExhausted);
  EXPECT_EQ(Code("HTTP/1.1 204 No Content\r\n\r\n"), C::kOk);
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"),
            C::kUnavailable);
  HttpLimits small;
  small.max_head_bytes = 32;
  EXPECT_EQ(Code(std::string("HTTP/1.1 200 OK\r\n") + std::string(40, 'a'),
                 small),
            C::kResourceExhausted);
  small.max_head_bytes = 16384;
  small.max_headers = 2;
  EXPECT_EQ(Code("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small),
            C::kResourceExhausted);
}

}  // namespace
}  // namespace stow::tunnel::tls
