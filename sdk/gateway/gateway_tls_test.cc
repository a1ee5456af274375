// The gateway's AnyConnect (TLS) server over loopback TCP against a small
// in-test client built from TlsEngine (client role) and the client-side
// parsers of sdk/tunnel/tls: a wrong then a right password, CONNECT, a UDP
// datagram echoed by the gateway's netstack through CSTP DATA frames, DPD,
// keepalive, unknown and spoofed frames, a dropped TCP connection followed
// by a reconnect with the same cookie (same address), DISCONNECT (cookie
// refused afterwards), and a framing error. With DTLS on: the PSK-NEGOTIATE
// handshake (a DtlsEngine client keyed with the TLS exporter, as openconnect
// does) to the announced port, data, DPD and keepalives over DTLS, packets
// too large for a record over CSTP, garbage and unknown App-IDs refused,
// a roaming client replacing its channel, and the channel ending with the
// TLS tunnel.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/test_util.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/gateway.h"
#include "sdk/gateway/tls/password_file.h"
#include "sdk/tunnel/tls/auth_xml.h"
#include "sdk/tunnel/tls/cstp.h"
#include "sdk/tunnel/tls/cstp_headers.h"
#include "sdk/tunnel/tls/dtls_engine.h"
#include "sdk/tunnel/tls/http_response.h"
#include "sdk/tunnel/tls/tls_engine.h"

namespace stow::gateway {
namespace {

namespace ttls = ::stow::tunnel::tls;

const IpAddress kGatewayV4 = IpAddress::V4(10, 99, 0, 1);

void RunOnLoop(event::UvLoop* loop, event::Loop::Task task) {
  ASSERT_TRUE(loop->RunSync(std::move(task)).ok());
}

// An IPv4/UDP packet (UDP checksum 0: allowed in IPv4, RFC 768).
std::vector<uint8_t> UdpPacket(const IpAddress& src, const IpAddress& dst,
                               uint16_t sport, uint16_t dport,
                               const std::string& payload) {
  const size_t total = 20 + 8 + payload.size();
  std::vector<uint8_t> p(total, 0);
  p[0] = 0x45;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[8] = 64;
  p[9] = 17;
  std::copy(src.bytes().begin(), src.bytes().end(), p.begin() + 12);
  std::copy(dst.bytes().begin(), dst.bytes().end(), p.begin() + 16);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t checksum = ~sum & 0xffff;
  p[10] = checksum >> 8;
  p[11] = checksum & 0xff;
  p[20] = sport >> 8;
  p[21] = sport & 0xff;
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  const size_t udp_len = 8 + payload.size();
  p[24] = udp_len >> 8;
  p[25] = udp_len & 0xff;
  std::copy(payload.begin(), payload.end(), p.begin() + 28);
  return p;
}

// A minimal AnyConnect client on the loop thread: one TCP connection, TLS
// with a pinned key, requests written as text, responses parsed with
// HttpResponseParser, then CSTP frames. All members on the loop thread.
class TestClient : public event::TcpSocket::Delegate {
 public:
  TestClient(event::UvLoop* loop, const SocketAddress& server,
             const std::string& pin) {
    ttls::TlsClientOptions options;
    options.server_name = "127.0.0.1";
    options.pins = {pin};
    options.verify_time = crypto::testing::TestNow();
    auto engine = ttls::TlsEngine::Client(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    socket_ = std::make_unique<event::TcpSocket>(loop, this);
    EXPECT_TRUE(socket_->Connect(server).ok());
    engine_->Start();
    Flush();
  }

  // Sends a request; its response arrives in responses.
  void Send(const std::string& request, bool connect) {
    parser_ = std::make_unique<ttls::HttpResponseParser>(
        connect ? ttls::HttpResponseParser::Mode::kConnect
                : ttls::HttpResponseParser::Mode::kWithBody);
    Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(request.data()),
                              request.size()));
  }
  void Post(const std::string& path, const std::string& xml,
            const std::string& cookie = "") {
    Send(absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      cookie.empty() ? "" : "Cookie: webvpn=" + cookie + "\r\n",
                      "Content-Type: application/xml; charset=utf-8\r\n"
                      "Content-Length: ", xml.size(), "\r\n\r\n", xml),
         false);
  }
  void Connect(const std::string& cookie,
               const std::string& extra = "X-CSTP-MTU: 1400\r\n") {
    Send(absl::StrCat("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "User-Agent: stowaway-test\r\nCookie: webvpn=", cookie,
                      "\r\nX-CSTP-Version: 1\r\n", extra, "\r\n"),
         true);
  }
  ttls::TlsEngine* engine() { return engine_.get(); }
  void Write(absl::Span<const uint8_t> bytes) {
    EXPECT_TRUE(engine_->Write(bytes).ok());
    Flush();
  }
  void Drop() { socket_->Reset(); closed = true; }

