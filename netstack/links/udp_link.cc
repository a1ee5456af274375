#include "netstack/links/udp_link.h"

#include <utility>

namespace stow::netstack {
namespace {
// Socket buffers big enough for a 2 MiB TCP window of small packets.
constexpr int kSocketBuffer = 8 << 20;
}  // namespace

UdpLink::UdpLink(event::UvLoop* loop, int mtu) : loop_(loop), mtu_(mtu) {}

absl::StatusOr<std::unique_ptr<UdpLink>> UdpLink::Create(
    event::UvLoop* loop, const SocketAddress& local, int mtu,
    const Impairment& impairment) {
  std::unique_ptr<UdpLink> link(new UdpLink(loop, mtu));
  link->socket_ = std::make_unique<event::UdpSocket>(
      loop, static_cast<event::UdpSocket::Delegate*>(link.get()));
  absl::Status status = link->socket_->Bind(local);
  if (!status.ok()) return status;
  // Larger buffers are best effort: the link works without them.
  (void)link->socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  absl::StatusOr<SocketAddress> bound = link->socket_->LocalAddress();
  if (!bound.ok()) return bound.status();
  link->local_ = *bound;
  if (!impairment.IsNone()) {
    UdpLink* raw = link.get();
    link->stage_ = std::make_unique<ImpairmentStage>(
        loop, impairment, [raw](absl::Span<const uint8_t> packet) {
          absl::Span<const uint8_t> one[] = {packet};
          raw->Transmit(one);
        });
  }
  return link;
}

UdpLink::~UdpLink() = default;

void UdpLink::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  if (stage_ != nullptr) {
    stage_->Send(fragments);
    return;
  }
  Transmit(fragments);  // Gathers straight into the datagram.
}

void UdpLink::Transmit(absl::Span<const absl::Span<const uint8_t>> fragments) {
  if (peer_.port() == 0) {
    counters_.send_failed++;
    return;
  }
  counters_.tx_packets++;
  if (!socket_->SendTo(fragments, peer_).ok()) counters_.send_failed++;
}

void UdpLink::OnDatagram(absl::Span<const uint8_t> data,
                         const SocketAddress& from) {
  if (from != peer_) {
    counters_.rx_foreign++;
    return;
  }
  counters_.rx_packets++;
  if (receiver_ != nullptr) receiver_->OnPacket(data);
}

}  // namespace stow::netstack
