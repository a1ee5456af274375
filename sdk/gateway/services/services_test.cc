// Services tests: one stack with one interface on a LoopbackLink hosts the
// services and the clients (both ends of every connection), driven by a
// fake clock.
#include "sdk/gateway/services/services.h"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "sdk/crypto/sha256.h"
#include "sdk/event/manual_loop.h"
#include "sdk/gateway/services/pattern.h"

namespace stow::gateway {
namespace {

using netstack::Stack;
using netstack::TcpConnection;
using netstack::UdpEndpoint;
using netstack::testing::BulkSender;
using netstack::testing::Duplex;
using netstack::testing::LoopbackLink;

const IpAddress kV4 = IpAddress::V4(10, 99, 0, 1);
const IpAddress kV6 = *IpAddress::Parse("fd99::1");

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;  // The first kKeptBody bytes.
  uint64_t body_bytes = 0;
  crypto::Sha256::Digest digest{};

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

constexpr size_t kKeptBody = 64 * 1024;

// An HTTP client on a netstack connection: sends queued requests (with
// pattern bodies) with backpressure and parses the responses in order,
// hashing bodies.
class HttpClient : public TcpConnection::Delegate {
 public:
  HttpClient(Stack* stack, const SocketAddress& server) {
    absl::StatusOr<std::unique_ptr<TcpConnection>> conn =
        TcpConnection::Connect(stack, server, this);
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (conn.ok()) conn_ = std::move(*conn);
  }

  // Queues raw request bytes; `head` says the response has no body.
  void Request(const std::string& raw, bool head = false) {
    segments_.push_back({raw, 0, BytePattern(0)});
    head_flags_.push_back(head);
    Pump();
  }
  // One more response is due (for several requests sent in one Request()).
  void Expect(bool head) { head_flags_.push_back(head); }
  // Queues `n` bytes of BytePattern(seed), e.g. a request body.
  void Body(uint64_t n, uint64_t seed) {
    segments_.push_back({"", n, BytePattern(seed)});
    Pump();
  }
  void set_paused(bool paused) {
    paused_ = paused;
    if (!paused_) Drain();
  }
  // Stops reading once `limit` bytes were read in all (an endless stream
  // would otherwise keep a ManualLoop busy forever).
  void set_read_limit(uint64_t limit) {
    read_limit_ = limit;
    Drain();
  }
  uint64_t bytes_read() const { return read_; }

  TcpConnection* conn() { return conn_.get(); }
  const std::vector<HttpResponse>& responses() const { return responses_; }
  int interim_responses() const { return interim_; }
  bool eof() const { return eof_; }
  const absl::Status& error() const { return error_; }
  bool failed() const { return !error_.ok(); }

  void OnConnected() override { Pump(); }
  void OnReadable() override { Drain(); }
  void OnWritable() override { Pump(); }
  void OnError(absl::Status status) override { error_ = std::move(status); }

 private:
  struct Segment {
    std::string bytes;
    uint64_t pattern_left;
    BytePattern pattern;
  };

  void Pump() {
    if (conn_ == nullptr || !conn_->is_open()) return;
    while (true) {
      if (staged_off_ == staged_.size()) {
        staged_.clear();
        staged_off_ = 0;
        if (segments_.empty()) return;
        Segment& s = segments_.front();
        if (!s.bytes.empty()) {
          staged_ = std::move(s.bytes);
          segments_.pop_front();
        } else {
          const size_t n =
              static_cast<size_t>(std::min<uint64_t>(s.pattern_left, 65536));
          staged_.resize(n);
          s.pattern.Fill(absl::MakeSpan(
              reinterpret_cast<uint8_t*>(&staged_[0]), n));
          s.pattern_left -= n;
          if (s.pattern_left == 0) segments_.pop_front();
          if (n == 0) continue;
        }
      }
      absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(staged_.data()) + staged_off_,
          staged_.size() - staged_off_));
      if (!n.ok() || *n == 0) return;
      staged_off_ += *n;
    }
  }

