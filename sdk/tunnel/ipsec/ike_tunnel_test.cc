#include "sdk/tunnel/ipsec/ike_tunnel.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/testing/ike_test_gateway.h"

namespace stow::ipsec {
namespace {

using ::testing::HasSubstr;
using testing::IkeTestGateway;
using Kind = ike::IkeEvent::Kind;

constexpr absl::Duration kTimeout = event::testing::kTimeout;

uint64_t Counter(const tunnel::CounterList& list, const std::string& name) {
  for (const auto& [n, v] : list) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// An IPv4/UDP packet from `src`:5000 to `dst`:7 with `payload` (checksum
// 0: none, as UDP over IPv4 allows).
std::vector<uint8_t> UdpPacket(const IpAddress& src, const IpAddress& dst,
                               const std::string& payload) {
  const size_t total = 28 + payload.size();
  std::vector<uint8_t> p(total, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  std::copy(src.bytes().begin(), src.bytes().end(), p.begin() + 12);
  std::copy(dst.bytes().begin(), dst.bytes().end(), p.begin() + 16);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[20] = 5000 >> 8;
  p[21] = 5000 & 0xff;
  p[23] = 7;
  const size_t udp_len = 8 + payload.size();
  p[24] = static_cast<uint8_t>(udp_len >> 8);
  p[25] = static_cast<uint8_t>(udp_len);
  std::copy(payload.begin(), payload.end(), p.begin() + 28);
  return p;
}

// Records what the tunnel reports, for the test thread to wait on.
class Recorder : public IkeTunnel::Delegate, public netstack::Link::Receiver {
 public:
  void OnIkeEvent(const ike::IkeEvent& event) override {
    Add([&] { ike_events.push_back(event); });
  }
  void OnTunnelUp() override {
    Add([&] { ups++; });
  }
  void OnTunnelDown(Kind kind, const std::string& detail) override {
    Add([&] { downs.push_back({kind, detail}); });
  }
  void OnTunnelEvent(const tunnel::TunnelEvent& event) override {
    Add([&] { tunnel_events.push_back(event); });
  }
  void OnPacket(absl::Span<const uint8_t> packet) override {
    Add([&] { packets.emplace_back(packet.begin(), packet.end()); });
  }

  bool WaitFor(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, absl::ToChronoNanoseconds(kTimeout), done);
  }
  bool SawIke(Kind kind) {
    for (const auto& e : ike_events) {
      if (e.kind == kind) return true;
    }
    return false;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<ike::IkeEvent> ike_events;
  std::vector<tunnel::TunnelEvent> tunnel_events;
  std::vector<std::pair<Kind, std::string>> downs;
  std::vector<std::vector<uint8_t>> packets;
  int ups = 0;

 private:
  template <typename F>
  void Add(F f) {
    std::lock_guard<std::mutex> lock(mu);
    f();
    cv.notify_all();
  }
};

class IkeTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = event::UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  void TearDown() override {
    Run([&] {
      tunnel_.reset();
      gateway_.reset();
      stray_.reset();
    });
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  template <typename F>
  void Run(F f) {
    ASSERT_TRUE(loop_->RunSync(std::move(f)).ok());
  }

  static ike::IkeTimers FastTimers() {
    ike::IkeTimers t;
    t.retransmit_base = absl::Milliseconds(50);
    t.retransmit_tries = 3;
    t.dpd_delay = absl::ZeroDuration();
    t.ike_rekey = absl::ZeroDuration();
    t.child_rekey = absl::ZeroDuration();
    t.setup_timeout = absl::Seconds(5);
    return t;
  }

  // A profile for the test gateway: NAT-T from the first message, or (two
  // ports) plain IKE to its IKE port and ESP to its NAT-T port.
  IkeProfile Profile(bool two_ports = false, std::string psk = "") {
    IkeProfile p;
    p.gateway =
        two_ports ? gateway_->ike_address() : gateway_->nat_t_address();
    p.gateway_nat_t = gateway_->nat_t_address();
    p.ike.role = ike::Role::kInitiator;
    p.ike.force_nat_t = !two_ports;
    p.ike.local_id.id_type = ike::IdType::kFqdn;
    const std::string me = "client.test";
    p.ike.local_id.data.assign(me.begin(), me.end());
    ike::IdPayload gw;
    gw.id_type = ike::IdType::kFqdn;
    const std::string name = "gw.test";
    gw.data.assign(name.begin(), name.end());
    p.ike.remote_id = gw;
    auto creds = ike::PskCredentials::Create(
        psk.empty() ? IkeTestGateway::Options().psk : psk);
    p.ike.credentials = *creds;
    p.ike.peer_authenticator = *creds;
    p.ike.timers = FastTimers();
    p.nat_keepalive = absl::InfiniteDuration();
    return p;
  }

  void StartGateway(IkeTestGateway::Options options = {}) {
    options.timers = FastTimers();
    Run([&] {
      auto g = IkeTestGateway::Create(loop_.get(), options);
      ASSERT_TRUE(g.ok()) << g.status();
      gateway_ = *std::move(g);
    });
  }

  void StartTunnel(const IkeProfile& profile) {
    Run([&] {
      auto t = IkeTunnel::Create(loop_.get(), profile, &recorder_);
      ASSERT_TRUE(t.ok()) << t.status();
      tunnel_ = *std::move(t);
      tunnel_->SetReceiver(&recorder_);
      tunnel_->Connect();
    });
  }

  void WaitUp(int ups = 1) {
    ASSERT_TRUE(recorder_.WaitFor([&] { return recorder_.ups >= ups; }))
        << "tunnel not up";
  }

  // Sends a packet through the tunnel and waits for the gateway's
  // reflection.
  void RoundTrip(const std::string& payload) {
    size_t before;
    {
      std::lock_guard<std::mutex> lock(recorder_.mu);
      before = recorder_.packets.size();
    }
    IpAddress vip;
    Run([&] { vip = *tunnel_->assigned_config().ipv4; });
    const IpAddress server = IpAddress::V4(10, 9, 1, 5);
    const std::vector<uint8_t> packet = UdpPacket(vip, server, payload);
    Run([&] {
      absl::Span<const uint8_t> one[] = {packet};
      tunnel_->SendPacket(one);
    });
    ASSERT_TRUE(recorder_.WaitFor(
        [&] { return recorder_.packets.size() > before; }));
    std::lock_guard<std::mutex> lock(recorder_.mu);
    const std::vector<uint8_t>& back = recorder_.packets[before];
    ASSERT_EQ(back.size(), packet.size());
    // Addresses and ports swapped, payload intact.
    EXPECT_TRUE(std::equal(back.begin() + 12, back.begin() + 16,
                           packet.begin() + 16));
    EXPECT_TRUE(std::equal(back.begin() + 16, back.begin() + 20,
                           packet.begin() + 12));
    EXPECT_TRUE(std::equal(back.begin() + 28, back.end(),
                           packet.begin() + 28));
  }

  tunnel::CounterList Counters() {
    tunnel::CounterList list;
    Run([&] { list = tunnel_->Counters(); });
    return list;
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<IkeTestGateway> gateway_;
  std::unique_ptr<IkeTunnel> tunnel_;
  std::unique_ptr<event::UdpSocket> stray_;
  Recorder recorder_;
};

TEST_F(IkeTunnelTest, EstablishesAndCarriesEsp) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  Run([&] {
    EXPECT_TRUE(tunnel_->up());
    EXPECT_EQ(tunnel_->ike_state(), ike::IkeSa::State::kEstablished);
    const ike::AssignedConfig& c = tunnel_->assigned_config();
    ASSERT_TRUE(c.ipv4.has_value());
    EXPECT_EQ(c.ipv4->ToString(), "10.9.0.2");
    ASSERT_EQ(c.dns.size(), 1u);
    EXPECT_EQ(c.dns[0].ToString(), "10.9.0.53");
    ASSERT_EQ(tunnel_->remote_ts().size(), 1u);
    EXPECT_EQ(ike::DescribeSelector(tunnel_->remote_ts()[0]), "10.9.1.0/24");
    EXPECT_EQ(tunnel_->child_sa_count(), 1u);
    // NAT-T from the first message: nothing went to the plain IKE port.
    EXPECT_EQ(gateway_->ike_plain_received(), 0u);
    EXPECT_GE(gateway_->ike_marker_received(), 2u);
  });
  RoundTrip("hello through ESP");
  RoundTrip("and again");
  const tunnel::CounterList c = Counters();
  EXPECT_EQ(Counter(c, "esp_tx_packets"), 2u);
  EXPECT_EQ(Counter(c, "esp_rx_packets"), 2u);
  EXPECT_EQ(Counter(c, "ike_connects"), 1u);
  EXPECT_GE(Counter(c, "ike_datagrams_sent"), 2u);
  EXPECT_EQ(Counter(c, "rx_foreign"), 0u);
  EXPECT_EQ(Counter(c, "tx_no_sa"), 0u);
  std::lock_guard<std::mutex> lock(recorder_.mu);
  ASSERT_FALSE(recorder_.tunnel_events.empty());
  EXPECT_EQ(recorder_.tunnel_events[0].kind,
            tunnel::TunnelEvent::Kind::kPeerUp);
  EXPECT_TRUE(recorder_.SawIke(Kind::kEstablished));
  EXPECT_TRUE(recorder_.downs.empty());
}

TEST_F(IkeTunnelTest, PlainIkePortThenEspOnNatTPort) {
  StartGateway();
  StartTunnel(Profile(/*two_ports=*/true));
  WaitUp();
  Run([&] {
    // No NAT on loopback: IKE stays on the IKE port, without marker.
    EXPECT_GE(gateway_->ike_plain_received(), 2u);
    EXPECT_EQ(gateway_->ike_marker_received(), 0u);
  });
  RoundTrip("esp in udp");
}

TEST_F(IkeTunnelTest, DropsDatagramsFromOtherAddresses) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  struct Sink : event::UdpSocket::Delegate {
    void OnDatagram(absl::Span<const uint8_t>, const SocketAddress&) override {}
  };
  static Sink sink;
  Run([&] {
    stray_ = std::make_unique<event::UdpSocket>(loop_.get(), &sink);
    ASSERT_TRUE(stray_->Bind(SocketAddress(IpAddress::V4(127, 0, 0, 1), 0)).ok());
    const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    absl::Span<const uint8_t> one[] = {junk};
    ASSERT_TRUE(stray_->SendTo(one, tunnel_->local_address()).ok());
  });
  ASSERT_TRUE(recorder_.WaitFor([&] { return true; }));
  // Wait until the stray datagram was counted.
  for (int i = 0; i < 1000 && Counter(Counters(), "rx_foreign") == 0; ++i) {
    Run([] {});
  }
  EXPECT_EQ(Counter(Counters(), "rx_foreign"), 1u);
  RoundTrip("still fine");
}

TEST_F(IkeTunnelTest, ChildRekeyByEitherSideKeepsTraffic) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  RoundTrip("before");
  Run([&] { tunnel_->RekeyChild(); });
  ASSERT_TRUE(recorder_.WaitFor([&] {
    int n = 0;
    for (const auto& e : recorder_.ike_events) n += e.kind == Kind::kChildRekeyed;
    return n >= 1;
  }));
  RoundTrip("after our rekey");
  Run([&] { gateway_->RekeyChild(); });
  ASSERT_TRUE(recorder_.WaitFor([&] {
    int n = 0;
    for (const auto& e : recorder_.ike_events) n += e.kind == Kind::kChildRekeyed;
    return n >= 2;
  }));
  RoundTrip("after the gateway's rekey");
  // The replaced CHILD SAs were deleted; the counters kept their packets.
  for (int i = 0; i < 1000; ++i) {
    size_t n = 0;
    Run([&] { n = tunnel_->child_sa_count(); });
    if (n == 1) break;
  }
  Run([&] { EXPECT_EQ(tunnel_->child_sa_count(), 1u); });
  const tunnel::CounterList c = Counters();
  EXPECT_EQ(Counter(c, "esp_tx_packets"), 3u);
  EXPECT_EQ(Counter(c, "esp_rx_packets"), 3u);
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_TRUE(recorder_.downs.empty());
}

TEST_F(IkeTunnelTest, GatewayDeleteEndsTheSa) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  Run([&] { gateway_->DeleteIkeSa(); });
  ASSERT_TRUE(recorder_.WaitFor([&] { return !recorder_.downs.empty(); }));
  {
    std::lock_guard<std::mutex> lock(recorder_.mu);
    EXPECT_EQ(recorder_.downs[0].first, Kind::kClosed);
  }
  Run([&] {
    EXPECT_FALSE(tunnel_->up());
    EXPECT_EQ(tunnel_->child_sa_count(), 0u);
    // Packets without a CHILD SA are dropped and counted.
    const std::vector<uint8_t> packet = UdpPacket(
        IpAddress::V4(10, 9, 0, 2), IpAddress::V4(10, 9, 1, 5), "x");
    absl::Span<const uint8_t> one[] = {packet};
    tunnel_->SendPacket(one);
    EXPECT_EQ(Counter(tunnel_->Counters(), "tx_no_sa"), 1u);
    // And it connects again on request.
    tunnel_->Connect();
  });
  WaitUp(2);
  RoundTrip("reconnected");
  EXPECT_EQ(Counter(Counters(), "ike_connects"), 2u);
}

TEST_F(IkeTunnelTest, DeadGatewayIsDetected) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  Run([&] {
    gateway_->set_silent(true);
    tunnel_->CheckLiveness();
  });
  ASSERT_TRUE(recorder_.WaitFor([&] { return !recorder_.downs.empty(); }));
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.downs[0].first, Kind::kPeerDead);
  EXPECT_EQ(recorder_.downs.size(), 1u);
}

