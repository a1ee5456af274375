#include "sdk/event/uv_loop.h"

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"

namespace stow::event {
namespace {

using ::stow::event::testing::kTimeout;
using ::stow::event::testing::Notification;

// Counts its destructions (moved-from copies aside), so a test can tell a
// dropped task from one that is still queued.
class DestructionCounter {
 public:
  explicit DestructionCounter(std::atomic<int>* count) : count_(count) {}
  DestructionCounter(DestructionCounter&& other)
      : count_(std::exchange(other.count_, nullptr)) {}
  ~DestructionCounter() {
    if (count_ != nullptr) ++*count_;
  }

 private:
  std::atomic<int>* count_;  // Not owned.
};

class UvLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<UvLoop>> loop = UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  // Every test ends with a clean shutdown: no handle left open.
  void TearDown() override {
    if (loop_ == nullptr) return;
    int live = -1;
    ASSERT_TRUE(loop_->RunSync([&] { live = loop_->LiveHandles(); }).ok());
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  std::unique_ptr<UvLoop> loop_;
};

TEST_F(UvLoopTest, RunsTasksOnTheLoopThreadInPostOrder) {
  EXPECT_FALSE(loop_->IsLoopThread());
  std::vector<int> order;
  bool all_on_loop_thread = true;
  for (int i = 0; i < 1000; ++i) {
    loop_->Post([&, i] {
      all_on_loop_thread &= loop_->IsLoopThread();
      order.push_back(i);
    });
  }
  ASSERT_TRUE(loop_->RunSync([] {}).ok());
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(all_on_loop_thread);
}

TEST_F(UvLoopTest, PostsFromManyThreadsRunOnceEachInPerThreadOrder) {
  constexpr int kThreads = 4;
  constexpr int kTasksPerThread = 10000;
  // Touched only on the loop thread.
  std::vector<std::pair<int, int>> ran;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        loop_->Post([&ran, t, i] { ran.emplace_back(t, i); });
      }
    });
  }
  for (std::thread& poster : posters) poster.join();
  ASSERT_TRUE(loop_->RunSync([] {}).ok());

  ASSERT_EQ(ran.size(), static_cast<size_t>(kThreads * kTasksPerThread));
  std::vector<int> next(kThreads, 0);
  for (const auto& [thread, seq] : ran) {
    ASSERT_EQ(seq, next[thread]) << "thread " << thread;
    ++next[thread];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kTasksPerThread);
}

TEST_F(UvLoopTest, TasksCanPostTasks) {
  Notification done;
  int depth = 0;
  std::function<void()> step = [&] {
    if (++depth == 100) {
      done.Notify();
      return;
    }
    loop_->Post([&] { step(); });
  };
  loop_->Post([&] { step(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(depth, 100);
}

TEST_F(UvLoopTest, PostFromATaskNeverRunsInline) {
  Notification done;
  bool poster_finished = false;
  bool ran_after_poster = false;
  loop_->Post([&] {
    loop_->Post([&] {
      ran_after_poster = poster_finished;
      done.Notify();
    });
    poster_finished = true;
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_TRUE(ran_after_poster);
}

TEST_F(UvLoopTest, RunSyncWaitsForTheTask) {
  bool ran = false;
  ASSERT_TRUE(loop_->RunSync([&] { ran = loop_->IsLoopThread(); }).ok());
  EXPECT_TRUE(ran);
}

TEST_F(UvLoopTest, RunSyncOnTheLoopThreadFailsInsteadOfDeadlocking) {
  absl::Status nested;
  ASSERT_TRUE(loop_->RunSync([&] { nested = loop_->RunSync([] {}); }).ok());
  EXPECT_EQ(nested.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(UvLoopTest, NowIsMonotonic) {
  absl::Duration first = loop_->Now();
  absl::Duration second = loop_->Now();
  EXPECT_GE(first, absl::ZeroDuration());
  EXPECT_GE(second, first);
}

TEST_F(UvLoopTest, ShutdownRunsQueuedTasksAndDropsLaterOnes) {
  // The first task holds the loop thread while Shutdown() begins.
  Notification blocking, release;
  bool queued_ran = false;
  bool inner_ran = false;
  std::atomic<int> inner_destroyed{0};
  loop_->Post([&] {
    blocking.Notify();
    ASSERT_TRUE(release.WaitForNotificationWithTimeout(kTimeout));
    loop_->Post([&inner_ran, counter = DestructionCounter(&inner_destroyed)] {
      inner_ran = true;
    });
  });
  loop_->Post([&] { queued_ran = true; });
  ASSERT_TRUE(blocking.WaitForNotificationWithTimeout(kTimeout));

  absl::Status shutdown_status;
  std::thread shutdown([&] { shutdown_status = loop_->Shutdown(); });
  // Shutdown has begun once a post is dropped on the spot (the loop thread
  // is blocked, so nothing else destroys probes meanwhile).
  std::atomic<int> probes_destroyed{0};
  while (probes_destroyed == 0) {
    loop_->Post([counter = DestructionCounter(&probes_destroyed)] {});
    std::this_thread::yield();
  }
  release.Notify();
  shutdown.join();

  EXPECT_TRUE(shutdown_status.ok()) << shutdown_status;
  EXPECT_TRUE(queued_ran);
  EXPECT_FALSE(inner_ran);
  EXPECT_EQ(inner_destroyed, 1);

  bool late_ran = false;
  std::atomic<int> late_destroyed{0};
  loop_->Post([&late_ran, counter = DestructionCounter(&late_destroyed)] {
    late_ran = true;
  });
  EXPECT_FALSE(late_ran);
  EXPECT_EQ(late_destroyed, 1);
  EXPECT_EQ(loop_->RunSync([] {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(loop_->Shutdown().ok());  // Idempotent.
  loop_.reset();
}

TEST_F(UvLoopTest, TimerFires) {
  Notification fired;
  std::unique_ptr<Timer> timer;
  absl::Duration started_at;
  absl::Duration fired_at;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    timer = loop_->NewTimer([&] {
                      fired_at = loop_->Now();
                      fired.Notify();
                    });
                    started_at = loop_->Now();
                    timer->Start(absl::Milliseconds(20));
                    EXPECT_TRUE(timer->IsArmed());
                  })
                  .ok());
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kTimeout));
  bool armed = true;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    armed = timer->IsArmed();
                    timer.reset();
                  })
                  .ok());
  EXPECT_FALSE(armed);
  // libuv's clock has millisecond granularity, cached per loop turn.
  EXPECT_GE(fired_at - started_at, absl::Milliseconds(19));
}

TEST_F(UvLoopTest, ZeroDelayFiresLaterNotInsideStart) {
  Notification fired;
  std::unique_ptr<Timer> timer;
  bool fired_inside_start = false;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    timer = loop_->NewTimer([&] { fired.Notify(); });
                    timer->Start(absl::ZeroDuration());
                    fired_inside_start = fired.HasBeenNotified();
                  })
                  .ok());
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_FALSE(fired_inside_start);
  ASSERT_TRUE(loop_->RunSync([&] { timer.reset(); }).ok());
}

