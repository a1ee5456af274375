#include "sdk/crypto/aead.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stow::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

std::string TestDataPath(const std::string& name) {
  const char* dir = std::getenv("TEST_SRCDIR");
  std::string base = dir != nullptr ? std::string(dir) + "/stowaway/" : "";
  return base + "sdk/crypto/testdata/" + name;
}

Bytes FromHex(const std::string& hex) {
  Bytes out;
  std::string digits;
  for (char c : hex) {
    if (!std::isspace(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  EXPECT_EQ(digits.size() % 2, 0u) << hex;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(
        static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

using Case = std::map<std::string, std::string>;

// Reads "field = value" cases separated by blank lines; an indented line
// continues the previous field; '#' starts a comment line.
std::vector<Case> ReadCases(const std::string& name) {
  std::ifstream in(TestDataPath(name));
  EXPECT_TRUE(in.good()) << TestDataPath(name);
  std::vector<Case> cases;
  Case current;
  std::string last_field;
  std::string line;
  auto flush = [&] {
    if (!current.empty()) cases.push_back(current);
    current.clear();
    last_field.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      current[last_field] += line;
      continue;
    }
    size_t eq = line.find('=');
    EXPECT_NE(eq, std::string::npos) << line;
    std::string field = line.substr(0, eq);
    while (!field.empty() && field.back() == ' ') field.pop_back();
    std::string value = line.substr(eq + 1);
    current[field] = value;
    last_field = field;
  }
  flush();
  return cases;
}

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
  for (const Case& c : ReadCases(file)) {
    Vector v;
    v.name = c.at("name");
    v.algorithm = AlgorithmFromName(c.at("algorithm"));
    v.key = FromHex(c.at("key"));
    v.nonce = FromHex(c.at("nonce"));
    v.aad = FromHex(c.at("aad"));
    v.plaintext = FromHex(c.at("plaintext"));
    v.ciphertext = FromHex(c.at("ciphertext"));
    v.tag = FromHex(c.at("tag"));
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
