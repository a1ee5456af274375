// Netstack unit tests: one stack, one interface on a LoopbackLink, both ends
// of every connection in this process, driven by a fake clock.
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "sdk/event/manual_loop.h"

namespace stow::netstack {
namespace {

using ::stow::netstack::testing::BulkReceiver;
using ::stow::netstack::testing::BulkSender;
using ::stow::netstack::testing::LoopbackLink;

const IpAddress kV4 = IpAddress::V4(10, 0, 0, 1);
const IpAddress kV6 = *IpAddress::Parse("fd00::1");

// Accepts connections and keeps them.
class Acceptor : public TcpListener::Delegate {
 public:
  void OnAccept(std::unique_ptr<TcpConnection> connection) override {
    accepted.push_back(std::move(connection));
  }
  std::vector<std::unique_ptr<TcpConnection>> accepted;
};

// Records every event.
class Recorder : public TcpConnection::Delegate {
 public:
  void OnConnected() override { connected = true; }
  void OnReadable() override { readable++; }
  void OnWritable() override { writable++; }
  void OnError(absl::Status s) override { error = std::move(s); }
  bool connected = false;
  int readable = 0;
  int writable = 0;
  absl::Status error;
};

class NetstackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Stack>> stack = Stack::Create(&loop_);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    link_ = std::make_unique<LoopbackLink>(&loop_, 1500);
    InterfaceConfig config;
    config.ipv4 = kV4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = kV6;
    absl::StatusOr<std::unique_ptr<Interface>> iface =
        stack_->AddInterface(link_.get(), config);
    ASSERT_TRUE(iface.ok()) << iface.status();
    iface_ = std::move(*iface);
  }

  void TearDown() override {
    // Every test ends with nothing alive in lwIP.
    iface_.reset();
    stack_->AbortOrphanedConnections();
    loop_.RunUntilIdle();
    StackResources left = stack_->Resources();
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    stack_.reset();
    link_.reset();
  }

  // Runs the fake clock in small steps until `done` or `limit` passes.
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(120)) {
    const absl::Duration end = loop_.Now() + limit;
    while (true) {
      loop_.RunUntilIdle();
      if (done()) return true;
      if (loop_.Now() >= end) return false;
      loop_.AdvanceBy(absl::Milliseconds(2));
    }
  }

  std::unique_ptr<TcpListener> Listen(uint16_t port, Acceptor* acceptor,
                                      IpAddress ip = kV4) {
    absl::StatusOr<std::unique_ptr<TcpListener>> l =
        TcpListener::Listen(stack_.get(), SocketAddress(ip, port), acceptor);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::move(*l) : nullptr;
  }

  // Transfers `bytes` from a connecting client to an accepting server.
  void TransferAndCompare(const IpAddress& ip, uint64_t bytes) {
    Acceptor acceptor;
    std::unique_ptr<TcpListener> listener = Listen(7000, &acceptor, ip);
    BulkSender sender(bytes, 42);
    absl::StatusOr<std::unique_ptr<TcpConnection>> client =
        TcpConnection::Connect(stack_.get(), SocketAddress(ip, 7000), &sender);
    ASSERT_TRUE(client.ok()) << client.status();
    sender.Start(client->get());
    ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
    BulkReceiver receiver;
    receiver.Attach(acceptor.accepted[0].get());
    ASSERT_TRUE(RunUntil([&] { return receiver.eof(); }))
        << "received " << receiver.received() << " of " << bytes;
    EXPECT_TRUE(sender.error().ok()) << sender.error();
    EXPECT_EQ(receiver.received(), bytes);
    EXPECT_EQ(receiver.digest(), sender.digest());
  }

  event::ManualLoop loop_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<LoopbackLink> link_;
  std::unique_ptr<Interface> iface_;
};

