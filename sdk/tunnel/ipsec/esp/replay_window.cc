#include "sdk/tunnel/ipsec/esp/replay_window.h"

#include <algorithm>

namespace stow::esp {
namespace {

constexpr uint32_t kBlockBits = 64;

uint32_t Clamp(uint32_t size) {
  return std::min(std::max(size, ReplayWindow::kMinSize),
                  ReplayWindow::kMaxSize);
}

}  // namespace

ReplayWindow::ReplayWindow(uint32_t size, bool esn)
    : size_(Clamp(size)), esn_(esn) {
  // Keeping every sequence number of [top - size + 1, top] needs the blocks
  // they span plus the block being filled: ceil(size / 64) + 1, rounded up to
  // a power of two so a block index is a mask away.
  uint64_t needed = (size_ + kBlockBits - 1) / kBlockBits + 1;
  uint64_t blocks = 1;
  while (blocks < needed) blocks <<= 1;
  block_mask_ = blocks - 1;
  blocks_.assign(blocks, 0);
}

bool ReplayWindow::Seen(uint64_t seq) const {
  uint64_t block = blocks_[(seq / kBlockBits) & block_mask_];
  return (block >> (seq % kBlockBits)) & 1;
}

ReplayWindow::Verdict ReplayWindow::Check(uint32_t seq_low,
                                          uint64_t* seq) const {
  uint64_t full = seq_low;
  if (esn_) {
    // RFC 4303 Appendix A2.2: pick the high half that puts the number into
    // (or right of) the window. Tl/Th: low/high halves of the top; W: size.
    const uint32_t tl = static_cast<uint32_t>(top_);
    const uint32_t th = static_cast<uint32_t>(top_ >> 32);
    const uint32_t bottom = tl - size_ + 1;  // Tl - W + 1, modulo 2^32.
    uint32_t high;
    if (tl >= size_ - 1) {
      // The window lies within one 2^32 subspace.
      if (seq_low >= bottom) {
        high = th;
      } else {
        if (th == UINT32_MAX) return Verdict::kTooOld;  // Past 2^64: never.
        high = th + 1;  // Right of the window, after the low half wrapped.
      }
    } else {
      // The window spans two subspaces: [bottom, 2^32) belongs to Th - 1.
      if (seq_low >= bottom) {
        if (th == 0) return Verdict::kTooOld;  // Before sequence number 1.
        high = th - 1;
      } else {
        high = th;
      }
    }
    full = (static_cast<uint64_t>(high) << 32) | seq_low;
  }
  if (full == 0) return Verdict::kTooOld;
  *seq = full;
  if (full > top_) return Verdict::kOk;
  if (top_ - full >= size_) return Verdict::kTooOld;
  return Seen(full) ? Verdict::kReplay : Verdict::kOk;
}

void ReplayWindow::Update(uint64_t seq) {
  if (seq > top_) {
    // Clear the blocks the window slides over, at most the whole ring.
    const uint64_t top_block = top_ / kBlockBits;
    const uint64_t new_block = seq / kBlockBits;
    const uint64_t advance =
        std::min<uint64_t>(new_block - top_block, block_mask_ + 1);
    for (uint64_t i = 1; i <= advance; ++i) {
      blocks_[(top_block + i) & block_mask_] = 0;
    }
    top_ = seq;
  }
  blocks_[(seq / kBlockBits) & block_mask_] |= uint64_t{1}
                                               << (seq % kBlockBits);
}

}  // namespace stow::esp
