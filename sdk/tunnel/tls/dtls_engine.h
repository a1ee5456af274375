// The AnyConnect/OpenConnect DTLS data channel ("PSK-NEGOTIATE") as a pure
// engine over datagrams: BoringSSL DTLS 1.2 with a custom BIO, no sockets.
// The owner feeds each received UDP payload with FeedDatagram(), sends every
// datagram TakeDatagrams() returns after each call, and arms a timer for
// NextTimeout() (handshake retransmission) that calls OnTimer().
//
// PSK-NEGOTIATE (draft-mavrogiannopoulos-openconnect, as spoken by openconnect
// 9 and ocserv 1.x): a full DTLS 1.2 handshake with a plain-PSK cipher suite
// whose ClientHello session_id is the X-DTLS-App-ID the gateway sent in the
// CONNECT reply (that is how the gateway finds the session); PSK identity
// "psk"; PSK = RFC 5705 exporter of the CSTP TLS session with label
// "EXPORTER-openconnect-psk", no context, 32 bytes. The server never resumes:
// the session id is only a lookup key.
//
// Cipher suites. ocserv builds its DTLS PSK priority as
// "<tls-priorities>:-VERS-ALL:-KX-ALL:+PSK:+VERS-DTLS-ALL" (plain PSK key
// exchange only, any cipher its TLS priorities allow), or, with
// match-tls-dtls-ciphers = true, only the TLS session's cipher and MAC
// (ocserv src/worker-vpn.c, setup_dtls_psk_keys()). With the default
// priorities that is PSK with AES-256-GCM, ChaCha20-Poly1305, AES-256-CCM,
// AES-256-CBC-SHA1, AES-128-GCM, AES-128-CCM, AES-128-CBC-SHA1. BoringSSL's
// plain-PSK suites are only the two CBC-SHA1 ones, so against ocserv the
// result is TLS_PSK_WITH_AES_256_CBC_SHA (0x008d). openconnect offers plain
// PSK only ("...:-KX-ALL:+PSK"), so our server picks the same suite for it.
// Between two of these engines ECDHE-PSK-CHACHA20-POLY1305 is preferred
// (forward secrecy, AEAD). With match-tls-dtls-ciphers = true and a GCM TLS
// session there is no overlap: the handshake fails and the caller stays on
// CSTP over TLS.
//
// Application records are opaque here: one WriteRecord() is one DTLS record
// in one datagram; ReadRecord() returns one decrypted record. (The 1-byte
// AnyConnect type prefix is the caller's.)
//
// After the handshake, datagrams that carry no usable record (garbage,
// replays, records that fail authentication, stale epochs) are dropped and
// counted in dropped(); they never fail the engine.
//
// Thread-compatible: one engine per thread at a time.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_DTLS_ENGINE_H_
#define STOWAWAY_SDK_TUNNEL_TLS_DTLS_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::tunnel::tls {

struct DtlsClientOptions {
  // The pre-shared key (32 bytes for PSK-NEGOTIATE; 1..64 accepted).
  std::vector<uint8_t> psk;
  // The ClientHello session_id: the X-DTLS-App-ID bytes, 1..32.
  std::vector<uint8_t> session_id;
  // Largest datagram (UDP payload) the engine emits; at least 256.
  size_t mtu = 1400;
  // The clock BoringSSL's retransmission timer reads; unset: the system
  // clock. Give the event loop's clock so that NextTimeout()/OnTimer() agree
  // with it (and tests can use a fake one).
  std::function<absl::Time()> clock;
  // Offer only the plain-PSK suites (what ocserv/openconnect negotiate).
  bool plain_psk_only = false;
};

struct DtlsServerOptions {
  size_t mtu = 1400;
  std::function<absl::Time()> clock;
  // Accept only the plain-PSK suites.
  bool plain_psk_only = false;
};

