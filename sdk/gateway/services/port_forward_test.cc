// Port forward tests: the netstack (one stack, one interface on a
// LoopbackLink) runs on a real UvLoop; clients are netstack connections on
// that stack, and the forward's targets are host TCP servers on loopback
// with ephemeral ports.
#include "sdk/gateway/services/port_forward.h"

#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/testing/transfer.h"
#include "sdk/crypto/sha256.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::gateway {
namespace {

using event::testing::kTimeout;
using event::testing::Notification;
using netstack::Stack;
using netstack::TcpConnection;
using netstack::testing::Duplex;
using netstack::testing::LoopbackLink;
using netstack::testing::PatternDigest;
using netstack::testing::PatternStream;

const IpAddress kV4 = IpAddress::V4(10, 99, 0, 1);
const IpAddress kV6 = *IpAddress::Parse("fd99::1");
const IpAddress kHost4 = IpAddress::V4(127, 0, 0, 1);
const IpAddress kHost6 = *IpAddress::Parse("::1");

// ---- ParseForwardSpec ----

TEST(ParseForwardSpecTest, ParsesBothFamilies) {
  absl::StatusOr<ForwardSpec> spec =
      ParseForwardSpec("10.99.0.1:8080=127.0.0.1:8000");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->virtual_address, SocketAddress(kV4, 8080));
  EXPECT_EQ(spec->host_address, SocketAddress(kHost4, 8000));
  EXPECT_EQ(spec->ToString(), "10.99.0.1:8080=127.0.0.1:8000");

  spec = ParseForwardSpec("[fd99::1]:8080=[::1]:8000");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->virtual_address, SocketAddress(kV6, 8080));
  EXPECT_EQ(spec->host_address, SocketAddress(kHost6, 8000));
  EXPECT_EQ(spec->ToString(), "[fd99::1]:8080=[::1]:8000");

  spec = ParseForwardSpec("[fd99::1]:443=127.0.0.1:65535");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->host_address.port(), 65535);
  // Every virtual address of the family.
  spec = ParseForwardSpec("0.0.0.0:80=127.0.0.1:8080");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->virtual_address.ip().IsUnspecified());
}

