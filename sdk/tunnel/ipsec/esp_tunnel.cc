#include "sdk/tunnel/ipsec/esp_tunnel.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"

namespace stow::ipsec {
namespace {
// Socket buffers for bursts of a 2 MiB TCP window in 1400-byte packets.
constexpr int kSocketBuffer = 8 << 20;
}  // namespace

absl::StatusOr<std::unique_ptr<EspTunnel>> EspTunnel::Create(
    event::UvLoop* loop, const EspProfile& profile, EventCallback on_event) {
  auto peer = EspPeer::Create(profile.keys, EspRole::kInitiator, loop->Now());
  if (!peer.ok()) return peer.status();
  std::unique_ptr<EspTunnel> tunnel(
      new EspTunnel(loop, profile, std::move(on_event)));
  tunnel->peer_ = *std::move(peer);
  tunnel->socket_ = std::make_unique<event::UdpSocket>(
      loop, static_cast<event::UdpSocket::Delegate*>(tunnel.get()));
  absl::Status status = tunnel->socket_->Bind(
      SocketAddress(IpAddress::Any(profile.gateway.ip().family()), 0));
  if (!status.ok()) return status;
  // Larger buffers are best effort: the tunnel works without them.
  (void)tunnel->socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  auto local = tunnel->socket_->LocalAddress();
  if (!local.ok()) return local.status();
  tunnel->local_ = *local;
  EspTunnel* raw = tunnel.get();
  tunnel->keepalive_timer_ = loop->NewTimer([raw] { raw->OnKeepaliveTimer(); });
  tunnel->ArmKeepalive();
  return tunnel;
}

EspTunnel::EspTunnel(event::UvLoop* loop, const EspProfile& profile,
                     EventCallback on_event)
    : loop_(loop),
      gateway_(profile.gateway),
      mtu_(profile.mtu),
      keepalive_interval_(profile.nat_keepalive),
      on_event_(std::move(on_event)),
      last_send_(loop->Now()) {}

EspTunnel::~EspTunnel() = default;

void EspTunnel::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  absl::Span<const uint8_t> esp =
      peer_->Seal(fragments, &tx_buffer_, loop_->Now());
  ReportEvents();
  if (esp.empty()) return;  // Counted by the peer.
  absl::Span<const uint8_t> one[] = {esp};
  if (!socket_->SendTo(one, gateway_).ok()) tx_send_failed_++;
  last_send_ = loop_->Now();
}

void EspTunnel::OnDatagram(absl::Span<const uint8_t> data,
                           const SocketAddress& from) {
  if (from != gateway_) {
    rx_foreign_++;
    return;
  }
  const esp::UdpClassified classified = esp::ClassifyUdp(data);
  switch (classified.kind) {
    case esp::UdpKind::kNatKeepalive:
      rx_keepalives_++;
      return;
    case esp::UdpKind::kIke:
      rx_ike_++;  // No IKE yet: keys come from the profile.
      return;
    case esp::UdpKind::kMalformed:
      rx_malformed_++;
      return;
    case esp::UdpKind::kEsp:
      break;
  }
  if (classified.spi != peer_->inbound_spi()) {
    rx_unknown_spi_++;
    return;
  }
  absl::Span<const uint8_t> inner = peer_->Open(data, &rx_buffer_, loop_->Now());
  ReportEvents();
  if (inner.empty()) return;  // Counted by the peer.
  if (!peer_up_) {
    peer_up_ = true;
    if (on_event_) {
      on_event_({tunnel::TunnelEvent::Kind::kPeerUp,
                 absl::StrCat("gateway ", gateway_.ToString())});
    }
  }
  if (receiver_ == nullptr) {
    rx_no_receiver_++;
    return;
  }
  receiver_->OnPacket(inner);
}

void EspTunnel::ArmKeepalive() {
  if (keepalive_interval_ == absl::InfiniteDuration()) return;
  keepalive_timer_->Start(last_send_ + keepalive_interval_ - loop_->Now());
}

void EspTunnel::OnKeepaliveTimer() {
  if (loop_->Now() - last_send_ >= keepalive_interval_) {
    absl::Span<const uint8_t> one[] = {esp::NatKeepaliveDatagram()};
    if (socket_->SendTo(one, gateway_).ok()) {
      tx_keepalives_++;
    } else {
      tx_send_failed_++;
    }
    last_send_ = loop_->Now();
  }
  ArmKeepalive();
}

void EspTunnel::ReportEvents() {
  for (const tunnel::TunnelEvent& event : peer_->TakeEvents()) {
    if (on_event_) on_event_(event);
  }
}

tunnel::CounterList EspTunnel::Counters() const {
  tunnel::CounterList list = peer_->Counters();
  const event::UdpSocket::Counters& s = socket_->counters();
  list.insert(list.end(), {
                              {"udp_datagrams_sent", s.datagrams_sent},
                              {"udp_bytes_sent", s.bytes_sent},
                              {"udp_datagrams_received", s.datagrams_received},
                              {"udp_bytes_received", s.bytes_received},
                              {"udp_send_failed", tx_send_failed_},
                              {"nat_keepalives_sent", tx_keepalives_},
                              {"nat_keepalives_received", rx_keepalives_},
                              {"rx_foreign", rx_foreign_},
                              {"rx_ike_ignored", rx_ike_},
                              {"rx_not_esp", rx_malformed_},
                              {"rx_unknown_spi", rx_unknown_spi_},
                              {"rx_no_receiver", rx_no_receiver_},
                          });
  return list;
}

}  // namespace stow::ipsec
