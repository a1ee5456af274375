#include "sdk/crypto/aead.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

AeadAlgorithm AlgorithmFromName(const std::string& name) {
  for (AeadAlgorithm a : {AeadAlgorithm::kAes128Gcm, AeadAlgorithm::kAes256Gcm,
                          AeadAlgorithm::kChaCha20Poly1305}) {
    if (name.find(AeadAlgorithmName(a)) != std::string::npos) return a;
  }
  ADD_FAILURE() << "unknown algorithm " << name;
  return AeadAlgorithm::kAes128Gcm;
}

struct Vector {
  std::string name;
  AeadAlgorithm algorithm;
  Bytes key, nonce, aad, plaintext, ciphertext, tag;
};

std::vector<Vector> LoadVectors(const std::string& file) {
  std::vector<Vector> out;
  auto records = testing::ReadKatFile("sdk/crypto/testdata/" + file);
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return out;
  for (const testing::KatRecord& c : *records) {
    Vector v;
    v.name = c.Text("name");
    v.algorithm = AlgorithmFromName(c.Text("algorithm"));
    v.key = c.Bytes("key");
    v.nonce = c.Bytes("nonce");
    v.aad = c.Bytes("aad");
    v.plaintext = c.Bytes("plaintext");
    v.ciphertext = c.Bytes("ciphertext");
    v.tag = c.Bytes("tag");
    out.push_back(v);
  }
  return out;
}

class AeadKnownAnswerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AeadKnownAnswerTest, SealAndOpenMatchVectors) {
  std::vector<Vector> vectors = LoadVectors(GetParam());
  ASSERT_GE(vectors.size(), 3u);
  for (const Vector& v : vectors) {
    SCOPED_TRACE(v.name);
    ASSERT_EQ(v.plaintext.size(), v.ciphertext.size());
    ASSERT_EQ(v.tag.size(), Aead::kTagSize);
    absl::StatusOr<Aead> aead = Aead::Create(v.algorithm, v.key);
    ASSERT_TRUE(aead.ok()) << aead.status();

    // Out of place.
    Bytes sealed(v.plaintext.size() + Aead::kTagSize);
    ASSERT_TRUE(
        aead->Seal(v.nonce, v.aad, v.plaintext, absl::MakeSpan(sealed)));
    Bytes expected = v.ciphertext;
    expected.insert(expected.end(), v.tag.begin(), v.tag.end());
    EXPECT_EQ(sealed, expected);

    Bytes opened(v.plaintext.size());
    ASSERT_TRUE(aead->Open(v.nonce, v.aad, expected, absl::MakeSpan(opened)));
    EXPECT_EQ(opened, v.plaintext);

    // In place.
    Bytes buffer = v.plaintext;
    buffer.resize(v.plaintext.size() + Aead::kTagSize);
    ASSERT_TRUE(aead->Seal(
        v.nonce, v.aad, absl::MakeConstSpan(buffer.data(), v.plaintext.size()),
        absl::MakeSpan(buffer)));
    EXPECT_EQ(buffer, expected);
    ASSERT_TRUE(aead->Open(v.nonce, v.aad, buffer, absl::MakeSpan(buffer)));
    EXPECT_EQ(Bytes(buffer.begin(), buffer.begin() + v.plaintext.size()),
              v.plaintext);

    // Detached, in place.
    Bytes body = v.plaintext;
    Bytes tag(Aead::kTagSize);
    ASSERT_TRUE(aead->SealDetached(v.nonce, v.aad, body, absl::MakeSpan(body),
                                   absl::MakeSpan(tag)));
    EXPECT_EQ(body, v.ciphertext);
    EXPECT_EQ(tag, v.tag);
    ASSERT_TRUE(
        aead->OpenDetached(v.nonce, v.aad, body, tag, absl::MakeSpan(body)));
    EXPECT_EQ(body, v.plaintext);
  }
}

INSTANTIATE_TEST_SUITE_P(Files, AeadKnownAnswerTest,
                         ::testing::Values("aead_aes_gcm.txt",
                                           "aead_chacha20_poly1305.txt"));

TEST(AeadTest, EveryVectorFileCoversEachAlgorithm) {
  std::map<AeadAlgorithm, int> seen;
  for (const char* f : {"aead_aes_gcm.txt", "aead_chacha20_poly1305.txt"}) {
    for (const Vector& v : LoadVectors(f)) ++seen[v.algorithm];
  }
  EXPECT_GE(seen[AeadAlgorithm::kAes128Gcm], 4);
  EXPECT_GE(seen[AeadAlgorithm::kAes256Gcm], 4);
  EXPECT_GE(seen[AeadAlgorithm::kChaCha20Poly1305], 3);
}

class AeadTamperTest : public ::testing::TestWithParam<AeadAlgorithm> {};