TEST_F(NetstackTest, OnlyOneStackPerProcess) {
  absl::StatusOr<std::unique_ptr<Stack>> second = Stack::Create(&loop_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(NetstackTest, TcpTransferV4HashEqual) {
  TransferAndCompare(kV4, 8 << 20);
}

TEST_F(NetstackTest, TcpTransferV6HashEqual) {
  TransferAndCompare(kV6, 8 << 20);
}

TEST_F(NetstackTest, TcpSurvivesLossAndCorruption) {
  // The filter owns its RNG: it outlives this body (teardown sends RSTs).
  link_->set_filter([rng = std::mt19937(7)](std::vector<uint8_t>& packet) mutable {
    uint32_t r = rng() % 100;
    if (r < 3) return false;  // 3 % loss.
    if (r < 5 && packet.size() > 60) {
      packet[40 + rng() % (packet.size() - 40)] ^= 0x5A;  // Checksum catches.
    }
    return true;
  });
  TransferAndCompare(kV4, 2 << 20);
  EXPECT_GT(link_->dropped_packets(), 0u);
  EXPECT_GT(stack_->Drops().tcp_drop + stack_->Drops().ip_checksum +
                stack_->Drops().ip_drop,
            0u);
}

TEST_F(NetstackTest, ReceiverFlowControlBoundsBufferedBytes) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7001, &acceptor);
  BulkSender sender(16 << 20, 9);
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7001), &sender);
  sender.Start(client.get());
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  BulkReceiver receiver;
  receiver.set_paused(true);
  receiver.Attach(acceptor.accepted[0].get());
  // With the reader paused, the sender stalls once the receive window
  // (2 MiB) and its own send buffer (2 MiB) are full.
  RunUntil([] { return false; }, absl::Seconds(5));
  const size_t buffered = acceptor.accepted[0]->readable_bytes();
  EXPECT_GT(buffered, 1u << 20);
  EXPECT_LE(buffered, 2u << 20);
  EXPECT_LT(sender.sent(), 16u << 20);
  EXPECT_LE(sender.sent(), (4u << 20) + 65536);
  receiver.set_paused(false);
  ASSERT_TRUE(RunUntil([&] { return receiver.eof(); }));
  EXPECT_EQ(receiver.digest(), sender.digest());
}

// Both ends send and neither reads, so both receive windows close. lwIP
// 2.1.3 answers every zero-length segment outside its window with an ACK,
// and with a zero window every segment is outside it: two lwIP stacks then
// ACK each other's ACKs forever (RFC 9293 3.10.7.4 accepts SEG.SEQ =
// RCV.NXT then). third_party/lwip patches that; this guards it.
TEST_F(NetstackTest, BothWindowsClosedDoNotStormAcks) {
  uint64_t packets = 0;
  // Without the fix the ping-pong never ends; the filter breaks it so that
  // the test fails instead of hanging.
  link_->set_filter([&](std::vector<uint8_t>&) { return ++packets < 200000; });
  // Writes whenever it can, never reads.
  struct Writer : TcpConnection::Delegate {
    void Pump() {
      std::vector<uint8_t> chunk(65536, 0x5a);
      while (conn != nullptr) {
        absl::StatusOr<size_t> n = conn->Write(chunk);
        if (!n.ok() || *n == 0) return;
        sent += *n;
      }
    }
    void OnConnected() override { Pump(); }
    void OnWritable() override { Pump(); }
    void OnReadable() override {}
    void OnError(absl::Status) override { conn = nullptr; }
    TcpConnection* conn = nullptr;
    uint64_t sent = 0;
  };
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7010, &acceptor);
  Writer a, b;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7010), &a);
  a.conn = client.get();
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  b.conn = acceptor.accepted[0].get();
  b.conn->set_delegate(&b);
  b.Pump();
  // Both directions fill: 2 MiB window + 2 MiB send buffer each.
  RunUntil([] { return false; }, absl::Seconds(5));
  EXPECT_GT(a.sent, 2u << 20);
  EXPECT_GT(b.sent, 2u << 20);
  const uint64_t before = packets;
  // Filling both directions takes a few thousand segments and their ACKs.
  EXPECT_LT(before, 20000u) << "ACK storm while the windows closed";
  RunUntil([] { return false; }, absl::Seconds(10));
  // Zero-window probes back off exponentially: a handful in 10 s.
  EXPECT_LT(packets - before, 100u) << "ACK storm";
  client->Abort();
  acceptor.accepted[0]->Abort();
}

