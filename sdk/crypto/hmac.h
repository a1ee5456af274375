// HMAC (RFC 2104) over SHA-1 and SHA-2, on BoringSSL.
//
// Keys of any length are accepted (longer than the hash block: hashed
// first; shorter: zero-padded), as HMAC defines.
#ifndef STOWAWAY_SDK_CRYPTO_HMAC_H_
#define STOWAWAY_SDK_CRYPTO_HMAC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sdk/crypto/hash.h"

namespace stow::crypto {

// HMAC of `data` under `key`: HashLength(algorithm) bytes.
std::vector<uint8_t> Hmac(HashAlgorithm algorithm,
                          absl::Span<const uint8_t> key,
                          absl::Span<const uint8_t> data);

// The leftmost `length` bytes of the HMAC (RFC 2104 section 5; e.g. RFC 4868
// truncates HMAC-SHA-256 to 16 bytes). InvalidArgument unless
// 1 <= length <= HashLength(algorithm).
absl::StatusOr<std::vector<uint8_t>> HmacTruncated(
    HashAlgorithm algorithm, absl::Span<const uint8_t> key,
    absl::Span<const uint8_t> data, size_t length);

// True if `tag` equals the leftmost tag.size() bytes of the HMAC, compared in
// constant time. False, without computing anything, if the tag is shorter
// than half the hash length (RFC 2104 section 5's lower bound; 10 bytes for
// SHA-1) or longer than the hash length.
bool HmacVerify(HashAlgorithm algorithm, absl::Span<const uint8_t> key,
                absl::Span<const uint8_t> data, absl::Span<const uint8_t> tag);

// Compares two byte strings in time that depends only on their lengths.
// Different lengths compare unequal.
bool ConstantTimeEquals(absl::Span<const uint8_t> a,
                        absl::Span<const uint8_t> b);

// Incremental HMAC under one key, reusable: after Finish() it is ready for
// the next message under the same key (the key schedule is kept, so many
// short MACs under one key, as in prf+, do not rehash the key). Not
// thread-safe; one owner at a time.
class HmacContext {
 public:
  HmacContext(HashAlgorithm algorithm, absl::Span<const uint8_t> key);
  ~HmacContext();
  HmacContext(const HmacContext&) = delete;
  HmacContext& operator=(const HmacContext&) = delete;

  HashAlgorithm algorithm() const { return algorithm_; }
  size_t length() const { return HashLength(algorithm_); }

  void Update(absl::Span<const uint8_t> data);
  // Writes the HMAC of everything since construction or the last Finish()
  // to `out`, which must hold exactly length() bytes (checked: aborts
  // otherwise, a programming error), and starts over under the same key.
  void Finish(absl::Span<uint8_t> out);
  std::vector<uint8_t> Finish();

 private:
  struct State;
  HashAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_HMAC_H_
