#include "sdk/crypto/hmac.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::crypto {
namespace {

using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

// Runs every record of a file: `key`, `data` and one expected MAC per
// (algorithm, field name); an expected MAC shorter than the hash is a
// truncated one (`truncate`, if given, states its length). Returns how many
// MACs were checked.
int CheckFile(const std::string& path,
              const std::vector<std::pair<HashAlgorithm, std::string>>& macs) {
  auto records = ReadKatFile(path);
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return 0;
  int checked = 0;
  for (const KatRecord& r : *records) {
    std::vector<uint8_t> key = r.Bytes("key");
    std::vector<uint8_t> data = r.Bytes("data");
    for (const auto& [algorithm, field] : macs) {
      if (!r.Has(field)) continue;
      std::vector<uint8_t> expected = r.Bytes(field);
      std::vector<uint8_t> got;
      if (r.Has("truncate")) {
        EXPECT_EQ(static_cast<size_t>(r.Int("truncate")), expected.size());
      }
      if (expected.size() < HashLength(algorithm)) {
        auto truncated = HmacTruncated(algorithm, key, data, expected.size());
        EXPECT_TRUE(truncated.ok()) << truncated.status();
        if (truncated.ok()) got = *truncated;
      } else {
        got = Hmac(algorithm, key, data);
      }
      EXPECT_EQ(ToHex(got), ToHex(expected))
          << r.name() << " " << HashName(algorithm);
      // HmacVerify accepts tags down to half the hash length (RFC 2104
      // section 5), so not case 5's 128-bit SHA-384/512 truncations.
      EXPECT_EQ(HmacVerify(algorithm, key, data, expected),
                expected.size() >= HashLength(algorithm) / 2)
          << r.name() << " " << HashName(algorithm);

      // The incremental form, fed byte by byte, agrees; then reused.
      HmacContext context(algorithm, key);
      for (uint8_t b : data) context.Update(absl::MakeConstSpan(&b, 1));
      std::vector<uint8_t> incremental = context.Finish();
      incremental.resize(expected.size());
      EXPECT_EQ(ToHex(incremental), ToHex(expected)) << r.name();
      context.Update(data);
      incremental = context.Finish();
      incremental.resize(expected.size());
      EXPECT_EQ(ToHex(incremental), ToHex(expected)) << r.name() << " reused";
      ++checked;
    }
  }
  return checked;
}

TEST(HmacTest, Rfc4231KnownAnswers) {
  int checked = CheckFile("sdk/crypto/testdata/hmac_rfc4231.txt",
                          {{HashAlgorithm::kSha256, "hmac_sha256"},
                           {HashAlgorithm::kSha384, "hmac_sha384"},
                           {HashAlgorithm::kSha512, "hmac_sha512"}});
  EXPECT_EQ(checked, 21);  // 7 test cases x 3 hashes.
}

TEST(HmacTest, Rfc2202Sha1KnownAnswers) {
  int checked = CheckFile("sdk/crypto/testdata/hmac_sha1_rfc2202.txt",
                          {{HashAlgorithm::kSha1, "hmac_sha1"},
                           {HashAlgorithm::kSha1, "hmac_sha1_96"}});
  EXPECT_EQ(checked, 8);  // 7 test cases, and case 5 truncated to 96 bits.
}

TEST(HmacTest, TruncationBounds) {
  const std::vector<uint8_t> key = {1, 2, 3};
  const std::vector<uint8_t> data = {4, 5};
  for (HashAlgorithm a : {HashAlgorithm::kSha1, HashAlgorithm::kSha256,
                          HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    std::vector<uint8_t> full = Hmac(a, key, data);
    ASSERT_EQ(full.size(), HashLength(a));
    auto zero = HmacTruncated(a, key, data, 0);
    EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
    auto too_long = HmacTruncated(a, key, data, full.size() + 1);
    EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(too_long.status().message().find("must be 1 to"),
              absl::string_view::npos)
        << too_long.status();
    auto whole = HmacTruncated(a, key, data, full.size());
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(*whole, full);
    auto one = HmacTruncated(a, key, data, 1);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->front(), full.front());
  }
}

TEST(HmacTest, VerifyRejectsWrongShortAndLongTags) {
  const std::vector<uint8_t> key = {'k', 'e', 'y'};
  const std::vector<uint8_t> data = {'m', 's', 'g'};
  const HashAlgorithm a = HashAlgorithm::kSha256;
  std::vector<uint8_t> mac = Hmac(a, key, data);
  EXPECT_TRUE(HmacVerify(a, key, data, mac));
  // Truncated to half (RFC 4868's 128 bits): accepted; shorter: refused.
  EXPECT_TRUE(HmacVerify(a, key, data, absl::MakeConstSpan(mac).first(16)));
  EXPECT_FALSE(HmacVerify(a, key, data, absl::MakeConstSpan(mac).first(15)));
  EXPECT_FALSE(HmacVerify(a, key, data, {}));
  std::vector<uint8_t> longer = mac;
  longer.push_back(0);
  EXPECT_FALSE(HmacVerify(a, key, data, longer));
  // Any flipped bit, in the first or the last byte.
  for (size_t i : {size_t{0}, mac.size() - 1}) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = mac;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(HmacVerify(a, key, data, bad)) << i << " " << bit;
    }
  }
  // Other key, other data.
  EXPECT_FALSE(HmacVerify(a, {'K', 'e', 'y'}, data, mac));
  EXPECT_FALSE(HmacVerify(a, key, {'m', 's', 'G'}, mac));
  // SHA-1: half is 10 bytes (80 bits).
  std::vector<uint8_t> sha1 = Hmac(HashAlgorithm::kSha1, key, data);
  EXPECT_TRUE(HmacVerify(HashAlgorithm::kSha1, key, data,
                         absl::MakeConstSpan(sha1).first(10)));
  EXPECT_FALSE(HmacVerify(HashAlgorithm::kSha1, key, data,
                          absl::MakeConstSpan(sha1).first(9)));
}

TEST(HmacTest, EmptyKeyAndData) {
  // An empty key is a valid (if weak) HMAC key and is not confused with
  // "reuse the previous key" by the incremental form.
  std::vector<uint8_t> one_shot = Hmac(HashAlgorithm::kSha256, {}, {});
  HmacContext context(HashAlgorithm::kSha256, {});
  EXPECT_EQ(context.Finish(), one_shot);
  EXPECT_EQ(context.Finish(), one_shot);
  EXPECT_EQ(ToHex(one_shot),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HmacTest, ContextFinishIntoSpan) {
  const std::vector<uint8_t> key = {9, 9, 9};
  HmacContext context(HashAlgorithm::kSha384, key);
  EXPECT_EQ(context.algorithm(), HashAlgorithm::kSha384);
  EXPECT_EQ(context.length(), 48u);
  context.Update({1, 2, 3});
  std::vector<uint8_t> out(48);
  context.Finish(absl::MakeSpan(out));
  EXPECT_EQ(out, Hmac(HashAlgorithm::kSha384, key, {1, 2, 3}));
}

TEST(HmacTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals({}, {}));
  EXPECT_TRUE(ConstantTimeEquals({1, 2, 3}, {1, 2, 3}));
  EXPECT_FALSE(ConstantTimeEquals({1, 2, 3}, {1, 2, 4}));
  EXPECT_FALSE(ConstantTimeEquals({1, 2, 3}, {1, 2}));
}

}  // namespace
}  // namespace stow::crypto
