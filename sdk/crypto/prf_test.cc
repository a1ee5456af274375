#include "sdk/crypto/prf.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sdk/crypto/hmac.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::crypto {
namespace {

using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

constexpr PrfAlgorithm kAll[] = {PrfAlgorithm::kHmacSha256,
                                 PrfAlgorithm::kHmacSha384,
                                 PrfAlgorithm::kHmacSha512};

// prf+ written out from RFC 7296 section 2.13 with the one-shot Prf() and
// explicit concatenation: the whole stream T1 | T2 | ... | T255.
std::vector<uint8_t> ReferencePrfPlusStream(PrfAlgorithm prf,
                                            const std::vector<uint8_t>& key,
                                            const std::vector<uint8_t>& seed) {
  std::vector<uint8_t> stream;
  std::vector<uint8_t> previous;
  for (int n = 1; n <= 255; ++n) {
    std::vector<uint8_t> input = previous;  // Empty for T1.
    input.insert(input.end(), seed.begin(), seed.end());
    input.push_back(static_cast<uint8_t>(n));
    previous = Prf(prf, key, input);
    stream.insert(stream.end(), previous.begin(), previous.end());
  }
  return stream;
}

TEST(PrfTest, TransformIdsAndLengths) {
  EXPECT_EQ(PrfFromTransformId(5), PrfAlgorithm::kHmacSha256);
  EXPECT_EQ(PrfFromTransformId(6), PrfAlgorithm::kHmacSha384);
  EXPECT_EQ(PrfFromTransformId(7), PrfAlgorithm::kHmacSha512);
  // PRF_HMAC_MD5 (1), PRF_HMAC_SHA1 (2), PRF_AES128_XCBC (4), unassigned.
  for (uint16_t id : {0, 1, 2, 3, 4, 8, 9, 0xFFFF}) {
    EXPECT_FALSE(PrfFromTransformId(id).has_value()) << id;
  }
  EXPECT_EQ(PrfOutputLength(PrfAlgorithm::kHmacSha256), 32u);
  EXPECT_EQ(PrfOutputLength(PrfAlgorithm::kHmacSha384), 48u);
  EXPECT_EQ(PrfOutputLength(PrfAlgorithm::kHmacSha512), 64u);
  EXPECT_EQ(PrfPlusMaxLength(PrfAlgorithm::kHmacSha256), 255u * 32);
  EXPECT_EQ(PrfHash(PrfAlgorithm::kHmacSha384), HashAlgorithm::kSha384);
  EXPECT_EQ(PrfName(PrfAlgorithm::kHmacSha512), "PRF_HMAC_SHA2_512");
}

TEST(PrfTest, Rfc4868KnownAnswers) {
  auto records = ReadKatFile("sdk/crypto/testdata/prf_rfc4868.txt");
  ASSERT_TRUE(records.ok()) << records.status();
  const std::pair<PrfAlgorithm, const char*> fields[] = {
      {PrfAlgorithm::kHmacSha256, "prf_hmac_sha2_256"},
      {PrfAlgorithm::kHmacSha384, "prf_hmac_sha2_384"},
      {PrfAlgorithm::kHmacSha512, "prf_hmac_sha2_512"},
  };
  int checked = 0;
  for (const KatRecord& r : *records) {
    for (const auto& [prf, field] : fields) {
      EXPECT_EQ(ToHex(Prf(prf, r.Bytes("key"), r.Bytes("data"))),
                ToHex(r.Bytes(field)))
          << r.name() << " " << PrfName(prf);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 18);  // PRF-1 to PRF-6, three PRFs each.
}

TEST(PrfTest, PrfPlusMatchesIndependentConstruction) {
  const std::vector<uint8_t> key = {0x4b, 0x65, 0x79, 0x00, 0xff};
  // Ni | Nr | SPIi | SPIr shaped seed.
  std::vector<uint8_t> seed(32 + 32 + 8 + 8);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i);
  for (PrfAlgorithm prf : kAll) {
    const std::vector<uint8_t> stream =
        ReferencePrfPlusStream(prf, key, seed);
    const size_t block = PrfOutputLength(prf);
    ASSERT_EQ(stream.size(), PrfPlusMaxLength(prf));
    for (size_t length : {size_t{0}, size_t{1}, block - 1, block, block + 1,
                          2 * block, 7 * block + 5, stream.size() - 1,
                          stream.size()}) {
      auto out = PrfPlus(prf, key, seed, length);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->size(), length);
      EXPECT_EQ(ToHex(*out),
                ToHex(std::vector<uint8_t>(stream.begin(),
                                           stream.begin() + length)))
          << PrfName(prf) << " length " << length;
    }
  }
}

TEST(PrfTest, PrfPlusFirstBlockIsPrfOfSeedAndOne) {
  // The definition, spelled out once with the RFC 4868 PRF-2 key.
  const std::vector<uint8_t> key = {'J', 'e', 'f', 'e'};
  const std::vector<uint8_t> seed = {'s', 'e', 'e', 'd'};
  auto out = PrfPlus(PrfAlgorithm::kHmacSha256, key, seed, 32);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, Hmac(HashAlgorithm::kSha256, key, {'s', 'e', 'e', 'd', 1}));
}

TEST(PrfTest, PrfPlusIsBoundedAt255Iterations) {
  for (PrfAlgorithm prf : kAll) {
    const size_t max = 255 * PrfOutputLength(prf);
    EXPECT_TRUE(PrfPlus(prf, {1}, {2}, max).ok());
    for (size_t length : {max + 1, max + PrfOutputLength(prf), size_t{1} << 20,
                          ~size_t{0}}) {
      auto out = PrfPlus(prf, {1}, {2}, length);
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument)
          << PrfName(prf) << " " << length;
      EXPECT_NE(out.status().message().find("255 iterations"),
                absl::string_view::npos)
          << out.status();
    }
  }
}

TEST(PrfTest, PrfPlusWithEmptySeedAndKey) {
  for (PrfAlgorithm prf : kAll) {
    auto out = PrfPlus(prf, {}, {}, 3 * PrfOutputLength(prf));
    ASSERT_TRUE(out.ok());
    std::vector<uint8_t> expected =
        ReferencePrfPlusStream(prf, {}, {});
    expected.resize(out->size());
    EXPECT_EQ(*out, expected);
  }
}

}  // namespace
}  // namespace stow::crypto
