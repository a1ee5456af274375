// TlsSession against the gateway's own AnyConnect server (TlsServer, in
// this process, without a netstack: UDP packets are reflected back), through
// a TCP relay the test can cut: login, data, reconnection with the cookie
// keeping the address, DTLS, a wrong password, a wrong pin, a stalled
// server.
#include "sdk/engine/tls_session.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/udp.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/tls/password_file.h"
#include "sdk/gateway/tls/tls_server.h"
#include "sdk/tunnel/tls/tls_engine.h"

namespace stow::engine {
namespace {

using ::testing::HasSubstr;
using Kind = SessionEvent::Kind;

uint64_t Counter(const tunnel::CounterList& list, const std::string& name) {
  for (const auto& [n, v] : list) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

class Recorder : public netstack::UdpEndpoint::Delegate {
 public:
  void Add(const SessionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
    cv.notify_all();
  }
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress&) override {
    std::lock_guard<std::mutex> lock(mu);
    datagrams.emplace_back(payload.begin(), payload.end());
    cv.notify_all();
  }
  bool WaitFor(const std::function<bool()>& done,
               absl::Duration timeout = event::testing::kTimeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), done);
  }
  int Count(Kind kind) {
    int n = 0;
    for (const auto& e : events) n += e.kind == kind;
    return n;
  }
  bool Has(Kind kind, const std::string& text) {
    for (const auto& e : events) {
      if (e.kind == kind && absl::StrContains(e.detail, text)) return true;
    }
    return false;
  }
  std::string All() {
    std::string out;
    for (const auto& e : events) {
      absl::StrAppend(&out, SessionEventKindName(e.kind), ": ", e.detail,
                      "\n");
    }
    return out;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<SessionEvent> events;
  std::vector<std::string> datagrams;
};

// Reflects UDP packets from a tunnel: swaps addresses and ports.
class Reflector : public gateway::tls::TlsServer::Delegate {
 public:
  void OnTunnelPacket(absl::Span<const uint8_t> packet) override {
    if (server == nullptr || packet.size() < 28 || (packet[0] >> 4) != 4 ||
        packet[9] != 17) {
      return;
    }
    std::vector<uint8_t> p(packet.begin(), packet.end());
    const size_t ihl = (p[0] & 0x0f) * 4;
    for (int i = 0; i < 4; ++i) std::swap(p[12 + i], p[16 + i]);
    std::swap(p[ihl], p[ihl + 2]);
    std::swap(p[ihl + 1], p[ihl + 3]);
    p[ihl + 6] = p[ihl + 7] = 0;  // UDP checksum optional over IPv4.
    const IpAddress to = IpAddress::V4(p[16], p[17], p[18], p[19]);
    absl::Span<const uint8_t> one[] = {p};
    server->SendPacket(to, one);
  }
  void OnTunnelLog(const std::string&) override {}
  gateway::tls::TlsServer* server = nullptr;
};

// A TCP relay the test can cut (a network failure) or that never connects
// onward (a gateway that stalls mid-handshake).
class Relay : public event::TcpListener::Delegate {
 public:
  Relay(event::UvLoop* loop, absl::optional<SocketAddress> target)
      : loop_(loop), target_(target), listener_(loop, this) {}
  absl::StatusOr<SocketAddress> Listen() {
    absl::Status s =
        listener_.Listen(SocketAddress(IpAddress::V4(127, 0, 0, 1), 0), 16);
    if (!s.ok()) return s;
    return listener_.LocalAddress();
  }
  void OnAccept(std::unique_ptr<event::TcpSocket> socket) override {
    auto pair = std::make_unique<Pair>();
    pair->client = std::move(socket);
    pair->a.other = &pair->server;
    pair->b.other = &pair->client;
    pair->client->SetDelegate(&pair->a);
    if (target_) {
      pair->server = std::make_unique<event::TcpSocket>(loop_, &pair->b);
      (void)pair->server->Connect(*target_);
    }
    pairs_.push_back(std::move(pair));
  }
  // Resets every relayed connection.
  void Cut() {
    for (auto& p : pairs_) {
      if (p->client) p->client->Reset();
      if (p->server) p->server->Reset();
    }
    pairs_.clear();
  }
  size_t accepted() const { return pairs_.size(); }

