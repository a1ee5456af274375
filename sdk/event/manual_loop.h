// A Loop driven by hand, for deterministic tests: no threads, no libuv.
#ifndef STOWAWAY_SDK_EVENT_MANUAL_LOOP_H_
#define STOWAWAY_SDK_EVENT_MANUAL_LOOP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "sdk/event/loop.h"

namespace stow::event {

// A Loop whose clock starts at zero and moves only in AdvanceBy(), and whose
// tasks and timers run only inside RunUntilIdle() and AdvanceBy().
//
// Threading: the "loop thread" is the thread that constructed it. Post() is
// thread-safe; everything else on the loop thread.
// Ownership: timers from NewTimer() must be destroyed before the loop.
class ManualLoop : public Loop {
 public:
  ManualLoop();
  // Destroys unrun tasks.
  ~ManualLoop() override;

  ManualLoop(const ManualLoop&) = delete;
  ManualLoop& operator=(const ManualLoop&) = delete;

  // Loop:
  absl::Duration Now() const override { return now_; }
  void Post(Task task) override;
  bool IsLoopThread() const override;
  std::unique_ptr<Timer> NewTimer(absl::AnyInvocable<void()> callback) override;

  // Runs posted tasks (including those they post) and timers due at Now()
  // until none remain. A task or timer that keeps re-posting or re-arming
  // itself for Now() never lets it return.
  void RunUntilIdle();

  // Moves the clock forward by `delta` (negative counts as zero), firing
  // the timers that fall due in deadline order, ties in the order they were
  // armed, with Now() at each one's deadline, and running posted tasks
  // before, between and after them.
  void AdvanceBy(absl::Duration delta);

  // Number of armed timers.
  int PendingTimers() const { return static_cast<int>(armed_.size()); }

 private:
  class ManualTimer;
  // Deadline, then arming order.
  using TimerKey = std::pair<absl::Duration, uint64_t>;

  // Runs the tasks queued now; false if there were none.
  bool RunQueuedTasks();
  // Fires the first armed timer due by `limit`; false if there is none.
  bool FireNextTimer(absl::Duration limit);

  const std::thread::id loop_thread_id_;
  absl::Duration now_;
  uint64_t next_timer_seq_ = 0;
  std::map<TimerKey, ManualTimer*> armed_;  // Not owned.

  std::mutex mu_;
  std::vector<Task> queue_;  // Guarded by mu_.
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_MANUAL_LOOP_H_
