// Bulk-transfer delegates for tests and benchmarks: a sender of a
// deterministic pseudo-random byte stream and a receiver that hashes what
// arrives, so both ends compare SHA-256 digests.
#ifndef STOWAWAY_NETSTACK_TESTING_TRANSFER_H_
#define STOWAWAY_NETSTACK_TESTING_TRANSFER_H_

#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "netstack/tcp.h"
#include "sdk/base/byte_pattern.h"
#include "sdk/crypto/sha256.h"

namespace stow::netstack::testing {

// A deterministic pseudo-random byte stream (sdk/base/byte_pattern.h).
using PatternStream = ::stow::BytePattern;

// Writes `total` pattern bytes, then half-closes. Loop thread only.
class BulkSender : public TcpConnection::Delegate {
 public:
  BulkSender(uint64_t total, uint64_t seed);

  // Starts writing on `conn` (not owned; set as its delegate).
  void Start(TcpConnection* conn);
  // Starts writing on `conn` whose delegate forwards to this one (Duplex).
  void Use(TcpConnection* conn);

  uint64_t sent() const { return sent_; }
  bool done() const { return finished_; }
  // Digest of everything written; final once done().
  crypto::Sha256::Digest digest() { return digest_; }
  const absl::Status& error() const { return error_; }
  bool connected() const { return connected_; }

  void OnConnected() override;
  void OnReadable() override;
  void OnWritable() override { Pump(); }
  void OnError(absl::Status status) override { error_ = std::move(status); }

 private:
  void Pump();

  TcpConnection* conn_ = nullptr;  // Not owned.
  const uint64_t total_;
  PatternStream pattern_;
  crypto::Sha256 hash_;
  crypto::Sha256::Digest digest_{};
  std::vector<uint8_t> chunk_;
  size_t chunk_offset_ = 0;
  size_t chunk_len_ = 0;
  uint64_t sent_ = 0;
  bool connected_ = false;
  bool started_ = false;
  bool finished_ = false;  // Everything written, digest final, FIN queued.
  absl::Status error_;
};

// Reads and hashes everything until the peer's FIN. Loop thread only.
class BulkReceiver : public TcpConnection::Delegate {
 public:
  BulkReceiver();

  void Attach(TcpConnection* conn);  // Not owned; set as its delegate.
  void Use(TcpConnection* conn);     // Delegate forwards here (Duplex).
  // While paused, nothing is read: the peer's window fills up.
  void set_paused(bool paused);

  uint64_t received() const { return received_; }
  bool eof() const { return eof_; }
  crypto::Sha256::Digest digest() const { return digest_; }
  const absl::Status& error() const { return error_; }

  void OnConnected() override {}
  void OnReadable() override { Drain(); }
  void OnError(absl::Status status) override { error_ = std::move(status); }

 private:
  void Drain();

  TcpConnection* conn_ = nullptr;  // Not owned.
  crypto::Sha256 hash_;
  crypto::Sha256::Digest digest_{};
  std::vector<uint8_t> buffer_;
  uint64_t received_ = 0;
  bool eof_ = false;
  bool paused_ = false;
  absl::Status error_;
};

// Sends and receives at once on one connection: `total` bytes each way.
class Duplex : public TcpConnection::Delegate {
 public:
  Duplex(uint64_t total, uint64_t seed) : sender_(total, seed) {}
  void Attach(TcpConnection* conn) {
    conn->set_delegate(this);
    sender_.Use(conn);
    receiver_.Use(conn);
  }
  BulkSender& sender() { return sender_; }
  BulkReceiver& receiver() { return receiver_; }
  bool done() const { return sender_.done() && receiver_.eof(); }
  // Runs once, on the loop thread, when done() or an error first holds.
  void set_on_finish(absl::AnyInvocable<void()> f) { on_finish_ = std::move(f); }

  void OnConnected() override {
    sender_.OnConnected();
    Check();
  }
  void OnReadable() override {
    receiver_.OnReadable();
    Check();
  }
  void OnWritable() override {
    sender_.OnWritable();
    Check();
  }
  void OnError(absl::Status status) override {
    receiver_.OnError(status);
    sender_.OnError(std::move(status));
    Finish();
  }

 private:
  void Check() {
    if (done()) Finish();
  }
  void Finish() {
    if (on_finish_) {
      auto f = std::move(on_finish_);
      on_finish_ = nullptr;
      f();
    }
  }

  BulkSender sender_;
  BulkReceiver receiver_;
  absl::AnyInvocable<void()> on_finish_;
};

// SHA-256 of the first `total` bytes of PatternStream(seed).
crypto::Sha256::Digest PatternDigest(uint64_t total, uint64_t seed);

}  // namespace stow::netstack::testing

#endif  // STOWAWAY_NETSTACK_TESTING_TRANSFER_H_