TEST(ParseForwardSpecTest, ErrorsNameTheProblem) {
  struct Case {
    const char* spec;
    const char* message;  // A substring of the error.
  };
  const Case cases[] = {
      {"", "exactly one '='"},
      {"10.99.0.1:8080", "exactly one '='"},
      {"a=b=c", "exactly one '='"},
      {"=127.0.0.1:80", "virtual address is empty"},
      {"10.99.0.1:80=", "host address is empty"},
      {"10.99.0.1=127.0.0.1:80", "virtual address \"10.99.0.1\": has no port"},
      {"10.99.0.1:80=127.0.0.1", "host address \"127.0.0.1\": has no port"},
      {"10.99.0.1:0=127.0.0.1:80", "port \"0\" is not a number in 1..65535"},
      {"10.99.0.1:80=127.0.0.1:65536", "port \"65536\""},
      {"10.99.0.1:+80=127.0.0.1:80", "port \"+80\""},
      {"10.99.0.1: 80=127.0.0.1:80", "port \" 80\""},
      {"10.99.0.1:http=127.0.0.1:80", "port \"http\""},
      {"fd99::1:8080=127.0.0.1:80", "IPv6 addresses need brackets"},
      {"[fd99::1:8080=127.0.0.1:80", "missing ']'"},
      {"[fd99::1]8080=127.0.0.1:80", "expected ':' and a port after ']'"},
      {"[fd99::1]=127.0.0.1:80", "has no port"},
      {"[10.99.0.1]:80=127.0.0.1:80", "without brackets"},
      {"localhost:80=127.0.0.1:80", "\"localhost\" is not an IPv4 address"},
      {"10.99.0.1:80=[nope]:80", "\"nope\" is not an IPv6 address"},
      {"10.99.0.1:80=0.0.0.0:80", "unspecified"},
      {"10.99.0.1:80=[::]:80", "unspecified"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ForwardSpec> spec = ParseForwardSpec(c.spec);
    ASSERT_FALSE(spec.ok()) << c.spec;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << c.spec << " -> " << spec.status();
  }
}

// ---- Host side ----

// One accepted host connection: hashes what it receives and sends
// `send_total` bytes of PatternStream(seed) (after the peer's EOF if
// `send_after_eof`), then FIN (with send_total 0 and !send_after_eof, no FIN
// until Close()). Loop thread, except the notifications.
class HostPeer : public event::TcpSocket::Delegate {
 public:
  HostPeer(std::unique_ptr<event::TcpSocket> socket, uint64_t send_total,
           uint64_t seed, bool send_after_eof, bool read)
      : socket_(std::move(socket)),
        send_total_(send_total),
        pattern_(seed),
        send_after_eof_(send_after_eof),
        chunk_(64 * 1024) {
    if (!read) socket_->SetReading(false);
    socket_->SetDelegate(this);
    // With nothing to send, the host keeps its side open until Close().
    if (!send_after_eof_ && send_total_ > 0) Pump();
  }

  void OnConnected(absl::Status) override {}
  void OnData(absl::Span<const uint8_t> data) override {
    hash_.Update(data);
    received_ += data.size();
  }
  void OnEof() override {
    digest_ = hash_.Finish();
    eof_ = true;
    if (send_after_eof_) Pump();
    MaybeDone();
  }
  void OnWritable() override { Pump(); }
  void OnError(absl::Status status) override {
    error_ = status;
    failed.Notify();
    done.Notify();
  }

  void Pump() {
    while (sent_ < send_total_ && socket_->QueuedBytes() <=
                                      event::TcpSocket::kDefaultHighWatermark) {
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk_.size(), send_total_ - sent_));
      pattern_.Fill(absl::MakeSpan(chunk_.data(), n));
      if (!socket_->Write(absl::MakeConstSpan(chunk_.data(), n)).ok()) return;
      sent_ += n;
    }
    if (sent_ == send_total_ && !shut_) {
      shut_ = true;
      (void)socket_->ShutdownWrite();
      MaybeDone();
    }
  }

  void MaybeDone() {
    if (eof_ && shut_) done.Notify();
  }

  event::TcpSocket* socket() { return socket_.get(); }
  void Close() { socket_.reset(); }
  uint64_t received() const { return received_; }
  uint64_t sent() const { return sent_; }
  bool eof() const { return eof_; }
  crypto::Sha256::Digest digest() const { return digest_; }
  const absl::Status& error() const { return error_; }

  Notification done;    // EOF received and everything sent, or an error.
  Notification failed;  // OnError().

 private:
  std::unique_ptr<event::TcpSocket> socket_;
  const uint64_t send_total_;
  PatternStream pattern_;
  const bool send_after_eof_;
  std::vector<uint8_t> chunk_;
  uint64_t sent_ = 0;
  bool shut_ = false;
  crypto::Sha256 hash_;
  crypto::Sha256::Digest digest_{};
  uint64_t received_ = 0;
  bool eof_ = false;
  absl::Status error_;
};

// A host TCP server on loopback with an ephemeral port.
class HostServer : public event::TcpListener::Delegate {
 public:
  struct Behaviour {
    uint64_t send_total = 0;
    uint64_t seed = 0;
    bool send_after_eof = false;
    bool read = true;
  };

  HostServer(event::UvLoop* loop, Behaviour behaviour)
      : listener_(loop, this), behaviour_(behaviour) {}

  absl::Status Listen(const IpAddress& ip) {
    absl::Status status = listener_.Listen(SocketAddress(ip, 0), 16);
    if (!status.ok()) return status;
    absl::StatusOr<SocketAddress> address = listener_.LocalAddress();
    if (!address.ok()) return address.status();
    address_ = *address;
    return absl::OkStatus();
  }

  void OnAccept(std::unique_ptr<event::TcpSocket> socket) override {
    peers.push_back(std::make_unique<HostPeer>(
        std::move(socket), behaviour_.send_total, behaviour_.seed,
        behaviour_.send_after_eof, behaviour_.read));
    accepted.Notify();
  }

  SocketAddress address() const { return address_; }
  std::vector<std::unique_ptr<HostPeer>> peers;
  Notification accepted;

