// A sending-side impairment stage for tests and benchmarks: loss,
// duplication, reordering and delay, driven by a seeded RNG.
#ifndef STOWAWAY_NETSTACK_LINKS_IMPAIRMENT_H_
#define STOWAWAY_NETSTACK_LINKS_IMPAIRMENT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/event/loop.h"

namespace stow::netstack {

// What the stage does to packets. Percentages are of packets sent.
struct Impairment {
  double loss_percent = 0;       // Dropped.
  double duplicate_percent = 0;  // Sent twice.
  double reorder_percent = 0;    // Held back and sent after the next one.
  absl::Duration delay;          // Added to every packet (order kept).
  uint64_t seed = 1;

  bool IsNone() const {
    return loss_percent == 0 && duplicate_percent == 0 &&
           reorder_percent == 0 && delay == absl::ZeroDuration();
  }
};

// Applies an Impairment to packets on their way to `sink`. A held
// (reordered) packet goes out right after the next packet, or after 1 ms if
// none follows. Loop thread only; the sink runs on the loop thread, from
// Send() or from a timer.
class ImpairmentStage {
 public:
  using Sink = absl::AnyInvocable<void(absl::Span<const uint8_t> packet)>;

  struct Counters {
    uint64_t lost = 0;
    uint64_t duplicated = 0;
    uint64_t reordered = 0;
  };

  ImpairmentStage(event::Loop* loop, const Impairment& impairment, Sink sink);
  ImpairmentStage(const ImpairmentStage&) = delete;
  ImpairmentStage& operator=(const ImpairmentStage&) = delete;

  // Sends the concatenation of `fragments` as one packet.
  void Send(absl::Span<const absl::Span<const uint8_t>> fragments);
  void Send(absl::Span<const uint8_t> packet) {
    absl::Span<const uint8_t> one[] = {packet};
    Send(one);
  }

  const Counters& counters() const { return counters_; }

 private:
  void Emit(std::vector<uint8_t> packet);
  void OnDelayTimer();
  void FlushHeld();
  bool Roll(double percent);

  event::Loop* const loop_;  // Not owned.
  const Impairment impairment_;
  Sink sink_;
  std::mt19937_64 rng_;
  std::vector<uint8_t> held_;
  bool holding_ = false;
  std::unique_ptr<event::Timer> held_timer_;
  std::deque<std::pair<absl::Duration, std::vector<uint8_t>>> delayed_;
  std::unique_ptr<event::Timer> delay_timer_;
  Counters counters_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_LINKS_IMPAIRMENT_H_
