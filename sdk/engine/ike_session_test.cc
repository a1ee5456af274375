#include "sdk/engine/ike_session.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netstack/udp.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/testing/ike_test_gateway.h"

namespace stow::engine {
namespace {

using ::testing::HasSubstr;
using ipsec::testing::IkeTestGateway;
using Kind = SessionEvent::Kind;

uint64_t Counter(const tunnel::CounterList& list, const std::string& name) {
  for (const auto& [n, v] : list) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// Thread-safe record of events and datagrams, for the test thread.
class Recorder : public netstack::UdpEndpoint::Delegate {
 public:
  void Add(const SessionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
    cv.notify_all();
  }
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    std::lock_guard<std::mutex> lock(mu);
    datagrams.push_back(
        {std::string(payload.begin(), payload.end()), from});
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
  std::vector<Kind> Kinds() {
    std::vector<Kind> out;
    for (const auto& e : events) {
      if (e.kind != Kind::kInfo) out.push_back(e.kind);
    }
    return out;
  }
  const SessionEvent* Last(Kind kind) {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == kind) return &*it;
    }
    return nullptr;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<SessionEvent> events;
  std::vector<std::pair<std::string, SocketAddress>> datagrams;
};

class IkeSessionTest : public ::testing::Test {
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
  }

  void TearDown() override {
    Run([&] {
      endpoint_.reset();
      session_.reset();
      gateway_.reset();
      stack_.reset();
    });
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  template <typename F>
  void Run(F f) {
    ASSERT_TRUE(loop_->RunSync(std::move(f)).ok());
  }

  static ike::IkeTimers FastTimers() {
    ike::IkeTimers t;
    t.retransmit_base = absl::Milliseconds(30);
    t.retransmit_tries = 3;
    t.dpd_delay = absl::ZeroDuration();
    t.ike_rekey = absl::ZeroDuration();
    t.child_rekey = absl::ZeroDuration();
    return t;
  }

  void StartGateway(IkeTestGateway::Options options = {}) {
    options.timers = FastTimers();
    Run([&] {
      auto g = IkeTestGateway::Create(loop_.get(), options);
      ASSERT_TRUE(g.ok()) << g.status();
      gateway_ = *std::move(g);
    });
  }

  ipsec::IkeProfile Profile(const std::string& psk = "") {
    ipsec::IkeProfile p;
    p.name = "test";
    p.gateway = gateway_->nat_t_address();
    p.gateway_nat_t = gateway_->nat_t_address();
    p.ike.force_nat_t = true;
    p.ike.local_id.id_type = ike::IdType::kFqdn;
    const std::string me = "client.test";
    p.ike.local_id.data.assign(me.begin(), me.end());
    auto creds = ike::PskCredentials::Create(
        psk.empty() ? IkeTestGateway::Options().psk : psk);
    p.ike.credentials = *creds;
    p.ike.peer_authenticator = *creds;
    p.ike.timers = FastTimers();
    p.nat_keepalive = absl::InfiniteDuration();
    p.reconnect_initial = absl::Milliseconds(20);
    p.reconnect_max = absl::Milliseconds(40);
    return p;
  }

  void StartSession(const ipsec::IkeProfile& profile) {
    Run([&] {
      auto s = IkeSession::Start(
          loop_.get(), stack_.get(), profile,
          [this](const SessionEvent& e) { recorder_.Add(e); });
      ASSERT_TRUE(s.ok()) << s.status();
      session_ = *std::move(s);
    });
  }

  void WaitConnected(int n = 1) {
    ASSERT_TRUE(recorder_.WaitFor(
        [&] { return recorder_.Count(Kind::kConnected) >= n; }))
        << "not connected";
  }

  // A UDP datagram to a server behind the gateway, reflected back to us.
  void UdpRoundTrip(const std::string& text) {
    const SocketAddress server(IpAddress::V4(10, 9, 1, 5), 7);
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
      const absl::Status s = endpoint_->SendTo(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                              text.size()),
          server);
      ASSERT_TRUE(s.ok()) << s;
    });
    ASSERT_TRUE(recorder_.WaitFor(
        [&] { return recorder_.datagrams.size() > before; }));
    std::lock_guard<std::mutex> lock(recorder_.mu);
    EXPECT_EQ(recorder_.datagrams[before].first, text);
    EXPECT_EQ(recorder_.datagrams[before].second, server);
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<IkeTestGateway> gateway_;
  std::unique_ptr<IkeSession> session_;
  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
  Recorder recorder_;
};

