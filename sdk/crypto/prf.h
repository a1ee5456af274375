// The IKEv2 pseudorandom functions PRF_HMAC_SHA2_256/384/512 (RFC 4868)
// and prf+ (RFC 7296 section 2.13), the expansion IKEv2 derives all of its
// keys with. SKEYSEED and the key schedule itself live with IKE.
#ifndef STOWAWAY_SDK_CRYPTO_PRF_H_
#define STOWAWAY_SDK_CRYPTO_PRF_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/crypto/hash.h"

namespace stow::crypto {

// IKEv2 transform type 2 (PRF) IDs from the IANA registry (RFC 4868).
enum class PrfAlgorithm : uint16_t {
  kHmacSha256 = 5,  // PRF_HMAC_SHA2_256
  kHmacSha384 = 6,  // PRF_HMAC_SHA2_384
  kHmacSha512 = 7,  // PRF_HMAC_SHA2_512
};

// The algorithm for a transform ID from a proposal, or nullopt if it is not
// one of the above (the caller then declines the transform).
absl::optional<PrfAlgorithm> PrfFromTransformId(uint16_t transform_id);

// "PRF_HMAC_SHA2_256" etc.
absl::string_view PrfName(PrfAlgorithm prf);

// The underlying hash.
HashAlgorithm PrfHash(PrfAlgorithm prf);

// Output length in bytes: 32, 48 or 64. RFC 4868 (section 2.1) also makes
// it the PRF's preferred key length, which RFC 7296 section 2.14 uses for
// SK_d, SK_pi and SK_pr.
size_t PrfOutputLength(PrfAlgorithm prf);

// prf(key, data): HMAC with the PRF's hash; keys of any length are accepted
// (IKEv2 keys this PRF with the nonces Ni | Nr, whose length varies).
std::vector<uint8_t> Prf(PrfAlgorithm prf, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> data);

// prf+ may iterate at most this many times: its counter is one octet
// (RFC 7296 section 2.13).
inline constexpr int kPrfPlusMaxIterations = 255;

// The most prf+ can produce: 255 * PrfOutputLength(prf) bytes.
size_t PrfPlusMaxLength(PrfAlgorithm prf);

// prf+(key, seed), the first `length` bytes of T1 | T2 | T3 | ..., where
//   T1 = prf(K, S | 0x01),  Tn = prf(K, Tn-1 | S | n)  for n = 2..255.
// InvalidArgument if `length` exceeds PrfPlusMaxLength(prf). A length of 0
// returns an empty vector.
absl::StatusOr<std::vector<uint8_t>> PrfPlus(PrfAlgorithm prf,
                                             absl::Span<const uint8_t> key,
                                             absl::Span<const uint8_t> seed,
                                             size_t length);

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_PRF_H_
