// The gateway as IKEv2 responder, in-process over loopback UDP: ike::IkeSa
// initiators (what the SDK uses) connect with a PSK, get addresses from the
// pool and DNS servers, and send a UDP datagram through ESP to the
// gateway's echo service; pool exhaustion, a wrong PSK, the COOKIE retry
// under load, a client's DELETE and a dead client each end as the
// gateway's counters, address owners and the initiators' events say.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "sdk/event/test_util.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/gateway.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

namespace stow::gateway {
namespace {

using Kind = ike::IkeEvent::Kind;

constexpr char kPsk[] = "gateway-test-psk-0123456789";
const IpAddress kGatewayV4 = IpAddress::V4(10, 99, 0, 1);
const IpAddress kDns = IpAddress::V4(10, 99, 0, 53);

void RunOnLoop(event::UvLoop* loop, event::Loop::Task task) {
  ASSERT_TRUE(loop->RunSync(std::move(task)).ok());
}

// An IPv4/UDP packet (header checksum filled, UDP checksum 0: allowed in
// IPv4, RFC 768).
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

// What the test thread waits on: written on the loop thread under `mu`.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  void Notify() { cv.notify_all(); }
  // Waits until `done()` (called with `mu` held) or the timeout.
  bool Wait(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock,
                       absl::ToChronoNanoseconds(event::testing::kTimeout),
                       done);
  }
};