 private:
  struct Side : event::TcpSocket::Delegate {
    std::unique_ptr<event::TcpSocket>* other = nullptr;
    void OnConnected(absl::Status) override {}
    void OnData(absl::Span<const uint8_t> data) override {
      if (*other) (void)(*other)->Write(data);
    }
    void OnEof() override {
      if (*other) (void)(*other)->ShutdownWrite();
    }
    void OnWritable() override {}
    void OnError(absl::Status) override {}
  };
  struct Pair {
    std::unique_ptr<event::TcpSocket> client;
    std::unique_ptr<event::TcpSocket> server;
    Side a, b;
  };
  event::UvLoop* loop_;
  absl::optional<SocketAddress> target_;
  event::TcpListener listener_;
  std::vector<std::unique_ptr<Pair>> pairs_;
};

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = event::UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
    Run([&] {
      auto s = netstack::Stack::Create(loop_.get());
      ASSERT_TRUE(s.ok()) << s.status();
      stack_ = *std::move(s);
    });
    auto ca = crypto::testing::MakeCert(crypto::testing::CaSpec("CN=test CA"));
    ASSERT_TRUE(ca.ok());
    crypto::testing::CertSpec leaf;
    leaf.subject = "CN=gw.test";
    leaf.dns_names = {"gw.test"};
    leaf.not_before = absl::Now() - absl::Hours(1);
    leaf.not_after = absl::Now() + absl::Hours(24);
    auto cert = crypto::testing::MakeCert(leaf, &*ca);
    ASSERT_TRUE(cert.ok());
    cert_ = *cert;
  }

  void TearDown() override {
    Run([&] {
      endpoint_.reset();
      session_.reset();
      relay_.reset();
      server_.reset();
      stack_.reset();
    });
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  template <typename F>
  void Run(F f) {
    ASSERT_TRUE(loop_->RunSync(std::move(f)).ok());
  }

  void StartServer(bool dtls = false) {
    auto users = std::make_shared<gateway::tls::PasswordFile>();
    auto entry = gateway::tls::MakePasswordEntry("alice", {}, "pw-alice", 1000);
    ASSERT_TRUE(entry.ok());
    ASSERT_TRUE(users->Add(*entry).ok());
    gateway::tls::TlsServerConfig config;
    config.listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 0);
    config.cert_pem = cert_.cert_pem;
    config.key_pem = cert_.key_pem;
    config.anyconnect.users = users;
    config.anyconnect.dtls = dtls;
    Run([&] {
      auto s = gateway::tls::TlsServer::Start(loop_.get(), &reflector_, config);
      ASSERT_TRUE(s.ok()) << s.status();
      server_ = *std::move(s);
      reflector_.server = server_.get();
      relay_ = std::make_unique<Relay>(loop_.get(), server_->local_address());
      auto a = relay_->Listen();
      ASSERT_TRUE(a.ok());
      relay_address_ = *a;
    });
  }

  tunnel::tls::TlsProfile Profile() {
    tunnel::tls::TlsProfile p;
    p.name = "test";
    p.url = "https://gw.test/";
    p.host = "gw.test";
    p.address = relay_address_;
    p.pins = {*tunnel::tls::PublicKeyPin(cert_.cert_pem)};
    p.username = "alice";
    p.password = "pw-alice";
    p.dtls = false;
    p.connect_timeout = absl::Seconds(5);
    p.reconnect_initial = absl::Milliseconds(20);
    p.reconnect_max = absl::Milliseconds(40);
    return p;
  }

  void StartSession(const tunnel::tls::TlsProfile& profile) {
    Run([&] {
      auto s = TlsSession::Start(
          loop_.get(), stack_.get(), profile,
          [this](const SessionEvent& e) { recorder_.Add(e); });
      ASSERT_TRUE(s.ok()) << s.status();
      session_ = *std::move(s);
    });
  }

  void WaitConnected(int n = 1) {
    ASSERT_TRUE(recorder_.WaitFor(
        [&] { return recorder_.Count(Kind::kConnected) >= n; }))
        << recorder_.All();
  }

  void UdpRoundTrip(const std::string& text) {
    size_t before;
    {
      std::lock_guard<std::mutex> lock(recorder_.mu);
      before = recorder_.datagrams.size();
    }
    Run([&] {
      if (endpoint_ == nullptr) {
        auto e = netstack::UdpEndpoint::Bind(
            stack_.get(), SocketAddress(*session_->ipv4(), 0), &recorder_);
        ASSERT_TRUE(e.ok()) << e.status();
        endpoint_ = *std::move(e);
      }
      ASSERT_TRUE(endpoint_
                      ->SendTo(absl::MakeConstSpan(
                                   reinterpret_cast<const uint8_t*>(
                                       text.data()),
                                   text.size()),
                               SocketAddress(IpAddress::V4(10, 99, 0, 1), 7))
                      .ok());
    });
    ASSERT_TRUE(recorder_.WaitFor(
        [&] { return recorder_.datagrams.size() > before; }))
        << recorder_.All();
    std::lock_guard<std::mutex> lock(recorder_.mu);
    EXPECT_EQ(recorder_.datagrams[before], text);
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  crypto::testing::TestCert cert_;
  Reflector reflector_;
  std::unique_ptr<gateway::tls::TlsServer> server_;
  std::unique_ptr<Relay> relay_;
  SocketAddress relay_address_;
  std::unique_ptr<TlsSession> session_;
  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
  Recorder recorder_;
};