 private:
  event::TcpListener listener_;
  const Behaviour behaviour_;
  SocketAddress address_;
};

// Records a netstack client's events.
class Client : public TcpConnection::Delegate {
 public:
  void OnConnected() override { connected = true; }
  void OnReadable() override {
    uint8_t buf[16384];
    while (conn != nullptr && conn->Read(absl::MakeSpan(buf)) > 0) {
    }
    if (conn != nullptr && conn->peer_closed() && conn->readable_bytes() == 0) {
      eof.Notify();
    }
  }
  void OnError(absl::Status status) override {
    error = std::move(status);
    failed.Notify();
  }
  TcpConnection* conn = nullptr;  // Not owned.
  bool connected = false;
  absl::Status error;
  Notification eof, failed;
};

// Notifies once `predicate` holds, checking it on the loop every
// millisecond: for conditions that no single callback announces.
class LoopWaiter {
 public:
  LoopWaiter(event::Loop* loop, std::function<bool()> predicate)
      : predicate_(std::move(predicate)),
        timer_(loop->NewTimer([this] { Check(); })) {
    Check();
  }
  Notification met;

 private:
  void Check() {
    if (predicate_()) {
      met.Notify();
      return;
    }
    timer_->Start(absl::Milliseconds(1));
  }
  std::function<bool()> predicate_;
  std::unique_ptr<event::Timer> timer_;
};

class PortForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<event::UvLoop>> loop =
        event::UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    absl::Status status;
    Run([&] {
      absl::StatusOr<std::unique_ptr<Stack>> stack = Stack::Create(loop_.get());
      if (!stack.ok()) {
        status = stack.status();
        return;
      }
      stack_ = std::move(*stack);
      link_ = std::make_unique<LoopbackLink>(loop_.get(), 1500);
      netstack::InterfaceConfig config;
      config.ipv4 = kV4;
      config.ipv4_prefix_len = 24;
      config.ipv6 = kV6;
      absl::StatusOr<std::unique_ptr<netstack::Interface>> iface =
          stack_->AddInterface(link_.get(), config);
      if (!iface.ok()) {
        status = iface.status();
        return;
      }
      iface_ = std::move(*iface);
    });
    ASSERT_TRUE(status.ok()) << status;
  }

  void TearDown() override {
    netstack::StackResources left;
    int live = -1;
    Run([&] {
      forward_.reset();
      waiters_.clear();
      clients_.clear();
      host_.reset();
      iface_.reset();
      stack_->AbortOrphanedConnections();
      left = stack_->Resources();
      stack_.reset();
      link_.reset();
      live = loop_->LiveHandles();
    });
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  void Run(absl::AnyInvocable<void() &&> task) {
    ASSERT_TRUE(loop_->RunSync(std::move(task)).ok());
  }

  // Starts a host server and a forward from `virtual_address` to it.
  void StartForward(const SocketAddress& virtual_address,
                    HostServer::Behaviour behaviour,
                    const IpAddress& host_ip = kHost4) {
    absl::Status status;
    Run([&] {
      host_ = std::make_unique<HostServer>(loop_.get(), behaviour);
      status = host_->Listen(host_ip);
      if (!status.ok()) return;
      absl::StatusOr<std::unique_ptr<PortForward>> forward = PortForward::Start(
          stack_.get(), loop_.get(), {virtual_address, host_->address()});
      if (!forward.ok()) {
        status = forward.status();
        return;
      }
      forward_ = std::move(*forward);
    });
    ASSERT_TRUE(status.ok()) << status;
  }

  // Connects a netstack client to `to`; `delegate` must outlive it.
  TcpConnection* Connect(const SocketAddress& to,
                         TcpConnection::Delegate* delegate) {
    TcpConnection* raw = nullptr;
    Run([&] {
      absl::StatusOr<std::unique_ptr<TcpConnection>> conn =
          TcpConnection::Connect(stack_.get(), to, delegate);
      ASSERT_TRUE(conn.ok()) << conn.status();
      raw = conn->get();
      clients_.push_back(std::move(*conn));
    });
    return raw;
  }

  // Waits until `predicate` (run on the loop) holds.
  bool Await(std::function<bool()> predicate,
             absl::Duration timeout = kTimeout) {
    LoopWaiter* waiter = nullptr;
    Run([&] {
      waiters_.push_back(
          std::make_unique<LoopWaiter>(loop_.get(), std::move(predicate)));
      waiter = waiters_.back().get();
    });
    return waiter->met.WaitForNotificationWithTimeout(timeout);
  }

  PortForwardCounters Counters() {
    PortForwardCounters c;
    Run([&] { c = forward_->counters(); });
    return c;
  }

  // 8 MiB each way through the forward, compared by SHA-256.
  void TransferBothWays(const SocketAddress& virtual_address,
                        const IpAddress& host_ip) {
    constexpr uint64_t kSize = 8 << 20;
    StartForward(virtual_address, {kSize, /*seed=*/222}, host_ip);
    Duplex duplex(kSize, /*seed=*/111);
    Notification finished;
    Run([&] { duplex.set_on_finish([&] { finished.Notify(); }); });
    TcpConnection* conn = Connect(virtual_address, &duplex);
    Run([&] { duplex.Attach(conn); });
    ASSERT_TRUE(finished.WaitForNotificationWithTimeout(absl::Seconds(60)));
    ASSERT_TRUE(host_->accepted.WaitForNotificationWithTimeout(kTimeout));
    HostPeer* peer = nullptr;
    Run([&] { peer = host_->peers[0].get(); });
    ASSERT_TRUE(peer->done.WaitForNotificationWithTimeout(kTimeout));
    Run([&] {
      EXPECT_TRUE(duplex.receiver().error().ok()) << duplex.receiver().error();
      EXPECT_TRUE(duplex.sender().error().ok()) << duplex.sender().error();
      EXPECT_TRUE(peer->error().ok()) << peer->error();
      // Client -> host.
      EXPECT_EQ(peer->received(), kSize);
      EXPECT_EQ(peer->digest(), PatternDigest(kSize, 111));
      EXPECT_EQ(peer->digest(), duplex.sender().digest());
      // Host -> client.
      EXPECT_EQ(duplex.receiver().received(), kSize);
      EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kSize, 222));
    });
    ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
    PortForwardCounters c = Counters();
    EXPECT_EQ(c.accepted, 1u);
    EXPECT_EQ(c.closed, 1u);
    EXPECT_EQ(c.errors, 0u);
    EXPECT_EQ(c.bytes_to_host, kSize);
    EXPECT_EQ(c.bytes_to_virtual, kSize);
  }

  std::unique_ptr<event::UvLoop> loop_;
  // Loop thread only:
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<LoopbackLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<HostServer> host_;
  std::unique_ptr<PortForward> forward_;
  std::vector<std::unique_ptr<TcpConnection>> clients_;
  std::vector<std::unique_ptr<LoopWaiter>> waiters_;
};

TEST_F(PortForwardTest, RelaysEightMebibytesEachWayV4) {
  TransferBothWays(SocketAddress(kV4, 8080), kHost4);
}

TEST_F(PortForwardTest, RelaysEightMebibytesEachWayV6) {
  // Skipped where the host has no IPv6 loopback.
  bool has_v6 = false;
  Run([&] {
    event::TcpListener probe(loop_.get(), nullptr);
    has_v6 = probe.Listen(SocketAddress(kHost6, 0), 1).ok();
  });
  if (!has_v6) GTEST_SKIP() << "no ::1 on this host";
  TransferBothWays(SocketAddress(kV6, 8080), kHost6);
}

TEST_F(PortForwardTest, HalfClosePassesThrough) {
  // The client sends a little and half-closes; the host answers only after
  // that EOF, with 4 MiB and its own FIN.
  constexpr uint64_t kReply = 4 << 20;
  StartForward(SocketAddress(kV4, 8081),
               {kReply, /*seed=*/5, /*send_after_eof=*/true});
  Duplex duplex(1000, /*seed=*/6);
  Notification finished;
  Run([&] { duplex.set_on_finish([&] { finished.Notify(); }); });
  TcpConnection* conn = Connect(SocketAddress(kV4, 8081), &duplex);
  Run([&] { duplex.Attach(conn); });
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(absl::Seconds(30)));
  Run([&] {
    ASSERT_EQ(host_->peers.size(), 1u);
    EXPECT_TRUE(host_->peers[0]->eof());
    EXPECT_EQ(host_->peers[0]->digest(), PatternDigest(1000, 6));
    EXPECT_EQ(duplex.receiver().received(), kReply);
    EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kReply, 5));
    EXPECT_TRUE(duplex.receiver().error().ok()) << duplex.receiver().error();
  });
  ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
  EXPECT_EQ(Counters().errors, 0u);
}