  void Drain() {
    if (paused_ || conn_ == nullptr) return;
    std::vector<uint8_t> buf(65536);
    while (read_ < read_limit_) {
      size_t n = conn_->Read(absl::MakeSpan(buf).first(
          static_cast<size_t>(std::min<uint64_t>(buf.size(), read_limit_ - read_))));
      if (n == 0) break;
      read_ += n;
      Consume(absl::string_view(reinterpret_cast<const char*>(buf.data()), n));
    }
    if (conn_->peer_closed() && conn_->readable_bytes() == 0) eof_ = true;
  }

  void Consume(absl::string_view data) {
    while (!data.empty()) {
      if (in_body_) {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(data.size(), body_left_));
        hash_.Update(absl::MakeConstSpan(
            reinterpret_cast<const uint8_t*>(data.data()), take));
        if (current_.body.size() < kKeptBody) {
          current_.body.append(data.data(),
                               std::min(take, kKeptBody - current_.body.size()));
        }
        current_.body_bytes += take;
        body_left_ -= take;
        data.remove_prefix(take);
        if (body_left_ == 0) Complete();
        continue;
      }
      head_.append(data.data(), data.size());
      data = absl::string_view();
      const size_t end = head_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string rest = head_.substr(end + 4);
      ParseHead(head_.substr(0, end));
      head_.clear();
      Consume(rest);
      return;
    }
  }

  void ParseHead(const std::string& head) {
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    current_ = HttpResponse();
    EXPECT_TRUE(absl::StartsWith(lines[0], "HTTP/1.1 ")) << lines[0];
    EXPECT_TRUE(absl::SimpleAtoi(lines[0].substr(9, 3), &current_.status))
        << lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      ASSERT_NE(colon, std::string::npos) << lines[i];
      current_.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    if (current_.status == 100) {
      interim_++;
      return;
    }
    uint64_t length = 0;
    EXPECT_TRUE(absl::SimpleAtoi(current_.Header("content-length"), &length))
        << "every response has Content-Length";
    const bool head_only = !head_flags_.empty() && head_flags_.front();
    body_left_ = head_only ? 0 : length;
    if (body_left_ == 0) {
      Complete();
    } else {
      in_body_ = true;
    }
  }

  void Complete() {
    in_body_ = false;
    current_.digest = hash_.Finish();
    responses_.push_back(std::move(current_));
    current_ = HttpResponse();
    if (!head_flags_.empty()) head_flags_.pop_front();
  }

  std::unique_ptr<TcpConnection> conn_;
  std::deque<Segment> segments_;
  std::string staged_;
  size_t staged_off_ = 0;
  std::deque<bool> head_flags_;
  bool paused_ = false;
  uint64_t read_limit_ = UINT64_MAX;
  uint64_t read_ = 0;
  std::string head_;
  bool in_body_ = false;
  uint64_t body_left_ = 0;
  crypto::Sha256 hash_;
  HttpResponse current_;
  std::vector<HttpResponse> responses_;
  int interim_ = 0;
  bool eof_ = false;
  absl::Status error_;
};

// Reads and keeps (up to a limit) what a connection receives.
class Reader : public TcpConnection::Delegate {
 public:
  explicit Reader(size_t keep = 1 << 20) : keep_(keep) {}
  void OnConnected() override { connected = true; }
  void OnReadable() override {
    if (paused || conn == nullptr) return;
    uint8_t buf[16384];
    while (received < limit) {
      const size_t n = conn->Read(absl::MakeSpan(buf).first(
          static_cast<size_t>(std::min<uint64_t>(sizeof(buf), limit - received))));
      if (n == 0) break;
      received += n;
      if (bytes.size() < keep_) {
        bytes.insert(bytes.end(), buf, buf + std::min(n, keep_ - bytes.size()));
      }
    }
    if (conn->peer_closed() && conn->readable_bytes() == 0) eof = true;
  }
  void OnError(absl::Status status) override { error = std::move(status); }

  // Resumes reading (after `paused` or the limit changed).
  void Resume() {
    paused = false;
    OnReadable();
  }

  TcpConnection* conn = nullptr;  // Not owned.
  bool paused = false;
  // Reading stops here (an endless source would otherwise keep a
  // ManualLoop busy forever).
  uint64_t limit = UINT64_MAX;
  bool connected = false;
  bool eof = false;
  uint64_t received = 0;
  std::vector<uint8_t> bytes;
  absl::Status error;

