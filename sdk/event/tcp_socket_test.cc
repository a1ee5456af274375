#include "sdk/event/tcp_socket.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::event {
namespace {

using ::stow::event::testing::kTimeout;
using ::stow::event::testing::Notification;

const SocketAddress kLoopbackAnyPort(IpAddress::V4(127, 0, 0, 1), 0);

std::vector<uint8_t> Bytes(absl::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

// Records what a connection reports. Loop thread, except the notifications.
class Peer : public TcpSocket::Delegate {
 public:
  void OnConnected(absl::Status status) override {
    connect_status = status;
    connected.Notify();
    if (status.ok() && on_connected) on_connected();
  }
  void OnData(absl::Span<const uint8_t> data) override {
    received.insert(received.end(), data.begin(), data.end());
    if (on_data) on_data(data);
  }
  void OnEof() override {
    eof.Notify();
    if (on_eof) on_eof();
  }
  void OnWritable() override {
    ++writable_events;
    if (on_writable) on_writable();
  }
  void OnError(absl::Status status) override {
    error = status;
    failed.Notify();
  }

  std::unique_ptr<TcpSocket> socket;
  std::function<void()> on_connected;
  std::function<void(absl::Span<const uint8_t>)> on_data;
  std::function<void()> on_eof;
  std::function<void()> on_writable;

  absl::Status connect_status;
  std::vector<uint8_t> received;
  int writable_events = 0;
  absl::Status error;
  Notification connected, eof, failed;
};

// Hands accepted connections to `peer`, which must have no socket yet.
class Acceptor : public TcpListener::Delegate {
 public:
  explicit Acceptor(Peer* peer) : peer_(peer) {}

  void OnAccept(std::unique_ptr<TcpSocket> socket) override {
    peer_->socket = std::move(socket);
    if (!read_on_accept) peer_->socket->SetReading(false);
    peer_->socket->SetDelegate(peer_);
    accepted.Notify();
  }

  bool read_on_accept = true;
  Notification accepted;

 private:
  Peer* const peer_;  // Not owned.
};

class TcpSocketTest : public ::testing::Test {
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
                      client_.socket.reset();
                      server_.socket.reset();
                      listener_.reset();
                      live = loop_->LiveHandles();
                    })
                    .ok());
    EXPECT_EQ(live, 0);
    EXPECT_TRUE(loop_->Shutdown().ok());
  }

  // Runs `task` on the loop thread.
  void Run(absl::AnyInvocable<void() &&> task) {
    ASSERT_TRUE(loop_->RunSync(std::move(task)).ok());
  }

  // Listens on loopback and connects client_ to it; server_ gets the
  // accepted end.
  void Connect() {
    SocketAddress address;
    absl::Status status;
    Run([&] {
      listener_ = std::make_unique<TcpListener>(loop_.get(), &acceptor_);
      status = listener_->Listen(kLoopbackAnyPort, 16);
      if (!status.ok()) return;
      address = *listener_->LocalAddress();
      client_.socket = std::make_unique<TcpSocket>(loop_.get(), &client_);
      status = client_.socket->Connect(address);
    });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_TRUE(client_.connected.WaitForNotificationWithTimeout(kTimeout));
    ASSERT_TRUE(client_.connect_status.ok()) << client_.connect_status;
    ASSERT_TRUE(acceptor_.accepted.WaitForNotificationWithTimeout(kTimeout));
  }

  std::unique_ptr<UvLoop> loop_;
  Peer client_;
  Peer server_;
  Acceptor acceptor_{&server_};
  std::unique_ptr<TcpListener> listener_;
};

