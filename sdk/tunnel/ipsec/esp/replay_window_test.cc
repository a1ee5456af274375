#include "sdk/tunnel/ipsec/esp/replay_window.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace stow::esp {
namespace {

using Verdict = ReplayWindow::Verdict;

// Check + Update as the SA does for an authentic packet.
Verdict Receive(ReplayWindow& w, uint64_t seq) {
  uint64_t full = 0;
  Verdict v = w.Check(static_cast<uint32_t>(seq), &full);
  if (v == Verdict::kOk) {
    EXPECT_EQ(full, seq) << "inferred sequence number";
    w.Update(full);
  }
  return v;
}

TEST(ReplayWindowTest, InOrderThenReplay) {
  ReplayWindow w(1024, false);
  for (uint64_t s = 1; s <= 3000; ++s) ASSERT_EQ(Receive(w, s), Verdict::kOk);
  EXPECT_EQ(w.top(), 3000u);
  EXPECT_EQ(Receive(w, 3000), Verdict::kReplay);
  EXPECT_EQ(Receive(w, 2500), Verdict::kReplay);
  EXPECT_EQ(Receive(w, 3000 - 1023), Verdict::kReplay);  // Oldest in window.
  EXPECT_EQ(Receive(w, 3000 - 1024), Verdict::kTooOld);  // Just left of it.
  EXPECT_EQ(Receive(w, 1), Verdict::kTooOld);
}

TEST(ReplayWindowTest, SequenceZeroIsNeverValid) {
  ReplayWindow w(1024, false);
  uint64_t full = 1234;
  EXPECT_EQ(w.Check(0, &full), Verdict::kTooOld);
  ReplayWindow e(1024, true);
  EXPECT_EQ(e.Check(0, &full), Verdict::kTooOld);
}

TEST(ReplayWindowTest, OutOfOrderWithinWindowAcceptedOnce) {
  ReplayWindow w(1024, false);
  ASSERT_EQ(Receive(w, 2000), Verdict::kOk);
  // Everything in [2000 - 1023, 1999] is new exactly once, in any order.
  std::vector<uint64_t> seqs;
  for (uint64_t s = 2000 - 1023; s < 2000; ++s) seqs.push_back(s);
  std::mt19937 rng(7);
  std::shuffle(seqs.begin(), seqs.end(), rng);
  for (uint64_t s : seqs) ASSERT_EQ(Receive(w, s), Verdict::kOk) << s;
  for (uint64_t s : seqs) ASSERT_EQ(Receive(w, s), Verdict::kReplay) << s;
  EXPECT_EQ(w.top(), 2000u);
}

TEST(ReplayWindowTest, WindowEdgeMovesWithTop) {
  const uint32_t kSize = 1024;
  ReplayWindow w(kSize, false);
  ASSERT_EQ(Receive(w, 5000), Verdict::kOk);
  uint64_t full = 0;
  EXPECT_EQ(w.Check(5000 - kSize + 1, &full), Verdict::kOk);
  EXPECT_EQ(w.Check(5000 - kSize, &full), Verdict::kTooOld);
  ASSERT_EQ(Receive(w, 5001), Verdict::kOk);
  EXPECT_EQ(w.Check(5000 - kSize + 1, &full), Verdict::kTooOld);
  EXPECT_EQ(w.Check(5001 - kSize + 1, &full), Verdict::kOk);
}

TEST(ReplayWindowTest, BigJumpForgetsOldBits) {
  ReplayWindow w(1024, false);
  for (uint64_t s = 1; s <= 1000; ++s) ASSERT_EQ(Receive(w, s), Verdict::kOk);
  // Jump by exactly the ring's span and by other multiples of 64: the blocks
  // that now stand for new numbers must not remember the old ones.
  for (uint64_t jump :
       {uint64_t{2048}, uint64_t{64}, uint64_t{100000}, uint64_t{4096 + 13}}) {
    const uint64_t previous = w.top();
    const uint64_t top = previous + jump;
    ASSERT_EQ(Receive(w, top), Verdict::kOk);
    for (uint64_t s = std::max(previous + 1, top - 1023); s < top; ++s) {
      uint64_t full = 0;
      ASSERT_EQ(w.Check(static_cast<uint32_t>(s), &full), Verdict::kOk)
          << "jump " << jump << " seq " << s;
    }
    uint64_t full = 0;
    EXPECT_EQ(w.Check(static_cast<uint32_t>(previous), &full),
              top - previous < 1024 ? Verdict::kReplay : Verdict::kTooOld);
  }
}

TEST(ReplayWindowTest, SizeIsClamped) {
  EXPECT_EQ(ReplayWindow(0, false).size(), ReplayWindow::kMinSize);
  EXPECT_EQ(ReplayWindow(1u << 30, false).size(), ReplayWindow::kMaxSize);
  EXPECT_EQ(ReplayWindow(1024, false).size(), 1024u);
  EXPECT_GE(ReplayWindow::kDefaultSize, 1024u);
}

// The sequence number a receiver should infer from a low half (RFC 4303
// A2.2, restated): the one value with that low half in [B, B + 2^32), where
// B = top - W + 1 is the window's bottom; nullopt when that value is < 1.
bool ModelInfer(uint64_t top, uint32_t size, uint32_t low, uint64_t* full) {
  const uint64_t k2p32 = uint64_t{1} << 32;
  if (top + 1 >= size) {
    const uint64_t bottom = top + 1 - size;
    *full = bottom + ((low - static_cast<uint32_t>(bottom)) & 0xFFFFFFFFu);
  } else {
    const uint64_t below = size - 1 - top;   // B = -below.
    if (low >= k2p32 - below) return false;  // Would be negative.
    *full = low;
  }
  return *full != 0;
}

// The window against a model that remembers every number.
TEST(ReplayWindowTest, MatchesReferenceModel) {
  for (uint32_t size : {32u, 64u, 100u, 1024u, 1500u, 4096u}) {
    for (bool esn : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "size " << size << " esn " << esn);
      ReplayWindow w(size, esn);
      std::set<uint64_t> seen;
      uint64_t top = 0;
      std::mt19937_64 rng(size * 2 + esn);
      // With ESN, start below 2^32 so the low half wraps on the way.
      uint64_t next = esn ? (uint64_t{1} << 32) - 30000 : 1;
      for (int i = 0; i < 20000; ++i) {
        // Mostly forward with reordering, some replays and old ones, some
        // jumps ahead.
        uint64_t seq;
        switch (rng() % 8) {
          case 0:
            seq = top > 3 * size ? top - rng() % (3 * size) : 1 + rng() % 10;
            break;
          case 1:
            next += rng() % (4 * size);
            seq = next;
            break;
          default: {
            const uint64_t back = rng() % 16;
            seq = next > back ? next - back : 1;
            ++next;
          }
        }
        uint64_t full = 0;
        Verdict v = w.Check(static_cast<uint32_t>(seq), &full);
        Verdict expected;
        uint64_t expected_full = seq;
        if (esn) {
          // Any low half maps into or right of the window; only numbers
          // below 1 are too old.
          if (!ModelInfer(top, size, static_cast<uint32_t>(seq),
                          &expected_full)) {
            expected = Verdict::kTooOld;
          } else if (expected_full > top || !seen.count(expected_full)) {
            expected = Verdict::kOk;
          } else {
            expected = Verdict::kReplay;
          }
        } else if (seq <= top && top - seq >= size) {
          expected = Verdict::kTooOld;
        } else {
          expected = seen.count(seq) ? Verdict::kReplay : Verdict::kOk;
        }
        ASSERT_EQ(v, expected) << "seq " << seq << " top " << top;
        if (v == Verdict::kOk) {
          ASSERT_EQ(full, expected_full) << "seq " << seq << " top " << top;
          // An old number read as a future one: its ICV fails, no update.
          if (full != seq) continue;
          w.Update(full);
          seen.insert(seq);
          if (seq > top) top = seq;
        }
      }
      if (esn) {
        EXPECT_GT(top, uint64_t{1} << 32) << "crossed the wrap";
      }
    }
  }
}

