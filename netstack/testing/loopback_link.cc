#include "netstack/testing/loopback_link.h"

namespace stow::netstack::testing {

LoopbackLink::LoopbackLink(event::Loop* loop, int mtu)
    : mtu_(mtu), deliver_(loop->NewTimer([this] { Deliver(); })) {}

void LoopbackLink::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  sent_packets_++;
  std::vector<uint8_t> packet;
  for (absl::Span<const uint8_t> f : fragments) {
    packet.insert(packet.end(), f.begin(), f.end());
  }
  if (filter_ && !filter_(packet)) {
    dropped_packets_++;
    return;
  }
  queue_.push_back(std::move(packet));
  if (!deliver_->IsArmed()) deliver_->Start(absl::ZeroDuration());
}

void LoopbackLink::Inject(absl::Span<const uint8_t> packet) {
  if (receiver_ != nullptr) receiver_->OnPacket(packet);
}

void LoopbackLink::Deliver() {
  // Packets sent while delivering go out on the next turn.
  std::deque<std::vector<uint8_t>> batch;
  batch.swap(queue_);
  for (const std::vector<uint8_t>& packet : batch) Inject(packet);
}

}  // namespace stow::netstack::testing