  // event::TcpSocket::Delegate
  void OnConnected(absl::Status status) override {
    EXPECT_TRUE(status.ok()) << status;
  }
  void OnData(absl::Span<const uint8_t> data) override {
    engine_->FeedCiphertext(data);
    Flush();
    std::vector<uint8_t> plain;
    engine_->Read(&plain);
    absl::string_view rest(reinterpret_cast<const char*>(plain.data()),
                           plain.size());
    if (parser_ != nullptr) {
      size_t consumed = 0;
      absl::Status s = parser_->Feed(rest, &consumed);
      EXPECT_TRUE(s.ok()) << s;
      rest.remove_prefix(consumed);
      if (parser_->done()) {
        responses.push_back(parser_->response());
        const bool tunnel = parser_->response().status / 100 == 2 &&
                            !cstp_ && connect_mode();
        parser_.reset();
        if (tunnel) cstp_ = std::make_unique<ttls::CstpReader>();
      }
    }
    if (cstp_ != nullptr && !rest.empty()) {
      cstp_->Append(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(rest.data()), rest.size()));
      ttls::CstpFrame frame;
      while (cstp_->Next(&frame) == ttls::CstpReadResult::kFrame) {
        frames.push_back(frame);
      }
    }
  }
  void OnEof() override { closed = true; }
  void OnWritable() override {}
  void OnError(absl::Status) override { closed = true; }

  std::vector<ttls::HttpResponse> responses;
  std::vector<ttls::CstpFrame> frames;
  bool closed = false;

 private:
  bool connect_mode() const { return connect_sent_; }
  void Flush() {
    std::vector<uint8_t> out;
    engine_->TakeCiphertext(&out);
    if (!out.empty()) (void)socket_->Write(out);
  }

  std::unique_ptr<ttls::TlsEngine> engine_;
  std::unique_ptr<event::TcpSocket> socket_;
  std::unique_ptr<ttls::HttpResponseParser> parser_;
  std::unique_ptr<ttls::CstpReader> cstp_;
  bool connect_sent_ = true;  // Only CONNECT replies are 2xx with no body.
};