// A receiver announces a reopened window with one ACK. When that ACK is lost
// the sender learns of the window only from its next zero-window probe, and
// lwIP's probes back off to 12 s here; third_party/lwip caps them at 2.4 s.
// So after a window that stayed closed for 20 s, losing every window update
// costs at most one probe interval.
TEST_F(NetstackTest, LostWindowUpdateCostsAtMostOneProbeCap) {
  bool drop_acks_from_server = false;
  int dropped = 0;
  link_->set_filter([&](std::vector<uint8_t>& p) {
    if (!drop_acks_from_server || p.size() < 40 || (p[0] >> 4) != 4 ||
        p[9] != 6) {
      return true;
    }
    const size_t ihl = (p[0] & 0x0f) * 4;
    const size_t total = (size_t{p[2]} << 8) | p[3];
    const uint16_t source_port = (uint16_t{p[ihl]} << 8) | p[ihl + 1];
    const size_t tcp_header = (p[ihl + 12] >> 4) * 4;
    if (source_port != 7011 || total != ihl + tcp_header) return true;
    ++dropped;  // A segment without payload from the receiver: its ACKs.
    return false;
  });
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7011, &acceptor);
  BulkSender sender(64u << 20, 7);
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7011), &sender);
  sender.Start(client.get());
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  BulkReceiver receiver;
  receiver.set_paused(true);
  receiver.Attach(acceptor.accepted[0].get());
  // The receive window fills and stays closed while the sender probes.
  RunUntil([] { return false; }, absl::Seconds(20));
  ASSERT_EQ(receiver.received(), 0u);
  ASSERT_GE(sender.sent(), 2u << 20);
  // Reading reopens the window; every ACK announcing it is lost.
  drop_acks_from_server = true;
  receiver.set_paused(false);
  loop_.RunUntilIdle();
  const uint64_t drained = receiver.received();
  ASSERT_GE(drained, 2u << 20);
  drop_acks_from_server = false;
  EXPECT_GE(dropped, 1);
  const absl::Duration reopened = loop_.Now();
  EXPECT_TRUE(absl::StrContains(client->DebugState(), "state=ESTABLISHED"))
      << client->DebugState();
  ASSERT_TRUE(RunUntil([&] { return receiver.received() > drained; },
                       absl::Seconds(30)));
  EXPECT_LE(loop_.Now() - reopened, absl::Milliseconds(2500))
      << "the sender waited for a backed-off probe";
  client->Abort();
  EXPECT_EQ(client->DebugState(), "closed");
  acceptor.accepted[0]->Abort();
}