// An IKE initiator on its own UDP socket, as the SDK would run it. Lives on
// the loop thread.
class Initiator : public ike::IkeSa::Delegate,
                  public event::UdpSocket::Delegate {
 public:
  Initiator(event::UvLoop* loop, Shared* shared, SocketAddress gateway,
            std::string psk, std::string id)
      : loop_(loop), shared_(shared), gateway_(gateway) {
    socket_ = std::make_unique<event::UdpSocket>(loop_, this);
    EXPECT_TRUE(socket_->Bind(*SocketAddress::Parse("127.0.0.1:0")).ok());
    local_ = *socket_->LocalAddress();
    ike::IkeConfig config;
    config.local_id = *ike::ParseIdentity(id);
    config.remote_id = GatewayIkeConfig::DefaultLocalId();
    auto credentials = ike::PskCredentials::Create(psk);
    EXPECT_TRUE(credentials.ok());
    config.credentials = *credentials;
    config.peer_authenticator = *credentials;
    config.config_request.ipv4 = true;
    config.force_nat_t = true;
    config.timers.retransmit_base = absl::Milliseconds(200);
    config.timers.retransmit_tries = 4;
    sa_ = ike::IkeSa::CreateInitiator(config, this, local_, gateway_);
    timer_ = loop_->NewTimer([this] {
      sa_->OnTimer(loop_->Now());
      Rearm();
    });
  }
  ~Initiator() override {
    timer_.reset();
    sa_.reset();
    socket_.reset();
  }

  void Start() {
    sa_->Start(loop_->Now());
    Rearm();
  }
  void Close() {
    sa_->Close(loop_->Now(), "test done");
    Rearm();
  }
  // Stops reading its socket (a client that vanished).
  void GoDeaf() { deaf_ = true; }

  // Sends `payload` to the gateway's UDP echo service through ESP.
  void SendEcho(const std::string& payload) {
    ASSERT_NE(esp_, nullptr);
    std::vector<uint8_t> packet = UdpPacket(
        *sa_->assigned_config().ipv4, kGatewayV4, 40000, 7, payload);
    absl::Span<const uint8_t> inner[] = {packet};
    std::vector<uint8_t> buffer;
    absl::Span<const uint8_t> sealed = esp_->Seal(inner, &buffer, loop_->Now());
    ASSERT_FALSE(sealed.empty());
    absl::Span<const uint8_t> one[] = {sealed};
    ASSERT_TRUE(socket_->SendTo(one, gateway_).ok());
  }

  // Sends a TCP SYN (no checksum: the gateway's interface leaves checks to
  // the AEAD) to `port` on the gateway through ESP.
  void SendSyn(uint16_t port) {
    ASSERT_NE(esp_, nullptr);
    std::vector<uint8_t> packet =
        UdpPacket(*sa_->assigned_config().ipv4, kGatewayV4, 40001, port,
                  std::string(12, '\0'));  // 20 + 8 + 12 = IPv4 + TCP.
    packet[9] = 6;  // TCP; the IPv4 header checksum covers the protocol.
    packet[10] = packet[11] = 0;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (packet[i] << 8) | packet[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    packet[10] = (~sum >> 8) & 0xff;
    packet[11] = ~sum & 0xff;
    std::fill(packet.begin() + 24, packet.end(), 0);
    packet[27] = 1;     // Sequence number 1.
    packet[32] = 0x50;  // Data offset 5 words.
    packet[33] = 0x02;  // SYN.
    packet[34] = 0xff;  // Window.
    packet[35] = 0xff;
    absl::Span<const uint8_t> inner[] = {packet};
    std::vector<uint8_t> buffer;
    absl::Span<const uint8_t> sealed = esp_->Seal(inner, &buffer, loop_->Now());
    ASSERT_FALSE(sealed.empty());
    absl::Span<const uint8_t> one[] = {sealed};
    ASSERT_TRUE(socket_->SendTo(one, gateway_).ok());
  }

  ike::IkeSa* sa() { return sa_.get(); }
  // Read with shared->mu held: inner packets received through ESP.
  int inner_packets = 0;

  // Read with shared->mu held.
  std::vector<Kind> events;
  std::vector<std::string> details;
  int children_up = 0;
  std::string echoed;

  bool Saw(Kind kind) const {
    return std::find(events.begin(), events.end(), kind) != events.end();
  }
  std::string Events() const {
    std::string out;
    for (size_t i = 0; i < events.size(); ++i) {
      absl::StrAppend(&out, ike::IkeEventKindName(events[i]), " (",
                      details[i], "); ");
    }
    return out;
  }

 private:
  void Rearm() {
    const absl::Duration next = sa_->NextDeadline();
    if (next == absl::InfiniteDuration()) {
      timer_->Stop();
    } else {
      timer_->Start(std::max(next - loop_->Now(), absl::ZeroDuration()));
    }
  }

  // ike::IkeSa::Delegate
  void SendIke(absl::Span<const uint8_t> message, bool nat_t) override {
    const uint8_t marker[4] = {0, 0, 0, 0};
    std::vector<absl::Span<const uint8_t>> parts;
    if (nat_t) parts.push_back(marker);
    parts.push_back(message);
    (void)socket_->SendTo(parts, gateway_);
  }
  void OnIkeEvent(const ike::IkeEvent& event) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    events.push_back(event.kind);
    details.push_back(event.detail);
    shared_->Notify();
  }
  void OnChildSaUp(const ike::ChildSaInfo& child) override {
    auto peer = ipsec::EspPeer::Create(child.keys, child.esp_role,
                                       loop_->Now());
    ASSERT_TRUE(peer.ok()) << peer.status();
    esp_ = *std::move(peer);
    std::lock_guard<std::mutex> lock(shared_->mu);
    children_up++;
    shared_->Notify();
  }
  void OnChildSaDown(uint32_t) override {}

  // event::UdpSocket::Delegate
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override {
    if (deaf_) return;
    const esp::UdpClassified c = esp::ClassifyUdp(data);
    if (c.kind == esp::UdpKind::kIke) {
      sa_->OnMessage(c.payload, from, loop_->Now(), /*via_nat_t=*/true);
      Rearm();
    } else if (c.kind == esp::UdpKind::kEsp && esp_ != nullptr) {
      std::vector<uint8_t> buffer;
      absl::Span<const uint8_t> inner = esp_->Open(data, &buffer, loop_->Now());
      if (inner.size() < 28) return;
      std::lock_guard<std::mutex> lock(shared_->mu);
      ++inner_packets;
      if (inner[9] == 17) echoed.assign(inner.begin() + 28, inner.end());
      shared_->Notify();
    }
  }

  event::UvLoop* const loop_;
  Shared* const shared_;
  const SocketAddress gateway_;
  SocketAddress local_;
  std::unique_ptr<event::UdpSocket> socket_;
  std::unique_ptr<ike::IkeSa> sa_;
  std::unique_ptr<event::Timer> timer_;
  std::unique_ptr<ipsec::EspPeer> esp_;
  bool deaf_ = false;
};

class GatewayIkeTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_ = *event::UvLoop::Start(); }

  void TearDown() override {
    RunOnLoop(loop_.get(), [&] {
      initiators_.clear();
      gateway_.reset();
      stack_.reset();
      EXPECT_EQ(loop_->LiveHandles(), 0);
    });
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  void StartGateway(const std::function<void(GatewayConfig*)>& adjust = {}) {
    GatewayConfig config;
    config.listen = *SocketAddress::Parse("127.0.0.1:0");
    config.ike.enabled = true;
    auto psk = ike::PskCredentials::Create(kPsk);
    ASSERT_TRUE(psk.ok());
    config.ike.credentials = *psk;
    config.ike.peer_authenticator = *psk;
    config.ike.dns = {kDns};
    config.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(shared_.mu);
      log_.push_back(line);
    };
    if (adjust) adjust(&config);
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
    ASSERT_TRUE(status.ok()) << status;
    address_ = gateway_->local_address();
  }

  Initiator* Connect(const std::string& psk = kPsk,
                     const std::string& id = "email:client@stowaway.test") {
    Initiator* out = nullptr;
    RunOnLoop(loop_.get(), [&] {
      initiators_.push_back(std::make_unique<Initiator>(
          loop_.get(), &shared_, address_, psk, id));
      out = initiators_.back().get();
      out->Start();
    });
    return out;
  }

  bool WaitForEvent(Initiator* i, Kind kind) {
    return shared_.Wait([&] { return i->Saw(kind); });
  }
  bool WaitForTerminal(Initiator* i) {
    return shared_.Wait([&] {
      return i->Saw(Kind::kFailed) || i->Saw(Kind::kAuthFailed) ||
             i->Saw(Kind::kClosed) || i->Saw(Kind::kPeerDead) ||
             i->Saw(Kind::kNoProposalChosen);
    });
  }
  // Polls a gateway condition on the loop thread (state changes come from
  // datagrams the test does not see).
  bool WaitForGateway(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + event::testing::kTimeout;
    while (absl::Now() < deadline) {
      bool ok = false;
      RunOnLoop(loop_.get(), [&] { ok = done(); });
      if (ok) return true;
      // Let the loop run a turn before asking again.
      event::testing::Notification turn;
      loop_->Post([&] { turn.Notify(); });
      turn.WaitForNotificationWithTimeout(event::testing::kTimeout);
    }
    return false;
  }
  std::string EventsOf(Initiator* i) {
    std::lock_guard<std::mutex> lock(shared_.mu);
    return i->Events();
  }
  GatewayCounters Counters() {
    GatewayCounters c;
    RunOnLoop(loop_.get(), [&] { c = gateway_->counters(); });
    return c;
  }
  std::string Log() {
    std::lock_guard<std::mutex> lock(shared_.mu);
    std::string out;
    for (const std::string& line : log_) absl::StrAppend(&out, line, "\n");
    return out;
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<Gateway> gateway_;
  SocketAddress address_;
  Shared shared_;
  std::vector<std::string> log_;  // Guarded by shared_.mu.
  std::vector<std::unique_ptr<Initiator>> initiators_;
};

TEST_F(GatewayIkeTest, EstablishesWithPskAndEchoesUdpThroughEsp) {
  StartGateway();
  Initiator* client = Connect();
  ASSERT_TRUE(WaitForEvent(client, Kind::kEstablished))
      << EventsOf(client);
  ike::AssignedConfig assigned;
  RunOnLoop(loop_.get(), [&] { assigned = client->sa()->assigned_config(); });
  ASSERT_TRUE(assigned.ipv4.has_value());
  EXPECT_TRUE(assigned.ipv4->InPrefix(IpAddress::V4(10, 99, 100, 0), 24))
      << assigned.ipv4->ToString();
  EXPECT_FALSE(assigned.ipv6.has_value());
  ASSERT_EQ(assigned.dns.size(), 1u);
  EXPECT_EQ(assigned.dns[0], kDns);

  RunOnLoop(loop_.get(), [&] {
    EXPECT_EQ(gateway_->ike_clients(), 1u);
    EXPECT_EQ(gateway_->half_open(), 0);
    EXPECT_TRUE(absl::StartsWith(gateway_->OwnerOf(*assigned.ipv4),
                                 "ike#"))
        << gateway_->OwnerOf(*assigned.ipv4);
    EXPECT_TRUE(absl::StrContains(gateway_->OwnerOf(*assigned.ipv4),
                                  "email:client@stowaway.test"));
  });

  RunOnLoop(loop_.get(), [&] { client->SendEcho("hello through IKE"); });
  ASSERT_TRUE(shared_.Wait([&] { return !client->echoed.empty(); }));
  {
    std::lock_guard<std::mutex> lock(shared_.mu);
    EXPECT_EQ(client->echoed, "hello through IKE");
  }
  std::string status;
  RunOnLoop(loop_.get(), [&] { status = gateway_->StatusText(); });
  EXPECT_TRUE(absl::StrContains(status, "email:client@stowaway.test"))
      << status;
  EXPECT_TRUE(absl::StrContains(status, assigned.ipv4->ToString())) << status;
  EXPECT_TRUE(absl::StrContains(status, "IKE established")) << status;
  EXPECT_TRUE(absl::StrContains(status, "ike_established 1\n")) << status;
  EXPECT_TRUE(absl::StrContains(status, "ESP SA in 0x")) << status;
  const GatewayCounters c = Counters();
  EXPECT_EQ(c.ike_sas_created, 1u);
  EXPECT_EQ(c.ike_established, 1u);
  EXPECT_EQ(c.ike_cookies_sent, 0u);
  EXPECT_EQ(c.rx_spoofed, 0u);
}