TEST_F(PortForwardTest, RefusedTargetClosesTheClient) {
  // A port that was just free: nothing listens there.
  SocketAddress closed;
  Run([&] {
    event::TcpListener probe(loop_.get(), nullptr);
    ASSERT_TRUE(probe.Listen(SocketAddress(kHost4, 0), 1).ok());
    closed = *probe.LocalAddress();
  });
  absl::Status status;
  Run([&] {
    absl::StatusOr<std::unique_ptr<PortForward>> forward = PortForward::Start(
        stack_.get(), loop_.get(), {SocketAddress(kV4, 8082), closed});
    status = forward.status();
    if (forward.ok()) forward_ = std::move(*forward);
  });
  ASSERT_TRUE(status.ok()) << status;
  Client client;
  client.conn = Connect(SocketAddress(kV4, 8082), &client);
  ASSERT_TRUE(client.failed.WaitForNotificationWithTimeout(kTimeout));
  Run([&] { EXPECT_EQ(client.error.code(), absl::StatusCode::kAborted); });
  ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
  PortForwardCounters c = Counters();
  EXPECT_EQ(c.connect_failures, 1u);
  EXPECT_EQ(c.errors, 1u);
  EXPECT_EQ(c.active, 0u);
}

TEST_F(PortForwardTest, HostResetAbortsTheClient) {
  // The host does not read, then closes with unread bytes: a reset.
  StartForward(SocketAddress(kV4, 8083), {0, 0, false, /*read=*/false});
  Client client;
  client.conn = Connect(SocketAddress(kV4, 8083), &client);
  std::vector<uint8_t> data(100000, 0x5A);
  Run([&] { ASSERT_EQ(*client.conn->Write(data), data.size()); });
  ASSERT_TRUE(Await([&] {
    return forward_->counters().bytes_to_host == data.size() &&
           !host_->peers.empty();
  }));
  Run([&] { host_->peers[0]->Close(); });
  ASSERT_TRUE(client.failed.WaitForNotificationWithTimeout(kTimeout));
  Run([&] { EXPECT_EQ(client.error.code(), absl::StatusCode::kAborted); });
  ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
  EXPECT_EQ(Counters().errors, 1u);
}

TEST_F(PortForwardTest, HostCloseReachesTheClientAsFin) {
  StartForward(SocketAddress(kV4, 8084), {});
  Client client;
  client.conn = Connect(SocketAddress(kV4, 8084), &client);
  ASSERT_TRUE(host_->accepted.WaitForNotificationWithTimeout(kTimeout));
  Run([&] { host_->peers[0]->Close(); });
  ASSERT_TRUE(client.eof.WaitForNotificationWithTimeout(kTimeout));
  Run([&] {
    EXPECT_TRUE(client.error.ok()) << client.error;
    ASSERT_TRUE(client.conn->Shutdown().ok());
  });
  ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
  EXPECT_EQ(Counters().errors, 0u);
}

TEST_F(PortForwardTest, ClientResetResetsTheHostSide) {
  StartForward(SocketAddress(kV4, 8085), {});
  Client client;
  client.conn = Connect(SocketAddress(kV4, 8085), &client);
  ASSERT_TRUE(host_->accepted.WaitForNotificationWithTimeout(kTimeout));
  Run([&] { client.conn->Abort(); });
  HostPeer* peer = nullptr;
  Run([&] { peer = host_->peers[0].get(); });
  ASSERT_TRUE(Await([&] { return peer->eof() || !peer->error().ok(); }));
  // A reset, not a FIN: the host sees an error.
  EXPECT_FALSE(peer->error().ok());
  ASSERT_TRUE(Await([&] { return forward_->live_relays() == 0; }));
  EXPECT_EQ(Counters().errors, 1u);
}