TEST_F(UvLoopTest, TimerRearmingItselfWithZeroDelayDoesNotStarveTheLoop) {
  Notification task_ran;
  std::unique_ptr<Timer> timer;
  bool stop = false;
  int fires = 0;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    timer = loop_->NewTimer([&] {
                      ++fires;
                      if (!stop) timer->Start(absl::ZeroDuration());
                    });
                    timer->Start(absl::ZeroDuration());
                    // Runs only if the timer yields to the rest of the loop.
                    loop_->Post([&] {
                      stop = true;
                      task_ran.Notify();
                    });
                  })
                  .ok());
  ASSERT_TRUE(task_ran.WaitForNotificationWithTimeout(kTimeout));
  ASSERT_TRUE(loop_->RunSync([&] { timer.reset(); }).ok());
}

TEST_F(UvLoopTest, RearmReplacesAndStopAndDestructionCancel) {
  Notification last_fired;
  std::vector<const char*> fired;
  std::unique_ptr<Timer> rearmed, stopped, destroyed, last;
  ASSERT_TRUE(
      loop_
          ->RunSync([&] {
            rearmed = loop_->NewTimer([&] { fired.push_back("rearmed"); });
            stopped = loop_->NewTimer([&] { fired.push_back("stopped"); });
            destroyed = loop_->NewTimer([&] { fired.push_back("destroyed"); });
            last = loop_->NewTimer([&] {
              fired.push_back("last");
              last_fired.Notify();
            });
            rearmed->Start(absl::Milliseconds(1));
            rearmed->Start(absl::Milliseconds(60));  // After `last`.
            stopped->Start(absl::Milliseconds(1));
            stopped->Stop();
            destroyed->Start(absl::Milliseconds(1));
            destroyed.reset();
            last->Start(absl::Milliseconds(30));
          })
          .ok());
  ASSERT_TRUE(last_fired.WaitForNotificationWithTimeout(kTimeout));
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    EXPECT_EQ(fired, (std::vector<const char*>{"last"}));
                    EXPECT_TRUE(rearmed->IsArmed());
                    EXPECT_FALSE(stopped->IsArmed());
                    rearmed.reset();
                    stopped.reset();
                    last.reset();
                  })
                  .ok());
}

TEST_F(UvLoopTest, LiveHandlesCountsOpenHandles) {
  std::unique_ptr<Timer> a, b;
  std::vector<int> counts;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    counts.push_back(loop_->LiveHandles());
                    a = loop_->NewTimer([] {});
                    b = loop_->NewTimer([] {});
                    counts.push_back(loop_->LiveHandles());
                    a.reset();
                    counts.push_back(loop_->LiveHandles());
                    b.reset();
                    counts.push_back(loop_->LiveHandles());
                  })
                  .ok());
  EXPECT_EQ(counts, (std::vector<int>{0, 2, 1, 0}));
}

TEST_F(UvLoopTest, ShutdownWaitsForOwnersClosingHandlesFromCallbacks) {
  std::unique_ptr<Timer> timer;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    timer = loop_->NewTimer([&] {
                      // Deferred deletion during shutdown: the task is
                      // dropped, which destroys the timer after this
                      // callback.
                      loop_->Post([owned = std::move(timer)] {});
                    });
                    timer->Start(absl::Milliseconds(50));
                  })
                  .ok());
  EXPECT_TRUE(loop_->Shutdown(kTimeout).ok());
  EXPECT_EQ(timer, nullptr);
  loop_.reset();
}

TEST_F(UvLoopTest, ShutdownReportsAndForceClosesLeakedHandles) {
  std::unique_ptr<Timer> leaked;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    leaked = loop_->NewTimer([] {});
                    leaked->Start(absl::Hours(1));
                  })
                  .ok());
  absl::Status status = loop_->Shutdown(absl::Milliseconds(50));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("1 handle(s) still open"),
            absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find("timer"), absl::string_view::npos)
      << status;
  EXPECT_EQ(loop_->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
  // Force-closed: destroying it now touches nothing of the loop.
  leaked.reset();
  loop_.reset();
}

}  // namespace
}  // namespace stow::event