// Found by a fresh-clone run: the gateway crashed (SIGSEGV) when stopped
// with TCP connections open, because its clients went before the services
// whose connections, aborted, still sent to them.
TEST_F(GatewayIkeTest, StoppingWithOpenConnectionsIsClean) {
  StartGateway();
  Initiator* client = Connect();
  ASSERT_TRUE(WaitForEvent(client, Kind::kEstablished)) << EventsOf(client);
  RunOnLoop(loop_.get(), [&] { client->SendSyn(9); });
  // The SYN-ACK came back: a half-open connection waits on the discard
  // service, and going away it sends a RST to this client.
  ASSERT_TRUE(shared_.Wait([&] { return client->inner_packets >= 1; }));
  RunOnLoop(loop_.get(), [&] { gateway_.reset(); });
  EXPECT_EQ(gateway_, nullptr);
}

TEST_F(GatewayIkeTest, PoolExhaustionFailsTheSecondClient) {
  StartGateway([](GatewayConfig* c) {
    c->ike.pool4 = ipsec::IpPrefix{IpAddress::V4(10, 99, 100, 9), 32};
  });
  Initiator* first = Connect();
  ASSERT_TRUE(WaitForEvent(first, Kind::kEstablished))
      << EventsOf(first);
  Initiator* second = Connect();
  ASSERT_TRUE(WaitForTerminal(second))
      << EventsOf(second);
  {
    std::lock_guard<std::mutex> lock(shared_.mu);
    EXPECT_FALSE(second->Saw(Kind::kEstablished) && second->children_up > 0)
        << second->Events();
    EXPECT_TRUE(absl::StrContains(second->Events(), "INTERNAL_ADDRESS_FAILURE"))
        << second->Events();
  }
  // The refused client is gone; the first keeps its address.
  ASSERT_TRUE(WaitForGateway([&] { return gateway_->ike_clients() == 1; }));
  const GatewayCounters c = Counters();
  EXPECT_EQ(c.ike_pool_exhausted, 1u);
  RunOnLoop(loop_.get(), [&] {
    EXPECT_NE(gateway_->OwnerOf(IpAddress::V4(10, 99, 100, 9)), "");
  });
}

TEST_F(GatewayIkeTest, WrongPskIsAuthFailedAndLeavesNoClient) {
  StartGateway();
  Initiator* client = Connect("not-the-psk");
  ASSERT_TRUE(WaitForEvent(client, Kind::kAuthFailed))
      << EventsOf(client);
  ASSERT_TRUE(WaitForGateway([&] { return gateway_->ike_clients() == 0; }));
  const GatewayCounters c = Counters();
  EXPECT_EQ(c.ike_sas_created, 1u);
  EXPECT_EQ(c.ike_established, 0u);
  EXPECT_EQ(c.ike_closed, 1u);
  RunOnLoop(loop_.get(), [&] {
    EXPECT_EQ(gateway_->OwnerOf(IpAddress::V4(10, 99, 100, 1)), "");
  });
  EXPECT_TRUE(absl::StrContains(Log(), "removed (")) << Log();
}

