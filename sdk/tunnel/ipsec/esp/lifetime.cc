#include "sdk/tunnel/ipsec/esp/lifetime.h"

#include <algorithm>

namespace stow::esp {

const char* SaStateName(SaState state) {
  switch (state) {
    case SaState::kFresh:
      return "fresh";
    case SaState::kRekeyNeeded:
      return "rekey_needed";
    case SaState::kExpired:
      return "expired";
  }
  return "unknown";
}

Lifetime::Lifetime(const LifetimeLimits& limits, absl::Time created)
    : soft_packets_(std::min(limits.soft_packets, limits.hard_packets)),
      hard_packets_(limits.hard_packets),
      soft_bytes_(std::min(limits.soft_bytes, limits.hard_bytes)),
      hard_bytes_(limits.hard_bytes),
      soft_time_(std::min(limits.soft_time, limits.hard_time)),
      hard_time_(limits.hard_time),
      created_(created) {}

SaState Lifetime::CheckLifetime(absl::Time now) {
  const absl::Duration age = now - created_;
  if (age >= soft_time_) MarkSoft();
  if (age >= hard_time_) expired_ = true;
  return state();
}

}  // namespace stow::esp
