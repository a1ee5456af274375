// ESP security associations, tunnel mode, AEAD only: OutboundSa seals inner
// IP packets into ESP packets, InboundSa opens them. Pure code: bytes in,
// bytes out, no sockets, no clock (time is passed in), no allocation per
// packet. See esp.h for the packet layout.
//
// Both classes: all methods on one thread (the network thread); the SA table
// that owns them lives in the tunnel. Per-packet methods return a small enum
// and count every drop; they never fail loudly on bad input.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_SA_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_SA_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/crypto/aead.h"
#include "sdk/tunnel/ipsec/esp/esp.h"
#include "sdk/tunnel/ipsec/esp/lifetime.h"
#include "sdk/tunnel/ipsec/esp/replay_window.h"

namespace stow::esp {

struct SaConfig {
  // The SPI the receiver chose (non-zero). For an InboundSa, ours; for an
  // OutboundSa, the peer's.
  uint32_t spi = 0;
  Algorithm algorithm = Algorithm::kAes128Gcm16;
  // Extended (64-bit) sequence numbers, RFC 4304; negotiated by IKE.
  bool esn = false;
  // Inbound only: how many sequence numbers the anti-replay window spans;
  // clamped to [ReplayWindow::kMinSize, ReplayWindow::kMaxSize].
  uint32_t replay_window = ReplayWindow::kDefaultSize;
  LifetimeLimits lifetime;
  // Lifetimes count from here.
  absl::Time created = absl::UnixEpoch();
};

// ---------------------------------------------------------------------------
// Outbound.

enum class SealResult : uint8_t {
  kOk,
  kBufferTooSmall,     // `out` is shorter than SealedSize(inner size).
  kBadNextHeader,      // Not 4 (IPv4), 41 (IPv6) or 59 (dummy).
  kSequenceExhausted,  // The last sequence number was used: rekey.
  kExpired,            // A hard lifetime limit was reached.
  kCryptoError,        // The AEAD failed (not expected).
};
const char* SealResultName(SealResult result);

struct OutboundCounters {
  uint64_t packets = 0;  // Sealed.
  uint64_t bytes = 0;    // Inner bytes sealed.
  uint64_t buffer_too_small = 0;
  uint64_t bad_next_header = 0;
  uint64_t sequence_exhausted = 0;
  uint64_t expired = 0;
  uint64_t crypto_error = 0;
};

// Sends on one SA: assigns sequence numbers 1, 2, ... (never wrapping: once
// the last one is used Seal refuses), pads, encrypts. The IV is the sequence
// number, so it is unique per key.
//
// Sealing without copies: reserve kHeadroom bytes in front of the inner
// packet and kMaxTailroom behind it, and pass the buffer starting kHeadroom
// bytes before the packet as `out`: the packet is encrypted where it lies.
// Otherwise the inner packet (or its fragments) is copied into `out` first.
class OutboundSa {
 public:
  static constexpr size_t kHeadroom = kHeaderSize;                     // 16
  static constexpr size_t kMaxTailroom = 3 + kTrailerSize + kIcvSize;  // 21

  // `key_material` is KeyMaterialSize(config.algorithm) bytes: key || salt.
  // kInvalidArgument on a bad size or SPI 0.
  static absl::StatusOr<std::unique_ptr<OutboundSa>> Create(
      const SaConfig& config, absl::Span<const uint8_t> key_material);

  // Seals `inner` (next_header 4 for IPv4, 41 for IPv6, 59 for a dummy
  // packet) into `out`; *out_size is set to the ESP packet's size (0 unless
  // kOk). `inner` may lie inside `out` (ideally at out.data() + kHeadroom).
  SealResult Seal(absl::Span<const uint8_t> inner, uint8_t next_header,
                  absl::Span<uint8_t> out, size_t* out_size);
  // The same for an inner packet in pieces, sealed as their concatenation.
  // The fragments must not overlap `out`.
  SealResult Seal(absl::Span<const absl::Span<const uint8_t>> fragments,
                  uint8_t next_header, absl::Span<uint8_t> out,
                  size_t* out_size);

  uint32_t spi() const { return spi_; }
  Algorithm algorithm() const { return algorithm_; }
  bool esn() const { return esn_; }
  // The last sequence number used (0 before the first packet).
  uint64_t last_sequence() const { return last_seq_; }
  const OutboundCounters& counters() const { return counters_; }

  // Lifetime: see lifetime.h. Besides the configured limits, the rekey flag
  // rises when the sequence space runs low (at 2^32 - 2^24 without ESN,
  // 2^64 - 2^32 with) and the SA expires when it is used up.
  SaState CheckLifetime(absl::Time now) { return lifetime_.CheckLifetime(now); }
  SaState state() const { return lifetime_.state(); }
  bool TakeRekeyNeeded() { return lifetime_.TakeRekeyNeeded(); }
  const Lifetime& lifetime() const { return lifetime_; }

  // The sequence number at which the rekey flag rises.
  uint64_t soft_sequence_limit() const { return soft_seq_; }

  // Tests and fuzzers only: makes `next` the next sequence number (> 0), to
  // reach the ends of the sequence space without sending billions of packets.
  // Never reuse a sequence number with a key in real traffic.
  void set_next_sequence_for_testing(uint64_t next) { last_seq_ = next - 1; }