TEST_F(PortForwardTest, SlowClientBoundsWhatTheRelayHolds) {
  // The host sends far more than the client reads: the relay must stop
  // reading the host once the netstack's buffers are full.
  constexpr uint64_t kSize = 64 << 20;
  StartForward(SocketAddress(kV4, 8086), {kSize, 3});
  Duplex duplex(0, 1);
  duplex.receiver().set_paused(true);
  TcpConnection* conn = Connect(SocketAddress(kV4, 8086), &duplex);
  Run([&] { duplex.Attach(conn); });
  ASSERT_TRUE(host_->accepted.WaitForNotificationWithTimeout(kTimeout));
  // Backed up all the way: the host's own queue passes its high watermark
  // once the kernel's buffers and the relay are full.
  ASSERT_TRUE(Await([&] {
    return host_->peers[0]->socket()->QueuedBytes() >
           event::TcpSocket::kDefaultHighWatermark;
  }));
  PortForwardCounters c = Counters();
  // The netstack's send buffer (2 MiB) and the client's window (2 MiB), plus
  // at most one 64 KiB read held back.
  EXPECT_LE(c.bytes_to_virtual, (4u << 20) + (64u << 10));
  uint64_t host_sent = 0;
  Run([&] { host_sent = host_->peers[0]->sent(); });
  EXPECT_LT(host_sent, kSize);
  // Reading again drains it all.
  Notification finished;
  Run([&] {
    duplex.set_on_finish([&] { finished.Notify(); });
    duplex.receiver().set_paused(false);
  });
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(absl::Seconds(120)));
  Run([&] {
    EXPECT_EQ(duplex.receiver().received(), kSize);
    EXPECT_EQ(duplex.receiver().digest(), PatternDigest(kSize, 3));
  });
}

TEST_F(PortForwardTest, DestroyingAbortsRelaysAndLeavesNoPcbs) {
  StartForward(SocketAddress(kV4, 8087), {64 << 20, 1});
  Duplex duplex(64 << 20, 2);
  duplex.receiver().set_paused(true);
  TcpConnection* conn = Connect(SocketAddress(kV4, 8087), &duplex);
  Run([&] { duplex.Attach(conn); });
  ASSERT_TRUE(Await([&] {
    return forward_->counters().bytes_to_virtual > (1u << 20) &&
           forward_->counters().bytes_to_host > (1u << 20);
  }));
  HostPeer* peer = nullptr;
  Run([&] {
    peer = host_->peers[0].get();
    forward_.reset();
  });
  ASSERT_TRUE(Await([&] { return !duplex.receiver().error().ok(); }));
  ASSERT_TRUE(Await([&] { return peer->eof() || !peer->error().ok(); }));
  netstack::StackResources left;
  Run([&] {
    EXPECT_EQ(duplex.receiver().error().code(), absl::StatusCode::kAborted);
    clients_.clear();
    left = stack_->Resources();
  });
  // Everything was reset: nothing lingers, no orphan clean-up needed.
  EXPECT_TRUE(left.IsEmpty()) << left.ToString();
}

TEST_F(PortForwardTest, StartErrors) {
  absl::Status taken, unspecified;
  Run([&] {
    host_ = std::make_unique<HostServer>(loop_.get(), HostServer::Behaviour{});
    ASSERT_TRUE(host_->Listen(kHost4).ok());
    forward_ = *PortForward::Start(stack_.get(), loop_.get(),
                                   {SocketAddress(kV4, 9000), host_->address()});
    taken = PortForward::Start(stack_.get(), loop_.get(),
                               {SocketAddress(kV4, 9000), host_->address()})
                .status();
    unspecified =
        PortForward::Start(stack_.get(), loop_.get(),
                           {SocketAddress(kV4, 9001), SocketAddress(kHost4, 0)})
            .status();
  });
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(taken.message().find("10.99.0.1:9000"), std::string::npos)
      << taken;
  EXPECT_EQ(unspecified.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stow::gateway
