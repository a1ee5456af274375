#include "netstack/links/impairment.h"

namespace stow::netstack {
namespace {
// A held (reordered) packet is released after this long if no other packet
// overtakes it.
constexpr absl::Duration kHoldLimit = absl::Milliseconds(1);
}  // namespace

ImpairmentStage::ImpairmentStage(event::Loop* loop,
                                 const Impairment& impairment, Sink sink)
    : loop_(loop),
      impairment_(impairment),
      sink_(std::move(sink)),
      rng_(impairment.seed),
      held_timer_(loop->NewTimer([this] { FlushHeld(); })),
      delay_timer_(loop->NewTimer([this] { OnDelayTimer(); })) {}

bool ImpairmentStage::Roll(double percent) {
  if (percent <= 0) return false;
  return std::uniform_real_distribution<double>(0, 100)(rng_) < percent;
}

void ImpairmentStage::Send(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  if (Roll(impairment_.loss_percent)) {
    counters_.lost++;
    return;
  }
  std::vector<uint8_t> packet;
  for (absl::Span<const uint8_t> f : fragments) {
    packet.insert(packet.end(), f.begin(), f.end());
  }
  if (Roll(impairment_.duplicate_percent)) {
    counters_.duplicated++;
    Emit(packet);
  }
  if (!holding_ && Roll(impairment_.reorder_percent)) {
    counters_.reordered++;
    held_ = std::move(packet);
    holding_ = true;
    held_timer_->Start(kHoldLimit);
    return;
  }
  Emit(std::move(packet));
  FlushHeld();  // The held packet goes after the one that overtook it.
}

void ImpairmentStage::FlushHeld() {
  if (!holding_) return;
  holding_ = false;
  held_timer_->Stop();
  Emit(std::move(held_));
  held_.clear();
}

void ImpairmentStage::Emit(std::vector<uint8_t> packet) {
  if (impairment_.delay <= absl::ZeroDuration()) {
    sink_(packet);
    return;
  }
  delayed_.emplace_back(loop_->Now() + impairment_.delay, std::move(packet));
  if (!delay_timer_->IsArmed()) delay_timer_->Start(impairment_.delay);
}

void ImpairmentStage::OnDelayTimer() {
  const absl::Duration now = loop_->Now();
  while (!delayed_.empty() && delayed_.front().first <= now) {
    std::vector<uint8_t> packet = std::move(delayed_.front().second);
    delayed_.pop_front();
    sink_(packet);
  }
  if (!delayed_.empty()) delay_timer_->Start(delayed_.front().first - now);
}

}  // namespace stow::netstack
