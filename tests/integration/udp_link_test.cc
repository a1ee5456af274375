// Two netstacks in two processes exchange raw IP packets over the plain UDP
// link on 127.0.0.1, with loss, reordering and duplication on both sending
// sides. 64 MiB cross each way at once and hash equal; a transfer that makes
// no progress for 10 s fails.
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "netstack/links/udp_link.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "sdk/event/uv_loop.h"
#include "tests/integration/run_on_loop.h"
#include "tests/integration/peer_process.h"
#include "tests/integration/services.h"

namespace stow::testing {
namespace {

using netstack::TcpConnection;

constexpr uint64_t kBytes = 64ull << 20;
const IpAddress kLocalV4 = IpAddress::V4(10, 77, 0, 1);
const IpAddress kPeerV4 = IpAddress::V4(10, 77, 0, 2);
const IpAddress kLocalV6 = *IpAddress::Parse("fd77::1");
const IpAddress kPeerV6 = *IpAddress::Parse("fd77::2");

class TwoStacksTest : public ::testing::Test {
 protected:
  void StartBoth(const netstack::Impairment& imp, const std::string& flags) {
    loop_ = *event::UvLoop::Start();
    absl::Status status;
    RunOnLoop(loop_.get(), [&] {
      stack_ = *netstack::Stack::Create(loop_.get());
      absl::StatusOr<std::unique_ptr<netstack::UdpLink>> link =
          netstack::UdpLink::Create(
              loop_.get(), *SocketAddress::Parse("127.0.0.1:0"), 1500, imp);
      if (!link.ok()) {
        status = link.status();
        return;
      }
      link_ = std::move(*link);
      netstack::InterfaceConfig config;
      config.ipv4 = kLocalV4;
      config.ipv4_prefix_len = 24;
      config.ipv6 = kLocalV6;
      config.default_route = true;
      iface_ = *stack_->AddInterface(link_.get(), config);
    });
    ASSERT_TRUE(status.ok()) << status;
    std::vector<std::string> argv = {
        RunfilePath("tests/integration/netstack_peer"),
        absl::StrCat("--peer=", link_address().ToString())};
    for (absl::string_view f : absl::StrSplit(flags, ' ', absl::SkipEmpty())) {
      argv.emplace_back(f);
    }
    absl::StatusOr<std::unique_ptr<PeerProcess>> peer = PeerProcess::Start(argv);
    ASSERT_TRUE(peer.ok()) << peer.status();
    peer_ = std::move(*peer);
    uint32_t port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(peer_->ready_line(), &port));
    RunOnLoop(loop_.get(), [&] {
      link_->set_peer(SocketAddress(IpAddress::V4(127, 0, 0, 1),
                                    static_cast<uint16_t>(port)));
    });
  }

  SocketAddress link_address() {
    SocketAddress a;
    RunOnLoop(loop_.get(), [&] { a = link_->local_address(); });
    return a;
  }

  void TearDown() override {
    if (loop_ == nullptr) return;
    netstack::StackResources left;
    RunOnLoop(loop_.get(), [&] {
      iface_.reset();
      stack_->AbortOrphanedConnections();
      left = stack_->Resources();
      stack_.reset();
      link_.reset();
    });
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    if (peer_ != nullptr) {
      EXPECT_EQ(peer_->Stop(), 0) << "the peer process failed or leaked";
    }
    // Shutdown reports (and force-closes) any libuv handle left open.
    absl::Status shutdown = loop_->Shutdown();
    EXPECT_TRUE(shutdown.ok()) << shutdown;
  }

