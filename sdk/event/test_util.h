// Helpers for sdk/event's tests.
#ifndef STOWAWAY_SDK_EVENT_TEST_UTIL_H_
#define STOWAWAY_SDK_EVENT_TEST_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace stow::event::testing {

// How long a test waits for an event before failing.
inline constexpr absl::Duration kTimeout = absl::Seconds(10);

// absl::Notification's interface on std::mutex: Debian's absl is built
// without ThreadSanitizer annotations, so with absl::Notification TSan would
// not see that what happened before Notify() happened before the wait
// returned, and would report races that are not there.
class Notification {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }

  bool HasBeenNotified() const {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_;
  }

  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [this] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;  // Guarded by mu_.
};

}  // namespace stow::event::testing

#endif  // STOWAWAY_SDK_EVENT_TEST_UTIL_H_