// A TLS tunnel's interface gets a floor under TCP's retransmission timeout:
// the outer TCP already retransmits, so an inner RTO only adds duplicates.
TEST_F(NetstackTest, TcpMinRtoFloorsTheTimeoutAndCountsIt) {
  iface_->SetTcpMinRto(absl::Seconds(1));
  bool blackhole = false;
  std::vector<absl::Duration> data_sent_at;
  link_->set_filter([&](std::vector<uint8_t>& p) {
    if (blackhole && p.size() > 40 && (p[0] >> 4) == 4 && p[9] == 6) {
      const size_t ihl = (p[0] & 0x0f) * 4;
      const size_t total = (size_t{p[2]} << 8) | p[3];
      const size_t tcp_header = (p[ihl + 12] >> 4) * 4;
      if (total > ihl + tcp_header) data_sent_at.push_back(loop_.Now());
    }
    return !blackhole;
  });
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7012, &acceptor);
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7012), &events);
  ASSERT_TRUE(RunUntil([&] {
    return events.connected && acceptor.accepted.size() == 1;
  }));
  BulkReceiver receiver;
  receiver.Attach(acceptor.accepted[0].get());
  std::vector<uint8_t> chunk(32 * 1024, 0x5a);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(client->Write(chunk).ok());
  ASSERT_TRUE(RunUntil([&] { return receiver.received() == 8 * chunk.size(); }));
  // RTT samples on loopback are tiny: each one was raised to the floor.
  EXPECT_GT(iface_->counters().tcp_rto_raised, 0u);
  EXPECT_EQ(iface_->counters().tcp_rto_timeouts, 0u);
  // Everything is lost from now on: the first retransmission waits for the
  // floor, and the timeout is counted.
  blackhole = true;
  const absl::Duration start = loop_.Now();
  ASSERT_TRUE(client->Write(chunk).ok());
  ASSERT_TRUE(RunUntil([&] {
    return iface_->counters().tcp_rto_timeouts > 0 && data_sent_at.size() > 1;
  }, absl::Seconds(10)));
  EXPECT_GE(data_sent_at.back() - start, absl::Seconds(1));
  client->Abort();
  acceptor.accepted[0]->Abort();
}

TEST_F(NetstackTest, HalfCloseKeepsTheOtherDirection) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7002, &acceptor);
  Recorder client_events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7002), &client_events);
  ASSERT_TRUE(RunUntil([&] {
    return client_events.connected && acceptor.accepted.size() == 1;
  }));
  Recorder server_events;
  TcpConnection* server = acceptor.accepted[0].get();
  server->set_delegate(&server_events);

  ASSERT_TRUE(client->Shutdown().ok());
  ASSERT_TRUE(RunUntil([&] { return server->peer_closed(); }));
  // The client can no longer write, but can still read.
  const uint8_t hello[] = {'h', 'i'};
  EXPECT_EQ(client->Write(hello).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(*server->Write(hello), 2u);
  ASSERT_TRUE(server->Shutdown().ok());
  ASSERT_TRUE(RunUntil([&] { return client->peer_closed(); }));
  uint8_t buf[8];
  ASSERT_EQ(client->Read(absl::MakeSpan(buf)), 2u);
  EXPECT_EQ(buf[0], 'h');
  EXPECT_TRUE(client_events.error.ok()) << client_events.error;
  EXPECT_TRUE(server_events.error.ok()) << server_events.error;
}

TEST_F(NetstackTest, WriteAfterCloseFailsPrecondition) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7003, &acceptor);
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7003), &events);
  ASSERT_TRUE(RunUntil([&] { return events.connected; }));
  client->Close();
  const uint8_t byte[] = {1};
  EXPECT_EQ(client->Write(byte).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->Shutdown().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(NetstackTest, ConnectionRefusedIsUnavailable) {
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7999), &events);
  ASSERT_TRUE(RunUntil([&] { return !events.error.ok(); }));
  EXPECT_EQ(events.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(events.error.message().find("refused"), std::string::npos)
      << events.error;
  EXPECT_FALSE(events.connected);
}

TEST_F(NetstackTest, AbortResetsThePeer) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7004, &acceptor);
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7004), &events);
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  Recorder server_events;
  acceptor.accepted[0]->set_delegate(&server_events);
  client->Abort();
  ASSERT_TRUE(RunUntil([&] { return !server_events.error.ok(); }));
  EXPECT_EQ(server_events.error.code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(acceptor.accepted[0]->is_open());
  EXPECT_TRUE(events.error.ok());  // No callback after our own Abort().
}

TEST_F(NetstackTest, PortInUseNamesTheAddress) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> first = Listen(7005, &acceptor);
  absl::StatusOr<std::unique_ptr<TcpListener>> second = TcpListener::Listen(
      stack_.get(), SocketAddress(kV4, 7005), &acceptor);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find("10.0.0.1:7005"), std::string::npos)
      << second.status();
}

