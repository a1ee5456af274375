#include "sdk/proxy/http_proxy_request.h"

#include <string>

#include "gtest/gtest.h"

namespace stow::proxy {
namespace {

using gateway::HttpParseState;

HttpProxyParseResult Parse(const std::string& text,
                           size_t max = kMaxProxyHeadBytes) {
  return ParseHttpProxyRequest(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                          text.size()),
      max);
}

TEST(HttpProxyRequestTest, Connect) {
  const std::string head =
      "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n";
  HttpProxyParseResult r = Parse(head + "tunnelled");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.head_bytes, head.size());
  EXPECT_TRUE(r.request.is_connect);
  EXPECT_EQ(r.request.host, "example.test");
  EXPECT_EQ(r.request.port, 443);

  r = Parse("CONNECT [fd99::1]:22 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.host, "fd99::1");
  EXPECT_EQ(r.request.port, 22);
  // Incomplete heads ask for more, at every length.
  for (size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(Parse(head.substr(0, n)).state, HttpParseState::kNeedMore) << n;
  }
}

TEST(HttpProxyRequestTest, AbsoluteUriIsRewritten) {
  const std::string head =
      "POST http://Web.Test:8080/a/b?x=1#frag HTTP/1.1\r\n"
      "Host: Web.Test:8080\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Proxy-Authorization: Basic eDp5\r\n"
      "Connection: X-Hop, keep-alive\r\n"
      "X-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Content-Length: 4\r\n\r\n";
  HttpProxyParseResult r = Parse(head + "body");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.head_bytes, head.size());
  EXPECT_FALSE(r.request.is_connect);
  EXPECT_EQ(r.request.host, "Web.Test");
  EXPECT_EQ(r.request.port, 8080);
  EXPECT_EQ(r.request.upstream_head,
            "POST /a/b?x=1 HTTP/1.1\r\n"
            "host: Web.Test:8080\r\n"
            "content-length: 4\r\n"
            "Connection: close\r\n\r\n");
  // HTTP/1.0 without Host gets one; the port defaults to 80.
  r = Parse("GET http://h.test HTTP/1.0\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.port, 80);
  EXPECT_EQ(r.request.upstream_head,
            "GET / HTTP/1.0\r\nhost: h.test\r\nConnection: close\r\n\r\n");
}

TEST(HttpProxyRequestTest, Errors) {
  struct Case {
    const char* head;
    int status;
  };
  const Case cases[] = {
      {"NOT HTTP\r\n\r\n", 400},
      {"CONNECT host HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"CONNECT host:0 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"CONNECT host:99999 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"CONNECT a:1\r\n\r\n", 400},
      {"GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
      {"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 501},
      {"GET http://h/ HTTP/2.0\r\nHost: h\r\n\r\n", 505},
  };
  for (const Case& c : cases) {
    HttpProxyParseResult r = Parse(c.head);
    EXPECT_EQ(r.state, HttpParseState::kError) << c.head;
    EXPECT_EQ(r.error_status, c.status) << c.head << ": " << r.error;
  }
  HttpProxyParseResult r =
      Parse("GET http://h/ HTTP/1.1\r\nHost: h\r\nX: " +
            std::string(70000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.error_status, 431);
}

TEST(HttpProxyRequestTest, ProxyAuthorizationAndErrorResponse) {
  HttpProxyParseResult r = Parse(
      "CONNECT h:1 HTTP/1.1\r\nHost: h\r\nProxy-Authorization: Basic "
      "dTpw\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete);
  EXPECT_TRUE(CheckProxyAuthorization(r.request.request, "u", "p"));
  EXPECT_FALSE(CheckProxyAuthorization(r.request.request, "u", "q"));
  EXPECT_EQ(HttpProxyErrorResponse(502, "no"),
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
            "no\n");
}

}  // namespace
}  // namespace stow::proxy