TEST_P(AeadTamperTest, AnyFlippedBitFailsAndLeavesNoPlaintext) {
  Bytes key(Aead::KeySize(GetParam()), 0x42);
  absl::StatusOr<Aead> aead = Aead::Create(GetParam(), key);
  ASSERT_TRUE(aead.ok());
  Bytes nonce(Aead::kNonceSize, 7), aad = {1, 2, 3, 4, 5, 6, 7, 8};
  Bytes plaintext(37);
  for (size_t i = 0; i < plaintext.size(); ++i) plaintext[i] = uint8_t(i + 1);
  Bytes sealed(plaintext.size() + Aead::kTagSize);
  ASSERT_TRUE(aead->Seal(nonce, aad, plaintext, absl::MakeSpan(sealed)));

  for (size_t bit = 0; bit < sealed.size() * 8; bit += 3) {
    Bytes bad = sealed;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    Bytes out(plaintext.size(), 0xAA);
    EXPECT_FALSE(aead->Open(nonce, aad, bad, absl::MakeSpan(out))) << bit;
    EXPECT_EQ(out, Bytes(plaintext.size(), 0)) << "no plaintext on failure";
  }
  // In place: the buffer is cleared, not decrypted.
  Bytes bad = sealed;
  bad.back() ^= 1;
  EXPECT_FALSE(aead->Open(nonce, aad, bad, absl::MakeSpan(bad)));
  EXPECT_EQ(Bytes(bad.begin(), bad.begin() + plaintext.size()),
            Bytes(plaintext.size(), 0));
  // Wrong AAD or nonce.
  Bytes out(plaintext.size());
  Bytes other_aad = aad;
  other_aad[0] ^= 0x80;
  EXPECT_FALSE(aead->Open(nonce, other_aad, sealed, absl::MakeSpan(out)));
  Bytes other_nonce = nonce;
  other_nonce[11] ^= 1;
  EXPECT_FALSE(aead->Open(other_nonce, aad, sealed, absl::MakeSpan(out)));
  // Still fine with the right inputs.
  EXPECT_TRUE(aead->Open(nonce, aad, sealed, absl::MakeSpan(out)));
  EXPECT_EQ(out, plaintext);
}

TEST_P(AeadTamperTest, RejectsBadSizes) {
  EXPECT_FALSE(Aead::Create(GetParam(), Bytes(5)).ok());
  EXPECT_FALSE(
      Aead::Create(GetParam(), Bytes(Aead::KeySize(GetParam()) + 1)).ok());
  absl::StatusOr<Aead> aead =
      Aead::Create(GetParam(), Bytes(Aead::KeySize(GetParam()), 1));
  ASSERT_TRUE(aead.ok());
  EXPECT_EQ(aead->algorithm(), GetParam());
  Bytes nonce(Aead::kNonceSize), plaintext(10), out(10 + Aead::kTagSize);
  EXPECT_FALSE(aead->Seal(Bytes(8), {}, plaintext, absl::MakeSpan(out)));
  EXPECT_FALSE(aead->Seal(nonce, {}, plaintext,
                          absl::MakeSpan(out.data(), out.size() - 1)));
  ASSERT_TRUE(aead->Seal(nonce, {}, plaintext, absl::MakeSpan(out)));
  Bytes opened(10);
  EXPECT_FALSE(aead->Open(nonce, {}, absl::MakeConstSpan(out.data(), 15),
                          absl::MakeSpan(opened)));
  EXPECT_FALSE(aead->Open(nonce, {}, out, absl::MakeSpan(opened.data(), 9)));
  EXPECT_TRUE(aead->Open(nonce, {}, out, absl::MakeSpan(opened)));
}

TEST_P(AeadTamperTest, MovedAeadStillWorks) {
  absl::StatusOr<Aead> a =
      Aead::Create(GetParam(), Bytes(Aead::KeySize(GetParam()), 9));
  ASSERT_TRUE(a.ok());
  Aead moved = std::move(*a);
  Bytes nonce(Aead::kNonceSize), out(3 + Aead::kTagSize), back(3);
  ASSERT_TRUE(moved.Seal(nonce, {}, Bytes{1, 2, 3}, absl::MakeSpan(out)));
  ASSERT_TRUE(moved.Open(nonce, {}, out, absl::MakeSpan(back)));
  EXPECT_EQ(back, (Bytes{1, 2, 3}));
}

INSTANTIATE_TEST_SUITE_P(All, AeadTamperTest,
                         ::testing::Values(AeadAlgorithm::kAes128Gcm,
                                           AeadAlgorithm::kAes256Gcm,
                                           AeadAlgorithm::kChaCha20Poly1305));

}  // namespace
}  // namespace stow::crypto
