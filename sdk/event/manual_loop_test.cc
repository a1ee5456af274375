#include "sdk/event/manual_loop.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace stow::event {
namespace {

using ::absl::Milliseconds;

TEST(ManualLoopTest, ClockStartsAtZeroAndMovesOnlyWhenAdvanced) {
  ManualLoop loop;
  EXPECT_EQ(loop.Now(), absl::ZeroDuration());
  loop.RunUntilIdle();
  EXPECT_EQ(loop.Now(), absl::ZeroDuration());
  loop.AdvanceBy(Milliseconds(1500));
  EXPECT_EQ(loop.Now(), Milliseconds(1500));
  EXPECT_EQ(loop.NowMillis(), 1500u);
}

TEST(ManualLoopTest, RunsTasksInPostOrderIncludingTasksTheyPost) {
  ManualLoop loop;
  std::vector<int> order;
  loop.Post([&] {
    order.push_back(1);
    loop.Post([&] { order.push_back(3); });
  });
  loop.Post([&] { order.push_back(2); });
  EXPECT_TRUE(order.empty());  // Nothing runs inside Post().
  loop.RunUntilIdle();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(ManualLoopTest, PostIsThreadSafeAndIsLoopThreadIsTheCreator) {
  ManualLoop loop;
  EXPECT_TRUE(loop.IsLoopThread());
  int ran = 0;
  std::thread poster([&] {
    EXPECT_FALSE(loop.IsLoopThread());
    for (int i = 0; i < 100; ++i) loop.Post([&] { ++ran; });
  });
  poster.join();
  loop.RunUntilIdle();
  EXPECT_EQ(ran, 100);
}

TEST(ManualLoopTest, TimersFireInDeadlineOrderTiesInStartOrder) {
  ManualLoop loop;
  std::vector<std::string> fired;
  auto make = [&](std::string name) {
    return loop.NewTimer([&fired, &loop, name] {
      fired.push_back(name + "@" +
                      std::to_string(absl::ToInt64Milliseconds(loop.Now())));
    });
  };
  std::unique_ptr<Timer> late = make("late");
  std::unique_ptr<Timer> tie_a = make("tie_a");
  std::unique_ptr<Timer> tie_b = make("tie_b");
  std::unique_ptr<Timer> early = make("early");
  late->Start(Milliseconds(30));
  tie_a->Start(Milliseconds(20));
  tie_b->Start(Milliseconds(20));
  early->Start(Milliseconds(10));
  EXPECT_EQ(loop.PendingTimers(), 4);

  loop.AdvanceBy(Milliseconds(25));
  EXPECT_EQ(fired,
            (std::vector<std::string>{"early@10", "tie_a@20", "tie_b@20"}));
  EXPECT_EQ(loop.Now(), Milliseconds(25));
  EXPECT_EQ(loop.PendingTimers(), 1);
  loop.AdvanceBy(Milliseconds(5));
  EXPECT_EQ(fired.back(), "late@30");
  EXPECT_EQ(loop.PendingTimers(), 0);
}

TEST(ManualLoopTest, RearmingReplacesTheDeadline) {
  ManualLoop loop;
  int fired = 0;
  std::unique_ptr<Timer> timer = loop.NewTimer([&] { ++fired; });
  timer->Start(Milliseconds(10));
  timer->Start(Milliseconds(50));
  EXPECT_EQ(loop.PendingTimers(), 1);
  loop.AdvanceBy(Milliseconds(49));
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(timer->IsArmed());
  loop.AdvanceBy(Milliseconds(1));
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timer->IsArmed());
  loop.AdvanceBy(Milliseconds(100));
  EXPECT_EQ(fired, 1);  // One-shot.
}

TEST(ManualLoopTest, StopDisarms) {
  ManualLoop loop;
  int fired = 0;
  std::unique_ptr<Timer> timer = loop.NewTimer([&] { ++fired; });
  timer->Stop();  // Not armed: a no-op.
  timer->Start(Milliseconds(10));
  timer->Stop();
  EXPECT_FALSE(timer->IsArmed());
  EXPECT_EQ(loop.PendingTimers(), 0);
  loop.AdvanceBy(Milliseconds(20));
  EXPECT_EQ(fired, 0);
}

TEST(ManualLoopTest, DestructionCancels) {
  ManualLoop loop;
  int fired = 0;
  std::unique_ptr<Timer> timer = loop.NewTimer([&] { ++fired; });
  timer->Start(Milliseconds(10));
  timer.reset();
  EXPECT_EQ(loop.PendingTimers(), 0);
  loop.AdvanceBy(Milliseconds(20));
  EXPECT_EQ(fired, 0);
}

TEST(ManualLoopTest, ZeroAndNegativeDelaysFireOnTheNextTurnNotInStart) {
  ManualLoop loop;
  int fired = 0;
  std::unique_ptr<Timer> zero = loop.NewTimer([&] { ++fired; });
  std::unique_ptr<Timer> negative = loop.NewTimer([&] { ++fired; });
  zero->Start(absl::ZeroDuration());
  negative->Start(Milliseconds(-5));
  EXPECT_EQ(fired, 0);
  loop.RunUntilIdle();
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(loop.Now(), absl::ZeroDuration());
}

TEST(ManualLoopTest, TasksRunBetweenTimersAtEachTimersTime) {
  ManualLoop loop;
  std::vector<std::string> events;
  std::unique_ptr<Timer> second = loop.NewTimer([&] {
    events.push_back("second@" +
                     std::to_string(absl::ToInt64Milliseconds(loop.Now())));
  });
  std::unique_ptr<Timer> first = loop.NewTimer([&] {
    events.push_back("first");
    loop.Post([&] {
      events.push_back("task@" +
                       std::to_string(absl::ToInt64Milliseconds(loop.Now())));
      second->Start(Milliseconds(5));
    });
  });
  first->Start(Milliseconds(10));
  loop.AdvanceBy(Milliseconds(100));
  EXPECT_EQ(events,
            (std::vector<std::string>{"first", "task@10", "second@15"}));
}

TEST(ManualLoopTest, UnrunTasksAreDestroyedWithTheLoop) {
  auto counter = std::make_shared<int>(0);
  {
    ManualLoop loop;
    loop.Post([counter] { ++*counter; });
    EXPECT_EQ(counter.use_count(), 2);
  }
  EXPECT_EQ(counter.use_count(), 1);
  EXPECT_EQ(*counter, 0);
}

}  // namespace
}  // namespace stow::event
