#include "sdk/event/fd_watcher.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::event {
namespace {

using ::stow::event::testing::kTimeout;
using ::stow::event::testing::Notification;

class FdWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<UvLoop>> loop = UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
  }

  void TearDown() override {
    int live = -1;
    ASSERT_TRUE(loop_
                    ->RunSync([&] {
                      watcher_.reset();
                      live = loop_->LiveHandles();
                    })
                    .ok());
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(loop_->Shutdown().ok());
    close(fds_[0]);
    close(fds_[1]);
  }

  // Creates watcher_ for fds_[0].
  void Watch(bool readable, bool writable, FdWatcher::Callback callback) {
    absl::Status status;
    ASSERT_TRUE(loop_
                    ->RunSync([&] {
                      absl::StatusOr<std::unique_ptr<FdWatcher>> watcher =
                          FdWatcher::Create(loop_.get(), fds_[0]);
                      status = watcher.status();
                      if (!status.ok()) return;
                      watcher_ = *std::move(watcher);
                      status = watcher_->Start(readable, writable,
                                               std::move(callback));
                    })
                    .ok());
    ASSERT_TRUE(status.ok()) << status;
  }

  std::unique_ptr<UvLoop> loop_;
  int fds_[2] = {-1, -1};
  std::unique_ptr<FdWatcher> watcher_;
};

TEST_F(FdWatcherTest, ReportsReadable) {
  Notification readable;
  char received = 0;
  Watch(true, false, [&](bool r, bool w) {
    EXPECT_TRUE(r);
    EXPECT_FALSE(w);
    // Drain and stop: level-triggered, it would fire again otherwise.
    ASSERT_EQ(read(fds_[0], &received, 1), 1);
    watcher_->Stop();
    readable.Notify();
  });
  ASSERT_EQ(write(fds_[1], "x", 1), 1);
  ASSERT_TRUE(readable.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(received, 'x');
}

TEST_F(FdWatcherTest, ReportsWritableAndRestartsFromItsCallback) {
  Notification readable;
  int writable_calls = 0;
  Watch(false, true, [&](bool r, bool w) {
    EXPECT_FALSE(r);
    EXPECT_TRUE(w);
    ++writable_calls;
    ASSERT_EQ(write(fds_[0], "y", 1), 1);
    // Switch to reading, replacing the running callback.
    ASSERT_TRUE(watcher_
                    ->Start(true, false,
                            [&](bool r, bool) {
                              EXPECT_TRUE(r);
                              watcher_->Stop();
                              readable.Notify();
                            })
                    .ok());
  });
  char echoed;
  ASSERT_EQ(read(fds_[1], &echoed, 1), 1);  // Blocking: waits for "y".
  ASSERT_EQ(write(fds_[1], "z", 1), 1);
  ASSERT_TRUE(readable.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(echoed, 'y');
  ASSERT_TRUE(loop_->RunSync([] {}).ok());
  EXPECT_EQ(writable_calls, 1);
}

TEST_F(FdWatcherTest, DestroyingLeavesTheFdOpen) {
  Watch(true, false, [](bool, bool) {});
  ASSERT_TRUE(loop_->RunSync([&] { watcher_.reset(); }).ok());
  EXPECT_NE(fcntl(fds_[0], F_GETFD), -1);
  // Switched to non-blocking by the watcher.
  EXPECT_NE(fcntl(fds_[0], F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(FdWatcherTest, RefusesAClosedFd) {
  absl::Status status;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    status = FdWatcher::Create(loop_.get(), -1).status();
                  })
                  .ok());
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace stow::event