 private:
  const size_t keep_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: gw\r\n", extra,
                      "\r\n");
}

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Stack>> stack = Stack::Create(&loop_);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    link_ = std::make_unique<LoopbackLink>(&loop_, 1500);
    netstack::InterfaceConfig config;
    config.ipv4 = kV4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = kV6;
    absl::StatusOr<std::unique_ptr<netstack::Interface>> iface =
        stack_->AddInterface(link_.get(), config);
    ASSERT_TRUE(iface.ok()) << iface.status();
    iface_ = std::move(*iface);
    ServicesConfig services;
    services.addresses = {kV4, kV6};
    StartServices(services);
  }

  void TearDown() override {
    services_.reset();
    loop_.RunUntilIdle();
    iface_.reset();
    stack_->AbortOrphanedConnections();
    loop_.RunUntilIdle();
    netstack::StackResources left = stack_->Resources();
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    stack_.reset();
    link_.reset();
  }

  void StartServices(const ServicesConfig& config) {
    services_.reset();
    absl::StatusOr<std::unique_ptr<Services>> services =
        Services::Start(stack_.get(), config);
    ASSERT_TRUE(services.ok()) << services.status();
    services_ = std::move(*services);
  }

  // Runs the fake clock in small steps until `done` or `limit` passes.
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(120)) {
    const absl::Duration end = loop_.Now() + limit;
    while (true) {
      loop_.RunUntilIdle();
      if (done()) return true;
      if (loop_.Now() >= end) return false;
      loop_.AdvanceBy(absl::Milliseconds(2));
    }
  }

  std::unique_ptr<HttpClient> Http(const IpAddress& ip = kV4) {
    return std::make_unique<HttpClient>(stack_.get(), SocketAddress(ip, 80));
  }

  std::unique_ptr<TcpConnection> Connect(uint16_t port,
                                         TcpConnection::Delegate* delegate,
                                         const IpAddress& ip = kV4) {
    absl::StatusOr<std::unique_ptr<TcpConnection>> conn =
        TcpConnection::Connect(stack_.get(), SocketAddress(ip, port), delegate);
    EXPECT_TRUE(conn.ok()) << conn.status();
    return conn.ok() ? std::move(*conn) : nullptr;
  }

  // Sends `raw` on a new connection and waits for one response.
  HttpResponse OneRequest(const std::string& raw, bool* closed = nullptr) {
    std::unique_ptr<HttpClient> client = Http();
    client->Request(raw);
    EXPECT_TRUE(RunUntil([&] {
      return !client->responses().empty() || client->failed();
    }));
    EXPECT_FALSE(client->failed()) << client->error();
    if (closed != nullptr) {
      // A closing server sends FIN right after the response.
      *closed = RunUntil([&] { return client->eof(); }, absl::Seconds(2));
    }
    return client->responses().empty() ? HttpResponse()
                                       : client->responses()[0];
  }

  const ServicesCounters& counters() { return services_->counters(); }

  event::ManualLoop loop_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<LoopbackLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<Services> services_;
};

TEST_F(ServicesTest, StatusPageComesFromTheOwner) {
  int calls = 0;
  services_->set_status_page([&] {
    ++calls;
    return absl::StrCat("gateway up, page ", calls, "\n");
  });
  for (const IpAddress& ip : {kV4, kV6}) {
    std::unique_ptr<HttpClient> client = Http(ip);
    client->Request(Get("/"));
    ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
    const HttpResponse& r = client->responses()[0];
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r.body, absl::StrCat("gateway up, page ", calls, "\n"));
    EXPECT_EQ(r.Header("content-length"), absl::StrCat(r.body.size()));
  }
  EXPECT_EQ(calls, 2);
}

