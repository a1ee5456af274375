// Test services hosted on a netstack: a hash sink, a pattern source and UDP
// echo. Used by the peer process of the two-stack tests and the benchmark.
//
// Protocols (all TCP ones end with the server closing):
//   sink   (TCP): reads until FIN, replies with the 32-byte SHA-256 of it.
//   source (TCP): reads a 16-byte request {u64 total, u64 seed} (big endian),
//                 sends `total` bytes of PatternStream(seed), then FIN.
//   echo   (UDP): returns every datagram to its sender.
#ifndef STOWAWAY_TESTS_INTEGRATION_SERVICES_H_
#define STOWAWAY_TESTS_INTEGRATION_SERVICES_H_

#include <cstdint>
#include <array>
#include <list>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"

namespace stow::testing {

// Encodes the source service's request.
std::array<uint8_t, 16> SourceRequest(uint64_t total, uint64_t seed);

// Hosts the services on `ip` (ports given). Loop thread only.
class TestServices : public netstack::TcpListener::Delegate {
 public:
  static constexpr uint16_t kEchoPort = 7;
  static constexpr uint16_t kSinkPort = 9;
  static constexpr uint16_t kSourcePort = 19;

  explicit TestServices(netstack::Stack* stack);
  ~TestServices() override;

  // Serves on `ip`; call once per address (IPv4 and IPv6).
  absl::Status Start(const IpAddress& ip);

  void OnAccept(std::unique_ptr<netstack::TcpConnection> connection) override;

  // Connections not yet finished.
  size_t live_sessions() const { return sessions_.size(); }

  class Session;

 private:
  friend class Session;
  void Finish(Session* session);

  netstack::Stack* const stack_;  // Not owned.
  std::vector<std::unique_ptr<netstack::TcpListener>> listeners_;
  struct Echo : netstack::UdpEndpoint::Delegate {
    void OnDatagram(absl::Span<const uint8_t> payload,
                    const SocketAddress& from) override {
      (void)endpoint->SendTo(payload, from);
    }
    std::unique_ptr<netstack::UdpEndpoint> endpoint;
  };
  std::vector<std::unique_ptr<Echo>> echo_;
  std::list<std::unique_ptr<Session>> sessions_;
  std::unique_ptr<event::Timer> reaper_;
  std::vector<Session*> finished_;
};

// Client of the sink service: uploads `total` pattern bytes and reads back
// the server's digest. Loop thread only.
class SinkClient : public netstack::TcpConnection::Delegate {
 public:
  SinkClient(uint64_t total, uint64_t seed, absl::AnyInvocable<void()> on_done)
      : sender_(total, seed), on_done_(std::move(on_done)) {}
  void Start(netstack::TcpConnection* conn);

  bool done() const { return done_; }
  // True when the server's digest equals the digest of what was sent.
  bool DigestsMatch() { return done_ && reply_ == sender_.digest(); }
  uint64_t sent() const { return sender_.sent(); }
  const absl::Status& error() const { return sender_.error(); }

  void OnConnected() override { sender_.OnConnected(); }
  void OnReadable() override;
  void OnWritable() override { sender_.OnWritable(); }
  void OnError(absl::Status status) override;

 private:
  netstack::TcpConnection* conn_ = nullptr;  // Not owned.
  netstack::testing::BulkSender sender_;
  crypto::Sha256::Digest reply_{};
  size_t reply_len_ = 0;
  bool done_ = false;
  absl::AnyInvocable<void()> on_done_;
};

// Client of the source service: requests `total` bytes and hashes them.
class SourceClient : public netstack::TcpConnection::Delegate {
 public:
  SourceClient(uint64_t total, uint64_t seed,
               absl::AnyInvocable<void()> on_done)
      : total_(total), seed_(seed), on_done_(std::move(on_done)) {}
  void Start(netstack::TcpConnection* conn);

  bool done() const { return done_; }
  uint64_t received() const { return receiver_.received(); }
  crypto::Sha256::Digest digest() const { return receiver_.digest(); }
  const absl::Status& error() const { return error_; }

  void OnConnected() override;
  void OnReadable() override;
  void OnError(absl::Status status) override;

 private:
  void Finish();

  netstack::TcpConnection* conn_ = nullptr;  // Not owned.
  const uint64_t total_;
  const uint64_t seed_;
  netstack::testing::BulkReceiver receiver_;
  bool requested_ = false;
  bool done_ = false;
  absl::Status error_;
  absl::AnyInvocable<void()> on_done_;
};

}  // namespace stow::testing

#endif  // STOWAWAY_TESTS_INTEGRATION_SERVICES_H_
