#include "sdk/gateway/services/http_request.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace stow::gateway {
namespace {

HttpParseResult Parse(const std::string& text,
                      size_t max = kMaxHttpHeadBytes) {
  return ParseHttpRequest(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                          text.size()),
      max);
}

// The status of a request that must be rejected.
int ErrorStatus(const std::string& text) {
  HttpParseResult r = Parse(text);
  EXPECT_EQ(r.state, HttpParseState::kError) << text;
  return r.error_status;
}

TEST(HttpRequestTest, ParsesASimpleGet) {
  const std::string text =
      "GET /bytes?n=10&seed=3 HTTP/1.1\r\nHost: 10.99.0.1\r\n"
      "User-Agent:  curl/7.88 \r\nAccept: */*\r\n\r\n";
  HttpParseResult r = Parse(text);
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.head_bytes, text.size());
  const HttpRequest& q = r.request;
  EXPECT_EQ(q.method, "GET");
  EXPECT_EQ(q.target, "/bytes?n=10&seed=3");
  EXPECT_EQ(q.path, "/bytes");
  EXPECT_EQ(q.query, "n=10&seed=3");
  EXPECT_EQ(q.version_minor, 1);
  ASSERT_EQ(q.headers.size(), 3u);
  EXPECT_EQ(q.headers[1].name, "user-agent");
  EXPECT_EQ(q.headers[1].value, "curl/7.88");
  ASSERT_NE(q.FindHeader("host"), nullptr);
  EXPECT_EQ(*q.FindHeader("host"), "10.99.0.1");
  EXPECT_EQ(q.FindHeader("cookie"), nullptr);
  EXPECT_TRUE(q.keep_alive);
  EXPECT_FALSE(q.content_length.has_value());
  EXPECT_FALSE(q.has_transfer_encoding);
  EXPECT_FALSE(q.expect_continue);
}

TEST(HttpRequestTest, EveryPrefixNeedsMore) {
  const std::string text =
      "POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  for (size_t n = 0; n < text.size(); ++n) {
    HttpParseResult r = Parse(text.substr(0, n));
    ASSERT_EQ(r.state, HttpParseState::kNeedMore) << n << ": " << r.error;
  }
  HttpParseResult r = Parse(text + "hello");
  ASSERT_EQ(r.state, HttpParseState::kComplete);
  EXPECT_EQ(r.head_bytes, text.size());
  EXPECT_EQ(r.request.content_length, 5u);
}

TEST(HttpRequestTest, StopsAtTheFirstOfPipelinedRequests) {
  const std::string first = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  HttpParseResult r = Parse(first + "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete);
  EXPECT_EQ(r.head_bytes, first.size());
  EXPECT_EQ(r.request.path, "/");
}

TEST(HttpRequestTest, AcceptsBareLfAndLeadingEmptyLines) {
  const std::string text = "\r\n\nGET / HTTP/1.1\nHost: a\n\n";
  HttpParseResult r = Parse(text);
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.head_bytes, text.size());
  EXPECT_EQ(r.request.path, "/");
}

