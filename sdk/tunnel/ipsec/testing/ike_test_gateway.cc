#include "sdk/tunnel/ipsec/testing/ike_test_gateway.h"

#include <algorithm>
#include <utility>

#include "sdk/tunnel/ipsec/esp/udp_encap.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"

namespace stow::ipsec::testing {
namespace {

constexpr uint8_t kMarker[esp::kNonEspMarkerSize] = {0, 0, 0, 0};

uint16_t Checksum(absl::Span<const uint8_t> data) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < data.size(); i += 2) {
    sum += static_cast<uint32_t>(data[i]) << 8 | data[i + 1];
  }
  if (data.size() % 2 != 0) sum += static_cast<uint32_t>(data.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Turns an IPv4 packet around in place: addresses (and UDP ports) swapped,
// an ICMP echo request made a reply. Swapping keeps every checksum valid
// except ICMP's, which is recomputed. False for anything else.
bool Reflect(std::vector<uint8_t>* packet) {
  std::vector<uint8_t>& p = *packet;
  if (p.size() < 20 || p[0] >> 4 != 4) return false;
  const size_t ihl = (p[0] & 0x0f) * 4u;
  if (ihl < 20 || p.size() < ihl + 8) return false;
  std::swap_ranges(p.begin() + 12, p.begin() + 16, p.begin() + 16);
  const uint8_t protocol = p[9];
  if (protocol == 17) {
    std::swap_ranges(p.begin() + ihl, p.begin() + ihl + 2,
                     p.begin() + ihl + 2);
    return true;
  }
  if (protocol == 1 && p[ihl] == 8) {
    p[ihl] = 0;
    p[ihl + 2] = p[ihl + 3] = 0;
    const uint16_t sum =
        Checksum(absl::MakeConstSpan(p.data() + ihl, p.size() - ihl));
    p[ihl + 2] = static_cast<uint8_t>(sum >> 8);
    p[ihl + 3] = static_cast<uint8_t>(sum);
    return true;
  }
  return false;
}

}  // namespace

class IkeTestGateway::Port : public event::UdpSocket::Delegate {
 public:
  Port(IkeTestGateway* gateway, bool nat_t, event::UvLoop* loop)
      : gateway_(gateway), nat_t_(nat_t), socket(loop, this) {}
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override {
    gateway_->OnDatagram(nat_t_, data, from);
  }

 private:
  IkeTestGateway* const gateway_;
  const bool nat_t_;

 public:
  event::UdpSocket socket;
};

class IkeTestGateway::SaDelegate : public ike::IkeSa::Delegate {
 public:
  explicit SaDelegate(IkeTestGateway* gateway) : g_(gateway) {}
  void SendIke(absl::Span<const uint8_t> message, bool nat_t) override {
    g_->SendIke(message, nat_t);
  }
  void OnIkeEvent(const ike::IkeEvent& event) override {
    if (event.kind == ike::IkeEvent::Kind::kEstablished) g_->established_++;
    if (event.kind == ike::IkeEvent::Kind::kClosed ||
        event.kind == ike::IkeEvent::Kind::kFailed ||
        event.kind == ike::IkeEvent::Kind::kPeerDead ||
        event.kind == ike::IkeEvent::Kind::kAuthFailed) {
      g_->closed_++;
    }
  }
  void OnChildSaUp(const ike::ChildSaInfo& child) override {
    auto peer = EspPeer::Create(child.keys, child.esp_role, g_->loop_->Now());
    if (!peer.ok()) return;
    g_->peers_[child.inbound_spi] = {*std::move(peer), g_->next_order_++};
  }
  void OnChildSaDown(uint32_t inbound_spi) override {
    g_->peers_.erase(inbound_spi);
  }
  absl::StatusOr<ike::AssignedConfig> AssignConfig(
      const ike::ConfigRequest& request, const ike::IdPayload&) override {
    ike::AssignedConfig out;
    if (request.ipv4) out.ipv4 = g_->options_.virtual_ipv4;
    out.dns.push_back(g_->options_.dns);
    return out;
  }

