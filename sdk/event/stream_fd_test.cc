// StreamFd over a socketpair: the test's thread uses the other end with
// blocking calls while the loop thread runs the StreamFd.
#include "sdk/event/stream_fd.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::event {
namespace {

using testing::kTimeout;
using testing::Notification;

class Recorder : public StreamFd::Delegate {
 public:
  void OnData(absl::Span<const uint8_t> data) override {
    std::lock_guard<std::mutex> lock(mu);
    received.append(data.begin(), data.end());
    if (received.size() >= expect) got_all.Notify();
  }
  void OnEof() override { eof.Notify(); }
  void OnWritable() override {}
  void OnError(absl::Status status) override {
    error = std::move(status);
    failed.Notify();
  }
  std::mutex mu;
  std::string received;
  size_t expect = 0;
  absl::Status error;
  Notification got_all, eof, failed;
};

TEST(StreamFdTest, BytesBothWaysHalfCloseAndEof) {
  auto loop = UvLoop::Start();
  ASSERT_TRUE(loop.ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Recorder recorder;
  recorder.expect = 5;
  std::unique_ptr<StreamFd> stream;
  ASSERT_TRUE((*loop)
                  ->RunSync([&] {
                    auto s = StreamFd::Adopt(loop->get(), fds[0]);
                    ASSERT_TRUE(s.ok()) << s.status();
                    stream = std::move(*s);
                    stream->SetDelegate(&recorder);
                  })
                  .ok());
  ASSERT_EQ(write(fds[1], "hello", 5), 5);
  ASSERT_TRUE(recorder.got_all.WaitForNotificationWithTimeout(kTimeout));
  // The loop writes 1 MiB and half-closes; the test's thread reads it all
  // with blocking reads and then sees EOF.
  const std::vector<uint8_t> big(1 << 20, 0xA5);
  ASSERT_TRUE((*loop)
                  ->RunSync([&] {
                    ASSERT_TRUE(stream->Write(big).ok());
                    ASSERT_TRUE(stream->ShutdownWrite().ok());
                    EXPECT_FALSE(stream->Write(big).ok());
                  })
                  .ok());
  size_t total = 0;
  bool all_a5 = true;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fds[1], buf, sizeof(buf));
    ASSERT_GE(n, 0);
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) all_a5 &= (buf[i] == '\xA5');
    total += static_cast<size_t>(n);
  }
  EXPECT_EQ(total, big.size());
  EXPECT_TRUE(all_a5);
  // The other direction still works after our half-close; then EOF.
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ASSERT_EQ(shutdown(fds[1], SHUT_WR), 0);
  ASSERT_TRUE(recorder.eof.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(recorder.received, "hellox");
  EXPECT_FALSE(recorder.failed.HasBeenNotified());
  close(fds[1]);
  int live = -1;
  ASSERT_TRUE((*loop)
                  ->RunSync([&] {
                    stream.reset();
                    live = (*loop)->LiveHandles();
                  })
                  .ok());
  EXPECT_EQ(live, 0);
  EXPECT_TRUE((*loop)->Shutdown().ok());
}

TEST(StreamFdTest, AdoptRejectsABadDescriptor) {
  auto loop = UvLoop::Start();
  ASSERT_TRUE(loop.ok());
  absl::Status status;
  ASSERT_TRUE((*loop)
                  ->RunSync([&] {
                    status = StreamFd::Adopt(loop->get(), -1).status();
                  })
                  .ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*loop)->Shutdown().ok());
}

}  // namespace
}  // namespace stow::event
