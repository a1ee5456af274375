// LocalForward, RemoteForward and FdBridge end to end over a netstack on a
// LoopbackLink, with blocking host sockets (127.0.0.1) on the test thread.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "sdk/proxy/fd_bridge.h"
#include "sdk/proxy/forward.h"
#include "sdk/proxy/test_env.h"

namespace stow::proxy {
namespace {

using event::testing::kTimeout;
using event::testing::Notification;
using netstack::testing::Duplex;
using netstack::testing::PatternDigest;
using namespace ::stow::proxy::testing;  // NOLINT

constexpr uint64_t kBig = 4 << 20;

class ForwardTest : public ProxyTestBase {
 protected:
  void TearDownOnLoop() override {
    local_.reset();
    remote_.reset();
    bridges_.clear();
    clients_.clear();
  }

  void ExpectServerReceived(DuplexServer* server, uint64_t size,
                            uint64_t seed) {
    ASSERT_TRUE(Await([&] {
      return !server->duplexes.empty() &&
             server->duplexes[0]->receiver().eof();
    }));
    Run([&] {
      EXPECT_EQ(server->duplexes[0]->receiver().received(), size);
      EXPECT_EQ(server->duplexes[0]->receiver().digest(),
                PatternDigest(size, seed));
    });
  }

  std::unique_ptr<LocalForward> local_;
  std::unique_ptr<RemoteForward> remote_;
  std::vector<std::unique_ptr<FdBridge>> bridges_;
  std::vector<std::unique_ptr<netstack::TcpConnection>> clients_;
};

TEST_F(ForwardTest, LocalForwardByNameMultiMebibyteBothWays) {
  DuplexServer* target = StartDuplexServer(9100, kBig, 21);
  SocketAddress listen;
  Run([&] {
    resolver_->Add("svc.test", {kVirtual4});
    auto forward = LocalForward::Start(loop_.get(), dialer_.get(),
                                       SocketAddress(kLoopback, 0),
                                       "svc.test", 9100);
    ASSERT_TRUE(forward.ok()) << forward.status();
    local_ = std::move(*forward);
    listen = local_->listen_address();
  });
  int fd = ConnectTcp(listen);
  ASSERT_GE(fd, 0);
  TransferResult result = Transfer(fd, kBig, 20);
  close(fd);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 21));
  ExpectServerReceived(target, kBig, 20);
  ASSERT_TRUE(Await([&] { return local_->live_connections() == 0; }));
  ForwardCounters c;
  Run([&] { c = local_->counters(); });
  EXPECT_EQ(c.accepted, 1u);
  EXPECT_EQ(c.closed, 1u);
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(c.bytes_to_tunnel, kBig);
  EXPECT_EQ(c.bytes_to_host, kBig);
}

TEST_F(ForwardTest, LocalForwardUnknownNameResetsTheClient) {
  SocketAddress listen;
  Run([&] {
    auto forward = LocalForward::Start(loop_.get(), dialer_.get(),
                                       SocketAddress(kLoopback, 0),
                                       "missing.test", 80);
    ASSERT_TRUE(forward.ok()) << forward.status();
    local_ = std::move(*forward);
    listen = local_->listen_address();
  });
  int fd = ConnectTcp(listen);
  bool eof = true;
  ReadToEof(fd, &eof);
  EXPECT_FALSE(eof);  // Reset.
  close(fd);
  ASSERT_TRUE(Await([&] { return local_->live_connections() == 0; }));
  ForwardCounters c;
  Run([&] { c = local_->counters(); });
  EXPECT_EQ(c.connect_failures, 1u);
}