// The DTLS side of an AnyConnect client, as openconnect runs it: its own
// UDP socket, a DtlsEngine client offering plain PSK only, the App-ID as
// session id, the TLS exporter as PSK. All members on the loop thread.
class DtlsTestClient : public event::UdpSocket::Delegate {
 public:
  DtlsTestClient(event::UvLoop* loop, const SocketAddress& server,
                 const std::vector<uint8_t>& psk,
                 const std::vector<uint8_t>& app_id)
      : server_(server) {
    ttls::DtlsClientOptions options;
    options.psk = psk;
    options.session_id = app_id;
    options.mtu = 1500 - 28;
    options.clock = [loop] { return absl::UnixEpoch() + loop->Now(); };
    options.plain_psk_only = true;
    auto engine = ttls::DtlsEngine::Client(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    socket_ = std::make_unique<event::UdpSocket>(loop, this);
    EXPECT_TRUE(socket_->Bind(*SocketAddress::Parse("127.0.0.1:0")).ok());
    timer_ = loop->NewTimer([this] {
      engine_->OnTimer();
      Pump();
    });
    engine_->Start();
    Pump();
  }

  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override {
    EXPECT_EQ(from, server_);
    engine_->FeedDatagram(data);
    Pump();
  }
  bool established() const {
    return engine_->state() == ttls::DtlsEngine::State::kEstablished;
  }
  void Send(uint8_t type, absl::Span<const uint8_t> payload) {
    std::vector<uint8_t> record = {type};
    record.insert(record.end(), payload.begin(), payload.end());
    absl::Status s = engine_->WriteRecord(record);
    EXPECT_TRUE(s.ok()) << s;
    Pump();
  }
  void SendRaw(absl::Span<const uint8_t> bytes) {
    absl::Span<const uint8_t> one[] = {bytes};
    EXPECT_TRUE(socket_->SendTo(one, server_).ok());
  }
  ttls::DtlsEngine& engine() { return *engine_; }

  std::vector<std::vector<uint8_t>> records;

 private:
  void Pump() {
    std::vector<std::vector<uint8_t>> out;
    engine_->TakeDatagrams(&out);
    for (const auto& d : out) SendRaw(d);
    std::vector<uint8_t> record;
    while (engine_->ReadRecord(&record)) records.push_back(record);
    if (auto t = engine_->NextTimeout(); t) {
      timer_->Start(*t);
    } else {
      timer_->Stop();
    }
  }

  const SocketAddress server_;
  std::unique_ptr<ttls::DtlsEngine> engine_;
  std::unique_ptr<event::UdpSocket> socket_;
  std::unique_ptr<event::Timer> timer_;
};

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = *event::UvLoop::Start();
    crypto::testing::CertSpec spec;
    spec.subject = "CN=gw.stowaway.test";
    spec.ips = {IpAddress::V4(127, 0, 0, 1)};
    auto cert = crypto::testing::MakeCert(spec);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    auto pin = ttls::PublicKeyPin(cert_.cert_pem);
    ASSERT_TRUE(pin.ok()) << pin.status();
    pin_ = *pin;
  }

  void TearDown() override {
    RunOnLoop(loop_.get(), [&] {
      dtls_clients_.clear();
      clients_.clear();
      gateway_.reset();
      stack_.reset();
      EXPECT_EQ(loop_->LiveHandles(), 0);
    });
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  void StartGateway(bool dtls = false, int mtu = 1400,
                    const SocketAddress& tls_listen =
                        *SocketAddress::Parse("127.0.0.1:0"),
                    absl::optional<SocketAddress> dtls_listen = absl::nullopt,
                    absl::Status* error = nullptr) {
    GatewayConfig config;
    config.listen = *SocketAddress::Parse("127.0.0.1:0");
    config.mtu = mtu;
    config.tls.enabled = true;
    config.tls.dtls = dtls;
    config.tls.dtls_listen = dtls_listen;
    config.tls.listen = tls_listen;
    config.tls.cert_pem = cert_.cert_pem;
    config.tls.key_pem = cert_.key_pem;
    auto users = std::make_shared<tls::PasswordFile>();
    ASSERT_TRUE(users
                    ->Add(*tls::MakePasswordEntry("alice", {}, "alice-pw",
                                                  tls::kMinPbkdf2Iterations))
                    .ok());
    config.tls.users = users;
    config.tls.dns = {kGatewayV4};
    config.log = [this](const std::string& line) { log_.push_back(line); };
    absl::Status status;
    RunOnLoop(loop_.get(), [&] {
      auto stack = netstack::Stack::Create(loop_.get());
      ASSERT_TRUE(stack.ok());
      stack_ = *std::move(stack);
      auto gateway =
          Gateway::Start(loop_.get(), stack_.get(), std::move(config));
      status = gateway.status();
      if (gateway.ok()) gateway_ = *std::move(gateway);
    });
    if (error != nullptr) {
      *error = status;
      if (!status.ok()) return;
    }
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_TRUE(gateway_->tls_address().has_value());
    tls_address_ = *gateway_->tls_address();
  }

  TestClient* NewClient() {
    TestClient* out = nullptr;
    RunOnLoop(loop_.get(), [&] {
      clients_.push_back(
          std::make_unique<TestClient>(loop_.get(), tls_address_, pin_));
      out = clients_.back().get();
    });
    return out;
  }

  // Polls `done` on the loop thread until it holds or the timeout passes.
  bool WaitFor(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + event::testing::kTimeout;
    while (absl::Now() < deadline) {
      bool ok = false;
      RunOnLoop(loop_.get(), [&] { ok = done(); });
      if (ok) return true;
      event::testing::Notification turn;
      loop_->Post([&] { turn.Notify(); });
      turn.WaitForNotificationWithTimeout(event::testing::kTimeout);
    }
    return false;
  }
  bool WaitForResponses(TestClient* c, size_t n) {
    return WaitFor([c, n] { return c->responses.size() >= n; });
  }
  ttls::HttpResponse Response(TestClient* c, size_t i) {
    ttls::HttpResponse r;
    RunOnLoop(loop_.get(), [&] { r = c->responses.at(i); });
    return r;
  }

  // init, wrong password, right password: the cookie.
  std::string Login(TestClient* c, bool wrong_first) {
    ttls::AuthClientInfo info;
    info.group_access = absl::StrCat("https://", tls_address_.ToString(), "/");
    size_t n = 0;
    RunOnLoop(loop_.get(), [&] {
      n = c->responses.size();
      c->Post("/", ttls::BuildAuthInit(info));
    });
    EXPECT_TRUE(WaitForResponses(c, n + 1));
    auto form = ttls::ParseAuthServerMessage(Response(c, n).body);
    EXPECT_TRUE(form.ok()) << form.status();
    if (!form.ok()) return "";
    EXPECT_EQ(form->kind, ttls::AuthServerMessage::Kind::kAuthRequest);
    ++n;
    for (const char* password :
         {wrong_first ? "wrong" : nullptr, "alice-pw"}) {
      if (password == nullptr) continue;
      auto xml = ttls::BuildAuthReply(
          info, {{"username", "alice"}, {"password", password}},
          form->form.opaque_xml);
      EXPECT_TRUE(xml.ok());
      RunOnLoop(loop_.get(), [&] { c->Post(form->form.action, *xml); });
      EXPECT_TRUE(WaitForResponses(c, n + 1));
      ++n;
    }
    ttls::HttpResponse last = Response(c, n - 1);
    auto done = ttls::ParseAuthServerMessage(last.body);
    EXPECT_TRUE(done.ok());
    if (wrong_first) {
      auto failed = ttls::ParseAuthServerMessage(Response(c, n - 2).body);
      EXPECT_TRUE(failed.ok());
      EXPECT_EQ(failed->kind, ttls::AuthServerMessage::Kind::kAuthRequest);
      EXPECT_TRUE(absl::StartsWith(failed->form.message, "Login failed."));
    }
    if (!done.ok() || done->kind != ttls::AuthServerMessage::Kind::kComplete) {
      return "";
    }
    std::string storage;
    const std::string* cookie = last.FindSetCookie("webvpn", &storage);
    return cookie == nullptr ? "" : *cookie;
  }

  // CONNECT; the tunnel's config (or the HTTP status on failure).
  absl::StatusOr<ttls::CstpConfig> Connect(
      TestClient* c, const std::string& cookie, int* status = nullptr,
      const std::string& extra = "X-CSTP-MTU: 1400\r\n") {
    size_t n = 0;
    RunOnLoop(loop_.get(), [&] {
      n = c->responses.size();
      c->Connect(cookie, extra);
    });
    if (!WaitForResponses(c, n + 1)) {
      return absl::DeadlineExceededError("no CONNECT reply");
    }
    ttls::HttpResponse r = Response(c, n);
    if (status != nullptr) *status = r.status;
    if (r.status != 200) {
      return absl::UnavailableError(absl::StrCat(r.status, " ", r.reason));
    }
    return ttls::ParseCstpConfig(r);
  }

  void SendFrame(TestClient* c, uint8_t type,
                 absl::Span<const uint8_t> payload) {
    RunOnLoop(loop_.get(), [&] {
      auto frame = ttls::BuildCstpFrame(type, payload);
      ASSERT_TRUE(frame.ok());
      c->Write(*frame);
    });
  }

  // Sends a UDP datagram to the echo service; true when it came back.
  bool Echo(TestClient* c, const IpAddress& from, const std::string& text) {
    size_t n = 0;
    RunOnLoop(loop_.get(), [&] { n = c->frames.size(); });
    SendFrame(c, 0, UdpPacket(from, kGatewayV4, 40000, 7, text));
    return WaitFor([&] {
      for (size_t i = n; i < c->frames.size(); ++i) {
        const ttls::CstpFrame& f = c->frames[i];
        if (f.type == 0 && f.payload.size() == 28 + text.size() &&
            std::string(f.payload.begin() + 28, f.payload.end()) == text) {
          return true;
        }
      }
      return false;
    });
  }

  tls::TlsServerCounters TlsCounters() {
    tls::TlsServerCounters c;
    RunOnLoop(loop_.get(), [&] { c = gateway_->tls_server()->counters(); });
    return c;
  }
  std::string Log() {
    std::string out;
    RunOnLoop(loop_.get(), [&] {
      for (const std::string& line : log_) absl::StrAppend(&out, line, "\n");
    });
    return out;
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<Gateway> gateway_;
  crypto::testing::TestCert cert_;
  std::string pin_;
  SocketAddress tls_address_;
  std::vector<std::string> log_;  // Loop thread.
  std::vector<std::unique_ptr<TestClient>> clients_;  // Loop thread.
  std::vector<std::unique_ptr<DtlsTestClient>> dtls_clients_;  // Loop thread.
};

TEST_F(GatewayTlsTest, LoginConnectEchoReconnectDisconnect) {
  StartGateway();
  TestClient* a = NewClient();
  const std::string cookie = Login(a, /*wrong_first=*/true);
  ASSERT_EQ(cookie.size(), 64u) << Log();
  auto config = Connect(a, cookie);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->address.has_value());
  const IpAddress address = *config->address;
  EXPECT_TRUE(address.InPrefix(IpAddress::V4(10, 99, 101, 0), 24));
  EXPECT_EQ(config->netmask->ToString(), "255.255.0.0");
  ASSERT_EQ(config->dns.size(), 1u);
  EXPECT_EQ(config->dns[0], kGatewayV4);
  EXPECT_EQ(config->mtu, 1400);
  EXPECT_FALSE(config->dtls.has_value());
  RunOnLoop(loop_.get(), [&] {
    EXPECT_TRUE(absl::StartsWith(gateway_->OwnerOf(address), "tls#"))
        << gateway_->OwnerOf(address);
  });

  // A datagram through the netstack's echo service and back.
  EXPECT_TRUE(Echo(a, address, "hello through CSTP"));
  // DPD is answered; keepalives and unknown types are counted.
  size_t frames = 0;
  RunOnLoop(loop_.get(), [&] { frames = a->frames.size(); });
  SendFrame(a, 0x03, {});
  ASSERT_TRUE(WaitFor([&] {
    return a->frames.size() > frames && a->frames.back().type == 0x04;
  }));
  SendFrame(a, 0x07, {});
  SendFrame(a, 0x42, {});
  // Spoofed source: dropped and counted.
  SendFrame(a, 0, UdpPacket(IpAddress::V4(10, 99, 101, 200), kGatewayV4, 1, 7,
                            "spoofed"));
  ASSERT_TRUE(WaitFor([&] {
    const auto& c = gateway_->tls_server()->counters();
    return c.rx_keepalives == 1 && c.rx_unknown == 1 && c.rx_spoofed == 1;
  }));
  EXPECT_EQ(TlsCounters().rx_dpd, 1u);

  // The TCP connection drops: the address waits for the same cookie.
  RunOnLoop(loop_.get(), [&] { a->Drop(); });
  ASSERT_TRUE(WaitFor([&] { return gateway_->tls_server()->tunnels() == 0; }));
  RunOnLoop(loop_.get(), [&] {
    EXPECT_TRUE(absl::StrContains(gateway_->OwnerOf(address), "waiting"))
        << gateway_->OwnerOf(address);
  });
  TestClient* b = NewClient();
  config = Connect(b, cookie);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config->address, address);
  EXPECT_TRUE(Echo(b, address, "again"));

  std::string status;
  RunOnLoop(loop_.get(), [&] { status = gateway_->StatusText(); });
  EXPECT_TRUE(absl::StrContains(status, "TLS (AnyConnect) on")) << status;
  EXPECT_TRUE(absl::StrContains(status, "tls_logins_failed 1\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, "tls_reconnects 1\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, address.ToString())) << status;

  // DISCONNECT ends the session: the cookie is refused afterwards.
  // (What openconnect sends: reason byte 0xb0, then text.)
  SendFrame(b, 0x05, std::vector<uint8_t>{0xb0, 'b', 'y', 'e'});
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->tls_server()->counters().rx_disconnects == 1 &&
           gateway_->OwnerOf(address).empty();
  }));
  TestClient* c = NewClient();
  int code = 0;
  EXPECT_FALSE(Connect(c, cookie, &code).ok());
  EXPECT_EQ(code, 401);
  ASSERT_TRUE(WaitFor([&] { return c->closed; }));
  const std::string log = Log();
  EXPECT_TRUE(absl::StrContains(log, "login failed")) << log;
  EXPECT_TRUE(absl::StrContains(log, "tunnel down (DISCONNECT (bye))")) << log;
}

