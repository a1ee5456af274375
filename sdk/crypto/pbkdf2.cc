#include "sdk/crypto/pbkdf2.h"

#include <openssl/digest.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stow::crypto {

absl::StatusOr<std::vector<uint8_t>> Pbkdf2HmacSha256(
    absl::string_view password, absl::Span<const uint8_t> salt,
    uint32_t iterations, size_t length) {
  if (iterations == 0 || iterations > kPbkdf2MaxIterations) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBKDF2 iterations ", iterations, ": must be 1 to ",
                     kPbkdf2MaxIterations));
  }
  if (length == 0 || length > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBKDF2 length ", length, ": must be 1 to 1024"));
  }
  std::vector<uint8_t> out(length);
  // BoringSSL accepts null pointers for empty inputs only with length 0.
  static const uint8_t kEmpty = 0;
  if (PKCS5_PBKDF2_HMAC(password.empty() ? reinterpret_cast<const char*>(&kEmpty)
                                         : password.data(),
                        password.size(),
                        salt.empty() ? &kEmpty : salt.data(), salt.size(),
                        iterations, EVP_sha256(), out.size(),
                        out.data()) != 1) {
    return absl::InternalError("PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

}  // namespace stow::crypto
