// One-shot and incremental SHA-1 and SHA-2 hashes over BoringSSL.
//
// SHA-1 is here for the IKEv2 NAT detection payloads (RFC 7296 section
// 2.23), which fix it; everything else uses SHA-2. (sha256.h is the older
// SHA-256-only helper kept for tests and tools.)
#ifndef STOWAWAY_SDK_CRYPTO_HASH_H_
#define STOWAWAY_SDK_CRYPTO_HASH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stow::crypto {

enum class HashAlgorithm : uint8_t {
  kSha1,
  kSha256,
  kSha384,
  kSha512,
};

// The largest HashLength() of any algorithm (SHA-512).
inline constexpr size_t kMaxHashLength = 64;

// Digest length in bytes: 20, 32, 48 or 64.
size_t HashLength(HashAlgorithm algorithm);

// "SHA-1", "SHA-256", "SHA-384" or "SHA-512".
absl::string_view HashName(HashAlgorithm algorithm);

// The digest of `data` (HashLength(algorithm) bytes).
std::vector<uint8_t> Hash(HashAlgorithm algorithm,
                          absl::Span<const uint8_t> data);

// Incremental hash, for inputs that come in pieces (e.g. NAT detection hashes
// SPIi | SPIr | IP | port). Not thread-safe; one owner at a time.
class Hasher {
 public:
  explicit Hasher(HashAlgorithm algorithm);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  HashAlgorithm algorithm() const { return algorithm_; }

  void Update(absl::Span<const uint8_t> data);
  // Returns the digest of everything since construction or the last Finish(),
  // and starts over with an empty input.
  std::vector<uint8_t> Finish();

 private:
  struct State;
  HashAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_HASH_H_