TEST_F(GatewayIkeTest, CookieRetrySucceedsUnderLoad) {
  StartGateway([](GatewayConfig* c) { c->ike.cookie_threshold = 1; });
  // A client that sends IKE_SA_INIT and never answers: one half-open SA.
  Initiator* mute = nullptr;
  RunOnLoop(loop_.get(), [&] {
    initiators_.push_back(std::make_unique<Initiator>(
        loop_.get(), &shared_, address_, kPsk, "fqdn:mute.test"));
    mute = initiators_.back().get();
    mute->GoDeaf();
    mute->Start();
  });
  ASSERT_TRUE(WaitForGateway([&] { return gateway_->half_open() == 1; }));
  Initiator* client = Connect();
  ASSERT_TRUE(WaitForEvent(client, Kind::kEstablished))
      << EventsOf(client);
  const GatewayCounters c = Counters();
  EXPECT_GE(c.ike_cookies_sent, 1u);
  EXPECT_EQ(c.ike_cookies_accepted, 1u);
  EXPECT_EQ(c.ike_established, 1u);
  // Only the established client and the mute half-open one.
  RunOnLoop(loop_.get(), [&] { EXPECT_EQ(gateway_->ike_clients(), 2u); });
}

TEST_F(GatewayIkeTest, ClientDeleteReleasesItsAddress) {
  StartGateway([](GatewayConfig* c) {
    c->ike.pool4 = ipsec::IpPrefix{IpAddress::V4(10, 99, 100, 9), 32};
  });
  const IpAddress only = IpAddress::V4(10, 99, 100, 9);
  Initiator* first = Connect();
  ASSERT_TRUE(WaitForEvent(first, Kind::kEstablished))
      << EventsOf(first);
  RunOnLoop(loop_.get(), [&] {
    EXPECT_NE(gateway_->OwnerOf(only), "");
    first->Close();
  });
  ASSERT_TRUE(WaitForGateway([&] { return gateway_->ike_clients() == 0; }))
      << Log();
  RunOnLoop(loop_.get(), [&] { EXPECT_EQ(gateway_->OwnerOf(only), ""); });
  EXPECT_TRUE(absl::StrContains(Log(), "released 10.99.100.9")) << Log();
  // The address is free for the next client.
  Initiator* second = Connect();
  ASSERT_TRUE(WaitForEvent(second, Kind::kEstablished))
      << EventsOf(second);
  ike::AssignedConfig assigned;
  RunOnLoop(loop_.get(), [&] { assigned = second->sa()->assigned_config(); });
  ASSERT_TRUE(assigned.ipv4.has_value());
  EXPECT_EQ(*assigned.ipv4, only);
}

TEST_F(GatewayIkeTest, DeadClientIsRemovedAfterLivenessChecks) {
  StartGateway([](GatewayConfig* c) {
    c->ike.timers.dpd_delay = absl::Milliseconds(100);
    c->ike.timers.retransmit_base = absl::Milliseconds(50);
    c->ike.timers.retransmit_tries = 3;
  });
  Initiator* client = Connect();
  ASSERT_TRUE(WaitForEvent(client, Kind::kEstablished))
      << EventsOf(client);
  RunOnLoop(loop_.get(), [&] { client->GoDeaf(); });
  ASSERT_TRUE(WaitForGateway([&] { return gateway_->ike_clients() == 0; }))
      << Log();
  EXPECT_TRUE(absl::StrContains(Log(), "removed (peer-dead")) << Log();
  EXPECT_TRUE(absl::StrContains(Log(), "released 10.99.100.")) << Log();
}

TEST_F(GatewayIkeTest, StrayIkeIsCountedAndIgnored) {
  StartGateway();
  struct Sink : event::UdpSocket::Delegate {
    void OnDatagram(absl::Span<const uint8_t>, const SocketAddress&) override {}
  } sink;
  std::unique_ptr<event::UdpSocket> socket;
  RunOnLoop(loop_.get(), [&] {
    socket = std::make_unique<event::UdpSocket>(loop_.get(), &sink);
    ASSERT_TRUE(socket->Bind(*SocketAddress::Parse("127.0.0.1:0")).ok());
    // Marker + an INFORMATIONAL header for SPIs nobody has.
    std::vector<uint8_t> unknown(4 + 28, 0);
    for (int i = 4; i < 20; ++i) unknown[i] = static_cast<uint8_t>(i);
    unknown[4 + 17] = 0x20;  // version 2.0
    unknown[4 + 18] = 37;    // INFORMATIONAL
    unknown[4 + 19] = 0x08;  // I
    unknown[4 + 27] = 28;    // length
    // Marker + 28 bytes whose length field is wrong.
    std::vector<uint8_t> bad = unknown;
    bad[4 + 27] = 99;
    for (const auto* d : {&unknown, &bad}) {
      absl::Span<const uint8_t> one[] = {*d};
      ASSERT_TRUE(socket->SendTo(one, address_).ok());
    }
  });
  ASSERT_TRUE(WaitForGateway([&] {
    return gateway_->counters().ike_unknown_spi == 1 &&
           gateway_->counters().ike_malformed == 1;
  }));
  RunOnLoop(loop_.get(), [&] {
    EXPECT_EQ(gateway_->ike_clients(), 0u);
    EXPECT_EQ(gateway_->counters().rx_ike, 2u);
    socket.reset();
  });
}