TEST_F(ServicesTest, DefaultStatusPageListsCounters) {
  HttpResponse r = OneRequest(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("http.accepted 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("udp_echo.datagrams_in 0\n"), std::string::npos);
}

TEST_F(ServicesTest, BytesMatchThePatternDigest) {
  constexpr uint64_t kSize = 8 << 20;
  for (const IpAddress& ip : {kV4, kV6}) {
    std::unique_ptr<HttpClient> client = Http(ip);
    client->Request(Get(absl::StrCat("/bytes?n=", kSize, "&seed=77")));
    ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
    const HttpResponse& r = client->responses()[0];
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), "application/octet-stream");
    EXPECT_EQ(r.Header("content-length"), absl::StrCat(kSize));
    EXPECT_EQ(r.body_bytes, kSize);
    EXPECT_EQ(r.digest, BytePatternDigest(kSize, 77));
  }
  EXPECT_GE(counters().http.bytes_out, 2 * kSize);
  // No seed means seed 0; n=0 is an empty body.
  HttpResponse r = OneRequest(Get("/bytes?n=1000"));
  EXPECT_EQ(r.digest, BytePatternDigest(1000, 0));
  r = OneRequest(Get("/bytes?n=0"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body_bytes, 0u);
}

TEST_F(ServicesTest, BytesStreamWithBackpressure) {
  // The largest allowed N, to a client that does not read: the server must
  // stop once the windows are full, never buffer N bytes.
  std::unique_ptr<HttpClient> client = Http();
  client->set_paused(true);
  client->Request(Get(absl::StrCat("/bytes?n=", kMaxHttpBytes)));
  RunUntil([] { return false; }, absl::Seconds(5));
  const uint64_t out = counters().http.bytes_out;
  EXPECT_GT(out, 1u << 20);
  // Our send buffer (2 MiB) + the client's window (2 MiB) + one chunk.
  EXPECT_LE(out, (4u << 20) + (128u << 10));
  RunUntil([] { return false; }, absl::Seconds(5));
  EXPECT_EQ(counters().http.bytes_out, out) << "stalled means stalled";
  EXPECT_LT(stack_->Resources().heap_bytes, int64_t{16} << 20);
  // Reading resumes the stream.
  client->set_read_limit(16 << 20);
  client->set_paused(false);
  ASSERT_TRUE(RunUntil([&] { return client->bytes_read() == (16u << 20); }));
  EXPECT_GT(counters().http.bytes_out, 16u << 20);
  client->conn()->Abort();
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().http.errors, 1u);
  EXPECT_EQ(counters().http.active, 0u);
}

TEST_F(ServicesTest, Sha256OfAFourMebibytePost) {
  constexpr uint64_t kSize = 4 << 20;
  std::unique_ptr<HttpClient> client = Http();
  client->Request(absl::StrCat("POST /sha256 HTTP/1.1\r\nHost: gw\r\n"
                               "Content-Length: ",
                               kSize, "\r\n\r\n"));
  client->Body(kSize, 3);
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
  const HttpResponse& r = client->responses()[0];
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            absl::StrCat(crypto::Sha256::Hex(BytePatternDigest(kSize, 3)), "\n"));
  EXPECT_GE(counters().http.bytes_in, kSize);
  EXPECT_FALSE(client->eof());  // Kept alive.
}

TEST_F(ServicesTest, Sha256HonoursExpectContinue) {
  std::unique_ptr<HttpClient> client = Http(kV6);
  client->Request(
      "POST /sha256 HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n"
      "Expect: 100-continue\r\n\r\n");
  client->Body(100000, 9);
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
  EXPECT_EQ(client->interim_responses(), 1);
  EXPECT_EQ(client->responses()[0].body,
            absl::StrCat(crypto::Sha256::Hex(BytePatternDigest(100000, 9)),
                         "\n"));
  // The empty body hashes too.
  HttpResponse r = OneRequest(
      "POST /sha256 HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.body,
            absl::StrCat(crypto::Sha256::Hex(crypto::Sha256::Hash({})), "\n"));
}

TEST_F(ServicesTest, KeepAliveServesSequentialRequests) {
  std::unique_ptr<HttpClient> client = Http();
  client->Request(Get("/"));
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
  client->Request(Get("/bytes?n=5000&seed=1"));
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 2; }));
  EXPECT_EQ(client->responses()[0].status, 200);
  EXPECT_EQ(client->responses()[1].digest, BytePatternDigest(5000, 1));
  EXPECT_EQ(client->responses()[1].Header("connection"), "");
  EXPECT_EQ(counters().http.accepted, 1u);
  EXPECT_EQ(counters().http_requests.requests, 2u);
  EXPECT_FALSE(client->eof());
  EXPECT_FALSE(client->failed());
}