TEST_F(GatewayTlsTest, BadFramingClosesTheConnection) {
  StartGateway();
  TestClient* a = NewClient();
  const std::string cookie = Login(a, /*wrong_first=*/false);
  ASSERT_FALSE(cookie.empty());
  ASSERT_TRUE(Connect(a, cookie).ok());
  RunOnLoop(loop_.get(), [&] {
    const uint8_t junk[8] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    a->Write(junk);
  });
  ASSERT_TRUE(WaitFor([&] { return a->closed; }));
  EXPECT_EQ(TlsCounters().rx_bad_framing, 1u);
  // The session survives (it was not a DISCONNECT): the cookie still works.
  TestClient* b = NewClient();
  EXPECT_TRUE(Connect(b, cookie).ok());
}

TEST_F(GatewayTlsTest, StoppingWithTunnelsUpIsClean) {
  StartGateway();
  TestClient* a = NewClient();
  const std::string cookie = Login(a, false);
  auto config = Connect(a, cookie);
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(Echo(a, *config->address, "x"));
  RunOnLoop(loop_.get(), [&] { gateway_.reset(); });
}

// Finds a DATA record/frame echoing `text`.
bool HasEcho(const std::vector<std::vector<uint8_t>>& records, size_t from,
             const std::string& text) {
  for (size_t i = from; i < records.size(); ++i) {
    const std::vector<uint8_t>& r = records[i];
    if (r.size() == 1 + 28 + text.size() && r[0] == 0 &&
        std::string(r.begin() + 29, r.end()) == text) {
      return true;
    }
  }
  return false;
}

