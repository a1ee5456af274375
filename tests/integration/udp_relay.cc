#include "tests/integration/udp_relay.h"

namespace stow::testing {

absl::StatusOr<std::unique_ptr<UdpRelay>> UdpRelay::Create(
    event::UvLoop* loop, const SocketAddress& upstream,
    const netstack::Impairment& to_upstream,
    const netstack::Impairment& to_client) {
  std::unique_ptr<UdpRelay> relay(new UdpRelay(upstream));
  relay->socket_ = std::make_unique<event::UdpSocket>(
      loop, static_cast<event::UdpSocket::Delegate*>(relay.get()));
  absl::Status status =
      relay->socket_->Bind(SocketAddress(upstream.ip(), 0));
  if (!status.ok()) return status;
  (void)relay->socket_->SetBufferSizes(8 << 20, 8 << 20);
  auto address = relay->socket_->LocalAddress();
  if (!address.ok()) return address.status();
  relay->address_ = *address;
  UdpRelay* raw = relay.get();
  relay->up_ = std::make_unique<netstack::ImpairmentStage>(
      loop, to_upstream, [raw](absl::Span<const uint8_t> datagram) {
        absl::Span<const uint8_t> one[] = {datagram};
        (void)raw->socket_->SendTo(one, raw->upstream_);
      });
  relay->down_ = std::make_unique<netstack::ImpairmentStage>(
      loop, to_client, [raw](absl::Span<const uint8_t> datagram) {
        absl::Span<const uint8_t> one[] = {datagram};
        (void)raw->socket_->SendTo(one, raw->client_);
      });
  return relay;
}

UdpRelay::~UdpRelay() = default;

void UdpRelay::OnDatagram(absl::Span<const uint8_t> data,
                          const SocketAddress& from) {
  if (from == upstream_) {
    if (client_.port() != 0) down_->Send(data);
    return;
  }
  if (client_.port() == 0) client_ = from;
  if (from == client_) up_->Send(data);
}

}  // namespace stow::testing