TEST_F(TcpSocketTest, EchoesEightMebibytes) {
  constexpr size_t kTotal = 8 << 20;
  constexpr size_t kChunk = 64 << 10;
  std::vector<uint8_t> sent(kTotal);
  std::mt19937 random(42);
  for (uint8_t& byte : sent) byte = static_cast<uint8_t>(random());

  // The server echoes, pausing its reads while its writes are backed up.
  server_.on_data = [&](absl::Span<const uint8_t> data) {
    ASSERT_TRUE(server_.socket->Write(data).ok());
    if (server_.socket->QueuedBytes() > TcpSocket::kDefaultHighWatermark) {
      server_.socket->SetReading(false);
    }
    server_.received.clear();  // Only the client's copy matters.
  };
  server_.on_writable = [&] { server_.socket->SetReading(true); };
  server_.on_eof = [&] { ASSERT_TRUE(server_.socket->ShutdownWrite().ok()); };

  // The client writes until the high watermark, then waits for OnWritable().
  size_t offset = 0;
  auto pump = [&] {
    if (offset == kTotal) return;  // Shut down already.
    while (offset < kTotal && client_.socket->QueuedBytes() <=
                                  TcpSocket::kDefaultHighWatermark) {
      size_t n = std::min(kChunk, kTotal - offset);
      ASSERT_TRUE(
          client_.socket->Write(absl::MakeConstSpan(&sent[offset], n)).ok());
      offset += n;
    }
    if (offset == kTotal) {
      ASSERT_TRUE(client_.socket->ShutdownWrite().ok());
    }
  };
  client_.on_writable = pump;
  client_.on_connected = pump;

  Connect();
  ASSERT_TRUE(client_.eof.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_FALSE(client_.failed.HasBeenNotified()) << client_.error;
  EXPECT_FALSE(server_.failed.HasBeenNotified()) << server_.error;
  ASSERT_EQ(client_.received.size(), sent.size());
  EXPECT_TRUE(client_.received == sent) << "echoed bytes differ";
  // 8 MiB is more than the kernel buffers hold, so the watermarks did work.
  EXPECT_GT(client_.writable_events, 0);
}

TEST_F(TcpSocketTest, ShutdownWriteGivesThePeerEofAndStopsWrites) {
  Connect();
  absl::Status write_after, second_shutdown;
  Run([&] {
    ASSERT_TRUE(client_.socket->Write(Bytes("hello")).ok());
    ASSERT_TRUE(client_.socket->ShutdownWrite().ok());
    write_after = client_.socket->Write(Bytes("late"));
    second_shutdown = client_.socket->ShutdownWrite();
  });
  EXPECT_EQ(write_after.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second_shutdown.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(server_.eof.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(server_.received, Bytes("hello"));

  // Half-closed: the other direction still works.
  Notification got_reply;
  Run([&] {
    client_.on_data = [&](absl::Span<const uint8_t>) {
      if (client_.received.size() == 3) got_reply.Notify();
    };
    ASSERT_TRUE(server_.socket->Write(Bytes("bye")).ok());
  });
  ASSERT_TRUE(got_reply.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(client_.received, Bytes("bye"));
}

TEST_F(TcpSocketTest, ConnectingToAClosedPortReportsUnavailable) {
  SocketAddress closed;
  absl::Status status;
  Run([&] {
    // A port that was free a moment ago, and is again.
    TcpListener probe(loop_.get(), &acceptor_);
    ASSERT_TRUE(probe.Listen(kLoopbackAnyPort, 1).ok());
    closed = *probe.LocalAddress();
  });
  Run([&] {
    client_.socket = std::make_unique<TcpSocket>(loop_.get(), &client_);
    status = client_.socket->Connect(closed);
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_TRUE(client_.connected.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(client_.connect_status.code(), absl::StatusCode::kUnavailable)
      << client_.connect_status;
  EXPECT_NE(client_.connect_status.message().find(closed.ToString()),
            absl::string_view::npos)
      << client_.connect_status;
  absl::Status write;
  Run([&] { write = client_.socket->Write(Bytes("x")); });
  EXPECT_EQ(write.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(client_.failed.HasBeenNotified());
}

TEST_F(TcpSocketTest, ListeningOnAPortInUseNamesTheAddress) {
  SocketAddress address;
  absl::Status status;
  Run([&] {
    listener_ = std::make_unique<TcpListener>(loop_.get(), &acceptor_);
    ASSERT_TRUE(listener_->Listen(kLoopbackAnyPort, 16).ok());
    address = *listener_->LocalAddress();
    TcpListener second(loop_.get(), &acceptor_);
    status = second.Listen(address, 16);
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), address.ToString() + " is already in use");
}

TEST_F(TcpSocketTest, SetReadingFalsePausesDelivery) {
  acceptor_.read_on_accept = false;
  Connect();
  Run([&] { ASSERT_TRUE(client_.socket->Write(Bytes("ping")).ok()); });

  // Give the paused socket a few loop turns in which it could read.
  Notification waited;
  std::unique_ptr<Timer> timer;
  Run([&] {
    timer = loop_->NewTimer([&] { waited.Notify(); });
    timer->Start(absl::Milliseconds(100));
  });
  ASSERT_TRUE(waited.WaitForNotificationWithTimeout(kTimeout));
  Notification got_data;
  Run([&] {
    timer.reset();
    EXPECT_TRUE(server_.received.empty());
    server_.on_data = [&](absl::Span<const uint8_t>) { got_data.Notify(); };
    server_.socket->SetReading(true);
  });
  ASSERT_TRUE(got_data.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(server_.received, Bytes("ping"));
}

TEST_F(TcpSocketTest, PeerResetIsAnError) {
  acceptor_.read_on_accept = false;
  Connect();
  // The server reads one chunk of a large write and stops, so that unread
  // bytes sit in its receive buffer.
  Notification server_read;
  Run([&] {
    server_.on_data = [&](absl::Span<const uint8_t>) {
      server_.socket->SetReading(false);
      server_read.Notify();
    };
    ASSERT_TRUE(
        client_.socket->Write(std::vector<uint8_t>(1 << 20, 1)).ok());
    server_.socket->SetReading(true);
  });
  ASSERT_TRUE(server_read.WaitForNotificationWithTimeout(kTimeout));
  // Closing with unread bytes sends RST rather than FIN.
  Run([&] { server_.socket.reset(); });
  ASSERT_TRUE(client_.failed.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(client_.error.code(), absl::StatusCode::kUnavailable)
      << client_.error;
  EXPECT_FALSE(client_.eof.HasBeenNotified());
  absl::Status write;
  Run([&] { write = client_.socket->Write(Bytes("x")); });
  EXPECT_EQ(write.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TcpSocketTest, ResetSendsRstNotFin) {
  Connect();
  // Nothing unread anywhere: a plain close would be a FIN (EOF at the
  // peer); Reset() must make it an error instead.
  Run([&] {
    server_.socket->Reset();
    server_.socket.reset();
  });
  ASSERT_TRUE(client_.failed.WaitForNotificationWithTimeout(kTimeout));
  EXPECT_EQ(client_.error.code(), absl::StatusCode::kUnavailable)
      << client_.error;
  EXPECT_FALSE(client_.eof.HasBeenNotified());
}

TEST_F(TcpSocketTest, CallsInTheWrongStateFail) {
  absl::Status write, shutdown, second_connect;
  Run([&] {
    client_.socket = std::make_unique<TcpSocket>(loop_.get(), &client_);
    write = client_.socket->Write(Bytes("x"));
    shutdown = client_.socket->ShutdownWrite();
    client_.socket.reset();
  });
  EXPECT_EQ(write.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(shutdown.code(), absl::StatusCode::kFailedPrecondition);

  Connect();
  Run([&] { second_connect = client_.socket->Connect(kLoopbackAnyPort); });
  EXPECT_EQ(second_connect.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TcpSocketTest, DestroyingWithPendingWorkRunsNoCallbacks) {
  Connect();
  SocketAddress address;
  Peer quiet;
  std::unique_ptr<TcpSocket> connecting;
  Run([&] {
    // Queued writes (far beyond what the kernel takes) and a pending
    // shutdown, on a socket whose reads are paused at the other end...
    server_.socket->SetReading(false);
    std::vector<uint8_t> big(32 << 20, 7);
    ASSERT_TRUE(client_.socket->Write(big).ok());
    ASSERT_TRUE(client_.socket->ShutdownWrite().ok());
    ASSERT_GT(client_.socket->QueuedBytes(), 0u);
    client_.socket.reset();
    // ...and a connect in flight.
    address = *listener_->LocalAddress();
    connecting = std::make_unique<TcpSocket>(loop_.get(), &quiet);
    ASSERT_TRUE(connecting->Connect(address).ok());
    connecting.reset();
  });
  Run([] {});  // The closes complete, cancelling the requests.
  EXPECT_FALSE(client_.failed.HasBeenNotified());
  EXPECT_FALSE(quiet.connected.HasBeenNotified());
  EXPECT_EQ(client_.writable_events, 0);
}

}  // namespace
}  // namespace stow::event
