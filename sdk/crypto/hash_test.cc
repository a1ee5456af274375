#include "sdk/crypto/hash.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::crypto {
namespace {

using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

constexpr char kFips180File[] = "sdk/crypto/testdata/sha_fips180.txt";

const std::pair<HashAlgorithm, const char*> kAlgorithms[] = {
    {HashAlgorithm::kSha1, "sha1"},
    {HashAlgorithm::kSha256, "sha256"},
    {HashAlgorithm::kSha384, "sha384"},
    {HashAlgorithm::kSha512, "sha512"},
};

std::vector<uint8_t> Message(const KatRecord& r) {
  std::vector<uint8_t> unit = r.Bytes("message");
  int64_t repeat = r.Has("repeat") ? r.Int("repeat") : 1;
  std::vector<uint8_t> message;
  message.reserve(unit.size() * repeat);
  for (int64_t i = 0; i < repeat; ++i) {
    message.insert(message.end(), unit.begin(), unit.end());
  }
  return message;
}

TEST(HashTest, LengthsAndNames) {
  EXPECT_EQ(HashLength(HashAlgorithm::kSha1), 20u);
  EXPECT_EQ(HashLength(HashAlgorithm::kSha256), 32u);
  EXPECT_EQ(HashLength(HashAlgorithm::kSha384), 48u);
  EXPECT_EQ(HashLength(HashAlgorithm::kSha512), 64u);
  EXPECT_EQ(HashLength(HashAlgorithm::kSha512), kMaxHashLength);
  EXPECT_EQ(HashName(HashAlgorithm::kSha1), "SHA-1");
  EXPECT_EQ(HashName(HashAlgorithm::kSha384), "SHA-384");
}

TEST(HashTest, Fips180KnownAnswers) {
  auto records = ReadKatFile(kFips180File);
  ASSERT_TRUE(records.ok()) << records.status();
  int checked = 0;
  for (const KatRecord& r : *records) {
    std::vector<uint8_t> message = Message(r);
    for (const auto& [algorithm, key] : kAlgorithms) {
      if (!r.Has(key)) continue;
      EXPECT_EQ(ToHex(Hash(algorithm, message)), ToHex(r.Bytes(key)))
          << r.name() << " " << HashName(algorithm);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 16);  // Every vector in the file was used.
}

TEST(HashTest, IncrementalMatchesKnownAnswersInAnySplit) {
  auto records = ReadKatFile(kFips180File);
  ASSERT_TRUE(records.ok()) << records.status();
  for (const KatRecord& r : *records) {
    std::vector<uint8_t> message = Message(r);
    for (const auto& [algorithm, key] : kAlgorithms) {
      if (!r.Has(key)) continue;
      // Uneven pieces straddle the 64- and 128-byte block boundaries.
      for (size_t piece : {size_t{1}, size_t{63}, size_t{129}, size_t{4099}}) {
        if (message.size() > 10000 && piece < 1000) continue;  // Keep it fast.
        Hasher hasher(algorithm);
        absl::Span<const uint8_t> rest(message);
        while (!rest.empty()) {
          size_t n = std::min(piece, rest.size());
          hasher.Update(rest.subspan(0, n));
          rest.remove_prefix(n);
        }
        EXPECT_EQ(ToHex(hasher.Finish()), ToHex(r.Bytes(key)))
            << r.name() << " " << HashName(algorithm) << " piece " << piece;
      }
    }
  }
}

TEST(HashTest, FinishStartsOver) {
  const uint8_t abc[] = {'a', 'b', 'c'};
  Hasher hasher(HashAlgorithm::kSha1);
  EXPECT_EQ(hasher.algorithm(), HashAlgorithm::kSha1);
  hasher.Update(abc);
  EXPECT_EQ(ToHex(hasher.Finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // Nothing since the last Finish(): the empty-message digest.
  EXPECT_EQ(ToHex(hasher.Finish()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  hasher.Update(abc);
  EXPECT_EQ(ToHex(hasher.Finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(HashTest, EmptySpanWithNullData) {
  EXPECT_EQ(ToHex(Hash(HashAlgorithm::kSha256, absl::Span<const uint8_t>())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace stow::crypto