TEST_F(NetstackTest, NoRouteIsUnavailable) {
  // The fixture's interface has no default route: only its own subnet.
  Recorder events;
  absl::StatusOr<std::unique_ptr<TcpConnection>> c = TcpConnection::Connect(
      stack_.get(), SocketAddress(*IpAddress::Parse("192.0.2.1"), 80),
      &events);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
}

TEST_F(NetstackTest, RoutesByLongestPrefixAcrossInterfaces) {
  // A second interface (a second tunnel) owning 2001:db8:1::/48 and
  // 192.0.2.0/24. (With a single interface lwIP sends every IPv6
  // destination through it; its route hook applies from two on.)
  LoopbackLink link2(&loop_, 1400);
  InterfaceConfig config;
  config.ipv4 = IpAddress::V4(10, 9, 0, 1);
  config.ipv6 = *IpAddress::Parse("fd09::1");
  config.routes = {{*IpAddress::Parse("2001:db8:1::"), 48},
                   {*IpAddress::Parse("192.0.2.0"), 24}};
  std::unique_ptr<Interface> iface2 =
      *stack_->AddInterface(&link2, config);
  EXPECT_EQ(iface2->mtu(), 1400);
  Recorder events;
  for (const char* dest : {"2001:db8:1::5", "192.0.2.7"}) {
    const uint64_t before = link2.sent_packets();
    absl::StatusOr<std::unique_ptr<TcpConnection>> c = TcpConnection::Connect(
        stack_.get(), SocketAddress(*IpAddress::Parse(dest), 80), &events);
    ASSERT_TRUE(c.ok()) << dest << ": " << c.status();
    EXPECT_EQ(link2.sent_packets(), before + 1) << dest;  // The SYN.
  }
  for (const char* dest : {"2001:db8:2::5", "198.51.100.1"}) {
    absl::StatusOr<std::unique_ptr<TcpConnection>> c = TcpConnection::Connect(
        stack_.get(), SocketAddress(*IpAddress::Parse(dest), 80), &events);
    ASSERT_FALSE(c.ok()) << dest;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << dest;
  }
}

TEST_F(NetstackTest, CloseInsideCallbackIsSafe) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7006, &acceptor);
  struct Closer : TcpConnection::Delegate {
    TcpConnection* conn = nullptr;
    bool closed = false;
    void OnReadable() override {
      uint8_t buf[64];
      while (conn->Read(absl::MakeSpan(buf)) > 0) {
      }
      conn->Close();
      closed = true;
    }
    void OnError(absl::Status) override {}
  } closer;
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7006), &events);
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  closer.conn = acceptor.accepted[0].get();
  closer.conn->set_delegate(&closer);
  const uint8_t data[] = {1, 2, 3};
  ASSERT_EQ(*client->Write(data), 3u);
  ASSERT_TRUE(RunUntil([&] { return closer.closed; }));
  ASSERT_TRUE(RunUntil([&] { return client->peer_closed(); }));
}

TEST_F(NetstackTest, TimeWaitEndingSilentlyLeavesNoDanglingPcb) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7007, &acceptor);
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7007), &events);
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  Recorder server_events;
  TcpConnection* server = acceptor.accepted[0].get();
  server->set_delegate(&server_events);
  // The client closes first (half-close), so its pcb ends in TIME_WAIT,
  // which lwIP frees without any callback.
  ASSERT_TRUE(client->Shutdown().ok());
  ASSERT_TRUE(RunUntil([&] { return server->peer_closed(); }));
  ASSERT_TRUE(server->Shutdown().ok());
  ASSERT_TRUE(RunUntil([&] { return client->peer_closed(); }));
  EXPECT_TRUE(client->is_open());  // TIME_WAIT, still lwIP's.
  // Past 2 x MSL lwIP frees it; the connection must notice (ASan checks).
  RunUntil([] { return false; }, absl::Minutes(3));
  EXPECT_FALSE(client->is_open());
  uint8_t buf[4];
  EXPECT_EQ(client->Read(absl::MakeSpan(buf)), 0u);
  EXPECT_EQ(client->unacked_bytes(), 0u);
  client->Close();
  EXPECT_TRUE(events.error.ok()) << events.error;
}

