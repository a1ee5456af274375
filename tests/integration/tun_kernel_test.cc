// The netstack against the Linux kernel's TCP/IP over a TUN device in a
// network namespace this test creates: lwIP connects to a kernel server and
// the kernel connects to an lwIP listener, 64 MiB each way on each
// connection with equal SHA-256; UDP echo and ICMP echo both ways; IPv4 and
// IPv6. Skipped, with the reason, without root.
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "netstack/tcp.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "sdk/event/uv_loop.h"
#include "tests/integration/run_on_loop.h"
#include "tests/integration/services.h"
#include "tests/integration/tun_testbed.h"

namespace stow::testing {
namespace {

using netstack::TcpConnection;
using netstack::testing::Duplex;
using netstack::testing::PatternDigest;

constexpr uint64_t kBytes = 64ull << 20;

class TunKernelTest : public ::testing::TestWithParam<IpAddress::Family> {
 protected:
  void SetUp() override {
    std::string reason = TunUnavailableReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    loop_ = *event::UvLoop::Start();
    absl::StatusOr<std::unique_ptr<TunTestbed>> bed =
        TunTestbed::Create(loop_.get(), "tun");
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = std::move(*bed);
  }

  void TearDown() override {
    if (bed_ != nullptr) {
      netstack::StackResources left;
      RunOnLoop(loop_.get(), [&] {
        bed_->stack()->AbortOrphanedConnections();
        left = bed_->stack()->Resources();
      });
      EXPECT_TRUE(left.IsEmpty()) << left.ToString();
      bed_.reset();
    }
    if (loop_ != nullptr) {
      // Shutdown reports (and force-closes) any libuv handle left open.
      absl::Status shutdown = loop_->Shutdown();
      EXPECT_TRUE(shutdown.ok()) << shutdown;
    }
  }

  bool v4() const { return GetParam() == IpAddress::Family::kV4; }
  IpAddress kernel_ip() const {
    return v4() ? TunTestbed::kKernelV4 : TunTestbed::kKernelV6;
  }
  IpAddress stack_ip() const {
    return v4() ? TunTestbed::kStackV4 : TunTestbed::kStackV6;
  }

  // Waits until `finished` (set by the duplex's on_finish), failing after
  // 10 s without progress.
  void AwaitDuplex(Duplex* duplex, absl::Notification* finished) {
    uint64_t last = 0;
    absl::Time last_change = absl::Now();
    while (true) {
      finished->WaitForNotificationWithTimeout(absl::Seconds(1));
      bool done = false;
      uint64_t progress = 0;
      absl::Status error;
      RunOnLoop(loop_.get(), [&] {
        done = duplex->done();
        progress = duplex->sender().sent() + duplex->receiver().received();
        error = duplex->receiver().error();
      });
      if (done) return;
      ASSERT_TRUE(error.ok()) << error;
      if (progress != last) {
        last = progress;
        last_change = absl::Now();
      }
      ASSERT_LT(absl::Now() - last_change, absl::Seconds(10))
          << "no progress for 10 s: sent " << duplex->sender().sent()
          << ", received " << duplex->receiver().received();
    }
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<TunTestbed> bed_;
};

TEST_P(TunKernelTest, NetstackConnectsToKernel64MiBEachWay) {
  int listen_fd = -1;
  bed_->InNamespace([&] { listen_fd = KernelListen(kernel_ip(), 5001); })
      .join();
  ASSERT_GE(listen_fd, 0);
  DuplexResult kernel;
  std::thread server = bed_->InNamespace([&] {
    int fd = KernelAccept(listen_fd);
    if (fd >= 0) kernel = KernelDuplex(fd, kBytes, 21);
  });
  Duplex duplex(kBytes, 22);
  absl::Notification finished;
  duplex.set_on_finish([&] { finished.Notify(); });
  std::unique_ptr<TcpConnection> conn;
  RunOnLoop(loop_.get(), [&] {
    absl::StatusOr<std::unique_ptr<TcpConnection>> c = TcpConnection::Connect(
        bed_->stack(), SocketAddress(kernel_ip(), 5001), &duplex);
    ASSERT_TRUE(c.ok()) << c.status();
    conn = std::move(*c);
    duplex.Attach(conn.get());
  });
  AwaitDuplex(&duplex, &finished);
  server.join();
  close(listen_fd);
  RunOnLoop(loop_.get(), [&] { conn.reset(); });
  EXPECT_TRUE(kernel.ok);
  EXPECT_EQ(kernel.received, kBytes);
  EXPECT_EQ(kernel.digest, PatternDigest(kBytes, 22));
  EXPECT_EQ(duplex.receiver().received(), kBytes);
  EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kBytes, 21));
}

TEST_P(TunKernelTest, KernelConnectsToNetstack64MiBEachWay) {
  struct Acceptor : netstack::TcpListener::Delegate {
    void OnAccept(std::unique_ptr<TcpConnection> c) override {
      conn = std::move(c);
      duplex->Attach(conn.get());
    }
    Duplex* duplex = nullptr;
    std::unique_ptr<TcpConnection> conn;
  } acceptor;
  Duplex duplex(kBytes, 32);
  absl::Notification finished;
  duplex.set_on_finish([&] { finished.Notify(); });
  acceptor.duplex = &duplex;
  std::unique_ptr<netstack::TcpListener> listener;
  RunOnLoop(loop_.get(), [&] {
    listener = *netstack::TcpListener::Listen(
        bed_->stack(), SocketAddress(stack_ip(), 6001), &acceptor);
  });
  DuplexResult kernel;
  std::thread client = bed_->InNamespace([&] {
    int fd = KernelConnect(stack_ip(), 6001);
    if (fd >= 0) kernel = KernelDuplex(fd, kBytes, 31);
  });
  AwaitDuplex(&duplex, &finished);
  client.join();
  RunOnLoop(loop_.get(), [&] {
    acceptor.conn.reset();
    listener.reset();
  });
  EXPECT_TRUE(kernel.ok);
  EXPECT_EQ(kernel.digest, PatternDigest(kBytes, 32));
  EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kBytes, 31));
}