  // Uploads to the peer's sink and downloads from its source at once, each
  // `bytes`, checking progress every second.
  void TransferBothWays(const IpAddress& peer_ip, uint64_t bytes) {
    absl::Notification both_done;
    int finished = 0;
    auto on_done = [&] {
      if (++finished == 2) both_done.Notify();
    };
    std::unique_ptr<SinkClient> up;
    std::unique_ptr<SourceClient> down;
    std::unique_ptr<TcpConnection> up_conn, down_conn;
    absl::Status status;
    RunOnLoop(loop_.get(), [&] {
      up = std::make_unique<SinkClient>(bytes, 11, on_done);
      down = std::make_unique<SourceClient>(bytes, 12, on_done);
      absl::StatusOr<std::unique_ptr<TcpConnection>> c1 =
          TcpConnection::Connect(
              stack_.get(), SocketAddress(peer_ip, TestServices::kSinkPort),
              up.get());
      absl::StatusOr<std::unique_ptr<TcpConnection>> c2 =
          TcpConnection::Connect(
              stack_.get(), SocketAddress(peer_ip, TestServices::kSourcePort),
              down.get());
      if (!c1.ok() || !c2.ok()) {
        status = c1.ok() ? c2.status() : c1.status();
        return;
      }
      up_conn = std::move(*c1);
      down_conn = std::move(*c2);
      up->Start(up_conn.get());
      down->Start(down_conn.get());
    });
    ASSERT_TRUE(status.ok()) << status;

    const absl::Time start = absl::Now();
    uint64_t last_progress = 0;
    absl::Time last_change = start;
    while (!both_done.WaitForNotificationWithTimeout(absl::Seconds(1))) {
      uint64_t progress = 0;
      RunOnLoop(loop_.get(), [&] { progress = up->sent() + down->received(); });
      if (progress != last_progress) {
        last_progress = progress;
        last_change = absl::Now();
      }
      ASSERT_LT(absl::Now() - last_change, absl::Seconds(10))
          << "no progress for 10 s: uploaded " << up->sent()
          << ", downloaded " << down->received();
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    bool up_ok = false;
    crypto::Sha256::Digest down_digest;
    absl::Status up_error, down_error;
    netstack::UdpLink::Counters counters;
    netstack::ImpairmentStage::Counters impaired;
    RunOnLoop(loop_.get(), [&] {
      up_ok = up->DigestsMatch();
      up_error = up->error();
      down_error = down->error();
      down_digest = down->digest();
      counters = link_->counters();
      impaired = link_->impairment_counters();
      up_conn.reset();
      down_conn.reset();
    });
    EXPECT_TRUE(up_error.ok()) << up_error;
    EXPECT_TRUE(down_error.ok()) << down_error;
    EXPECT_TRUE(up_ok) << "upload digest differs";
    EXPECT_EQ(down_digest, netstack::testing::PatternDigest(bytes, 12))
        << "download digest differs";
    std::printf(
        "transferred 2 x %llu bytes in %.1f s; link: lost %llu, duplicated "
        "%llu, reordered %llu of %llu sent\n",
        static_cast<unsigned long long>(bytes), seconds,
        static_cast<unsigned long long>(impaired.lost),
        static_cast<unsigned long long>(impaired.duplicated),
        static_cast<unsigned long long>(impaired.reordered),
        static_cast<unsigned long long>(counters.tx_packets));
  }

  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<netstack::UdpLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<PeerProcess> peer_;
};

netstack::Impairment Lossy() {
  netstack::Impairment imp;
  imp.loss_percent = 2;
  imp.reorder_percent = 2;
  imp.duplicate_percent = 1;
  imp.seed = 1;
  return imp;
}

constexpr char kLossyFlags[] = "--loss=2 --reorder=2 --duplicate=1 --seed=2";

TEST_F(TwoStacksTest, SixtyFourMiBEachWayOverLossyLinkV4) {
  StartBoth(Lossy(), kLossyFlags);
  TransferBothWays(kPeerV4, kBytes);
  netstack::ImpairmentStage::Counters c;
  RunOnLoop(loop_.get(), [&] { c = link_->impairment_counters(); });
  EXPECT_GT(c.lost, 0u);
  EXPECT_GT(c.duplicated, 0u);
  EXPECT_GT(c.reordered, 0u);
}

TEST_F(TwoStacksTest, SixtyFourMiBEachWayOverLossyLinkV6) {
  StartBoth(Lossy(), kLossyFlags);
  TransferBothWays(kPeerV6, kBytes);
}

TEST_F(TwoStacksTest, UdpEchoAndPingAcrossProcesses) {
  StartBoth(netstack::Impairment(), "");
  struct Collector : netstack::UdpEndpoint::Delegate,
                     netstack::Pinger::Delegate {
    void OnDatagram(absl::Span<const uint8_t> payload,
                    const SocketAddress&) override {
      echoed.assign(payload.begin(), payload.end());
      got_echo.Notify();
    }
    void OnEchoReply(const IpAddress&, uint16_t, absl::Duration r) override {
      rtt = r;
      got_ping.Notify();
    }
    std::vector<uint8_t> echoed;
    absl::Duration rtt;
    absl::Notification got_echo, got_ping;
  } collector;
  std::vector<uint8_t> payload(20000);
  netstack::testing::PatternStream(5).Fill(absl::MakeSpan(payload));
  std::unique_ptr<netstack::UdpEndpoint> udp;
  std::unique_ptr<netstack::Pinger> pinger;
  RunOnLoop(loop_.get(), [&] {
    udp = *netstack::UdpEndpoint::Bind(
        stack_.get(), SocketAddress(kLocalV4, 0), &collector);
    ASSERT_TRUE(udp->SendTo(payload, SocketAddress(kPeerV4, 7)).ok());
    pinger = *netstack::Pinger::Create(stack_.get(), IpAddress::Family::kV4,
                                       &collector);
    ASSERT_TRUE(pinger->Send(kPeerV4, 1).ok());
  });
  ASSERT_TRUE(collector.got_echo.WaitForNotificationWithTimeout(
      absl::Seconds(10)));
  ASSERT_TRUE(collector.got_ping.WaitForNotificationWithTimeout(
      absl::Seconds(10)));
  EXPECT_EQ(collector.echoed, payload);
  EXPECT_GT(collector.rtt, absl::ZeroDuration());
  RunOnLoop(loop_.get(), [&] {
    udp.reset();
    pinger.reset();
  });
}

}  // namespace
}  // namespace stow::testing
