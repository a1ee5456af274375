// SA lifetimes (RFC 4301 section 4.4.2.1): soft and hard limits in packets,
// bytes (of inner packets) and time since the SA was created.
//
// How the owner uses it (through OutboundSa/InboundSa, which forward these):
//   - The data path enforces the packet and byte limits itself: a packet that
//     would take the SA past a hard limit is refused (kExpired) and the SA
//     stays expired; reaching a soft limit raises the rekey flag.
//   - Time has no clock here: the owner calls CheckLifetime(now) from a timer
//     (every second or so, or at the soft/hard deadlines it can compute from
//     the limits). It raises the rekey flag at the soft time and expires the
//     SA at the hard time, after which the data path refuses traffic.
//   - TakeRekeyNeeded() is a one-shot: true once, the first time the owner
//     asks after any soft limit was reached, then false for good; the owner
//     starts a CREATE_CHILD_SA rekey when it sees it. CheckLifetime() keeps
//     answering kRekeyNeeded (state, not an event) until the SA expires.
//
// Not thread-safe; owned by one SA.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_LIFETIME_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_LIFETIME_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"

namespace stow::esp {

struct LifetimeLimits {
  static constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

  // A soft limit above its hard limit is treated as equal to it.
  uint64_t soft_packets = kUnlimited;
  uint64_t hard_packets = kUnlimited;
  uint64_t soft_bytes = kUnlimited;
  uint64_t hard_bytes = kUnlimited;
  absl::Duration soft_time = absl::InfiniteDuration();
  absl::Duration hard_time = absl::InfiniteDuration();
};

enum class SaState : uint8_t {
  kFresh,        // Below every soft limit.
  kRekeyNeeded,  // A soft limit was reached; traffic still flows.
  kExpired,      // A hard limit was reached; all traffic is refused.
};

const char* SaStateName(SaState state);

class Lifetime {
 public:
  Lifetime(const LifetimeLimits& limits, absl::Time created);

  // Data path. Admit: may one more packet of `bytes` pass without exceeding a
  // hard limit? If not, the SA expires. Record: counts a packet that passed;
  // raises the rekey flag at a soft limit; expires the SA when no further
  // packet can pass (the hard packet or byte count was reached exactly).
  bool Admit(uint64_t bytes) {
    if (expired_ || packets_ >= hard_packets_ || bytes > hard_bytes_ - bytes_) {
      expired_ = true;
      return false;
    }
    return true;
  }
  void Record(uint64_t bytes) {
    ++packets_;
    bytes_ += bytes;
    if (packets_ >= soft_packets_ || bytes_ >= soft_bytes_) MarkSoft();
    if (packets_ >= hard_packets_ || bytes_ >= hard_bytes_) expired_ = true;
  }
  // Raises the rekey flag as a soft limit would (the outbound SA calls it
  // when its sequence space runs low).
  void MarkSoft() {
    if (!soft_reached_) {
      soft_reached_ = true;
      rekey_flag_ = true;
    }
  }
  // Expires the SA (an exhausted sequence space).
  void Expire() { expired_ = true; }

  // Evaluates the time limits at `now`, then reports the state.
  SaState CheckLifetime(absl::Time now);
  // The state as of the last packet or CheckLifetime() call.
  SaState state() const {
    return expired_        ? SaState::kExpired
           : soft_reached_ ? SaState::kRekeyNeeded
                           : SaState::kFresh;
  }
  bool expired() const { return expired_; }
  // One-shot rekey event; see the file comment.
  bool TakeRekeyNeeded() {
    bool flag = rekey_flag_;
    rekey_flag_ = false;
    return flag;
  }

  uint64_t packets() const { return packets_; }
  uint64_t bytes() const { return bytes_; }
  absl::Time created() const { return created_; }

 private:
  const uint64_t soft_packets_, hard_packets_, soft_bytes_, hard_bytes_;
  const absl::Duration soft_time_, hard_time_;
  const absl::Time created_;
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
  bool soft_reached_ = false;
  bool rekey_flag_ = false;
  bool expired_ = false;
};

}  // namespace stow::esp

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_LIFETIME_H_
