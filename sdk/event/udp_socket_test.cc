#include "sdk/event/udp_socket.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::event {
namespace {

using ::stow::event::testing::kTimeout;
using ::stow::event::testing::Notification;

// Records datagrams; notifies once `expected` have arrived. Loop thread.
class Receiver : public UdpSocket::Delegate {
 public:
  explicit Receiver(size_t expected) : expected_(expected) {}

  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override {
    datagrams.emplace_back(data.begin(), data.end());
    senders.push_back(from);
    if (datagrams.size() == expected_) done.Notify();
    if (on_datagram) on_datagram();
  }

  std::function<void()> on_datagram;
  std::vector<std::vector<uint8_t>> datagrams;
  std::vector<SocketAddress> senders;
  Notification done;

 private:
  const size_t expected_;
};

class UdpSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<UvLoop>> loop = UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  void TearDown() override {
    int live = -1;
    ASSERT_TRUE(loop_
                    ->RunSync([&] {
                      a_.reset();
                      b_.reset();
                      live = loop_->LiveHandles();
                    })
                    .ok());
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  // Binds a_ and b_ to `ip` port 0; returns their addresses.
  absl::Status BindPair(const IpAddress& ip, SocketAddress* a_address,
                        SocketAddress* b_address) {
    absl::Status status;
    EXPECT_TRUE(loop_
                    ->RunSync([&] {
                      a_ = std::make_unique<UdpSocket>(loop_.get(), &a_rx_);
                      b_ = std::make_unique<UdpSocket>(loop_.get(), &b_rx_);
                      status = a_->Bind(SocketAddress(ip, 0));
                      if (status.ok()) status = b_->Bind(SocketAddress(ip, 0));
                      if (!status.ok()) return;
                      *a_address = *a_->LocalAddress();
                      *b_address = *b_->LocalAddress();
                    })
                    .ok());
    return status;
  }

  // Sends the two-way exchange and checks the bytes and counters.
  void Exchange(const SocketAddress& a_address,
                const SocketAddress& b_address) {
    const std::vector<uint8_t> head = {'h', 'e', 'a', 'd'};
    const std::vector<uint8_t> body(1000, 0xAB);
    const std::vector<uint8_t> tail = {0, 1, 2};
    std::vector<uint8_t> whole = head;
    whole.insert(whole.end(), body.begin(), body.end());
    whole.insert(whole.end(), tail.begin(), tail.end());
    const std::vector<uint8_t> reply = {'o', 'k'};

    absl::Status to_b, to_a;
    ASSERT_TRUE(loop_
                    ->RunSync([&] {
                      to_b = a_->SendTo({head, body, tail}, b_address);
                      to_a = b_->SendTo({reply}, a_address);
                    })
                    .ok());
    ASSERT_TRUE(to_b.ok()) << to_b;
    ASSERT_TRUE(to_a.ok()) << to_a;
    ASSERT_TRUE(b_rx_.done.WaitForNotificationWithTimeout(kTimeout));
    ASSERT_TRUE(a_rx_.done.WaitForNotificationWithTimeout(kTimeout));

    EXPECT_EQ(b_rx_.datagrams[0], whole);
    EXPECT_EQ(b_rx_.senders[0], a_address);
    EXPECT_EQ(a_rx_.datagrams[0], reply);
    EXPECT_EQ(a_rx_.senders[0], b_address);

    UdpSocket::Counters a, b;
    ASSERT_TRUE(loop_
                    ->RunSync([&] {
                      a = a_->counters();
                      b = b_->counters();
                    })
                    .ok());
    EXPECT_EQ(a.datagrams_sent, 1u);
    EXPECT_EQ(a.bytes_sent, whole.size());
    EXPECT_EQ(a.datagrams_received, 1u);
    EXPECT_EQ(a.bytes_received, reply.size());
    EXPECT_EQ(b.datagrams_sent, 1u);
    EXPECT_EQ(b.bytes_sent, reply.size());
    EXPECT_EQ(b.datagrams_received, 1u);
    EXPECT_EQ(b.bytes_received, whole.size());
    EXPECT_EQ(a.send_drops, 0u);
  }

