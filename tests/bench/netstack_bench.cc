// Netstack throughput benchmark. Prints one JSON line per figure
// ({"name","value","unit"}); not a pass/fail test. One-stream TCP:
//   tcp_kernel_loopback          the kernel to itself over 127.0.0.1 (reference)
//   tcp_netstack_to_kernel_tun   lwIP sends, the kernel receives, over TUN
//   tcp_kernel_to_netstack_tun   the kernel sends, lwIP receives, over TUN
//   tcp_netstack_to_netstack_udp lwIP to lwIP in another process, UDP link
//   tcp_netstack_from_netstack_udp  the other direction
// and each netstack figure as a ratio of the kernel reference, measured in
// the same run. TUN figures need root; without it they are reported skipped.
//
//   netstack_bench [--mib=256]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "netstack/links/udp_link.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/transfer.h"
#include "sdk/event/uv_loop.h"
#include "tests/integration/run_on_loop.h"
#include "tests/integration/peer_process.h"
#include "tests/integration/services.h"
#include "tests/integration/tun_testbed.h"

namespace stow {
namespace {

using testing::RunOnLoop;

using netstack::TcpConnection;
using testing::TunTestbed;

void Emit(const std::string& name, double value, const std::string& unit) {
  std::printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n",
              name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

void Skip(const std::string& name, const std::string& why) {
  std::printf("{\"name\":\"%s\",\"value\":null,\"unit\":\"Mbit/s\","
              "\"skipped\":\"%s\"}\n",
              name.c_str(), why.c_str());
  std::fflush(stdout);
}

double Mbps(uint64_t bytes, absl::Duration d) {
  return static_cast<double>(bytes) * 8 / 1e6 / absl::ToDoubleSeconds(d);
}

// Sends `bytes` from a blocking socket; returns false on error.
bool SendAll(int fd, uint64_t bytes) {
  std::vector<uint8_t> buf(256 * 1024, 0x5A);
  uint64_t sent = 0;
  while (sent < bytes) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - sent));
    ssize_t w = send(fd, buf.data(), n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += static_cast<uint64_t>(w);
  }
  shutdown(fd, SHUT_WR);
  return true;
}

// Receives until EOF; returns the byte count.
uint64_t DrainAll(int fd) {
  std::vector<uint8_t> buf(256 * 1024);
  uint64_t total = 0;
  while (true) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return total;
    total += static_cast<uint64_t>(n);
  }
}

double KernelLoopback(uint64_t bytes) {
  const IpAddress lo = IpAddress::V4(127, 0, 0, 1);
  int lfd = testing::KernelListen(lo, 0);
  sockaddr_in addr;
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  uint64_t got = 0;
  std::thread rx([&] {
    int fd = testing::KernelAccept(lfd);
    got = DrainAll(fd);
    close(fd);
  });
  absl::Time start = absl::Now();
  int fd = testing::KernelConnect(lo, port);
  SendAll(fd, bytes);
  rx.join();
  absl::Duration d = absl::Now() - start;
  close(fd);
  close(lfd);
  return got == bytes ? Mbps(bytes, d) : 0;
}

// Runs `start` on the loop, which must call `done` when finished; returns
// the elapsed time.
absl::Duration Timed(event::UvLoop* loop,
                     const std::function<void(std::function<void()>)>& start) {
  absl::Notification finished;
  absl::Time t0 = absl::Now();
  RunOnLoop(loop, [&] { start([&] { finished.Notify(); }); });
  finished.WaitForNotificationWithTimeout(absl::Minutes(5));
  return absl::Now() - t0;
}

struct TunFigures {
  double tx = 0, rx = 0;
};