TEST_F(TlsSessionTest, LogsInCarriesDataAndReconnectsWithTheCookie) {
  StartServer();
  StartSession(Profile());
  WaitConnected();
  IpAddress first;
  Run([&] { first = *session_->ipv4(); });
  UdpRoundTrip("hello over CSTP");
  // The network fails: the session comes back with its cookie, gets the
  // same address, and the same UDP endpoint works again.
  Run([&] { relay_->Cut(); });
  WaitConnected(2);
  Run([&] {
    EXPECT_EQ(*session_->ipv4(), first);
    EXPECT_EQ(Counter(session_->Counters(), "tls_logins"), 1u);
    EXPECT_EQ(Counter(session_->Counters(), "session_interface_changes"), 0u);
    // Over TLS the app's TCP gets the RTO floor.
    EXPECT_EQ(session_->interface()->tcp_min_rto(), absl::Seconds(1));
  });
  UdpRoundTrip("hello again");
  Run([&] { session_->Close(); });
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kDisconnected) == 1; }));
  EXPECT_EQ(recorder_.Count(Kind::kAuthFailed), 0);
}

TEST_F(TlsSessionTest, DtlsCarriesDataAndLiftsTheRtoFloor) {
  StartServer(/*dtls=*/true);
  tunnel::tls::TlsProfile p = Profile();
  p.address = server_->local_address();  // DTLS goes to the same port.
  p.dtls = true;
  StartSession(p);
  WaitConnected();
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Has(Kind::kInfo, "DTLS up"); }))
      << recorder_.All();
  UdpRoundTrip("hello over DTLS");
  Run([&] {
    EXPECT_GE(Counter(session_->Counters(), "dtls_tx_packets"), 1u);
    EXPECT_GE(Counter(session_->Counters(), "dtls_rx_packets"), 1u);
    EXPECT_EQ(session_->interface()->tcp_min_rto(), absl::ZeroDuration());
  });
}

TEST_F(TlsSessionTest, WrongPasswordIsOneAuthFailure) {
  StartServer();
  tunnel::tls::TlsProfile p = Profile();
  p.password = "wrong";
  StartSession(p);
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kAuthFailed) == 1; }))
      << recorder_.All();
  EXPECT_TRUE(recorder_.Has(Kind::kAuthFailed, "Login failed"))
      << recorder_.All();
  EXPECT_EQ(recorder_.Count(Kind::kConnecting), 1);
  EXPECT_EQ(recorder_.Count(Kind::kReconnecting), 0);
}

TEST_F(TlsSessionTest, WrongPinFailsBeforeAnythingIsSent) {
  StartServer();
  tunnel::tls::TlsProfile p = Profile();
  auto other = crypto::testing::MakeCert(crypto::testing::CertSpec());
  ASSERT_TRUE(other.ok());
  p.pins = {*tunnel::tls::PublicKeyPin(other->cert_pem)};
  StartSession(p);
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kAuthFailed) == 1; }))
      << recorder_.All();
  EXPECT_TRUE(recorder_.Has(Kind::kAuthFailed, "pin mismatch"))
      << recorder_.All();
  Run([&] {
    // The gateway never saw a request: the login went nowhere.
    EXPECT_EQ(server_->counters().tunnels_opened, 0u);
    EXPECT_EQ(server_->anyconnect().counters().logins_ok +
                  server_->anyconnect().counters().logins_failed,
              0u);
  });
}

TEST_F(TlsSessionTest, StalledGatewayIsATimeoutThenARetry) {
  Run([&] {
    relay_ = std::make_unique<Relay>(loop_.get(), absl::nullopt);
    auto a = relay_->Listen();
    ASSERT_TRUE(a.ok());
    relay_address_ = *a;
  });
  tunnel::tls::TlsProfile p = Profile();
  p.connect_timeout = absl::Milliseconds(300);
  StartSession(p);
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kReconnecting) >= 2; }))
      << recorder_.All();
  EXPECT_TRUE(recorder_.Has(Kind::kReconnecting, "TLS handshake stalled"))
      << recorder_.All();
  EXPECT_EQ(recorder_.Count(Kind::kConnected), 0);
}

}  // namespace
}  // namespace stow::engine