  std::unique_ptr<UvLoop> loop_;
  Receiver a_rx_{1};
  Receiver b_rx_{1};
  std::unique_ptr<UdpSocket> a_;
  std::unique_ptr<UdpSocket> b_;
};

TEST_F(UdpSocketTest, ExchangesGatheredDatagramsOverIpv4Loopback) {
  SocketAddress a_address, b_address;
  ASSERT_TRUE(BindPair(IpAddress::V4(127, 0, 0, 1), &a_address, &b_address)
                  .ok());
  EXPECT_NE(a_address.port(), 0);
  Exchange(a_address, b_address);
}

TEST_F(UdpSocketTest, ExchangesGatheredDatagramsOverIpv6Loopback) {
  SocketAddress a_address, b_address;
  absl::Status status =
      BindPair(*IpAddress::Parse("::1"), &a_address, &b_address);
  if (!status.ok()) GTEST_SKIP() << "IPv6 loopback unavailable: " << status;
  Exchange(a_address, b_address);
}

TEST_F(UdpSocketTest, ManyDatagramsArriveIntactInOrder) {
  // Sent in bursts of kBurst, each once the previous one arrived: a burst
  // fits any receive buffer, yet is more than one recvmmsg() batch.
  constexpr int kCount = 200;
  constexpr int kBurst = 20;
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < kCount; ++i) {
    sent.emplace_back(i == 7 ? 60000 : 1 + i * 37 % 1400,
                      static_cast<uint8_t>(i));
  }
  SocketAddress a_address, b_address;
  ASSERT_TRUE(BindPair(IpAddress::V4(127, 0, 0, 1), &a_address, &b_address)
                  .ok());
  Notification done;
  absl::Status status;
  auto send_burst = [&](size_t first) {
    for (size_t i = first; i < first + kBurst && status.ok(); ++i) {
      status = a_->SendTo({sent[i]}, b_address);
    }
  };
  b_rx_.on_datagram = [&] {
    size_t received = b_rx_.datagrams.size();
    if (received == kCount || !status.ok()) {
      done.Notify();
    } else if (received % kBurst == 0) {
      send_burst(received);
    }
  };
  ASSERT_TRUE(loop_->RunSync([&] { send_burst(0); }).ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTimeout));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(b_rx_.datagrams, sent);
}

TEST_F(UdpSocketTest, EmptyDatagram) {
  SocketAddress a_address, b_address;
  ASSERT_TRUE(BindPair(IpAddress::V4(127, 0, 0, 1), &a_address, &b_address)
                  .ok());
  absl::Status status;
  ASSERT_TRUE(
      loop_->RunSync([&] { status = a_->SendTo({}, b_address); }).ok());
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_TRUE(b_rx_.done.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_TRUE(b_rx_.datagrams[0].empty());
}

TEST_F(UdpSocketTest, BindingToAPortInUseNamesTheAddress) {
  SocketAddress a_address, b_address;
  ASSERT_TRUE(BindPair(IpAddress::V4(127, 0, 0, 1), &a_address, &b_address)
                  .ok());
  absl::Status status;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    UdpSocket third(loop_.get(), &b_rx_);
                    status = third.Bind(a_address);
                  })
                  .ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), a_address.ToString() + " is already in use");
}

TEST_F(UdpSocketTest, CallsBeforeBindFail) {
  absl::Status send, buffers;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    a_ = std::make_unique<UdpSocket>(loop_.get(), &a_rx_);
                    const std::vector<uint8_t> byte = {1};
                    send = a_->SendTo(
                        {byte}, SocketAddress(IpAddress::V4(127, 0, 0, 1), 9));
                    buffers = a_->SetBufferSizes(1 << 20, 1 << 20);
                  })
                  .ok());
  EXPECT_EQ(send.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(buffers.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(UdpSocketTest, DestroyingClosesTheSocketAndFreesThePort) {
  SocketAddress a_address, b_address;
  ASSERT_TRUE(BindPair(IpAddress::V4(127, 0, 0, 1), &a_address, &b_address)
                  .ok());
  absl::Status rebind;
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    a_.reset();
                    // uv_close() closes the fd at once; the port is free.
                    a_ = std::make_unique<UdpSocket>(loop_.get(), &a_rx_);
                    rebind = a_->Bind(a_address);
                  })
                  .ok());
  EXPECT_TRUE(rebind.ok()) << rebind;
}

}  // namespace
}  // namespace stow::event
