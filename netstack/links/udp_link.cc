#include "netstack/links/udp_link.h"

#include <utility>

namespace stow::netstack {
namespace {
// A held (reordered) packet is released after this long if no other packet
// overtakes it.
constexpr absl::Duration kHoldLimit = absl::Milliseconds(1);
// Socket buffers big enough for a 2 MiB TCP window of small packets.
constexpr int kSocketBuffer = 8 << 20;
}  // namespace

UdpLink::UdpLink(event::UvLoop* loop, int mtu, const Impairment& impairment)
    : loop_(loop), mtu_(mtu), impairment_(impairment), rng_(impairment.seed) {}

absl::StatusOr<std::unique_ptr<UdpLink>> UdpLink::Create(
    event::UvLoop* loop, const SocketAddress& local, int mtu,
    const Impairment& impairment) {
  std::unique_ptr<UdpLink> link(new UdpLink(loop, mtu, impairment));
  link->socket_ = std::make_unique<event::UdpSocket>(
      loop, static_cast<event::UdpSocket::Delegate*>(link.get()));
  absl::Status status = link->socket_->Bind(local);
  if (!status.ok()) return status;
  // Larger buffers are best effort: the link works without them.
  (void)link->socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  absl::StatusOr<SocketAddress> bound = link->socket_->LocalAddress();
  if (!bound.ok()) return bound.status();
  link->local_ = *bound;
  UdpLink* raw = link.get();
  link->held_timer_ = loop->NewTimer([raw] { raw->FlushHeld(); });
  link->delay_timer_ = loop->NewTimer([raw] { raw->OnDelayTimer(); });
  return link;
}

UdpLink::~UdpLink() = default;

bool UdpLink::Roll(double percent) {
  if (percent <= 0) return false;
  return std::uniform_real_distribution<double>(0, 100)(rng_) < percent;
}

void UdpLink::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  if (impairment_.IsNone()) {
    // Fast path: gather straight into the datagram.
    if (peer_.port() == 0) {
      counters_.send_failed++;
      return;
    }
    counters_.tx_packets++;
    if (!socket_->SendTo(fragments, peer_).ok()) counters_.send_failed++;
    return;
  }
  if (Roll(impairment_.loss_percent)) {
    counters_.impaired_lost++;
    return;
  }
  std::vector<uint8_t> packet;
  for (absl::Span<const uint8_t> f : fragments) {
    packet.insert(packet.end(), f.begin(), f.end());
  }
  if (Roll(impairment_.duplicate_percent)) {
    counters_.impaired_duplicated++;
    Emit(packet);
  }
  if (!holding_ && Roll(impairment_.reorder_percent)) {
    counters_.impaired_reordered++;
    held_ = std::move(packet);
    holding_ = true;
    held_timer_->Start(kHoldLimit);
    return;
  }
  Emit(std::move(packet));
  FlushHeld();  // The held packet goes after the one that overtook it.
}

void UdpLink::FlushHeld() {
  if (!holding_) return;
  holding_ = false;
  held_timer_->Stop();
  Emit(std::move(held_));
  held_.clear();
}

void UdpLink::Emit(std::vector<uint8_t> packet) {
  if (impairment_.delay <= absl::ZeroDuration()) {
    Transmit(packet);
    return;
  }
  delayed_.emplace_back(loop_->Now() + impairment_.delay, std::move(packet));
  if (!delay_timer_->IsArmed()) delay_timer_->Start(impairment_.delay);
}

void UdpLink::OnDelayTimer() {
  const absl::Duration now = loop_->Now();
  while (!delayed_.empty() && delayed_.front().first <= now) {
    Transmit(delayed_.front().second);
    delayed_.pop_front();
  }
  if (!delayed_.empty()) delay_timer_->Start(delayed_.front().first - now);
}

void UdpLink::Transmit(absl::Span<const uint8_t> packet) {
  if (peer_.port() == 0) {
    counters_.send_failed++;
    return;
  }
  counters_.tx_packets++;
  absl::Span<const uint8_t> one[] = {packet};
  if (!socket_->SendTo(one, peer_).ok()) counters_.send_failed++;
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