TEST_F(ServicesTest, PipelinedRequestsAnswerInOrder) {
  std::unique_ptr<HttpClient> client = Http();
  client->Request(absl::StrCat(
      Get("/bytes?n=70000&seed=2"), Get("/nope"),
      "POST /sha256 HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello",
      "HEAD /bytes?n=123 HTTP/1.1\r\nHost: gw\r\n\r\n", Get("/bytes?n=10")));
  // One Request() call, five responses: tell the parser which is HEAD.
  client->Expect(false);
  client->Expect(false);
  client->Expect(true);
  client->Expect(false);
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 5; }));
  const auto& r = client->responses();
  EXPECT_EQ(r[0].digest, BytePatternDigest(70000, 2));
  EXPECT_EQ(r[1].status, 404);
  EXPECT_EQ(r[2].body,
            absl::StrCat(crypto::Sha256::Hex(crypto::Sha256::Hash(
                             absl::MakeConstSpan(
                                 reinterpret_cast<const uint8_t*>("hello"), 5))),
                         "\n"));
  EXPECT_EQ(r[3].status, 200);
  EXPECT_EQ(r[3].Header("content-length"), "123");
  EXPECT_EQ(r[3].body_bytes, 0u);
  EXPECT_EQ(r[4].body_bytes, 10u);
  EXPECT_EQ(counters().http.accepted, 1u);
}

TEST_F(ServicesTest, ConnectionCloseIsHonoured) {
  std::unique_ptr<HttpClient> client = Http();
  client->Request(Get("/bytes?n=100000", "Connection: close\r\n"));
  ASSERT_TRUE(RunUntil([&] { return client->eof(); }));
  ASSERT_EQ(client->responses().size(), 1u);
  EXPECT_EQ(client->responses()[0].Header("connection"), "close");
  EXPECT_EQ(client->responses()[0].body_bytes, 100000u);
  EXPECT_FALSE(client->failed()) << client->error();
  // The client closes its side too; the server's session ends cleanly.
  client->conn()->Close();
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().http.errors, 0u);
  EXPECT_EQ(counters().http.closed, 1u);
}

TEST_F(ServicesTest, Http10ClosesUnlessKeepAlive) {
  bool closed = false;
  HttpResponse r = OneRequest("GET / HTTP/1.0\r\n\r\n", &closed);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(closed);
  r = OneRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &closed);
  EXPECT_EQ(r.Header("connection"), "keep-alive");
  EXPECT_FALSE(closed);
}

TEST_F(ServicesTest, ErrorStatuses) {
  struct Case {
    std::string request;
    int status;
    bool closes;
  };
  const Case cases[] = {
      {Get("/nope"), 404, false},
      {Get("/bytes/"), 404, false},
      {Get("/bytes"), 400, false},
      {Get("/bytes?n=abc"), 400, false},
      {Get("/bytes?n=-1"), 400, false},
      {Get(absl::StrCat("/bytes?n=", kMaxHttpBytes + 1)), 400, false},
      {Get("/bytes?n=1&seed=x"), 400, false},
      {"POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n", 405, false},
      {"DELETE /bytes?n=1 HTTP/1.1\r\nHost: gw\r\n\r\n", 405, false},
      {Get("/sha256"), 405, false},
      {"POST /nope HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc", 404,
       true},
      {"POST /sha256 HTTP/1.1\r\nHost: gw\r\n\r\n", 411, true},
      {"POST /sha256 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n",
       501, true},
      {"GET / HTTP/2.0\r\nHost: gw\r\n\r\n", 505, true},
      {"GARBAGE\r\n\r\n", 400, true},
      {"GET / HTTP/1.1\r\n\r\n", 400, true},
      {"GET / HTTP/1.1\r\nHost: gw\r\n" + std::string(17000, 'X') + "\r\n\r\n",
       431, true},
      {absl::StrCat("GET / HTTP/1.1\r\nHost: gw\r\nX: ", std::string(17000, 'v'),
                    "\r\n\r\n"),
       431, true},
      {"GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: gw\r\n\r\n", 414,
       true},
  };
  for (const Case& c : cases) {
    bool closed = false;
    HttpResponse r = OneRequest(c.request, &closed);
    EXPECT_EQ(r.status, c.status) << c.request.substr(0, 60);
    EXPECT_EQ(closed, c.closes) << c.request.substr(0, 60);
    EXPECT_EQ(r.Header("connection") == "close", c.closes);
    EXPECT_EQ(r.Header("content-length"), absl::StrCat(r.body_bytes));
    if (c.status == 405) {
      EXPECT_NE(r.Header("allow"), "");
    }
  }
  EXPECT_EQ(counters().http_requests.responses_4xx, 17u);
  EXPECT_EQ(counters().http_requests.responses_5xx, 2u);
}