TunFigures TunBench(uint64_t bytes) {
  TunFigures f;
  std::unique_ptr<event::UvLoop> loop = *event::UvLoop::Start();
  absl::StatusOr<std::unique_ptr<TunTestbed>> bed =
      TunTestbed::Create(loop.get(), "bench");
  if (!bed.ok()) return f;
  // netstack -> kernel
  {
    int lfd = -1;
    (*bed)->InNamespace([&] { lfd = testing::KernelListen(TunTestbed::kKernelV4, 5101); }).join();
    uint64_t got = 0;
    std::thread rx = (*bed)->InNamespace([&] {
      int fd = testing::KernelAccept(lfd);
      if (fd >= 0) {
        got = DrainAll(fd);
        close(fd);
      }
    });
    netstack::testing::Duplex sender(bytes, 1);
    std::unique_ptr<TcpConnection> conn;
    absl::Duration d = Timed(loop.get(), [&](std::function<void()> done) {
      sender.set_on_finish(done);
      conn = *TcpConnection::Connect((*bed)->stack(),
                                     SocketAddress(TunTestbed::kKernelV4, 5101),
                                     &sender);
      sender.Attach(conn.get());
    });
    // The kernel sends nothing back: the duplex finishes at the kernel's
    // FIN, after it received everything.
    rx.join();
    close(lfd);
    RunOnLoop(loop.get(), [&] { conn.reset(); });
    if (got == bytes) f.tx = Mbps(bytes, d);
  }
  // kernel -> netstack
  {
    // The kernel sends `bytes` to a netstack listener.
    struct Acceptor : netstack::TcpListener::Delegate {
      void OnAccept(std::unique_ptr<TcpConnection> c) override {
        conn = std::move(c);
        duplex->Attach(conn.get());
      }
      netstack::testing::Duplex* duplex = nullptr;
      std::unique_ptr<TcpConnection> conn;
    } acceptor;
    netstack::testing::Duplex receiver(0, 2);
    acceptor.duplex = &receiver;
    std::unique_ptr<netstack::TcpListener> listener;
    absl::Notification finished;
    receiver.set_on_finish([&] { finished.Notify(); });
    RunOnLoop(loop.get(), [&] {
      listener = *netstack::TcpListener::Listen(
          (*bed)->stack(), SocketAddress(TunTestbed::kStackV4, 5103), &acceptor);
    });
    absl::Time t0 = absl::Now();
    std::thread client = (*bed)->InNamespace([&] {
      int fd = testing::KernelConnect(TunTestbed::kStackV4, 5103);
      if (fd >= 0) {
        SendAll(fd, bytes);
        DrainAll(fd);
        close(fd);
      }
    });
    finished.WaitForNotificationWithTimeout(absl::Minutes(5));
    absl::Duration d = absl::Now() - t0;
    client.join();
    uint64_t got = 0;
    RunOnLoop(loop.get(), [&] {
      got = receiver.receiver().received();
      acceptor.conn.reset();
      listener.reset();
    });
    if (got == bytes) f.rx = Mbps(bytes, d);
  }
  bed->reset();
  (void)loop->Shutdown();  // A benchmark reports figures, not leaks.
  return f;
}

struct UdpFigures {
  double up = 0, down = 0;
};