class DtlsEngine {
 public:
  enum class State : uint8_t {
    kHandshaking,
    kEstablished,
    kClosed,  // close_notify sent or received.
    kFailed,  // See error().
  };

  // kInvalidArgument for a bad PSK, session id or MTU.
  static absl::StatusOr<std::unique_ptr<DtlsEngine>> Client(
      const DtlsClientOptions& options);

  // Maps the ClientHello's session_id to the PSK; nullopt refuses the
  // handshake (the engine fails with kPermissionDenied and sends a
  // handshake_failure alert). Called at most once, from FeedDatagram().
  using PskLookup = absl::AnyInvocable<absl::optional<std::vector<uint8_t>>(
      absl::Span<const uint8_t> session_id)>;
  static absl::StatusOr<std::unique_ptr<DtlsEngine>> Server(
      PskLookup lookup, DtlsServerOptions options = {});

  ~DtlsEngine();
  DtlsEngine(const DtlsEngine&) = delete;
  DtlsEngine& operator=(const DtlsEngine&) = delete;

  // Client: queues the ClientHello. No-op for a server or a second call.
  void Start();

  // Exactly one received UDP payload.
  void FeedDatagram(absl::Span<const uint8_t> datagram);

  // Appends the datagrams to send (each element is one UDP payload), in
  // order, and forgets them.
  void TakeDatagrams(std::vector<std::vector<uint8_t>>* out);

  // Seals `payload` as one record in one datagram. kFailedPrecondition
  // unless established; kInvalidArgument if longer than
  // max_record_payload().
  absl::Status WriteRecord(absl::Span<const uint8_t> payload);

  // The next decrypted application record; false when there is none.
  bool ReadRecord(std::vector<uint8_t>* out);

  // Sends close_notify (once established) and moves to kClosed.
  void Close();

  // Time until OnTimer() is due (handshake retransmission), measured on the
  // engine's clock; nullopt when no timer is needed.
  absl::optional<absl::Duration> NextTimeout() const;
  // Retransmits the last flight if its timer expired; after too many
  // expiries the handshake fails with kDeadlineExceeded.
  void OnTimer();

  State state() const { return state_; }
  const absl::Status& error() const { return error_; }
  // Server: the ClientHello's session id (empty before it arrived). Client:
  // the session id it sends.
  std::vector<uint8_t> session_id_seen() const { return session_id_; }
  // The negotiated suite's IETF name (e.g. "TLS_PSK_WITH_AES_256_CBC_SHA"),
  // empty before the handshake completes.
  std::string cipher() const;
  // Largest WriteRecord() payload whose datagram fits the MTU (0 before the
  // handshake completes).
  size_t max_record_payload() const;
  // Datagrams discarded after the handshake (see the file comment), plus
  // empty ones and those fed before Start() or after closing or failing.
  uint64_t dropped() const { return dropped_; }

  // For the custom BIO and the BoringSSL callbacks in dtls_engine.cc.
  struct Internals;

 private:
  DtlsEngine(bool server, size_t mtu, std::function<absl::Time()> clock,
             bool plain_psk_only);
  absl::Status Init();
  void DriveHandshake();
  void DrainRecords();
  void Fail(absl::Status status);

  const bool server_;
  const size_t mtu_;
  const bool plain_psk_only_;
  std::function<absl::Time()> clock_;
  void* ctx_ = nullptr;  // SSL_CTX*
  void* ssl_ = nullptr;  // SSL*
  State state_ = State::kHandshaking;
  absl::Status error_;
  bool started_ = false;

  std::vector<uint8_t> psk_;
  std::vector<uint8_t> session_id_;
  PskLookup lookup_;
  bool refused_ = false;

  // The datagram being fed (BIO read side) and the ones written.
  absl::Span<const uint8_t> in_;
  bool in_pending_ = false;
  std::vector<std::vector<uint8_t>> out_;
  std::deque<std::vector<uint8_t>> records_;
  uint64_t dropped_ = 0;
};

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_DTLS_ENGINE_H_