 private:
  IkeTestGateway* const g_;
};

absl::StatusOr<std::unique_ptr<IkeTestGateway>> IkeTestGateway::Create(
    event::UvLoop* loop, Options options) {
  std::unique_ptr<IkeTestGateway> g(
      new IkeTestGateway(loop, std::move(options)));
  const SocketAddress any(IpAddress::V4(127, 0, 0, 1), 0);
  g->ike_port_ = std::make_unique<Port>(g.get(), false, loop);
  g->nat_t_port_ = std::make_unique<Port>(g.get(), true, loop);
  for (Port* port : {g->ike_port_.get(), g->nat_t_port_.get()}) {
    absl::Status s = port->socket.Bind(any);
    if (!s.ok()) return s;
  }
  auto a = g->ike_port_->socket.LocalAddress();
  if (!a.ok()) return a.status();
  g->ike_address_ = *a;
  a = g->nat_t_port_->socket.LocalAddress();
  if (!a.ok()) return a.status();
  g->nat_t_address_ = *a;
  IkeTestGateway* raw = g.get();
  g->timer_ = loop->NewTimer([raw] {
    if (raw->sa_ == nullptr) return;
    raw->sa_->OnTimer(raw->loop_->Now());
    raw->Arm();
  });
  return g;
}

IkeTestGateway::IkeTestGateway(event::UvLoop* loop, Options options)
    : loop_(loop),
      options_(std::move(options)),
      sa_delegate_(std::make_unique<SaDelegate>(this)) {}

IkeTestGateway::~IkeTestGateway() {
  timer_.reset();
  sa_.reset();
  peers_.clear();
  ike_port_.reset();
  nat_t_port_.reset();
}

ike::IkeConfig IkeTestGateway::Config() const {
  ike::IkeConfig config;
  config.role = ike::Role::kResponder;
  config.ike = options_.ike;
  config.esp = options_.esp;
  config.local_id.id_type = ike::IdType::kFqdn;
  config.local_id.data.assign(options_.fqdn.begin(), options_.fqdn.end());
  auto psk = ike::PskCredentials::Create(options_.psk);
  config.credentials = *psk;
  config.peer_authenticator = *psk;
  // The responder's own side (TSr); ike_sa.cc narrows TSr with local_ts.
  config.local_ts.push_back(
      ike::SelectorForPrefix(options_.ts_prefix, options_.ts_prefix_len));
  config.timers = options_.timers;
  return config;
}

void IkeTestGateway::Restart() {
  sa_.reset();
  peers_.clear();
  timer_->Stop();
}

void IkeTestGateway::DeleteIkeSa() {
  if (sa_ == nullptr) return;
  sa_->Close(loop_->Now(), "deleted by the test gateway");
  peers_.clear();
  Arm();
}

void IkeTestGateway::RekeyChild() {
  if (sa_ == nullptr) return;
  sa_->RekeyChild(loop_->Now());
  Arm();
}

void IkeTestGateway::Arm() {
  const absl::Duration deadline =
      sa_ == nullptr ? absl::InfiniteDuration() : sa_->NextDeadline();
  if (deadline == absl::InfiniteDuration()) {
    timer_->Stop();
  } else {
    timer_->Start(deadline - loop_->Now());
  }
}

void IkeTestGateway::SendIke(absl::Span<const uint8_t> message, bool nat_t) {
  if (nat_t) {
    absl::Span<const uint8_t> two[] = {absl::MakeConstSpan(kMarker), message};
    (void)nat_t_port_->socket.SendTo(two, client_);
  } else {
    absl::Span<const uint8_t> one[] = {message};
    (void)ike_port_->socket.SendTo(one, client_);
  }
}

void IkeTestGateway::OnDatagram(bool nat_t_port,
                                absl::Span<const uint8_t> data,
                                const SocketAddress& from) {
  if (silent_) return;
  if (!nat_t_port) {
    ike_plain_received_++;
    OnIke(false, data, from);
    return;
  }
  const esp::UdpClassified c = esp::ClassifyUdp(data);
  switch (c.kind) {
    case esp::UdpKind::kNatKeepalive:
      keepalives_received_++;
      return;
    case esp::UdpKind::kMalformed:
      return;
    case esp::UdpKind::kIke:
      ike_marker_received_++;
      OnIke(true, c.payload, from);
      return;
    case esp::UdpKind::kEsp:
      OnEsp(data, c.spi, from);
      return;
  }
}

void IkeTestGateway::OnIke(bool via_marker, absl::Span<const uint8_t> message,
                           const SocketAddress& from) {
  auto header = ike::ParseHeader(message);
  if (!header.ok()) return;
  client_ = from;
  const bool new_sa = header->spi_r == 0 &&
                      header->exchange_type == ike::ExchangeType::kIkeSaInit &&
                      header->initiator && !header->response;
  if (new_sa && (sa_ == nullptr || sa_->spi_i() != header->spi_i)) {
    auto parsed = ike::ParseMessage(message);
    if (!parsed.ok()) return;
    init_requests_++;
    peers_.clear();
    sa_.reset();
    sa_ = ike::IkeSa::CreateResponder(
        Config(), sa_delegate_.get(),
        via_marker ? nat_t_address_ : ike_address_, from, message, *parsed,
        via_marker, loop_->Now());
  } else if (sa_ != nullptr) {
    sa_->OnMessage(message, from, loop_->Now(), via_marker);
  }
  Arm();
}

void IkeTestGateway::OnEsp(absl::Span<const uint8_t> datagram, uint32_t spi,
                           const SocketAddress& from) {
  auto it = peers_.find(spi);
  if (it == peers_.end()) return;
  absl::Span<const uint8_t> inner =
      it->second.peer->Open(datagram, &rx_buffer_, loop_->Now());
  if (inner.empty()) return;
  esp_received_++;
  std::vector<uint8_t> packet(inner.begin(), inner.end());
  if (!Reflect(&packet)) return;
  auto newest = std::max_element(
      peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
        return a.second.order < b.second.order;
      });
  absl::Span<const uint8_t> one[] = {packet};
  absl::Span<const uint8_t> esp =
      newest->second.peer->Seal(one, &tx_buffer_, loop_->Now());
  if (esp.empty()) return;
  absl::Span<const uint8_t> out[] = {esp};
  if (nat_t_port_->socket.SendTo(out, from).ok()) esp_reflected_++;
}

}  // namespace stow::ipsec::testing