TEST_F(ForwardTest, RemoteForwardMultiMebibyteBothWays) {
  // A host server on the test thread: blocking accept and transfer.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_storage sa;
  SocketAddress(kLoopback, 0).ToSockaddr(&sa);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sockaddr_in)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(sa);
  getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len);
  const SocketAddress host =
      *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa));
  Duplex duplex(kBig, 30);
  Notification finished;
  Run([&] {
    auto forward = RemoteForward::Start(stack_.get(), loop_.get(),
                                        SocketAddress(kVirtual4, 7100), host);
    ASSERT_TRUE(forward.ok()) << forward.status();
    remote_ = std::move(*forward);
    duplex.set_on_finish([&] { finished.Notify(); });
    auto conn = netstack::TcpConnection::Connect(
        stack_.get(), SocketAddress(kVirtual4, 7100), &duplex);
    ASSERT_TRUE(conn.ok()) << conn.status();
    duplex.Attach(conn->get());
    clients_.push_back(std::move(*conn));
  });
  int fd = accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  TransferResult result = Transfer(fd, kBig, 31);
  close(fd);
  close(listener);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 30));
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(kTimeout));
  Run([&] {
    EXPECT_EQ(duplex.receiver().received(), kBig);
    EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kBig, 31));
  });
  ASSERT_TRUE(Await([&] { return remote_->live_relays() == 0; }));
  ForwardCounters c;
  Run([&] { c = remote_->counters(); });
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(c.bytes_to_host, kBig);
  EXPECT_EQ(c.bytes_to_tunnel, kBig);
}

TEST_F(ForwardTest, FdBridgeBlockingReadWriteAndGracefulClose) {
  DuplexServer* target = StartDuplexServer(9101, kBig, 41);
  Notification ended;
  absl::Status end_status = absl::UnknownError("not ended");
  int fd = -1;
  Run([&] {
    resolver_->Add("bridge.test", {kVirtual4});
    auto bridge = FdBridge::Dial(loop_.get(), dialer_.get(), "bridge.test",
                                 9101, [&](absl::Status status) {
                                   end_status = std::move(status);
                                   ended.Notify();
                                 });
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    fd = (*bridge)->app_fd();
    bridges_.push_back(std::move(*bridge));
  });
  ASSERT_GE(fd, 0);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  // Plain blocking socket calls: write everything, half-close, read to EOF.
  TransferResult result = Transfer(fd, kBig, 40);
  EXPECT_TRUE(result.eof);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 41));
  ExpectServerReceived(target, kBig, 40);
  close(fd);  // The app owns its descriptor.
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kTimeout));
  Run([&] {
    EXPECT_TRUE(end_status.ok()) << end_status;
    EXPECT_EQ(bridges_[0]->counters().bytes_to_tunnel, kBig);
    EXPECT_EQ(bridges_[0]->counters().bytes_to_app, kBig);
  });
}

TEST_F(ForwardTest, FdBridgeAppCloseShutsTheTunnelDown) {
  // The app writes a little and closes; the server sees the bytes and FIN.
  DuplexServer* target = StartDuplexServer(9102, 0, 1);
  Notification ended;
  absl::Status end_status;
  int fd = -1;
  Run([&] {
    auto bridge = FdBridge::Dial(loop_.get(), dialer_.get(), "10.99.0.1",
                                 9102, [&](absl::Status status) {
                                   end_status = std::move(status);
                                   ended.Notify();
                                 });
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    fd = (*bridge)->app_fd();
    bridges_.push_back(std::move(*bridge));
  });
  std::string data(100000, 'z');
  ASSERT_TRUE(WriteAll(fd, data));
  close(fd);
  ASSERT_TRUE(Await([&] {
    return !target->duplexes.empty() && target->duplexes[0]->receiver().eof();
  }));
  Run([&] { EXPECT_EQ(target->duplexes[0]->receiver().received(), data.size()); });
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kTimeout));
  Run([&] { EXPECT_TRUE(end_status.ok()) << end_status; });
}

TEST_F(ForwardTest, FdBridgeUnknownNameEndsWithNotFound) {
  Notification ended;
  absl::Status end_status;
  int fd = -1;
  Run([&] {
    auto bridge = FdBridge::Dial(loop_.get(), dialer_.get(), "nowhere.test",
                                 80, [&](absl::Status status) {
                                   end_status = std::move(status);
                                   ended.Notify();
                                 });
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    fd = (*bridge)->app_fd();
    bridges_.push_back(std::move(*bridge));
  });
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kTimeout));
  Run([&] {
    EXPECT_EQ(end_status.code(), absl::StatusCode::kNotFound) << end_status;
    EXPECT_NE(end_status.message().find("nowhere.test"), std::string::npos);
  });
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);  // EOF.
  close(fd);
}

}  // namespace
}  // namespace stow::proxy
