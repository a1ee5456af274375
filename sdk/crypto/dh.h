// Diffie-Hellman key exchange for IKEv2 (transform type 4), over BoringSSL:
// X25519 (group 31, RFC 8031), ECP P-256 and P-384 (groups 19 and 20,
// RFC 5903) and MODP-2048 (group 14, RFC 3526) for older gateways.
//
// Public values are in the KE payload's wire format (RFC 7296 section 3.4):
//   X25519:   the 32-byte u-coordinate (RFC 7748 section 5).
//   ECP:      x || y, each left-padded to the field size, without the 0x04
//             point-format octet (RFC 5903 section 7): 64 or 96 bytes.
//   MODP:     g^x mod p, big-endian, left-padded to the prime's length:
//             256 bytes.
// Shared secrets (g^ir) are fixed-length and left-padded the same way: 32
// bytes for X25519, the x coordinate alone for ECP (RFC 5903 section 7),
// 256 bytes for MODP.
//
// The peer's public value comes off the network and is validated before use
// (RFC 6989): its length; for ECP, that the point is on the curve with
// coordinates below p; for MODP, 2 <= y <= p-2; for X25519, that the result
// is not all zero (RFC 8031: a small-order peer point). Every
// rejection is InvalidArgument with a message that names the group.
#ifndef STOWAWAY_SDK_CRYPTO_DH_H_
#define STOWAWAY_SDK_CRYPTO_DH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::crypto {

// IKEv2 Diffie-Hellman group numbers (IANA "Transform Type 4").
enum class DhGroup : uint16_t {
  kModp2048 = 14,
  kEcp256 = 19,
  kEcp384 = 20,
  kCurve25519 = 31,
};

// The group for a transform ID / KE payload group number, or nullopt if it is
// not one of the above (the caller then declines it, e.g. with
// INVALID_KE_PAYLOAD naming a supported group).
absl::optional<DhGroup> DhGroupFromTransformId(uint16_t transform_id);

// "MODP-2048", "ECP-256", "ECP-384" or "Curve25519".
absl::string_view DhGroupName(DhGroup group);

// Length of a public value (KE payload data): 256, 64, 96 or 32 bytes.
size_t DhPublicValueLength(DhGroup group);

// Length of the shared secret: 256, 32, 48 or 32 bytes.
size_t DhSharedSecretLength(DhGroup group);

// One side of a Diffie-Hellman exchange: a private key and its public value.
// Immutable after creation; ComputeSharedSecret() may be called any number of
// times, from one thread at a time. The private key is erased on destruction;
// the caller owns (and should erase) the returned shared secrets.
class KeyExchange {
 public:
  // A fresh random private key. InvalidArgument for a value that is not a
  // DhGroup enumerator; Internal if BoringSSL fails.
  static absl::StatusOr<std::unique_ptr<KeyExchange>> Create(DhGroup group);

  // A given private key, for known-answer tests and deterministic peers:
  //   X25519: 32 bytes, as in RFC 7748 (clamped when used).
  //   ECP:    a big-endian scalar of exactly 32 / 48 bytes, 1 <= d < n.
  //   MODP:   a big-endian exponent of 1 to 256 bytes, 1 <= x <= p-2.
  // InvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<KeyExchange>> CreateWithPrivateKey(
      DhGroup group, absl::Span<const uint8_t> private_key);

  virtual ~KeyExchange();
  KeyExchange(const KeyExchange&) = delete;
  KeyExchange& operator=(const KeyExchange&) = delete;

  DhGroup group() const { return group_; }

  // Our public value in KE payload format, DhPublicValueLength(group()) bytes.
  absl::Span<const uint8_t> public_value() const { return public_value_; }

  // The shared secret with a peer whose KE payload data is
  // `peer_public_value`: DhSharedSecretLength(group()) bytes.
  // InvalidArgument if the peer's value is malformed or unsafe (see above).
  virtual absl::StatusOr<std::vector<uint8_t>> ComputeSharedSecret(
      absl::Span<const uint8_t> peer_public_value) const = 0;

 protected:
  KeyExchange(DhGroup group, std::vector<uint8_t> public_value);

 private:
  const DhGroup group_;
  const std::vector<uint8_t> public_value_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_DH_H_