TEST_F(GatewayTlsTest, DtlsCarriesDataAndEndsWithTheTunnel) {
  StartGateway(/*dtls=*/true, /*mtu=*/1500);
  ASSERT_TRUE(gateway_->dtls_address().has_value());
  // By default the TLS address and port, over UDP.
  EXPECT_EQ(*gateway_->dtls_address(), tls_address_);
  TestClient* a = NewClient();
  const std::string cookie = Login(a, /*wrong_first=*/false);
  ASSERT_FALSE(cookie.empty());
  auto config = Connect(a, cookie, nullptr,
                        "X-CSTP-Base-MTU: 1500\r\n"
                        "X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->dtls.has_value());
  EXPECT_EQ(config->dtls->port, tls_address_.port());
  EXPECT_TRUE(config->dtls->session_id_is_app_id);
  EXPECT_EQ(config->dtls->cipher_suite, "PSK-NEGOTIATE");
  // A full-MTU packet fits one CBC-SHA1 record in a 1500-byte path.
  EXPECT_EQ(config->mtu, 1406);
  const IpAddress address = *config->address;
  const std::vector<uint8_t> app_id = config->dtls->session_id;
  std::vector<uint8_t> psk;
  RunOnLoop(loop_.get(), [&] {
    auto exported =
        a->engine()->ExportKeyingMaterial("EXPORTER-openconnect-psk", 32);
    ASSERT_TRUE(exported.ok());
    psk = *exported;
  });

  // Garbage from an unknown address: counted, nothing else.
  DtlsTestClient* d1 = nullptr;
  RunOnLoop(loop_.get(), [&] {
    dtls_clients_.push_back(std::make_unique<DtlsTestClient>(
        loop_.get(), *gateway_->dtls_address(), psk, app_id));
    d1 = dtls_clients_.back().get();
  });
  ASSERT_TRUE(WaitFor([&] { return d1->established(); })) << Log();
  std::string cipher;
  RunOnLoop(loop_.get(), [&] { cipher = d1->engine().cipher(); });
  EXPECT_EQ(cipher, "TLS_PSK_WITH_AES_256_CBC_SHA");
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->tls_server()->counters().dtls_handshakes_ok == 1 &&
           gateway_->tls_server()->dtls_channels() == 1;
  }));

  // A datagram to the echo service and back, both ways over DTLS.
  auto echo_over_dtls = [&](DtlsTestClient* d, const std::string& text) {
    size_t n = 0;
    RunOnLoop(loop_.get(), [&] {
      n = d->records.size();
      d->Send(0, UdpPacket(address, kGatewayV4, 40000, 7, text));
    });
    return WaitFor([&] { return HasEcho(d->records, n, text); });
  };
  EXPECT_TRUE(echo_over_dtls(d1, "hello through DTLS"));
  // The largest packet the MTU allows (1406 bytes) fits one record.
  EXPECT_TRUE(echo_over_dtls(d1, std::string(1406 - 28, 'x')));
  tls::TlsServerCounters t = TlsCounters();
  EXPECT_EQ(t.dtls_rx_data, 2u);
  EXPECT_EQ(t.dtls_tx_data, 2u);
  EXPECT_EQ(t.rx_data, 0u);
  EXPECT_EQ(t.tx_data, 0u);
  // A packet too large for a record comes back over CSTP.
  EXPECT_TRUE(Echo(a, address, std::string(1450 - 28, 'y')));
  t = TlsCounters();
  EXPECT_EQ(t.rx_data, 1u);
  EXPECT_EQ(t.tx_data, 1u);
  EXPECT_EQ(t.dtls_tx_data, 2u);

  // DPD over DTLS is answered over DTLS, its payload echoed (openconnect's
  // MTU probe); keepalives, unknown types and spoofed sources are counted.
  const std::vector<uint8_t> probe(1300, 0x5a);
  std::vector<uint8_t> probe_reply = {0x04};
  probe_reply.insert(probe_reply.end(), probe.begin(), probe.end());
  size_t n = 0;
  RunOnLoop(loop_.get(), [&] {
    n = d1->records.size();
    d1->Send(0x03, probe);
    d1->Send(0x07, {});
    d1->Send(0x42, {});
    d1->Send(0, UdpPacket(IpAddress::V4(10, 99, 101, 200), kGatewayV4, 1, 7,
                          "spoofed"));
  });
  ASSERT_TRUE(WaitFor([&] {
    for (size_t i = n; i < d1->records.size(); ++i) {
      if (d1->records[i] == probe_reply) return true;
    }
    return false;
  }));
  ASSERT_TRUE(WaitFor([&] {
    const auto& c = gateway_->tls_server()->counters();
    return c.dtls_rx_keepalives == 1 && c.dtls_rx_unknown == 1 &&
           c.dtls_rx_spoofed == 1;
  }));
  EXPECT_EQ(TlsCounters().dtls_rx_dpd, 1u);

  // Garbage, from the channel's address and from a stranger: dropped.
  const uint64_t dropped = TlsCounters().dtls_rx_dropped;
  RunOnLoop(loop_.get(), [&] {
    const uint8_t junk[] = {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3,
                            1,  2,    3};
    d1->SendRaw(junk);
    const uint8_t hello_like[] = {22, 0xfe, 0xfd, 0, 0, 1};
    d1->SendRaw(hello_like);
  });
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->tls_server()->counters().dtls_rx_dropped >= dropped + 2;
  }));
  EXPECT_TRUE(echo_over_dtls(d1, "still up"));

  // An App-ID no tunnel has: refused without a handshake.
  std::vector<uint8_t> wrong_id = app_id;
  wrong_id[0] ^= 1;
  DtlsTestClient* stranger = nullptr;
  RunOnLoop(loop_.get(), [&] {
    dtls_clients_.push_back(std::make_unique<DtlsTestClient>(
        loop_.get(), *gateway_->dtls_address(), psk, wrong_id));
    stranger = dtls_clients_.back().get();
  });
  ASSERT_TRUE(WaitFor(
      [&] { return gateway_->tls_server()->counters().dtls_refused >= 1; }));
  RunOnLoop(loop_.get(), [&] {
    EXPECT_FALSE(stranger->established());
    EXPECT_EQ(gateway_->tls_server()->dtls_half_open(), 0u);
  });

  // The client roams: a handshake from another address replaces the
  // channel, and replies follow it.
  DtlsTestClient* d2 = nullptr;
  RunOnLoop(loop_.get(), [&] {
    dtls_clients_.push_back(std::make_unique<DtlsTestClient>(
        loop_.get(), *gateway_->dtls_address(), psk, app_id));
    d2 = dtls_clients_.back().get();
  });
  ASSERT_TRUE(WaitFor([&] {
    return d2->established() &&
           gateway_->tls_server()->counters().dtls_replaced == 1;
  })) << Log();
  EXPECT_TRUE(echo_over_dtls(d2, "after roaming"));
  RunOnLoop(loop_.get(), [&] {
    EXPECT_EQ(gateway_->tls_server()->dtls_channels(), 1u);
    EXPECT_FALSE(HasEcho(d1->records, 0, "after roaming"));
  });

  std::string status;
  RunOnLoop(loop_.get(), [&] { status = gateway_->StatusText(); });
  EXPECT_TRUE(absl::StrContains(status, "DTLS on UDP")) << status;
  EXPECT_TRUE(absl::StrContains(status, "dtls_handshakes_ok 2\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, "dtls_refused 1\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, "TLS_PSK_WITH_AES_256_CBC_SHA"))
      << status;

  // The TLS tunnel ends: so does its DTLS channel.
  RunOnLoop(loop_.get(), [&] { a->Drop(); });
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->tls_server()->tunnels() == 0 &&
           gateway_->tls_server()->dtls_channels() == 0;
  }));
  EXPECT_EQ(TlsCounters().dtls_closed, 2u);
  const std::string log = Log();
  EXPECT_TRUE(absl::StrContains(log, "DTLS up from")) << log;
  EXPECT_TRUE(absl::StrContains(log, "replaced by DTLS from")) << log;
}