// RFC 4303 Appendix A2: the receiver infers the high half.
TEST(ReplayWindowTest, EsnHighBitsFollowTheLowHalfAcrossTheWrap) {
  const uint32_t kSize = 1024;
  ReplayWindow w(kSize, true);
  const uint64_t k2p32 = uint64_t{1} << 32;
  // Climb to just below the wrap.
  ASSERT_EQ(Receive(w, uint64_t{1} << 31), Verdict::kOk);
  ASSERT_EQ(Receive(w, k2p32 - 5), Verdict::kOk);
  ASSERT_EQ(Receive(w, k2p32 - 3), Verdict::kOk);
  // Low half wraps to 0, 1, 2: the high half becomes 1.
  uint64_t full = 0;
  ASSERT_EQ(w.Check(0, &full), Verdict::kOk);
  EXPECT_EQ(full, k2p32);
  w.Update(full);
  ASSERT_EQ(Receive(w, k2p32 + 2), Verdict::kOk);
  EXPECT_EQ(w.top(), k2p32 + 2);
  // A late packet from before the wrap still maps to high half 0 and is
  // accepted once (the window spans both subspaces now).
  ASSERT_EQ(w.Check(static_cast<uint32_t>(k2p32 - 4), &full), Verdict::kOk);
  EXPECT_EQ(full, k2p32 - 4);
  w.Update(full);
  EXPECT_EQ(Receive(w, k2p32 - 4), Verdict::kReplay);
  EXPECT_EQ(Receive(w, k2p32 - 3), Verdict::kReplay);
  EXPECT_EQ(Receive(w, k2p32), Verdict::kReplay);
  // A low half left of the window reads as one from the subspace ahead (its
  // ICV would then fail): with ESN nothing is "too old" once past the start.
  ASSERT_EQ(w.Check(static_cast<uint32_t>(k2p32 + 2 - kSize), &full),
            Verdict::kOk);
  EXPECT_EQ(full, 2 * k2p32 + 2 - kSize);
  // Right of the window in the same subspace: ahead.
  ASSERT_EQ(w.Check(5000, &full), Verdict::kOk);
  EXPECT_EQ(full, k2p32 + 5000);
}

