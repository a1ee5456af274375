#include "sdk/gateway/services/pattern.h"

#include <algorithm>
#include <vector>

namespace stow::gateway {

crypto::Sha256::Digest BytePatternDigest(uint64_t n, uint64_t seed) {
  constexpr size_t kChunk = 256 * 1024;
  BytePattern pattern(seed);
  crypto::Sha256 hash;
  std::vector<uint8_t> chunk(static_cast<size_t>(std::min<uint64_t>(n, kChunk)));
  for (uint64_t done = 0; done < n;) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, n - done));
    pattern.Fill(absl::MakeSpan(chunk.data(), len));
    hash.Update(absl::MakeConstSpan(chunk.data(), len));
    done += len;
  }
  return hash.Finish();
}

uint8_t ChargenPattern::At(uint64_t index) {
  const uint64_t line = index / kLineBytes;
  const int column = static_cast<int>(index % kLineBytes);
  if (column == kLineChars) return '\r';
  if (column == kLineChars + 1) return '\n';
  return static_cast<uint8_t>(0x20 + (line + column) % kRing);
}

void ChargenPattern::Fill(absl::Span<uint8_t> out) {
  uint64_t line = position_ / kLineBytes;
  int column = static_cast<int>(position_ % kLineBytes);
  int start = static_cast<int>(line % kRing);
  for (uint8_t& b : out) {
    if (column < kLineChars) {
      int c = start + column;
      if (c >= kRing) c -= kRing;
      b = static_cast<uint8_t>(0x20 + c);
    } else {
      b = column == kLineChars ? '\r' : '\n';
    }
    if (++column == kLineBytes) {
      column = 0;
      if (++start == kRing) start = 0;
    }
  }
  position_ += out.size();
}

}  // namespace stow::gateway