TEST_F(ServicesTest, HeadHasLengthButNoBody) {
  std::unique_ptr<HttpClient> client = Http();
  client->Request("HEAD /bytes?n=100 HTTP/1.1\r\nHost: gw\r\n\r\n", true);
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 1; }));
  EXPECT_EQ(client->responses()[0].Header("content-length"), "100");
  client->Request(Get("/"));
  ASSERT_TRUE(RunUntil([&] { return client->responses().size() == 2; }));
  EXPECT_EQ(client->responses()[1].status, 200);
  EXPECT_EQ(counters().http.accepted, 1u);
}

TEST_F(ServicesTest, IdleHttpConnectionsAreAborted) {
  ServicesConfig config;
  config.addresses = {kV4};
  config.http_idle_timeout = absl::Seconds(10);
  StartServices(config);
  std::unique_ptr<HttpClient> client = Http();
  client->Request("GET / HT");  // Never finished.
  ASSERT_TRUE(RunUntil([&] { return client->failed(); }, absl::Seconds(30)));
  EXPECT_EQ(client->error().code(), absl::StatusCode::kAborted);
  EXPECT_GE(loop_.Now(), absl::Seconds(10));
  EXPECT_EQ(counters().http_requests.idle_timeouts, 1u);
  EXPECT_EQ(counters().http.errors, 1u);
}

TEST_F(ServicesTest, TcpEchoEightMebibytesHashEqual) {
  for (const IpAddress& ip : {kV4, kV6}) {
    Duplex duplex(8 << 20, 11);
    std::unique_ptr<TcpConnection> conn = Connect(7, &duplex, ip);
    duplex.Attach(conn.get());
    ASSERT_TRUE(RunUntil([&] {
      return duplex.done() || !duplex.receiver().error().ok();
    }));
    EXPECT_TRUE(duplex.receiver().error().ok()) << duplex.receiver().error();
    EXPECT_EQ(duplex.receiver().received(), 8u << 20);
    EXPECT_EQ(duplex.receiver().digest(), duplex.sender().digest());
  }
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().tcp_echo.accepted, 2u);
  EXPECT_EQ(counters().tcp_echo.closed, 2u);
  EXPECT_EQ(counters().tcp_echo.errors, 0u);
  EXPECT_EQ(counters().tcp_echo.bytes_in, 16u << 20);
  EXPECT_EQ(counters().tcp_echo.bytes_out, 16u << 20);
}

TEST_F(ServicesTest, EchoStopsReadingWhenTheClientDoesNotRead) {
  constexpr uint64_t kSize = 32 << 20;
  Duplex duplex(kSize, 5);
  duplex.receiver().set_paused(true);
  std::unique_ptr<TcpConnection> conn = Connect(7, &duplex);
  duplex.Attach(conn.get());
  RunUntil([] { return false; }, absl::Seconds(5));
  const uint64_t in = counters().tcp_echo.bytes_in;
  // The echo holds at most one chunk: it read only what it could send, and
  // sending stopped at our send buffer plus the client's window.
  EXPECT_LE(in, (4u << 20) + (128u << 10));
  EXPECT_LE(in - counters().tcp_echo.bytes_out, 64u << 10);
  EXPECT_LT(duplex.sender().sent(), kSize);
  RunUntil([] { return false; }, absl::Seconds(5));
  EXPECT_EQ(counters().tcp_echo.bytes_in, in) << "stalled means stalled";
  duplex.receiver().set_paused(false);
  ASSERT_TRUE(RunUntil([&] { return duplex.done(); }));
  EXPECT_EQ(duplex.receiver().digest(), duplex.sender().digest());
}

