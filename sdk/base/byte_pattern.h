// A deterministic pseudo-random byte stream, shared by the gateway's /bytes
// service, the transfer helpers of tests and the benchmarks, so that both
// ends of a transfer can compute what the bytes must be.
#ifndef STOWAWAY_SDK_BASE_BYTE_PATTERN_H_
#define STOWAWAY_SDK_BASE_BYTE_PATTERN_H_

#include <cstdint>

#include "absl/types/span.h"

namespace stow {

// xorshift64* (Marsaglia's xorshift with shifts 12/25/27, then multiplied by
// 2685821657736338717), state seeded with `seed | 1`; each 64-bit output
// word yields 8 bytes, least significant first. Not thread-safe.
class BytePattern {
 public:
  explicit BytePattern(uint64_t seed) : state_(seed | 1) {}
  // Writes the next out.size() bytes of the stream.
  void Fill(absl::Span<uint8_t> out);

 private:
  uint64_t state_;
  uint64_t word_ = 0;
  int left_ = 0;  // Unused bytes in word_.
};

}  // namespace stow

#endif  // STOWAWAY_SDK_BASE_BYTE_PATTERN_H_
