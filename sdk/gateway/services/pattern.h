// Deterministic byte streams served by the gateway's built-in services, and
// the helpers a client needs to check what it received.
#ifndef STOWAWAY_SDK_GATEWAY_SERVICES_PATTERN_H_
#define STOWAWAY_SDK_GATEWAY_SERVICES_PATTERN_H_

#include <cstdint>

#include "absl/types/span.h"
#include "sdk/base/byte_pattern.h"
#include "sdk/crypto/sha256.h"

namespace stow::gateway {

// The body of `GET /bytes?n=N&seed=S`: the first N bytes of
// stow::BytePattern(S) (sdk/base/byte_pattern.h), the stream the tests'
// PatternStream also produces.
using ::stow::BytePattern;

// SHA-256 of the first `n` bytes of BytePattern(seed): what a client of
// /bytes compares its digest with.
crypto::Sha256::Digest BytePatternDigest(uint64_t n, uint64_t seed);

// The byte source's stream (TCP port 19), after RFC 864 (Character
// Generator Protocol): lines of 72 printable ASCII characters followed by
// CR LF. The 95 printable characters 0x20..0x7E form a ring; line k starts
// at character (k mod 95) of the ring and takes the next 72. The stream is
// the concatenation of lines 0, 1, 2, ... (74 bytes each), so every
// connection starts with line 0: " !\"#$%&'()*+,-./0123...".
class ChargenPattern {
 public:
  static constexpr int kLineChars = 72;
  static constexpr int kLineBytes = kLineChars + 2;  // With CR LF.
  static constexpr int kRing = 95;

  ChargenPattern() = default;
  // Writes the next out.size() bytes of the stream.
  void Fill(absl::Span<uint8_t> out);
  // Bytes produced so far.
  uint64_t position() const { return position_; }

  // Byte `index` of the stream.
  static uint8_t At(uint64_t index);

 private:
  uint64_t position_ = 0;
};

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_SERVICES_PATTERN_H_