TEST_F(ServicesTest, UdpEchoReturnsDatagrams) {
  struct Collector : UdpEndpoint::Delegate {
    void OnDatagram(absl::Span<const uint8_t> payload,
                    const SocketAddress& from) override {
      got.emplace_back(std::vector<uint8_t>(payload.begin(), payload.end()),
                       from);
    }
    std::vector<std::pair<std::vector<uint8_t>, SocketAddress>> got;
  };
  for (const IpAddress& ip : {kV4, kV6}) {
    Collector collector;
    std::unique_ptr<UdpEndpoint> client =
        *UdpEndpoint::Bind(stack_.get(), SocketAddress(ip, 0), &collector);
    std::vector<uint8_t> small(100), big(3000);  // big is fragmented.
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
    ASSERT_TRUE(client->SendTo(small, SocketAddress(ip, 7)).ok());
    ASSERT_TRUE(client->SendTo(big, SocketAddress(ip, 7)).ok());
    ASSERT_TRUE(RunUntil([&] { return collector.got.size() == 2; }));
    EXPECT_EQ(collector.got[0].first, small);
    EXPECT_EQ(collector.got[1].first, big);
    EXPECT_EQ(collector.got[0].second, SocketAddress(ip, 7));
  }
  EXPECT_EQ(counters().udp_echo.datagrams_in, 4u);
  EXPECT_EQ(counters().udp_echo.datagrams_out, 4u);
  EXPECT_EQ(counters().udp_echo.bytes_out, 2u * 3100);
  EXPECT_EQ(counters().udp_echo.errors, 0u);
}

TEST_F(ServicesTest, DiscardCountsBytes) {
  BulkSender sender(3 << 20, 4);
  std::unique_ptr<TcpConnection> conn = Connect(9, &sender, kV6);
  sender.Start(conn.get());
  ASSERT_TRUE(RunUntil([&] { return sender.done() && conn->peer_closed(); }));
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().discard.bytes_in, 3u << 20);
  EXPECT_EQ(counters().discard.bytes_out, 0u);
  EXPECT_EQ(counters().discard.closed, 1u);
  EXPECT_EQ(counters().discard.errors, 0u);
}

TEST_F(ServicesTest, SourceSendsChargenUntilTheClientCloses) {
  Reader reader(300000);
  reader.limit = 300000;
  std::unique_ptr<TcpConnection> conn = Connect(19, &reader);
  reader.conn = conn.get();
  ASSERT_TRUE(RunUntil([&] { return reader.received >= 300000; }));
  // The source is stalled by the client's window, not buffering.
  EXPECT_LE(counters().source.bytes_out, 300000 + (4u << 20) + (64u << 10));
  for (size_t i = 0; i < reader.bytes.size(); ++i) {
    ASSERT_EQ(reader.bytes[i], ChargenPattern::At(i)) << "byte " << i;
  }
  // Half-closing stops the source; it finishes with FIN after what it had
  // queued.
  ASSERT_TRUE(conn->Shutdown().ok());
  reader.limit = UINT64_MAX;
  reader.Resume();
  ASSERT_TRUE(RunUntil([&] { return reader.eof; }));
  EXPECT_TRUE(reader.error.ok()) << reader.error;
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().source.closed, 1u);
  EXPECT_EQ(counters().source.errors, 0u);
  EXPECT_EQ(counters().source.bytes_out, reader.received);

  // A client that resets ends the source too (counted as an error).
  Reader second;
  second.limit = 100001;
  std::unique_ptr<TcpConnection> conn2 = Connect(19, &second, kV6);
  second.conn = conn2.get();
  ASSERT_TRUE(RunUntil([&] { return second.received > 100000; }));
  conn2->Abort();
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  EXPECT_EQ(counters().source.errors, 1u);
}

TEST_F(ServicesTest, ConnectionsBeyondTheLimitAreReset) {
  ServicesConfig config;
  config.addresses = {kV4};
  config.max_connections = 2;
  StartServices(config);
  Reader a, b, c;
  std::unique_ptr<TcpConnection> ca = Connect(9, &a);
  std::unique_ptr<TcpConnection> cb = Connect(9, &b);
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 2; }));
  std::unique_ptr<TcpConnection> cc = Connect(9, &c);
  ASSERT_TRUE(RunUntil([&] { return !c.error.ok(); }));
  EXPECT_EQ(counters().rejected, 1u);
  EXPECT_TRUE(a.error.ok());
  EXPECT_EQ(counters().discard.accepted, 2u);
}

