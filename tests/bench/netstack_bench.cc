// Netstack throughput benchmark. Prints one JSON line per figure
// ({"name","value","unit"}); not a pass/fail test. One-stream TCP:
//   tcp_kernel_loopback          the kernel to itself over 127.0.0.1 (reference)
//   tcp_netstack_to_kernel_tun   lwIP sends, the kernel receives, over TUN
//   tcp_kernel_to_netstack_tun   the kernel sends, lwIP receives, over TUN
//   tcp_netstack_to_netstack_udp lwIP to lwIP in another process, UDP link
//   tcp_netstack_from_netstack_udp  the other direction
//   tcp_sdk_to_gateway_esp       an SDK session to the gateway process over
//                                ESP in UDP (AES-128-GCM), into its discard
//   tcp_sdk_from_gateway_esp     the gateway's HTTP /bytes to the SDK
// with the ESP figures also as ratios of the plain UDP link's.
// and each netstack figure as a ratio of the kernel reference, measured in
// the same run. TUN figures need root; without it they are reported skipped.
//
//   netstack_bench [--mib=256]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>
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
#include "samples/common/http_get.h"
#include "sdk/crypto/random.h"
#include "sdk/engine/esp_session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/profile.h"
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

struct EspFigures {
  double up = 0, down = 0;
};

// Counts a discard upload done when every byte is written and the server,
// having read them all, closed its side.
class Upload : public TcpConnection::Delegate {
 public:
  Upload(uint64_t bytes, std::function<void()> done)
      : sender_(bytes, 5), done_(std::move(done)) {}
  void Start(TcpConnection* conn) {
    conn_ = conn;
    conn->set_delegate(this);
    sender_.Use(conn);
  }
  void OnConnected() override { sender_.OnConnected(); }
  void OnWritable() override { sender_.OnWritable(); }
  void OnReadable() override {
    sender_.OnReadable();
    if (conn_->peer_closed() && done_) std::exchange(done_, nullptr)();
  }
  void OnError(absl::Status status) override {
    sender_.OnError(status);
    if (done_) std::exchange(done_, nullptr)();
  }
  bool ok() const { return sender_.done() && sender_.error().ok(); }

 private:
  netstack::testing::BulkSender sender_;
  TcpConnection* conn_ = nullptr;
  std::function<void()> done_;
};

EspFigures EspBench(uint64_t bytes) {
  EspFigures f;
  ipsec::EspProfile profile;
  profile.name = "bench";
  profile.ipv4 = IpAddress::V4(10, 99, 0, 2);
  const size_t n = esp::KeyMaterialSize(profile.keys.transform);
  profile.keys.i2r = {0x1001, crypto::RandomVector(n)};
  profile.keys.r2i = {0x2002, crypto::RandomVector(n)};
  profile.gateway = *SocketAddress::Parse("127.0.0.1:4500");
  const char* tmp = std::getenv("TMPDIR");
  const std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/stow-bench-", getpid(),
                   ".json");
  {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out == nullptr) return f;
    std::fputs(ipsec::EspProfileToJson(profile).c_str(), out);
    std::fclose(out);
  }
  auto peer = testing::PeerProcess::Start(
      {testing::RunfilePath("samples/gateway/gateway"), "--listen=127.0.0.1:0",
       "--client=" + path, "--stop_on_stdin_eof"});
  std::remove(path.c_str());
  if (!peer.ok()) return f;
  profile.gateway = *SocketAddress::Parse((*peer)->ready_line());
  std::unique_ptr<event::UvLoop> loop = *event::UvLoop::Start();
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<engine::EspSession> session;
  RunOnLoop(loop.get(), [&] {
    stack = *netstack::Stack::Create(loop.get());
    session = *engine::EspSession::Start(loop.get(), stack.get(), profile);
  });
  const IpAddress gateway = IpAddress::V4(10, 99, 0, 1);
  std::unique_ptr<Upload> up;
  std::unique_ptr<TcpConnection> conn;
  absl::Duration d = Timed(loop.get(), [&](std::function<void()> done) {
    up = std::make_unique<Upload>(bytes, done);
    conn = *TcpConnection::Connect(stack.get(), SocketAddress(gateway, 9),
                                   up.get());
    up->Start(conn.get());
  });
  bool ok = false;
  RunOnLoop(loop.get(), [&] {
    ok = up->ok();
    conn.reset();
  });
  if (ok) f.up = Mbps(bytes, d);
  std::unique_ptr<samples::HttpGet> get;
  absl::Status result;
  uint64_t received = 0;
  d = Timed(loop.get(), [&](std::function<void()> done) {
    samples::HttpGet::Callbacks cb;
    cb.on_body = [&](absl::Span<const uint8_t> b) { received += b.size(); };
    cb.on_done = [&, done](absl::Status s) {
      result = s;
      done();
    };
    get = *samples::HttpGet::Start(stack.get(), SocketAddress(gateway, 80),
                                   absl::StrCat("/bytes?n=", bytes),
                                   std::move(cb));
  });
  RunOnLoop(loop.get(), [&] { get.reset(); });
  if (result.ok() && received == bytes) f.down = Mbps(bytes, d);
  RunOnLoop(loop.get(), [&] {
    session.reset();
    stack.reset();
  });
  (*peer)->Stop();
  (void)loop->Shutdown();
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
  EspFigures e = EspBench(bytes);
  Emit("tcp_sdk_to_gateway_esp", e.up, "Mbit/s");
  Emit("tcp_sdk_from_gateway_esp", e.down, "Mbit/s");
  if (u.up > 0) Emit("tcp_sdk_to_gateway_esp_vs_udp_link", e.up / u.up, "ratio");
  if (u.down > 0) {
    Emit("tcp_sdk_from_gateway_esp_vs_udp_link", e.down / u.down, "ratio");
  }
  ratio("tcp_sdk_to_gateway_esp", e.up);
  ratio("tcp_sdk_from_gateway_esp", e.down);
  return 0;
}

}  // namespace
}  // namespace stow

int main(int argc, char** argv) { return stow::Main(argc, argv); }
