#include "sdk/event/signal_watcher.h"

#include <csignal>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::event {
namespace {

TEST(SignalWatcherTest, DeliversTheSignalOnTheLoopThread) {
  auto loop = UvLoop::Start();
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::unique_ptr<SignalWatcher> watcher;
  testing::Notification got;
  int received = 0;
  bool on_loop = false;
  ASSERT_TRUE((*loop)
                  ->RunSync([&] {
                    auto w = SignalWatcher::Create(
                        loop->get(), SIGUSR1, [&](int signum) {
                          received = signum;
                          on_loop = (*loop)->IsLoopThread();
                          got.Notify();
                        });
                    ASSERT_TRUE(w.ok()) << w.status();
                    watcher = *std::move(w);
                  })
                  .ok());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE((*loop)->RunSync([&] { watcher.reset(); }).ok());
  EXPECT_EQ(received, SIGUSR1);
  EXPECT_TRUE(on_loop);
  EXPECT_TRUE((*loop)->Shutdown().ok());
}

}  // namespace
}  // namespace stow::event
