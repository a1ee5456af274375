// A TLS connection over memory buffers (BoringSSL with memory BIOs): the
// engine never touches a socket or a clock. Ciphertext from the network goes
// in with FeedCiphertext(), ciphertext for the network comes out of
// TakeCiphertext(); plaintext goes in with Write() and comes out of Read().
// The owner moves bytes between the engine and its socket after every call.
//
// Client role: verifies the server against a CA bundle and/or pinned
// public keys ("pin-sha256:<base64 of SHA-256 of the DER SPKI>", what
// openconnect's --servercert takes), checks the host name or IP address
// against the certificate, sends SNI for names, and may present a client
// certificate. Application data is never sent before verification succeeds:
// Write() before the handshake completes only buffers.
//
// Server role: one certificate chain and key (shared context). The server
// asks for a client certificate and accepts any (or none): the layer above
// decides what to do with peer_pin() / peer_certificate_der().
//
// Thread-compatible: one engine per thread at a time.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_TLS_ENGINE_H_
#define STOWAWAY_SDK_TUNNEL_TLS_TLS_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::tunnel::tls {

struct TlsClientOptions {
  // The name the server must present (DNS name, or an IPv4/IPv6 literal,
  // which is checked against iPAddress SANs and not sent as SNI).
  std::string server_name;
  // Trust anchors as PEM text (one or more CERTIFICATE blocks).
  std::string ca_pem;
  // "pin-sha256:BASE64" entries. When any is given, the server's leaf
  // public key must match one of them; the CA chain is then checked only if
  // ca_pem is also set. Neither ca_pem nor pins: kInvalidArgument.
  std::vector<std::string> pins;
  // Optional client certificate (chain, leaf first) and its key, PEM.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Time used for certificate validity checks; unset: the system clock.
  absl::optional<absl::Time> verify_time;
  // TLS versions: 1.2 and 1.3 by default.
  bool allow_tls13 = true;
};

// A server's certificate and key, shared by all its connections.
class TlsServerContext {
 public:
  // PEM chain (leaf first) and private key. kInvalidArgument when they do
  // not load or do not match.
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Create(
      absl::string_view cert_chain_pem, absl::string_view key_pem);
  ~TlsServerContext();
  void* native() const { return ctx_; }  // SSL_CTX*, for tls_engine.cc.

 private:
  explicit TlsServerContext(void* ctx) : ctx_(ctx) {}
  void* ctx_;
};

// "pin-sha256:BASE64" of the first certificate in `cert_pem` (SHA-256 of
// its DER SubjectPublicKeyInfo). kInvalidArgument if it does not parse.
absl::StatusOr<std::string> PublicKeyPin(absl::string_view cert_pem);

class TlsEngine {
 public:
  enum class State : uint8_t {
    kHandshaking,
    kEstablished,
    kClosed,  // The peer sent close_notify (after kEstablished).
    kFailed,  // See error().
  };

  // Errors: kInvalidArgument for unusable options (bad PEM, bad pin syntax,
  // no trust configured).
  static absl::StatusOr<std::unique_ptr<TlsEngine>> Client(
      const TlsClientOptions& options);
  static std::unique_ptr<TlsEngine> Server(
      std::shared_ptr<TlsServerContext> context);
  ~TlsEngine();

  // Client: starts the handshake (the ClientHello is then in
  // TakeCiphertext()). Server: no-op.
  void Start();

  // Network side. Feeding processes the bytes at once: handshake progress,
  // and decrypted plaintext made available to Read(). Ignored once kClosed
  // or kFailed. TakeCiphertext() swaps buffers when *out is empty (no copy).
  void FeedCiphertext(absl::Span<const uint8_t> bytes);
  // Appends the ciphertext waiting to be sent to *out and clears it.
  void TakeCiphertext(std::vector<uint8_t>* out);
  bool HasCiphertext() const;

  // Application side. Write() encrypts at once when established, buffers
  // before (sent right after verification succeeds); kFailedPrecondition
  // after close, failure or Shutdown(). A large write becomes full 16 KiB
  // records.
  absl::Status Write(absl::Span<const uint8_t> plaintext);
  // Appends available plaintext to *out; returns the number of bytes.
  size_t Read(std::vector<uint8_t>* out);

  // Sends close_notify (once); the state does not change. During the
  // handshake it is sent after the buffered writes, once established.
  void Shutdown();

  State state() const { return state_; }
  // Why kFailed: kUnauthenticated for certificate problems, naming them
  // ("certificate has expired", "host name mismatch: expected gw.vpn.test",
  // "public key pin mismatch: got pin-sha256:..."), kUnavailable for
  // protocol failures and alerts from the peer (the alert's name).
  const absl::Status& error() const { return error_; }

  // After kEstablished: "TLSv1.2" / "TLSv1.3", the cipher's standard name,
  // and the peer's leaf public-key pin ("pin-sha256:..."; on the server the
  // client certificate's, empty when the client sent none). Empty before.
  std::string version() const;
  std::string cipher() const;
  std::string peer_pin() const;
  // The peer's leaf certificate (DER); empty when there is none.
  std::vector<uint8_t> peer_certificate_der() const;
  // RFC 5705 / RFC 8446 7.5 exporter, no context. kFailedPrecondition
  // before kEstablished.
  absl::StatusOr<std::vector<uint8_t>> ExportKeyingMaterial(
      absl::string_view label, size_t length) const;

 private:
  TlsEngine();
  void Advance();
  void Fail(absl::Status status);
  // Fails from the result of an SSL call (`ssl_error` from SSL_get_error).
  void FailFromSsl(int ssl_error);
  // SSL_write of all of `plaintext`; false (and kFailed) on error.
  bool WriteRecords(absl::Span<const uint8_t> plaintext);
  // SSL_read until it wants more ciphertext, the peer closes, or an error.
  void ReadRecords();
  void SendCloseNotify();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  State state_ = State::kHandshaking;
  absl::Status error_;
};

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_TLS_ENGINE_H_