TEST_F(IkeTunnelTest, WrongPskIsAnAuthFailure) {
  StartGateway();
  StartTunnel(Profile(false, "not-the-psk"));
  ASSERT_TRUE(recorder_.WaitFor([&] { return !recorder_.downs.empty(); }));
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.downs[0].first, Kind::kAuthFailed)
      << recorder_.downs[0].second;
  EXPECT_EQ(recorder_.ups, 0);
}

TEST_F(IkeTunnelTest, NoCommonProposal) {
  IkeTestGateway::Options options;
  auto only_chacha = ike::ParseIkeAlgorithms("chacha20poly1305-prfsha256-x25519");
  ASSERT_TRUE(only_chacha.ok());
  options.ike = *only_chacha;
  StartGateway(options);
  IkeProfile p = Profile();
  auto aes = ike::ParseIkeAlgorithms("aes256gcm16-prfsha256-x25519");
  ASSERT_TRUE(aes.ok());
  p.ike.ike = *aes;
  StartTunnel(p);
  ASSERT_TRUE(recorder_.WaitFor([&] { return !recorder_.downs.empty(); }));
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_EQ(recorder_.downs[0].first, Kind::kNoProposalChosen)
      << recorder_.downs[0].second;
}

TEST_F(IkeTunnelTest, CloseDeletesAtTheGateway) {
  StartGateway();
  StartTunnel(Profile());
  WaitUp();
  Run([&] { tunnel_->Close("test over"); });
  for (int i = 0; i < 1000; ++i) {
    uint64_t closed = 0;
    Run([&] { closed = gateway_->closed(); });
    if (closed > 0) break;
  }
  Run([&] {
    EXPECT_EQ(gateway_->closed(), 1u);
    EXPECT_EQ(tunnel_->ike_state(), ike::IkeSa::State::kClosed);
  });
  std::lock_guard<std::mutex> lock(recorder_.mu);
  EXPECT_TRUE(recorder_.downs.empty());  // Not after Close().
}

TEST_F(IkeTunnelTest, SendsNatKeepalivesWhenIdle) {
  StartGateway();
  IkeProfile p = Profile();
  p.nat_keepalive = absl::Milliseconds(20);
  StartTunnel(p);
  WaitUp();
  for (int i = 0; i < 5000; ++i) {
    uint64_t n = 0;
    Run([&] { n = gateway_->keepalives_received(); });
    if (n >= 2) break;
  }
  Run([&] { EXPECT_GE(gateway_->keepalives_received(), 2u); });
  EXPECT_GE(Counter(Counters(), "nat_keepalives_sent"), 2u);
}

}  // namespace
}  // namespace stow::ipsec
