#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sdk/crypto/dh.h"
#include "sdk/crypto/hmac.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::ike {
namespace {

using ::stow::crypto::PrfAlgorithm;
using ::stow::crypto::testing::Hex;
using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

constexpr char kKatFile[] = "sdk/tunnel/ipsec/ike/crypto/testdata/ike_keys.txt";

std::vector<uint8_t> Cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

uint64_t ToU64(const std::vector<uint8_t>& b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return v;
}

PrfAlgorithm PrfByName(const std::string& name) {
  if (name == "sha384") return PrfAlgorithm::kHmacSha384;
  if (name == "sha512") return PrfAlgorithm::kHmacSha512;
  return PrfAlgorithm::kHmacSha256;
}

EncrAlgorithm EncrByName(const std::string& name) {
  if (name == "aes128gcm16") return EncrAlgorithm::kAesGcm16With128BitKey;
  if (name == "chacha20poly1305") return EncrAlgorithm::kChaCha20Poly1305;
  return EncrAlgorithm::kAesGcm16With256BitKey;
}

crypto::HashAlgorithm HashOf(PrfAlgorithm prf) { return crypto::PrfHash(prf); }

// prf+ written from RFC 7296 section 2.13 with plain HMAC calls, independent
// of crypto::PrfPlus: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
std::vector<uint8_t> ReferencePrfPlus(PrfAlgorithm prf,
                                      const std::vector<uint8_t>& key,
                                      const std::vector<uint8_t>& seed,
                                      size_t length) {
  std::vector<uint8_t> out, t;
  for (uint8_t n = 1; out.size() < length; ++n) {
    t = crypto::Hmac(HashOf(prf), key, Cat({t, seed, {n}}));
    out.insert(out.end(), t.begin(), t.end());
  }
  out.resize(length);
  return out;
}

std::vector<KatRecord> Records(const std::string& prefix) {
  absl::StatusOr<std::vector<KatRecord>> all = ReadKatFile(kKatFile);
  EXPECT_TRUE(all.ok()) << all.status();
  std::vector<KatRecord> out;
  if (!all.ok()) return out;
  for (const KatRecord& r : *all) {
    if (r.name().rfind(prefix, 0) == 0) out.push_back(r);
  }
  return out;
}

TEST(EncrTest, TransformMapping) {
  EXPECT_EQ(EncrFromTransform(20, 128), EncrAlgorithm::kAesGcm16With128BitKey);
  EXPECT_EQ(EncrFromTransform(20, 256), EncrAlgorithm::kAesGcm16With256BitKey);
  EXPECT_EQ(EncrFromTransform(20, 192), absl::nullopt);
  EXPECT_EQ(EncrFromTransform(20, absl::nullopt), absl::nullopt);
  EXPECT_EQ(EncrFromTransform(28, absl::nullopt),
            EncrAlgorithm::kChaCha20Poly1305);
  EXPECT_EQ(EncrFromTransform(28, 256), absl::nullopt);
  EXPECT_EQ(EncrFromTransform(12, 128), absl::nullopt);  // AES-CBC: no.
  for (EncrAlgorithm e : {EncrAlgorithm::kAesGcm16With128BitKey,
                          EncrAlgorithm::kAesGcm16With256BitKey,
                          EncrAlgorithm::kChaCha20Poly1305}) {
    EXPECT_EQ(EncrFromTransform(EncrTransformId(e), EncrKeyLengthAttribute(e)),
              e);
  }
  EXPECT_EQ(EncrKeyMaterialSize(EncrAlgorithm::kAesGcm16With128BitKey), 20u);
  EXPECT_EQ(EncrKeyMaterialSize(EncrAlgorithm::kAesGcm16With256BitKey), 36u);
  EXPECT_EQ(EncrKeyMaterialSize(EncrAlgorithm::kChaCha20Poly1305), 36u);
}

// The Python-computed values, fed with g^ir from sdk/crypto's X25519 run on
// RFC 7748 section 6.1's keys.
TEST(IkeKeysTest, KnownAnswersForEverySuite) {
  auto alice = crypto::KeyExchange::CreateWithPrivateKey(
      crypto::DhGroup::kCurve25519,
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  ASSERT_TRUE(alice.ok());
  auto g_ir = (*alice)->ComputeSharedSecret(
      Hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  ASSERT_TRUE(g_ir.ok());

  const std::vector<KatRecord> records = Records("ike_sa_init");
  ASSERT_EQ(records.size(), 9u);
  for (const KatRecord& r : records) {
    SCOPED_TRACE(r.name());
    ASSERT_EQ(ToHex(*g_ir), ToHex(r.Bytes("g_ir")));
    const IkeSuite suite{EncrByName(r.Text("encr")), PrfByName(r.Text("prf"))};
    EXPECT_EQ(ToHex(ComputeSkeyseed(suite.prf, r.Bytes("ni"), r.Bytes("nr"),
                                    *g_ir)),
              ToHex(r.Bytes("skeyseed")));
    absl::StatusOr<IkeSaKeys> keys =
        DeriveIkeSaKeys(suite, r.Bytes("ni"), r.Bytes("nr"), *g_ir,
                        ToU64(r.Bytes("spi_i")), ToU64(r.Bytes("spi_r")));
    ASSERT_TRUE(keys.ok()) << keys.status();
    EXPECT_EQ(ToHex(keys->sk_d), ToHex(r.Bytes("sk_d")));
    EXPECT_TRUE(keys->sk_ai.empty());
    EXPECT_TRUE(keys->sk_ar.empty());
    EXPECT_EQ(ToHex(keys->sk_ei), ToHex(r.Bytes("sk_ei")));
    EXPECT_EQ(ToHex(keys->sk_er), ToHex(r.Bytes("sk_er")));
    EXPECT_EQ(ToHex(keys->sk_pi), ToHex(r.Bytes("sk_pi")));
    EXPECT_EQ(ToHex(keys->sk_pr), ToHex(r.Bytes("sk_pr")));
    EXPECT_EQ(keys->suite.prf, suite.prf);
    EXPECT_EQ(keys->suite.encr, suite.encr);
  }
}

TEST(IkeKeysTest, RekeyKnownAnswer) {
  const std::vector<KatRecord> records = Records("rekey");
  ASSERT_EQ(records.size(), 1u);
  const KatRecord& r = records[0];
  IkeSaKeys old_keys;
  old_keys.suite = {EncrAlgorithm::kAesGcm16With256BitKey,
                    PrfAlgorithm::kHmacSha256};
  old_keys.sk_d = r.Bytes("old_sk_d");
  EXPECT_EQ(ToHex(ComputeRekeySkeyseed(PrfAlgorithm::kHmacSha256,
                                       old_keys.sk_d, r.Bytes("g_ir"),
                                       r.Bytes("ni"), r.Bytes("nr"))),
            ToHex(r.Bytes("skeyseed")));
  const IkeSuite new_suite{EncrAlgorithm::kChaCha20Poly1305,
                           PrfAlgorithm::kHmacSha512};
  absl::StatusOr<IkeSaKeys> keys = DeriveRekeyedIkeSaKeys(
      old_keys, new_suite, r.Bytes("ni"), r.Bytes("nr"), r.Bytes("g_ir"),
      ToU64(r.Bytes("spi_i")), ToU64(r.Bytes("spi_r")));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(ToHex(keys->sk_d), ToHex(r.Bytes("sk_d")));
  EXPECT_EQ(ToHex(keys->sk_ei), ToHex(r.Bytes("sk_ei")));
  EXPECT_EQ(ToHex(keys->sk_er), ToHex(r.Bytes("sk_er")));
  EXPECT_EQ(ToHex(keys->sk_pi), ToHex(r.Bytes("sk_pi")));
  EXPECT_EQ(ToHex(keys->sk_pr), ToHex(r.Bytes("sk_pr")));
  EXPECT_EQ(keys->sk_d.size(), 64u);
}

TEST(ChildKeysTest, KnownAnswers) {
  const std::vector<KatRecord> records = Records("child");
  ASSERT_EQ(records.size(), 2u);
  for (const KatRecord& r : records) {
    SCOPED_TRACE(r.name());
    const std::vector<uint8_t> g_ir =
        r.Has("g_ir") ? r.Bytes("g_ir") : std::vector<uint8_t>();
    const size_t size = r.Bytes("i_to_r").size();
    absl::StatusOr<ChildSaKeys> keys =
        DeriveChildSaKeys(PrfAlgorithm::kHmacSha256, r.Bytes("sk_d"),
                          r.Bytes("ni"), r.Bytes("nr"), size, g_ir);
    ASSERT_TRUE(keys.ok()) << keys.status();
    EXPECT_EQ(ToHex(keys->initiator_to_responder), ToHex(r.Bytes("i_to_r")));
    EXPECT_EQ(ToHex(keys->responder_to_initiator), ToHex(r.Bytes("r_to_i")));
  }
}

// An independent construction from the RFC text, over many input sizes and
// all suites: the split of prf+ output in the order SK_d, SK_ai, SK_ar,
// SK_ei, SK_er, SK_pi, SK_pr with the lengths section 2.14 gives.
TEST(IkeKeysTest, MatchesReferenceConstruction) {
  for (PrfAlgorithm prf : {PrfAlgorithm::kHmacSha256, PrfAlgorithm::kHmacSha384,
                           PrfAlgorithm::kHmacSha512}) {
    for (EncrAlgorithm encr : {EncrAlgorithm::kAesGcm16With128BitKey,
                               EncrAlgorithm::kAesGcm16With256BitKey,
                               EncrAlgorithm::kChaCha20Poly1305}) {
      for (size_t nonce_size : {32, 48, 64, 200}) {
        SCOPED_TRACE(std::string(EncrName(encr)) + " " +
                     std::string(crypto::PrfName(prf)) + " " +
                     std::to_string(nonce_size));
        std::vector<uint8_t> ni(nonce_size), nr(nonce_size + 3), g(256);
        for (size_t i = 0; i < ni.size(); ++i) ni[i] = uint8_t(i * 7 + 1);
        for (size_t i = 0; i < nr.size(); ++i) nr[i] = uint8_t(i * 13 + 5);
        for (size_t i = 0; i < g.size(); ++i) g[i] = uint8_t(i ^ 0x5a);
        const uint64_t spi_i = 0x8a36e23d5edeb50full;
        const uint64_t spi_r = 0x740fdb12b4e2fa74ull;

        const std::vector<uint8_t> skeyseed =
            crypto::Hmac(HashOf(prf), Cat({ni, nr}), g);
        const size_t p = crypto::PrfOutputLength(prf);
        const size_t e = EncrKeyMaterialSize(encr);
        const std::vector<uint8_t> spis = Hex("8a36e23d5edeb50f740fdb12b4e2fa74");
        const std::vector<uint8_t> stream =
            ReferencePrfPlus(prf, skeyseed, Cat({ni, nr, spis}), 3 * p + 2 * e);

        absl::StatusOr<IkeSaKeys> keys =
            DeriveIkeSaKeys({encr, prf}, ni, nr, g, spi_i, spi_r);
        ASSERT_TRUE(keys.ok()) << keys.status();
        auto part = [&](size_t offset, size_t n) {
          return std::vector<uint8_t>(stream.begin() + offset,
                                      stream.begin() + offset + n);
        };
        EXPECT_EQ(keys->sk_d, part(0, p));
        EXPECT_EQ(keys->sk_ei, part(p, e));
        EXPECT_EQ(keys->sk_er, part(p + e, e));
        EXPECT_EQ(keys->sk_pi, part(p + 2 * e, p));
        EXPECT_EQ(keys->sk_pr, part(2 * p + 2 * e, p));

        // Rekey from these keys, new suite = same, PFS secret g.
        const std::vector<uint8_t> skeyseed2 =
            crypto::Hmac(HashOf(prf), keys->sk_d, Cat({g, nr, ni}));
        const std::vector<uint8_t> stream2 = ReferencePrfPlus(
            prf, skeyseed2, Cat({nr, ni, Hex("0000000000000001ffffffffffffffff")}),
            3 * p + 2 * e);
        absl::StatusOr<IkeSaKeys> rekeyed = DeriveRekeyedIkeSaKeys(
            *keys, {encr, prf}, nr, ni, g, 1, ~uint64_t{0});
        ASSERT_TRUE(rekeyed.ok()) << rekeyed.status();
        EXPECT_EQ(rekeyed->sk_d,
                  std::vector<uint8_t>(stream2.begin(), stream2.begin() + p));
        EXPECT_EQ(rekeyed->sk_pr,
                  std::vector<uint8_t>(stream2.end() - p, stream2.end()));

        // CHILD SA, with and without PFS.
        const std::vector<uint8_t> keymat =
            ReferencePrfPlus(prf, keys->sk_d, Cat({ni, nr}), 2 * e);
        absl::StatusOr<ChildSaKeys> child =
            DeriveChildSaKeys(prf, keys->sk_d, ni, nr, e);
        ASSERT_TRUE(child.ok());
        EXPECT_EQ(child->initiator_to_responder,
                  std::vector<uint8_t>(keymat.begin(), keymat.begin() + e));
        EXPECT_EQ(child->responder_to_initiator,
                  std::vector<uint8_t>(keymat.begin() + e, keymat.end()));
        const std::vector<uint8_t> keymat_pfs =
            ReferencePrfPlus(prf, keys->sk_d, Cat({g, ni, nr}), 2 * e);
        absl::StatusOr<ChildSaKeys> child_pfs =
            DeriveChildSaKeys(prf, keys->sk_d, ni, nr, e, g);
        ASSERT_TRUE(child_pfs.ok());
        EXPECT_EQ(Cat({child_pfs->initiator_to_responder,
                       child_pfs->responder_to_initiator}),
                  keymat_pfs);
      }
    }
  }
}

TEST(IkeKeysTest, SwappedNoncesOrSpisGiveOtherKeys) {
  std::vector<uint8_t> ni(32, 1), nr(32, 2), g(32, 3);
  auto a = DeriveIkeSaKeys({}, ni, nr, g, 1, 2);
  auto b = DeriveIkeSaKeys({}, nr, ni, g, 1, 2);
  auto c = DeriveIkeSaKeys({}, ni, nr, g, 2, 1);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_NE(a->sk_ei, b->sk_ei);
  EXPECT_NE(a->sk_ei, c->sk_ei);
  EXPECT_NE(a->sk_ei, a->sk_er);
}

TEST(IkeKeysTest, RejectsBadInputs) {
  std::vector<uint8_t> n32(32, 1), n15(15, 1), n16(16, 1), n24(24, 1),
      n257(257, 1), g(32, 3);
  const IkeSuite sha256{EncrAlgorithm::kAesGcm16With128BitKey,
                        PrfAlgorithm::kHmacSha256};
  const IkeSuite sha512{EncrAlgorithm::kAesGcm16With128BitKey,
                        PrfAlgorithm::kHmacSha512};
  EXPECT_TRUE(DeriveIkeSaKeys(sha256, n16, n16, g, 1, 2).ok());
  EXPECT_EQ(DeriveIkeSaKeys(sha256, n15, n32, g, 1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveIkeSaKeys(sha256, n32, n257, g, 1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Half of HMAC-SHA-512's 64-byte key: 32 bytes at least.
  EXPECT_EQ(DeriveIkeSaKeys(sha512, n24, n32, g, 1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(DeriveIkeSaKeys(sha512, n32, n32, g, 1, 2).ok());
  EXPECT_EQ(DeriveIkeSaKeys(sha256, n32, n32, {}, 1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveIkeSaKeys(sha256, n32, n32, g, 0, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveIkeSaKeys(sha256, n32, n32, g, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  IkeSaKeys empty;
  EXPECT_EQ(DeriveRekeyedIkeSaKeys(empty, sha256, n32, n32, g, 1, 2)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveChildSaKeys(PrfAlgorithm::kHmacSha256, {}, n32, n32, 36)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveChildSaKeys(PrfAlgorithm::kHmacSha256, n32, n32, n32, 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // prf+ with SHA-256 yields at most 255 * 32 bytes, so 2 * 4081 is too much.
  EXPECT_EQ(DeriveChildSaKeys(PrfAlgorithm::kHmacSha256, n32, n32, n32, 4081)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      DeriveChildSaKeys(PrfAlgorithm::kHmacSha256, n32, n32, n32, 4080).ok());
}

// RFC 7296 section 2.14: HMAC PRFs key with all of Ni | Nr; a PRF with a
// fixed key size takes half its key from the start of each nonce, unless
// the nonces add up to the size exactly.
TEST(NonceKeyTest, HmacTakesWholeNoncesFixedSizeTakesHalves) {
  const std::vector<uint8_t> ni = Hex("000102030405060708090a0b0c0d0e0f1011");
  const std::vector<uint8_t> nr = Hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2");
  auto whole = NonceKey(ni, nr);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, Cat({ni, nr}));
  auto fixed = NonceKey(ni, nr, 16);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(ToHex(*fixed), "0001020304050607a0a1a2a3a4a5a6a7");
  auto exact = NonceKey(Hex("0102030405"), Hex("a1a2a3a4a5a6a7a8a9aaab"), 16);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(ToHex(*exact), "0102030405a1a2a3a4a5a6a7a8a9aaab");
  EXPECT_FALSE(NonceKey(Hex("01020304"), nr, 16).ok());
  EXPECT_FALSE(NonceKey(ni, nr, 15).ok());
  // SKEYSEED with an HMAC PRF uses the whole nonces.
  const std::vector<uint8_t> g(32, 9);
  EXPECT_EQ(ComputeSkeyseed(PrfAlgorithm::kHmacSha256, ni, nr, g),
            crypto::Hmac(crypto::HashAlgorithm::kSha256, Cat({ni, nr}), g));
}

TEST(WipeTest, ZeroesBytes) {
  std::vector<uint8_t> v = {1, 2, 3};
  WipeBytes(absl::MakeSpan(v));
  EXPECT_EQ(v, std::vector<uint8_t>({0, 0, 0}));
}

}  // namespace
}  // namespace stow::ike
