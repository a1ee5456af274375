// SHA-256 over BoringSSL. Used to compare transferred bytes in tests and
// tools; the cryptographic transforms of the tunnels come later.
#ifndef STOWAWAY_SDK_CRYPTO_SHA256_H_
#define STOWAWAY_SDK_CRYPTO_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/types/span.h"

namespace stow::crypto {

// Incremental SHA-256. Not thread-safe; one owner at a time.
class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::Span<const uint8_t> data);
  // Returns the digest and resets to the empty state.
  Digest Finish();

  static Digest Hash(absl::Span<const uint8_t> data);
  static std::string Hex(const Digest& digest);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_SHA256_H_