UdpFigures UdpLinkBench(uint64_t bytes) {
  UdpFigures f;
  std::unique_ptr<event::UvLoop> loop = *event::UvLoop::Start();
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<netstack::UdpLink> link;
  std::unique_ptr<netstack::Interface> iface;
  RunOnLoop(loop.get(), [&] {
    stack = *netstack::Stack::Create(loop.get());
    link = *netstack::UdpLink::Create(
        loop.get(), *SocketAddress::Parse("127.0.0.1:0"), 1500,
        netstack::Impairment());
    netstack::InterfaceConfig config;
    config.ipv4 = IpAddress::V4(10, 77, 0, 1);
    config.ipv4_prefix_len = 24;
    config.default_route = true;
    iface = *stack->AddInterface(link.get(), config);
  });
  SocketAddress local;
  RunOnLoop(loop.get(), [&] { local = link->local_address(); });
  absl::StatusOr<std::unique_ptr<testing::PeerProcess>> peer =
      testing::PeerProcess::Start(
          {testing::RunfilePath("tests/integration/netstack_peer"),
           "--peer=" + local.ToString()});
  if (peer.ok()) {
    uint32_t port = 0;
    absl::SimpleAtoi((*peer)->ready_line(), &port);
    RunOnLoop(loop.get(), [&] {
      link->set_peer(SocketAddress(IpAddress::V4(127, 0, 0, 1),
                                   static_cast<uint16_t>(port)));
    });
    const SocketAddress sink(IpAddress::V4(10, 77, 0, 2),
                             testing::TestServices::kSinkPort);
    const SocketAddress source(IpAddress::V4(10, 77, 0, 2),
                               testing::TestServices::kSourcePort);
    std::unique_ptr<testing::SinkClient> up;
    std::unique_ptr<testing::SourceClient> down;
    std::unique_ptr<TcpConnection> c1, c2;
    absl::Duration d = Timed(loop.get(), [&](std::function<void()> done) {
      up = std::make_unique<testing::SinkClient>(bytes, 3, done);
      c1 = *TcpConnection::Connect(stack.get(), sink, up.get());
      up->Start(c1.get());
    });
    bool ok = false;
    RunOnLoop(loop.get(), [&] { ok = up->DigestsMatch(); });
    if (ok) f.up = Mbps(bytes, d);
    d = Timed(loop.get(), [&](std::function<void()> done) {
      down = std::make_unique<testing::SourceClient>(bytes, 4, done);
      c2 = *TcpConnection::Connect(stack.get(), source, down.get());
      down->Start(c2.get());
    });
    RunOnLoop(loop.get(), [&] { ok = down->received() == bytes; });
    if (ok) f.down = Mbps(bytes, d);
    RunOnLoop(loop.get(), [&] {
      c1.reset();
      c2.reset();
    });
    (*peer)->Stop();
  }
  RunOnLoop(loop.get(), [&] {
    iface.reset();
    stack.reset();
    link.reset();
  });
  (void)loop->Shutdown();  // A benchmark reports figures, not leaks.
  return f;
}

int Main(int argc, char** argv) {
  uint64_t mib = 256;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--mib=", 0) == 0 && absl::SimpleAtoi(a.substr(6), &mib)) {
      continue;
    }
    std::fprintf(stderr, "usage: netstack_bench [--mib=N]\n");
    return 2;
  }
  const uint64_t bytes = mib << 20;
  const double kernel = KernelLoopback(bytes);
  Emit("tcp_kernel_loopback", kernel, "Mbit/s");
  auto ratio = [&](const std::string& name, double v) {
    if (v > 0 && kernel > 0) Emit(name + "_vs_kernel", v / kernel, "ratio");
  };
  std::string reason = testing::TunUnavailableReason();
  if (reason.empty()) {
    TunFigures t = TunBench(bytes);
    Emit("tcp_netstack_to_kernel_tun", t.tx, "Mbit/s");
    Emit("tcp_kernel_to_netstack_tun", t.rx, "Mbit/s");
    ratio("tcp_netstack_to_kernel_tun", t.tx);
    ratio("tcp_kernel_to_netstack_tun", t.rx);
  } else {
    Skip("tcp_netstack_to_kernel_tun", reason);
    Skip("tcp_kernel_to_netstack_tun", reason);
  }
  UdpFigures u = UdpLinkBench(bytes);
  Emit("tcp_netstack_to_netstack_udp", u.up, "Mbit/s");
  Emit("tcp_netstack_from_netstack_udp", u.down, "Mbit/s");
  ratio("tcp_netstack_to_netstack_udp", u.up);
  ratio("tcp_netstack_from_netstack_udp", u.down);
  return 0;
}

}  // namespace
}  // namespace stow

int main(int argc, char** argv) { return stow::Main(argc, argv); }
