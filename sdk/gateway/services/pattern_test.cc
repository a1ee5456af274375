#include "sdk/gateway/services/pattern.h"

#include <vector>

#include "gtest/gtest.h"
#include "netstack/testing/transfer.h"

namespace stow::gateway {
namespace {

TEST(BytePatternTest, EqualsTheNetstackTestPattern) {
  for (uint64_t seed : {0ull, 1ull, 7ull, 0xFFFFFFFFFFFFFFFFull}) {
    BytePattern ours(seed);
    netstack::testing::PatternStream theirs(seed);
    std::vector<uint8_t> a(10007), b(10007);
    // Uneven pieces: the stream must not depend on how it is cut.
    ours.Fill(absl::MakeSpan(a).first(3));
    ours.Fill(absl::MakeSpan(a).subspan(3));
    theirs.Fill(absl::MakeSpan(b));
    EXPECT_EQ(a, b) << "seed " << seed;
  }
  EXPECT_EQ(BytePatternDigest(1000003, 5),
            netstack::testing::PatternDigest(1000003, 5));
  EXPECT_EQ(BytePatternDigest(0, 5), crypto::Sha256::Hash({}));
}

TEST(ChargenPatternTest, FollowsRfc864Lines) {
  ChargenPattern pattern;
  std::vector<uint8_t> out(3 * ChargenPattern::kLineBytes);
  pattern.Fill(absl::MakeSpan(out));
  std::string text(out.begin(), out.end());
  EXPECT_EQ(text.substr(0, 74),
            " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_"
            "`abcdefg\r\n");
  EXPECT_EQ(text.substr(74, 74),
            "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
            "abcdefgh\r\n");
  EXPECT_EQ(pattern.position(), out.size());
}

TEST(ChargenPatternTest, FillMatchesAtAcrossTheRing) {
  ChargenPattern pattern;
  const size_t total = 200 * ChargenPattern::kLineBytes + 17;  // > 95 lines.
  std::vector<uint8_t> out(total);
  for (size_t done = 0; done < total;) {
    size_t n = std::min<size_t>(total - done, 1 + done % 113);
    pattern.Fill(absl::MakeSpan(out).subspan(done, n));
    done += n;
  }
  for (size_t i = 0; i < total; ++i) {
    ASSERT_EQ(out[i], ChargenPattern::At(i)) << "byte " << i;
  }
  // Line 95 starts the ring over.
  EXPECT_EQ(ChargenPattern::At(95 * ChargenPattern::kLineBytes), ' ');
}

}  // namespace
}  // namespace stow::gateway