TEST(GatewayIkeFlagsTest, AppliesAndRefuses) {
  GatewayConfig config;
  IkeFlags flags;
  flags.ike = true;
  flags.psk = "secret";
  flags.ike_listen = "127.0.0.1:500";
  flags.id = "fqdn:gw.example";
  flags.pool = "10.99.200.0/24";
  flags.pool6 = "fd99::100:0/112";
  flags.dns = {"10.99.0.1", "fd99::1"};
  flags.ike_proposals = "aes128gcm16-prfsha256-ecp256";
  flags.esp_proposals = "aes128gcm16";
  flags.dpd_delay = absl::Seconds(5);
  flags.cookie_threshold = 0;
  ASSERT_TRUE(ApplyIkeFlags(flags, &config).ok());
  EXPECT_TRUE(config.ike.enabled);
  EXPECT_EQ(config.ike.ike_listen->ToString(), "127.0.0.1:500");
  EXPECT_EQ(ike::DescribeIdentity(config.ike.local_id), "fqdn:gw.example");
  EXPECT_EQ(config.ike.pool4->ToString(), "10.99.200.0/24");
  EXPECT_EQ(config.ike.pool6->ToString(), "fd99::100:0/112");
  EXPECT_EQ(config.ike.dns.size(), 2u);
  EXPECT_EQ(config.ike.timers.dpd_delay, absl::Seconds(5));
  EXPECT_EQ(config.ike.cookie_threshold, 0);
  ASSERT_EQ(config.ike.ike_algorithms.dh.size(), 1u);
  ASSERT_NE(config.ike.credentials, nullptr);
  EXPECT_EQ(config.ike.credentials->Describe(), "PSK");

  auto refused = [&](const std::function<void(IkeFlags*)>& change) {
    IkeFlags f = flags;
    change(&f);
    GatewayConfig c;
    return ApplyIkeFlags(f, &c);
  };
  EXPECT_EQ(refused([](IkeFlags* f) { f->psk = ""; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->pool = "10.99.0.0"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->pool6 = "10.0.0.0/24"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->dns = {"nope"}; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->id = "ipv4:zz"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->ike_proposals = "des"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->psk_file = "/nonexistent"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->cert = "gw.pem"; }).code(),
            absl::StatusCode::kInvalidArgument);  // No --key.
  EXPECT_EQ(refused([](IkeFlags* f) {
              f->cert = "/nonexistent/gw.pem";
              f->key = "/nonexistent/gw.key";
            }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->ca = "/nonexistent/ca.pem"; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused([](IkeFlags* f) { f->cookie_threshold = -1; }).code(),
            absl::StatusCode::kInvalidArgument);
  // Off: nothing else is looked at.
  GatewayConfig off;
  IkeFlags none;
  none.psk = "";
  EXPECT_TRUE(ApplyIkeFlags(none, &off).ok());
  EXPECT_FALSE(off.ike.enabled);
}

TEST(GatewayIkeConfigTest, PoolOutsideTheGatewayPrefixIsRefused) {
  auto loop = *event::UvLoop::Start();
  absl::Status status;
  RunOnLoop(loop.get(), [&] {
    auto stack = *netstack::Stack::Create(loop.get());
    GatewayConfig config;
    config.listen = *SocketAddress::Parse("127.0.0.1:0");
    config.ike.enabled = true;
    auto psk = *ike::PskCredentials::Create("x");
    config.ike.credentials = psk;
    config.ike.peer_authenticator = psk;
    config.ike.pool4 = ipsec::IpPrefix{IpAddress::V4(10, 98, 0, 0), 24};
    status =
        Gateway::Start(loop.get(), stack.get(), std::move(config)).status();
    stack.reset();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "10.98.0.0/24")) << status;
  EXPECT_TRUE(loop->Shutdown().ok());
}

}  // namespace
}  // namespace stow::gateway
