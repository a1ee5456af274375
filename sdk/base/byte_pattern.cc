#include "sdk/base/byte_pattern.h"

namespace stow {

void BytePattern::Fill(absl::Span<uint8_t> out) {
  for (uint8_t& b : out) {
    if (left_ == 0) {
      state_ ^= state_ >> 12;
      state_ ^= state_ << 25;
      state_ ^= state_ >> 27;
      word_ = state_ * 2685821657736338717ULL;
      left_ = 8;
    }
    b = static_cast<uint8_t>(word_);
    word_ >>= 8;
    left_--;
  }
}

}  // namespace stow