TEST_F(NetstackTest, RemovingAnInterfaceSurvivesErrorHandlersThatAbort) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7008, &acceptor);
  // Each connection's error handler aborts the other one, as a proxy
  // closing the paired socket would.
  struct Pair : TcpConnection::Delegate {
    void OnReadable() override {}
    void OnError(absl::Status s) override {
      error = std::move(s);
      if (other != nullptr) other->Abort();
    }
    TcpConnection* other = nullptr;
    absl::Status error;
  } a, b;
  std::unique_ptr<TcpConnection> ca = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7008), &a);
  std::unique_ptr<TcpConnection> cb = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7008), &b);
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 2; }));
  a.other = cb.get();
  b.other = ca.get();
  iface_.reset();  // Must not touch freed pcbs (ASan checks).
  EXPECT_FALSE(ca->is_open());
  EXPECT_FALSE(cb->is_open());
  EXPECT_FALSE(a.error.ok() && b.error.ok());  // At least one saw it.
}

TEST_F(NetstackTest, TinySegmentsDoNotAmplifyMemory) {
  Acceptor acceptor;
  std::unique_ptr<TcpListener> listener = Listen(7009, &acceptor);
  Recorder events;
  std::unique_ptr<TcpConnection> client = *TcpConnection::Connect(
      stack_.get(), SocketAddress(kV4, 7009), &events);
  ASSERT_TRUE(RunUntil([&] { return acceptor.accepted.size() == 1; }));
  Recorder server_events;  // Never reads.
  acceptor.accepted[0]->set_delegate(&server_events);
  // 20000 one-byte segments (Nagle is off), while the reader sleeps.
  const uint8_t byte[] = {0x42};
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(*client->Write(byte), 1u);
    if (i % 64 == 0) loop_.RunUntilIdle();
  }
  ASSERT_TRUE(RunUntil(
      [&] { return acceptor.accepted[0]->readable_bytes() == 20000; }));
  // Received bytes are copied out of their packets: well under the ~100
  // bytes per byte that keeping each packet buffer would cost.
  StackResources r = stack_->Resources();
  EXPECT_LT(r.heap_bytes, 512 * 1024) << r.ToString();
  EXPECT_EQ(r.pbufs, 0) << r.ToString();
}