TEST_P(TunKernelTest, UdpEchoBothWays) {
  // Kernel echo server; the netstack sends.
  int kfd = -1;
  bed_->InNamespace([&] {
    sockaddr_storage ss;
    socklen_t len = SocketAddress(kernel_ip(), 7).ToSockaddr(&ss);
    kfd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {10, 0};
    setsockopt(kfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(kfd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      close(kfd);
      kfd = -1;
    }
  }).join();
  ASSERT_GE(kfd, 0);
  std::thread echo([kfd] {
    uint8_t buf[65536];
    sockaddr_storage from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(kfd, buf, sizeof(buf), 0,
                         reinterpret_cast<sockaddr*>(&from), &flen);
    if (n > 0) sendto(kfd, buf, n, 0, reinterpret_cast<sockaddr*>(&from), flen);
  });
  struct Collector : netstack::UdpEndpoint::Delegate {
    void OnDatagram(absl::Span<const uint8_t> p,
                    const SocketAddress&) override {
      got.assign(p.begin(), p.end());
      done.Notify();
    }
    std::vector<uint8_t> got;
    absl::Notification done;
  } collector;
  std::vector<uint8_t> payload(4000);  // Fragmented at MTU 1500.
  netstack::testing::PatternStream(8).Fill(absl::MakeSpan(payload));
  std::unique_ptr<netstack::UdpEndpoint> ep;
  RunOnLoop(loop_.get(), [&] {
    ep = *netstack::UdpEndpoint::Bind(bed_->stack(),
                                      SocketAddress(stack_ip(), 0), &collector);
    ASSERT_TRUE(ep->SendTo(payload, SocketAddress(kernel_ip(), 7)).ok());
  });
  ASSERT_TRUE(collector.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(collector.got, payload);
  echo.join();
  close(kfd);

  // Netstack echo server; the kernel sends.
  std::unique_ptr<TestServices> services;
  RunOnLoop(loop_.get(), [&] {
    services = std::make_unique<TestServices>(bed_->stack());
    ASSERT_TRUE(services->Start(stack_ip()).ok());
  });
  std::vector<uint8_t> echoed;
  bed_->InNamespace([&] {
    sockaddr_storage ss;
    socklen_t len = SocketAddress(stack_ip(), 7).ToSockaddr(&ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sendto(fd, payload.data(), payload.size(), 0,
           reinterpret_cast<sockaddr*>(&ss), len);
    std::vector<uint8_t> buf(65536);
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) echoed.assign(buf.begin(), buf.begin() + n);
    close(fd);
  }).join();
  EXPECT_EQ(echoed, payload);
  RunOnLoop(loop_.get(), [&] {
    services.reset();
    ep.reset();
  });
}

TEST_P(TunKernelTest, IcmpEchoBothWays) {
  struct Replies : netstack::Pinger::Delegate {
    void OnEchoReply(const IpAddress& from, uint16_t, absl::Duration r) override {
      this->from = from;
      rtt = r;
      done.Notify();
    }
    IpAddress from;
    absl::Duration rtt;
    absl::Notification done;
  } replies;
  std::unique_ptr<netstack::Pinger> pinger;
  RunOnLoop(loop_.get(), [&] {
    pinger = *netstack::Pinger::Create(bed_->stack(), GetParam(), &replies);
    ASSERT_TRUE(pinger->Send(kernel_ip(), 1).ok());
  });
  ASSERT_TRUE(replies.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(replies.from, kernel_ip());
  EXPECT_GT(replies.rtt, absl::ZeroDuration());
  RunOnLoop(loop_.get(), [&] { pinger.reset(); });
  // The kernel pings the netstack, which answers by itself.
  EXPECT_EQ(bed_->Exec({"ping", v4() ? "-4" : "-6", "-c", "2", "-W", "5",
                        stack_ip().ToString()}),
            0);
}

INSTANTIATE_TEST_SUITE_P(
    Families, TunKernelTest,
    ::testing::Values(IpAddress::Family::kV4, IpAddress::Family::kV6),
    [](const ::testing::TestParamInfo<IpAddress::Family>& info) {
      return info.param == IpAddress::Family::kV4 ? "IPv4" : "IPv6";
    });

}  // namespace
}  // namespace stow::testing