 private:
  OutboundSa(const SaConfig& config, crypto::Aead aead,
             absl::Span<const uint8_t> salt);
  // Seals the inner packet already at out + kHeadroom.
  SealResult SealInPlace(size_t inner_size, uint8_t next_header,
                         absl::Span<uint8_t> out, size_t* out_size);
  // Checks what does not depend on the bytes; counts a refusal.
  SealResult Precheck(size_t inner_size, uint8_t next_header,
                      size_t out_capacity);

  const uint32_t spi_;
  const Algorithm algorithm_;
  const bool esn_;
  const uint64_t max_seq_;
  const uint64_t soft_seq_;
  crypto::Aead aead_;
  uint8_t salt_[kSaltSize];
  uint64_t last_seq_ = 0;
  Lifetime lifetime_;
  OutboundCounters counters_;
};

// ---------------------------------------------------------------------------
// Inbound.

enum class OpenResult : uint8_t {
  kOk,              // `inner` holds an IPv4 (4) or IPv6 (41) packet.
  kDummy,           // Authentic dummy packet (next header 59): dropped.
  kReplay,          // Already received (inside the window).
  kTooOld,          // Left of the anti-replay window.
  kAuthFailed,      // The ICV did not verify (wrong key, forged, corrupted).
  kMalformed,       // Too short, or ciphertext not a multiple of 4.
  kWrongSpi,        // The SPI is not this SA's.
  kBadPadding,      // Authentic, but the pad length or bytes are wrong.
  kBadNextHeader,   // Authentic, but neither 4, 41 nor 59.
  kExpired,         // A hard lifetime limit was reached.
  kBufferTooSmall,  // Open(): the output buffer is too short.
};
const char* OpenResultName(OpenResult result);

struct InboundCounters {
  uint64_t packets = 0;  // Delivered (kOk).
  uint64_t bytes = 0;    // Inner bytes delivered.
  uint64_t dummy = 0;
  uint64_t replay = 0;
  uint64_t too_old = 0;
  uint64_t auth_failed = 0;
  uint64_t malformed = 0;
  uint64_t wrong_spi = 0;
  uint64_t bad_padding = 0;
  uint64_t bad_next_header = 0;
  uint64_t expired = 0;
  uint64_t buffer_too_small = 0;

  // Every packet not delivered, dummies included.
  uint64_t dropped() const {
    return dummy + replay + too_old + auth_failed + malformed + wrong_spi +
           bad_padding + bad_next_header + expired + buffer_too_small;
  }
};

struct OpenedPacket {
  // The inner IP packet, inside the buffer the packet was opened into; TFC
  // padding (RFC 4303 section 2.7) past the length its IP header gives is
  // trimmed off.
  absl::Span<uint8_t> inner;
  uint8_t next_header = 0;
  uint64_t sequence = 0;  // Full (64-bit with ESN) sequence number.
};

// Receives on one SA: checks length and SPI, the anti-replay window (before
// spending crypto), the ICV, then slides the window (only now that the
// packet is authentic), then checks padding and next header.
class InboundSa {
 public:
  static absl::StatusOr<std::unique_ptr<InboundSa>> Create(
      const SaConfig& config, absl::Span<const uint8_t> key_material);

  // Decrypts in place: on kOk, out->inner points into `packet`. On any other
  // result `packet` may have been overwritten (zeros where the ciphertext
  // was, never unauthenticated plaintext) and *out is left empty.
  OpenResult OpenInPlace(absl::Span<uint8_t> packet, OpenedPacket* out);
  // Decrypts into `buffer`, which needs MaxOpenedSize(packet.size()) bytes
  // and must not overlap `packet`; on kOk, out->inner points into `buffer`.
  // `packet` is not modified.
  OpenResult Open(absl::Span<const uint8_t> packet, absl::Span<uint8_t> buffer,
                  OpenedPacket* out);

  static constexpr size_t MaxOpenedSize(size_t packet_size) {
    return packet_size > kHeaderSize + kIcvSize
               ? packet_size - kHeaderSize - kIcvSize
               : 0;
  }

  uint32_t spi() const { return spi_; }
  Algorithm algorithm() const { return algorithm_; }
  bool esn() const { return window_.esn(); }
  const ReplayWindow& replay_window() const { return window_; }
  const InboundCounters& counters() const { return counters_; }

  // Lifetime: see lifetime.h. Packets and bytes count delivered packets.
  SaState CheckLifetime(absl::Time now) { return lifetime_.CheckLifetime(now); }
  SaState state() const { return lifetime_.state(); }
  bool TakeRekeyNeeded() { return lifetime_.TakeRekeyNeeded(); }
  const Lifetime& lifetime() const { return lifetime_; }

 private:
  InboundSa(const SaConfig& config, crypto::Aead aead,
            absl::Span<const uint8_t> salt);
  // `packet` is the whole ESP packet; the plaintext goes to `plain`, which
  // may be exactly packet + kHeaderSize (in place).
  OpenResult OpenImpl(const uint8_t* packet, size_t size, uint8_t* plain,
                      OpenedPacket* out);
  OpenResult Count(OpenResult result);

  const uint32_t spi_;
  const Algorithm algorithm_;
  crypto::Aead aead_;
  uint8_t salt_[kSaltSize];
  ReplayWindow window_;
  Lifetime lifetime_;
  InboundCounters counters_;
};

}  // namespace stow::esp

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_SA_H_