TEST_F(NetstackTest, UdpRoundTripIncludingFragmentedDatagrams) {
  struct Collector : UdpEndpoint::Delegate {
    void OnDatagram(absl::Span<const uint8_t> payload,
                    const SocketAddress& from) override {
      got.emplace_back(payload.begin(), payload.end());
      sender = from;
    }
    std::vector<std::vector<uint8_t>> got;
    SocketAddress sender;
  } a, b;
  for (const IpAddress& ip : {kV4, kV6}) {
    a.got.clear();
    b.got.clear();
    std::unique_ptr<UdpEndpoint> ea =
        *UdpEndpoint::Bind(stack_.get(), SocketAddress(ip, 5000), &a);
    std::unique_ptr<UdpEndpoint> eb =
        *UdpEndpoint::Bind(stack_.get(), SocketAddress(ip, 0), &b);
    ASSERT_NE(eb->local_address().port(), 0);
    std::vector<uint8_t> big(30000);
    testing::PatternStream(3).Fill(absl::MakeSpan(big));
    ASSERT_TRUE(eb->SendTo(big, SocketAddress(ip, 5000)).ok());
    const uint8_t small[] = {9, 8, 7};
    ASSERT_TRUE(eb->SendTo(small, SocketAddress(ip, 5000)).ok());
    ASSERT_TRUE(RunUntil([&] { return a.got.size() == 2; }))
        << a.got.size() << " datagrams; drops ip " << stack_->Drops().ip_drop
        << " len " << stack_->Drops().ip_length << " proto "
        << stack_->Drops().ip_protocol << " udp " << stack_->Drops().udp_drop
        << " chk " << stack_->Drops().ip_checksum << " family "
        << (ip.is_v4() ? 4 : 6);
    EXPECT_EQ(a.got[0], big);
    EXPECT_EQ(a.got[1], std::vector<uint8_t>(small, small + 3));
    EXPECT_EQ(a.sender.port(), eb->local_address().port());
    // Echo back over a connected endpoint.
    ASSERT_TRUE(ea->Connect(a.sender).ok());
    ASSERT_TRUE(ea->Send(small).ok());
    ASSERT_TRUE(RunUntil([&] { return b.got.size() == 1; }));
    EXPECT_EQ(b.got[0], std::vector<uint8_t>(small, small + 3));
    // Errors.
    EXPECT_EQ(
        UdpEndpoint::Bind(stack_.get(), SocketAddress(ip, 5000), &a)
            .status()
            .code(),
        absl::StatusCode::kAlreadyExists);
    std::vector<uint8_t> too_big(
        (ip.is_v4() ? UdpEndpoint::kMaxPayloadV4 : UdpEndpoint::kMaxPayloadV6) +
        1);
    EXPECT_EQ(eb->SendTo(too_big, SocketAddress(ip, 5000)).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(eb->Send(small).code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_F(NetstackTest, PingOwnAddressBothFamilies) {
  struct Replies : Pinger::Delegate {
    void OnEchoReply(const IpAddress& from, uint16_t seq,
                     absl::Duration rtt) override {
      this->from = from;
      this->seq = seq;
      this->rtt = rtt;
      count++;
    }
    IpAddress from;
    int seq = -1;
    absl::Duration rtt;
    int count = 0;
  };
  for (const IpAddress& ip : {kV4, kV6}) {
    Replies replies;
    std::unique_ptr<Pinger> pinger =
        *Pinger::Create(stack_.get(), ip.family(), &replies);
    ASSERT_TRUE(pinger->Send(ip, 7).ok());
    ASSERT_TRUE(RunUntil([&] { return replies.count == 1; }));
    EXPECT_EQ(replies.from, ip);
    EXPECT_EQ(replies.seq, 7);
    EXPECT_GE(replies.rtt, absl::ZeroDuration());
  }
}

TEST_F(NetstackTest, MalformedPacketsAreCountedDrops) {
  std::mt19937 rng(1);
  const uint64_t malformed_before = iface_->counters().rx_malformed;
  const uint64_t lwip_before = stack_->Drops().Total();
  // Garbage of every length, truncated headers, wrong versions, lengths
  // that lie, bad checksums.
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> p(rng() % 120);
    for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
    if (!p.empty() && i % 3 == 0) p[0] = 0x45;
    if (p.size() > 1 && i % 3 == 1) p[0] = 0x60;
    link_->Inject(p);
  }
  const uint8_t runt[] = {0x45, 0x00};
  link_->Inject(runt);
  link_->Inject({});
  const uint64_t dropped = (iface_->counters().rx_malformed - malformed_before) +
                           (stack_->Drops().Total() - lwip_before);
  EXPECT_GE(dropped, 2900u);
  // The stack still works afterwards.
  TransferAndCompare(kV4, 256 * 1024);
}

TEST_F(NetstackTest, IdleStackStopsWakingUp) {
  TransferAndCompare(kV4, 64 * 1024);
  stack_->AbortOrphanedConnections();
  // Past the housekeeping linger, nothing needs a timer.
  loop_.AdvanceBy(absl::Minutes(3));
  loop_.RunUntilIdle();
  EXPECT_EQ(loop_.PendingTimers(), 0);
}

}  // namespace
}  // namespace stow::netstack