TEST_F(ServicesTest, DestroyingAbortsConnectionsAndLeavesNoPcbs) {
  // Live sessions of every kind, some mid-transfer.
  Duplex echo(64 << 20, 1);
  echo.receiver().set_paused(true);
  std::unique_ptr<TcpConnection> c1 = Connect(7, &echo);
  echo.Attach(c1.get());
  Reader source;
  std::unique_ptr<TcpConnection> c2 = Connect(19, &source, kV6);
  source.conn = c2.get();
  source.paused = true;
  Reader discard;
  std::unique_ptr<TcpConnection> c3 = Connect(9, &discard);
  discard.conn = c3.get();
  const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
  ASSERT_EQ(*c3->Write(hello), 5u);
  std::unique_ptr<HttpClient> http = Http();
  http->set_paused(true);
  http->Request(Get("/bytes?n=100000000"));
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 4; }));
  RunUntil([] { return false; }, absl::Seconds(1));

  services_.reset();
  ASSERT_TRUE(RunUntil([&] {
    return !echo.receiver().error().ok() && !source.error.ok() &&
           !discard.error.ok() && http->failed();
  }));
  EXPECT_EQ(source.error.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(http->error().code(), absl::StatusCode::kAborted);
  c1.reset();
  c2.reset();
  c3.reset();
  http.reset();
  loop_.RunUntilIdle();
  // Everything was reset, so nothing lingers: no orphan clean-up needed.
  netstack::StackResources left = stack_->Resources();
  EXPECT_TRUE(left.IsEmpty()) << left.ToString();
  // The listeners are gone too.
  Reader refused;
  std::unique_ptr<TcpConnection> c4 = Connect(80, &refused);
  ASSERT_TRUE(RunUntil([&] { return !refused.error.ok(); }));
  EXPECT_EQ(refused.error.code(), absl::StatusCode::kUnavailable);
}

TEST_F(ServicesTest, GracefulClosesLeaveNothingBehind) {
  {
    Duplex duplex(1 << 20, 3);
    std::unique_ptr<TcpConnection> conn = Connect(7, &duplex);
    duplex.Attach(conn.get());
    ASSERT_TRUE(RunUntil([&] { return duplex.done(); }));
    bool closed = false;
    OneRequest(Get("/", "Connection: close\r\n"), &closed);
    EXPECT_TRUE(closed);
  }
  ASSERT_TRUE(RunUntil([&] { return services_->live_connections() == 0; }));
  services_.reset();
  // TIME_WAIT and friends expire on their own (2 * MSL).
  for (int i = 0; i < 300; ++i) loop_.AdvanceBy(absl::Seconds(1));
  loop_.RunUntilIdle();
  netstack::StackResources left = stack_->Resources();
  EXPECT_TRUE(left.IsEmpty()) << left.ToString();
}

TEST_F(ServicesTest, StartErrors) {
  ServicesConfig config;
  EXPECT_EQ(Services::Start(stack_.get(), config).status().code(),
            absl::StatusCode::kInvalidArgument);
  config.addresses = {kV4};
  config.discard_port = 7;
  EXPECT_EQ(Services::Start(stack_.get(), config).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The fixture's services hold the default ports.
  config.discard_port = 9;
  absl::StatusOr<std::unique_ptr<Services>> clash =
      Services::Start(stack_.get(), config);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(clash.status().message().find("10.99.0.1"), std::string::npos)
      << clash.status();
  // Only HTTP on another port works alongside.
  ServicesConfig http_only;
  http_only.addresses = {kV4};
  http_only.tcp_echo_port = http_only.udp_echo_port = 0;
  http_only.discard_port = http_only.source_port = 0;
  http_only.http_port = 8080;
  absl::StatusOr<std::unique_ptr<Services>> second =
      Services::Start(stack_.get(), http_only);
  ASSERT_TRUE(second.ok()) << second.status();
}

}  // namespace
}  // namespace stow::gateway