TEST_F(IkeSessionTest, ConnectsInstallsAddressesAndCarriesUdp) {
  StartGateway();
  StartSession(Profile());
  WaitConnected();
  Run([&] {
    EXPECT_EQ(session_->state(), IkeSession::State::kConnected);
    ASSERT_TRUE(session_->ipv4().has_value());
    EXPECT_EQ(session_->ipv4()->ToString(), "10.9.0.2");
    EXPECT_FALSE(session_->ipv6().has_value());
    ASSERT_EQ(session_->dns_servers().size(), 1u);
    EXPECT_EQ(session_->dns_servers()[0].ToString(), "10.9.0.53");
    ASSERT_EQ(session_->routes().size(), 1u);
    EXPECT_EQ(session_->routes()[0].prefix.ToString(), "10.9.1.0");
    EXPECT_EQ(session_->routes()[0].prefix_len, 24);
    ASSERT_NE(session_->interface(), nullptr);
    EXPECT_EQ(session_->interface()->config().ipv4->ToString(), "10.9.0.2");
    EXPECT_FALSE(session_->interface()->config().default_route);
  });
  {
    std::lock_guard<std::mutex> lock(recorder_.mu);
    EXPECT_EQ(recorder_.Kinds(),
              (std::vector<Kind>{Kind::kConnecting, Kind::kConnected}));
    EXPECT_THAT(recorder_.Last(Kind::kConnected)->detail,
                HasSubstr("address 10.9.0.2; DNS 10.9.0.53; routes "
                          "10.9.1.0/24"));
  }
  UdpRoundTrip("ping over IKE-keyed ESP");
  tunnel::CounterList c;
  Run([&] { c = session_->Counters(); });
  EXPECT_EQ(Counter(c, "esp_tx_packets"), 1u);
  EXPECT_EQ(Counter(c, "esp_rx_packets"), 1u);
  EXPECT_EQ(Counter(c, "netstack_rx_packets"), 1u);
  EXPECT_EQ(Counter(c, "session_connections"), 1u);
}

TEST_F(IkeSessionTest, ReconnectsAfterGatewayDeleteKeepingTheInterface) {
  StartGateway();
  StartSession(Profile());
  WaitConnected();
  UdpRoundTrip("before");
  netstack::Interface* first = nullptr;
  Run([&] {
    first = session_->interface();
    gateway_->DeleteIkeSa();
  });
  WaitConnected(2);
  Run([&] {
    // Same address: the interface and the endpoint bound to it survive.
    EXPECT_EQ(session_->interface(), first);
    EXPECT_EQ(Counter(session_->Counters(), "session_interface_changes"), 0u);
  });
  {
    std::lock_guard<std::mutex> lock(recorder_.mu);
    const SessionEvent* r = recorder_.Last(Kind::kReconnecting);
    ASSERT_NE(r, nullptr);
    EXPECT_THAT(r->detail, HasSubstr("closed"));
    EXPECT_THAT(r->detail, HasSubstr("retrying in 20ms"));
  }
  UdpRoundTrip("after");
}

TEST_F(IkeSessionTest, NewAddressRecreatesTheInterface) {
  StartGateway();
  StartSession(Profile());
  WaitConnected();
  Run([&] {
    gateway_->set_virtual_ipv4(IpAddress::V4(10, 9, 0, 3));
    gateway_->DeleteIkeSa();
  });
  WaitConnected(2);
  Run([&] {
    EXPECT_EQ(session_->ipv4()->ToString(), "10.9.0.3");
    EXPECT_EQ(session_->interface()->config().ipv4->ToString(), "10.9.0.3");
    EXPECT_EQ(Counter(session_->Counters(), "session_interface_changes"), 1u);
  });
  UdpRoundTrip("new address");
}

