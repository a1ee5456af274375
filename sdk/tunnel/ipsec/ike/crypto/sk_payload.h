// Protection of the Encrypted payload SK (RFC 7296 section 3.14) and the
// Encrypted Fragment payload SKF (RFC 7383 section 2.5) with an AEAD:
// AES-GCM with a 16-byte ICV (RFC 5282) and ChaCha20-Poly1305 (RFC 7634).
//
// Wire layout after the payload's own header (4 bytes for SK; 8 for SKF,
// which adds Fragment Number and Total Fragments):
//
//   IV (8) | ciphertext of [inner payloads | padding | Pad Length (1)] | ICV (16)
//
// The nonce is salt (last 4 bytes of SK_e) | IV. The associated data is
// every byte of the message before the IV: the IKE header, any unencrypted
// payloads and the SK/SKF payload header (RFC 5282 section 5.1, RFC 7634
// section 4, RFC 7383 section 2.5). We send no padding (an AEAD has no
// block size to fill: RFC 5282 section 3, RFC 7634 section 4) and accept any
// padding that leaves the inner bytes in place.
//
// Pure code over byte spans: no sockets, no clock. The payload parsing
// stays in ike/codec; here the caller points at the SK payload's offset.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_SK_PAYLOAD_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_SK_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sdk/crypto/aead.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

namespace stow::ike {

// Payload types (IANA "IKEv2 Payload Types").
inline constexpr uint8_t kPayloadTypeSk = 46;
inline constexpr uint8_t kPayloadTypeSkf = 53;

inline constexpr size_t kIkeHeaderSize = 28;
// Offset of the IKE header's 4-byte Length field.
inline constexpr size_t kIkeHeaderLengthOffset = 24;
inline constexpr size_t kSkGenericHeaderSize = 4;
inline constexpr size_t kSkfHeaderSize = 8;
inline constexpr size_t kSkIvSize = 8;
inline constexpr size_t kSkIcvSize = crypto::Aead::kTagSize;  // 16
// IV + Pad Length + ICV: what sealing adds to the inner bytes (no padding).
inline constexpr size_t kSkBodyOverhead = kSkIvSize + 1 + kSkIcvSize;

// Which encrypted payload a message carries.
enum class SkKind : uint8_t {
  kSk,   // Encrypted and Authenticated, 4-byte header.
  kSkf,  // Encrypted and Authenticated Fragment, 8-byte header.
};
size_t EncryptedPayloadHeaderSize(SkKind kind);

// One direction's SK_e: SK_ei seals the initiator's messages, SK_er the
// responder's. A sender seals with its own key and opens with the peer's.
//
// The IV is a 64-bit counter (the first IV is 1), so IVs never repeat under
// one key; retransmissions resend the sealed bytes instead of sealing again.
// Not thread-safe (Seal advances the counter); one owner, the IKE SA on the
// network thread. Movable, not copyable.
//
// Errors: InvalidArgument for a malformed layout (sizes, lengths that do
// not match); DataLoss when the ICV does not verify (the message is forged,
// damaged or under another key; drop it); InvalidArgument for a Pad Length
// longer than the plaintext after the ICV verified; ResourceExhausted when
// the IV counter is spent (rekey long before).
class SkCipher {
 public:
  // `key_material` is SK_ei or SK_er: EncrKeyMaterialSize(encr) bytes,
  // key || salt. InvalidArgument on a wrong size.
  static absl::StatusOr<SkCipher> Create(EncrAlgorithm encr,
                                         absl::Span<const uint8_t> key_material);

  SkCipher(SkCipher&&) noexcept;
  SkCipher& operator=(SkCipher&&) noexcept;
  ~SkCipher();

  EncrAlgorithm encr() const { return encr_; }

  // IV | ciphertext | ICV size for `inner_size` inner bytes.
  static size_t SealedBodySize(size_t inner_size) {
    return inner_size + kSkBodyOverhead;
  }

  // The IV the next Seal will use. Setting it is for known-answer tests and
  // deterministic test peers: never go back to a used value under one key.
  uint64_t next_iv() const { return next_iv_; }
  void set_next_iv(uint64_t iv) { next_iv_ = iv; }

  // Low level. Writes IV | ciphertext(inner | Pad Length 0) | ICV, exactly
  // SealedBodySize(inner.size()) bytes, to `out` (no overlap with the
  // inputs). `associated_data` is the message from its first byte up to and
  // including the SK/SKF payload header, with every length already final.
  absl::Status SealBody(absl::Span<const uint8_t> associated_data,
                        absl::Span<const uint8_t> inner,
                        absl::Span<uint8_t> out);

  // Low level: verifies and decrypts `body` (IV | ciphertext | ICV) and
  // returns the inner bytes without padding and Pad Length.
  absl::StatusOr<std::vector<uint8_t>> OpenBody(
      absl::Span<const uint8_t> associated_data,
      absl::Span<const uint8_t> body) const;

  // Message helper for sending. `message` holds the IKE header, any
  // unencrypted payloads and, at `payload_offset`, the SK or SKF payload's
  // header (4 / 8 bytes, with Next Payload and for SKF the fragment fields
  // already set) and nothing after it. Fills in the payload's Payload Length
  // and the IKE header's Length, then appends the sealed body. The caller
  // sets the Next Payload field that points at this payload (46 / 53).
  // InvalidArgument if the layout does not fit or a length overflows.
  absl::Status SealMessage(SkKind kind,
                           std::vector<uint8_t>* message,
                           size_t payload_offset,
                           absl::Span<const uint8_t> inner);

  // Message helper for receiving: `message` is a whole IKE message whose
  // SK or SKF payload starts at `payload_offset` and, as RFC 7296 section
  // 3.14 and RFC 7383 section 2.5 require, is the last payload. Checks that
  // the IKE header's Length equals message.size() and the payload's Length
  // reaches exactly to the end, then opens it and returns the inner bytes.
  absl::StatusOr<std::vector<uint8_t>> OpenMessage(
      SkKind kind, absl::Span<const uint8_t> message,
      size_t payload_offset) const;

 private:
  SkCipher(EncrAlgorithm encr, crypto::Aead aead,
           absl::Span<const uint8_t> salt);
  void MakeNonce(absl::Span<const uint8_t> iv, uint8_t* nonce) const;

  EncrAlgorithm encr_;
  crypto::Aead aead_;
  uint8_t salt_[kAeadSaltSize];
  uint64_t next_iv_ = 1;
};

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_SK_PAYLOAD_H_