TEST_F(GatewayTlsTest, DtlsNotOfferedUnlessAsked) {
  StartGateway(/*dtls=*/true);
  TestClient* a = NewClient();
  const std::string cookie = Login(a, false);
  auto config = Connect(a, cookie);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->dtls.has_value());
  EXPECT_EQ(config->mtu, 1400);
}

TEST_F(GatewayTlsTest, DtlsPortTakenNeedsAnotherAddress) {
  // Hold a UDP port, then ask for TLS on the same port number.
  std::unique_ptr<event::UdpSocket> holder;
  class Ignore : public event::UdpSocket::Delegate {
    void OnDatagram(absl::Span<const uint8_t>, const SocketAddress&) override {}
  } ignore;
  SocketAddress taken;
  RunOnLoop(loop_.get(), [&] {
    holder = std::make_unique<event::UdpSocket>(loop_.get(), &ignore);
    ASSERT_TRUE(holder->Bind(*SocketAddress::Parse("127.0.0.1:0")).ok());
    taken = *holder->LocalAddress();
  });
  absl::Status error;
  StartGateway(/*dtls=*/true, 1400, taken, absl::nullopt, &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kAlreadyExists) << error;
  EXPECT_TRUE(absl::StrContains(error.message(), "dtls")) << error;
  RunOnLoop(loop_.get(), [&] { stack_.reset(); });
  // A separate DTLS address works.
  StartGateway(/*dtls=*/true, 1400, taken,
               *SocketAddress::Parse("127.0.0.1:0"), &error);
  ASSERT_TRUE(error.ok()) << error;
  EXPECT_NE(gateway_->dtls_address()->port(), taken.port());
  RunOnLoop(loop_.get(), [&] { holder.reset(); });
}

}  // namespace
}  // namespace stow::gateway
