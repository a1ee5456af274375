// PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA-256 as the PRF, on BoringSSL.
// For salted password hashes (the gateway's TLS user file).
//
// Thread-safe: a pure function.
#ifndef STOWAWAY_SDK_CRYPTO_PBKDF2_H_
#define STOWAWAY_SDK_CRYPTO_PBKDF2_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stow::crypto {

// Largest iteration count accepted (a bound on the work one call does).
inline constexpr uint32_t kPbkdf2MaxIterations = 100000000;

// PBKDF2-HMAC-SHA256(password, salt, iterations, length). kInvalidArgument
// when iterations is 0 or above kPbkdf2MaxIterations, or length is 0 or
// above 1024.
absl::StatusOr<std::vector<uint8_t>> Pbkdf2HmacSha256(
    absl::string_view password, absl::Span<const uint8_t> salt,
    uint32_t iterations, size_t length);

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_PBKDF2_H_