TEST(ReplayWindowTest, EsnInfersNextHighHalfBelowTheWindow) {
  const uint32_t kSize = 1024;
  ReplayWindow w(kSize, true);
  const uint64_t k2p32 = uint64_t{1} << 32;
  w.Update(3 * k2p32 + 100000);  // As if the SA had run that far.
  uint64_t full = 0;
  // Tl >= W - 1; a low half below the window means the next subspace.
  ASSERT_EQ(w.Check(5, &full), Verdict::kOk);
  EXPECT_EQ(full, 4 * k2p32 + 5);
  // Inside the window: same high half.
  ASSERT_EQ(w.Check(100000 - 10, &full), Verdict::kOk);
  EXPECT_EQ(full, 3 * k2p32 + 100000 - 10);
}

TEST(ReplayWindowTest, EsnStartRejectsNumbersBelowOne) {
  // At the start (top 0) a low half in [2^32 - W + 1, 2^32) would belong to
  // high half -1: never sent.
  ReplayWindow w(1024, true);
  uint64_t full = 0;
  EXPECT_EQ(w.Check(0xFFFFFFFFu, &full), Verdict::kTooOld);
  EXPECT_EQ(w.Check(0xFFFFFFFFu - 1022, &full), Verdict::kTooOld);
  ASSERT_EQ(w.Check(0xFFFFFFFFu - 1023, &full), Verdict::kOk);
  EXPECT_EQ(full, 0xFFFFFFFFu - 1023);
  EXPECT_EQ(w.Check(1, &full), Verdict::kOk);
}

}  // namespace
}  // namespace stow::esp
