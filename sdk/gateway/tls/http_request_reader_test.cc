#include "sdk/gateway/tls/http_request_reader.h"

#include <string>

#include "gtest/gtest.h"

namespace stow::gateway::tls {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

TEST(HttpRequestReaderTest, BodyAcrossPiecesThenPipelinedRequest) {
  const std::string wire =
      "POST /auth HTTP/1.1\r\nHost: gw\r\nContent-Length: 11\r\n\r\n"
      "hello world"
      "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: gw\r\n\r\nSTF\x01";
  HttpRequestReader reader;
  HttpRequest request;
  std::string body;
  // Byte by byte: never a request before its last byte.
  size_t i = 0;
  for (; i < wire.size(); ++i) {
    reader.Append(Bytes(wire.substr(i, 1)));
    RequestReadResult r = reader.Next(&request, &body);
    if (r == RequestReadResult::kRequest) break;
    ASSERT_EQ(r, RequestReadResult::kNeedMore) << i;
  }
  EXPECT_EQ(i, wire.find("CONNECT") - 1);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/auth");
  EXPECT_EQ(body, "hello world");
  reader.Append(Bytes(wire.substr(i + 1)));
  ASSERT_EQ(reader.Next(&request, &body), RequestReadResult::kRequest);
  EXPECT_EQ(request.method, "CONNECT");
  EXPECT_EQ(request.path, "/CSCOSSLC/tunnel");
  EXPECT_EQ(body, "");
  EXPECT_EQ(reader.Next(&request, &body), RequestReadResult::kNeedMore);
  std::vector<uint8_t> rest = reader.TakeRemaining();
  EXPECT_EQ(std::string(rest.begin(), rest.end()), "STF\x01");
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(HttpRequestReaderTest, Errors) {
  struct Case {
    std::string wire;
    int status;
  };
  const Case cases[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n" + std::string(20000, 'x'), 431},
  };
  for (const Case& c : cases) {
    HttpRequestReader reader;
    reader.Append(Bytes(c.wire));
    HttpRequest request;
    std::string body;
    EXPECT_EQ(reader.Next(&request, &body), RequestReadResult::kError)
        << c.wire.substr(0, 60);
    EXPECT_EQ(reader.error_status(), c.status) << reader.error();
    // Sticky, and nothing more is kept.
    reader.Append(Bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    EXPECT_EQ(reader.Next(&request, &body), RequestReadResult::kError);
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(HttpRequestReaderTest, SmallerBodyLimit) {
  HttpRequestLimits limits;
  limits.max_body_bytes = 4;
  HttpRequestReader reader(limits);
  reader.Append(Bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"));
  HttpRequest request;
  std::string body;
  EXPECT_EQ(reader.Next(&request, &body), RequestReadResult::kError);
  EXPECT_EQ(reader.error_status(), 413);
}

}  // namespace
}  // namespace stow::gateway::tls
