#include "sdk/event/manual_loop.h"

#include <algorithm>

namespace stow::event {

// A Timer on a ManualLoop's fake clock. Loop thread only; owned by its
// creator.
class ManualLoop::ManualTimer : public Timer {
 public:
  ManualTimer(ManualLoop* loop, absl::AnyInvocable<void()> callback)
      : loop_(loop), callback_(std::move(callback)) {}
  ~ManualTimer() override { Stop(); }

  void Start(absl::Duration delay) override {
    Stop();
    key_ = {loop_->now_ + std::max(delay, absl::ZeroDuration()),
            loop_->next_timer_seq_++};
    loop_->armed_.emplace(key_, this);
    armed_ = true;
  }

  void Stop() override {
    if (!armed_) return;
    loop_->armed_.erase(key_);
    armed_ = false;
  }

  bool IsArmed() const override { return armed_; }

  // Disarms the timer and runs its callback.
  void Fire() {
    Stop();
    callback_();
  }

 private:
  ManualLoop* const loop_;  // Not owned.
  absl::AnyInvocable<void()> callback_;
  bool armed_ = false;
  TimerKey key_;  // Meaningful while armed_.
};

ManualLoop::ManualLoop() : loop_thread_id_(std::this_thread::get_id()) {}

ManualLoop::~ManualLoop() = default;

void ManualLoop::Post(Task task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
}

bool ManualLoop::IsLoopThread() const {
  return std::this_thread::get_id() == loop_thread_id_;
}

std::unique_ptr<Timer> ManualLoop::NewTimer(
    absl::AnyInvocable<void()> callback) {
  return std::make_unique<ManualTimer>(this, std::move(callback));
}

void ManualLoop::RunUntilIdle() {
  while (RunQueuedTasks() || FireNextTimer(now_)) {
  }
}

void ManualLoop::AdvanceBy(absl::Duration delta) {
  const absl::Duration target = now_ + std::max(delta, absl::ZeroDuration());
  do {
    RunUntilIdle();
  } while (FireNextTimer(target));
  now_ = target;
}

bool ManualLoop::RunQueuedTasks() {
  std::vector<Task> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
  }
  for (Task& task : batch) std::move(task)();
  return !batch.empty();
}

bool ManualLoop::FireNextTimer(absl::Duration limit) {
  if (armed_.empty() || armed_.begin()->first.first > limit) return false;
  auto [key, timer] = *armed_.begin();
  now_ = std::max(now_, key.first);
  timer->Fire();
  return true;
}

}  // namespace stow::event