TEST_F(IkeSessionTest, GatewayRestartIsDetectedAndRecovered) {
  StartGateway();
  StartSession(Profile());
  WaitConnected();
  Run([&] {
    gateway_->Restart();  // Forgets the SA: our liveness check goes unanswered.
    session_->tunnel()->CheckLiveness();
  });
  WaitConnected(2);
  std::lock_guard<std::mutex> lock(recorder_.mu);
  const SessionEvent* r = recorder_.Last(Kind::kReconnecting);
  ASSERT_NE(r, nullptr);
  EXPECT_THAT(r->detail, HasSubstr("peer-dead"));
}

TEST_F(IkeSessionTest, BackoffDoublesUpToTheMaximum) {
  StartGateway();
  Run([&] { gateway_->set_silent(true); });
  StartSession(Profile());
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kReconnecting) >= 3; }));
  std::lock_guard<std::mutex> lock(recorder_.mu);
  std::vector<std::string> waits;
  for (const auto& e : recorder_.events) {
    if (e.kind == Kind::kReconnecting) {
      waits.push_back(e.detail.substr(e.detail.rfind(' ') + 1));
    }
  }
  EXPECT_EQ(waits[0], "20ms");
  EXPECT_EQ(waits[1], "40ms");
  EXPECT_EQ(waits[2], "40ms");
  EXPECT_EQ(recorder_.Count(Kind::kConnected), 0);
}

TEST_F(IkeSessionTest, AuthFailureStopsTheSession) {
  StartGateway();
  StartSession(Profile("the-wrong-psk"));
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kAuthFailed) == 1; }));
  Run([&] {
    EXPECT_EQ(session_->state(), IkeSession::State::kStopped);
    EXPECT_EQ(session_->interface(), nullptr);
  });
  // No further attempt: the gateway saw one IKE_SA_INIT.
  Run([&] { EXPECT_EQ(gateway_->init_requests(), 1u); });
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.Count(Kind::kReconnecting), 0);
  EXPECT_EQ(recorder_.Kinds().back(), Kind::kAuthFailed);
}

TEST_F(IkeSessionTest, NoProposalChosenStopsTheSession) {
  IkeTestGateway::Options options;
  options.ike = *ike::ParseIkeAlgorithms("chacha20poly1305-prfsha256-x25519");
  StartGateway(options);
  ipsec::IkeProfile p = Profile();
  p.ike.ike = *ike::ParseIkeAlgorithms("aes128gcm16-prfsha256-x25519");
  StartSession(p);
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kNoProposalChosen) == 1; }));
  Run([&] { EXPECT_EQ(session_->state(), IkeSession::State::kStopped); });
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.Count(Kind::kReconnecting), 0);
}

TEST_F(IkeSessionTest, CloseDeletesAndReportsDisconnected) {
  StartGateway();
  StartSession(Profile());
  WaitConnected();
  Run([&] { session_->Close("bye"); });
  ASSERT_TRUE(recorder_.WaitFor(
      [&] { return recorder_.Count(Kind::kDisconnected) == 1; }));
  for (int i = 0; i < 1000; ++i) {
    uint64_t closed = 0;
    Run([&] { closed = gateway_->closed(); });
    if (closed > 0) break;
  }
  Run([&] {
    EXPECT_EQ(gateway_->closed(), 1u);
    EXPECT_EQ(session_->state(), IkeSession::State::kStopped);
    session_->Close();  // Idempotent.
  });
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.Last(Kind::kDisconnected)->detail, "bye");
  EXPECT_EQ(recorder_.Kinds().back(), Kind::kDisconnected);
}

}  // namespace
}  // namespace stow::engine