TEST(HttpRequestTest, AbsoluteFormAndAsteriskTargets) {
  HttpParseResult r =
      Parse("GET http://10.99.0.1:80/bytes?n=5 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.path, "/bytes");
  EXPECT_EQ(r.request.query, "n=5");
  r = Parse("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.path, "/");
  r = Parse("GET http://example.com?a=b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.path, "/");
  EXPECT_EQ(r.request.query, "a=b");
  r = Parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.path, "*");
  EXPECT_EQ(ErrorStatus("GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET ://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

TEST(HttpRequestTest, ConnectionPersistence) {
  auto keep = [](const std::string& text) {
    HttpParseResult r = Parse(text);
    EXPECT_EQ(r.state, HttpParseState::kComplete) << r.error;
    return r.request.keep_alive;
  };
  EXPECT_TRUE(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, "
                    "CLOSE\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  // HTTP/1.x with x > 1 is treated as 1.1.
  EXPECT_TRUE(keep("GET / HTTP/1.2\r\nHost: a\r\n\r\n"));
}

TEST(HttpRequestTest, ContentLength) {
  HttpParseResult r = Parse(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n"
      "Content-Length: 7\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.content_length, 7u);
  r = Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
            "18446744073709551615\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(r.request.content_length, UINT64_MAX);
  for (const char* bad : {"7, 8", "-1", "+1", "", "abc", "1 2", "0x10",
                          "18446744073709551616", "7,"}) {
    EXPECT_EQ(ErrorStatus(absl::StrCat("POST / HTTP/1.1\r\nHost: a\r\n"
                                       "Content-Length: ",
                                       bad, "\r\n\r\n")),
              400)
        << bad;
  }
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                        "Content-Length: 2\r\n\r\n"),
            400);
}

TEST(HttpRequestTest, TransferEncoding) {
  HttpParseResult r = Parse(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_TRUE(r.request.has_transfer_encoding);
  // Request smuggling shapes are refused outright (RFC 9112 §6.1, §6.3).
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                        "chunked\r\nContent-Length: 3\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
}

TEST(HttpRequestTest, HostRules) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(Parse("GET / HTTP/1.0\r\n\r\n").state, HttpParseState::kComplete);
}

TEST(HttpRequestTest, MalformedRequestLines) {
  for (const char* line :
       {"GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", "GET / HTTP/1.1 x",
        " GET / HTTP/1.1", "G@T / HTTP/1.1", "GET /a\x01 HTTP/1.1",
        "GET /\x80 HTTP/1.1", "GET / http/1.1", "GET / HTTP/1.10",
        "GET / HTTP/1", "GET / HTTP/x.1", "GET", "GET  HTTP/1.1"}) {
    EXPECT_EQ(ErrorStatus(absl::StrCat(line, "\r\nHost: a\r\n\r\n")), 400)
        << line;
  }
  EXPECT_EQ(ErrorStatus("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
}

TEST(HttpRequestTest, ErrorsShowBeforeTheHeadEnds) {
  // A bad request line is reported as soon as it is complete.
  EXPECT_EQ(ErrorStatus("G\x01T / HTTP/1.1\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nbad header\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\rX"), 400);  // Bare CR.
}

TEST(HttpRequestTest, MalformedFields) {
  for (const char* field :
       {"Host : a", "NoColon", ": empty-name", "Bad\x01Name: x",
        "X: a\x01b", "X: a\x7F", "X: a\rb"}) {
    EXPECT_EQ(ErrorStatus(absl::StrCat("GET / HTTP/1.1\r\nHost: a\r\n", field,
                                       "\r\n\r\n")),
              400)
        << field;
  }
  // obs-fold (RFC 9112 §5.2) is refused.
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
            400);
  // Tabs and obs-text are allowed in values; an empty value too.
  HttpParseResult r = Parse(
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb \xC3\xA9\r\nY:\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete) << r.error;
  EXPECT_EQ(*r.request.FindHeader("x"), "a\tb \xC3\xA9");
  EXPECT_EQ(*r.request.FindHeader("y"), "");
}

TEST(HttpRequestTest, SizeLimits) {
  const std::string start = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  // A head of exactly the limit passes; one byte more is 431, complete or
  // not.
  std::string exact = start + std::string(kMaxHttpHeadBytes - start.size() - 4,
                                          'v') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), kMaxHttpHeadBytes);
  EXPECT_EQ(Parse(exact).state, HttpParseState::kComplete);
  std::string over = start + std::string(kMaxHttpHeadBytes - start.size() - 3,
                                         'v') + "\r\n\r\n";
  EXPECT_EQ(ErrorStatus(over), 431);
  EXPECT_EQ(ErrorStatus(start + std::string(kMaxHttpHeadBytes, 'v')), 431);
  // Still incomplete but within the limit: need more.
  EXPECT_EQ(Parse(start + std::string(1000, 'v')).state,
            HttpParseState::kNeedMore);
  // An endless request line is 414.
  EXPECT_EQ(ErrorStatus("GET /" + std::string(kMaxHttpHeadBytes, 'a')), 414);
  // Too many fields.
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 0; i < kMaxHttpHeaderFields; ++i) many += "X: y\r\n";
  EXPECT_EQ(ErrorStatus(many + "\r\n"), 431);
  // A smaller limit applies.
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 20).error_status, 431);
}

TEST(HttpRequestTest, ExpectContinue) {
  HttpParseResult r = Parse(
      "POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
      "Expect: 100-Continue\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::kComplete);
  EXPECT_TRUE(r.request.expect_continue);
}

TEST(HttpRequestTest, QueryParameters) {
  EXPECT_EQ(FindQueryParam("n=10&seed=3", "n"), "10");
  EXPECT_EQ(FindQueryParam("n=10&seed=3", "seed"), "3");
  EXPECT_EQ(FindQueryParam("nn=1&n=2", "n"), "2");
  EXPECT_EQ(FindQueryParam("a&n", "n"), "");
  EXPECT_EQ(FindQueryParam("n=1&n=2", "n"), "1");
  EXPECT_FALSE(FindQueryParam("", "n").has_value());
  EXPECT_FALSE(FindQueryParam("seed=1", "n").has_value());
}

TEST(HttpRequestTest, Decimal) {
  EXPECT_EQ(ParseDecimal("0"), 0u);
  EXPECT_EQ(ParseDecimal("1099511627776"), uint64_t{1} << 40);
  EXPECT_EQ(ParseDecimal("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseDecimal("00000000000000000001"), 1u);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1a", "0x1",
                          "18446744073709551616", "000000000000000000001"}) {
    EXPECT_FALSE(ParseDecimal(bad).has_value()) << bad;
  }
}

TEST(HttpRequestTest, ReasonPhrases) {
  EXPECT_EQ(HttpReasonPhrase(200), "OK");
  EXPECT_EQ(HttpReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(HttpReasonPhrase(299), "Unknown");
}

}  // namespace
}  // namespace stow::gateway
