// The event loop seam. Everything in Stowaway runs on one network thread that
// owns a Loop; other threads only Post() work to it.
#ifndef STOWAWAY_SDK_EVENT_LOOP_H_
#define STOWAWAY_SDK_EVENT_LOOP_H_

#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace stow::event {

// A one-shot timer owned by its creator. Destroying it cancels it; the
// callback never runs after destruction. All methods on the loop thread.
class Timer {
 public:
  virtual ~Timer() = default;

  // Arms the timer to fire once, `delay` from now (re-arming replaces the
  // previous deadline). A zero or negative delay fires on the next turn of
  // the loop, never from inside Start().
  virtual void Start(absl::Duration delay) = 0;
  // Disarms the timer; a no-op when it is not armed.
  virtual void Stop() = 0;
  virtual bool IsArmed() const = 0;
};

// A single-threaded event loop.
//
// Threading: Post() may be called from any thread; everything else only on
// the loop thread. Tasks run on the loop thread in the order they were posted
// (per posting thread, and globally for posts ordered by happens-before).
class Loop {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  virtual ~Loop() = default;

  // Monotonic time since an arbitrary origin fixed at loop creation. On a
  // ManualLoop this is the fake clock.
  virtual absl::Duration Now() const = 0;

  // Runs `task` on the loop thread, later: never from inside Post(), even on
  // the loop thread. Thread-safe. Tasks posted after shutdown began are
  // destroyed without running.
  virtual void Post(Task task) = 0;

  // True on the thread that runs this loop.
  virtual bool IsLoopThread() const = 0;

  // Creates a timer whose `callback` runs on the loop thread.
  virtual std::unique_ptr<Timer> NewTimer(
      absl::AnyInvocable<void()> callback) = 0;

  // Milliseconds since the origin, for code with millisecond clocks (lwIP).
  uint64_t NowMillis() const {
    return static_cast<uint64_t>(absl::ToInt64Milliseconds(Now()));
  }
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_LOOP_H_
