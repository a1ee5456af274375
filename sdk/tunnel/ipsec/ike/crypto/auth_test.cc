#include "sdk/tunnel/ipsec/ike/crypto/auth.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/crypto/hmac.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::ike {
namespace {

using ::stow::crypto::PrfAlgorithm;
using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

constexpr char kKatFile[] = "sdk/tunnel/ipsec/ike/crypto/testdata/ike_keys.txt";

// Finds a record by its `case` name.
KatRecord Find(const std::string& name) {
  auto all = ReadKatFile(kKatFile);
  EXPECT_TRUE(all.ok()) << all.status();
  for (const KatRecord& r : *all) {
    if (r.name() == name) return r;
  }
  ADD_FAILURE() << "no case " << name;
  return KatRecord();
}

// The fixed PSK example (see testdata/ike_keys.txt for its source): both
// roles' AUTH, computed from the transcript and verified by the other side.
TEST(PskAuthTest, KnownAnswerBothRoles) {
  const KatRecord r = Find("psk auth sha256");
  const KatRecord keys = Find("ike_sa_init aes256gcm16 prfsha256");
  const std::vector<uint8_t> m1 = r.Bytes("message1"), m2 = r.Bytes("message2"),
                             ni = keys.Bytes("ni"), nr = keys.Bytes("nr"),
                             sk_pi = r.Bytes("sk_pi"), sk_pr = r.Bytes("sk_pr"),
                             psk = r.Bytes("psk"), idi = r.Bytes("rest_of_idi"),
                             idr = r.Bytes("rest_of_idr");
  // The example's SK_p come from the aes256gcm16/sha256 key schedule case.
  EXPECT_EQ(sk_pi, keys.Bytes("sk_pi"));
  EXPECT_EQ(sk_pr, keys.Bytes("sk_pr"));
  EXPECT_EQ(std::string(psk.begin(), psk.end()),
            "ssw-harness-psk-0123456789abcdef");

  AuthTranscript t;
  t.prf = PrfAlgorithm::kHmacSha256;
  t.ike_sa_init_request = m1;
  t.ike_sa_init_response = m2;
  t.nonce_i = ni;
  t.nonce_r = nr;
  t.sk_pi = sk_pi;
  t.sk_pr = sk_pr;

  const std::vector<uint8_t> octets_i = InitiatorSignedOctets(t, idi);
  const std::vector<uint8_t> octets_r = ResponderSignedOctets(t, idr);
  auto auth_i = PskAuthData(t.prf, psk, octets_i);
  auto auth_r = PskAuthData(t.prf, PskBytes("ssw-harness-psk-0123456789abcdef"),
                            octets_r);
  ASSERT_TRUE(auth_i.ok() && auth_r.ok());
  EXPECT_EQ(ToHex(*auth_i), ToHex(r.Bytes("auth_i")));
  EXPECT_EQ(ToHex(*auth_r), ToHex(r.Bytes("auth_r")));
  EXPECT_TRUE(VerifyPskAuthData(t.prf, psk, octets_i, r.Bytes("auth_i")));
  EXPECT_TRUE(VerifyPskAuthData(t.prf, psk, octets_r, r.Bytes("auth_r")));
  // Roles are not interchangeable.
  EXPECT_FALSE(VerifyPskAuthData(t.prf, psk, octets_r, r.Bytes("auth_i")));
  EXPECT_NE(*auth_i, *auth_r);
}

// SignedOctets as RFC 7296 section 2.15 spells it, with plain HMAC.
TEST(PskAuthTest, SignedOctetsLayout) {
  const std::vector<uint8_t> msg = {1, 2, 3}, nonce = {4, 5}, skp(32, 6),
                             id = {2, 0, 0, 0, 'a', 'b'};
  const std::vector<uint8_t> maced =
      crypto::Hmac(crypto::HashAlgorithm::kSha384, skp, id);
  std::vector<uint8_t> expected(5 + maced.size());
  for (uint8_t i = 0; i < 5; ++i) expected[i] = i + 1;
  std::copy(maced.begin(), maced.end(), expected.begin() + 5);
  EXPECT_EQ(SignedOctets(PrfAlgorithm::kHmacSha384, msg, nonce, skp, id),
            expected);

  const std::vector<uint8_t> psk = {'k'};
  const std::vector<uint8_t> pad_key = crypto::Hmac(
      crypto::HashAlgorithm::kSha384, psk, PskBytes("Key Pad for IKEv2"));
  auto auth = PskAuthData(PrfAlgorithm::kHmacSha384, psk, expected);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(*auth,
            crypto::Hmac(crypto::HashAlgorithm::kSha384, pad_key, expected));
  EXPECT_EQ(auth->size(), 48u);
}

TEST(PskAuthTest, RejectsEmptyPskAndWrongData) {
  const std::vector<uint8_t> octets = {1, 2, 3};
  EXPECT_EQ(PskAuthData(PrfAlgorithm::kHmacSha256, {}, octets).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto auth = PskAuthData(PrfAlgorithm::kHmacSha256, PskBytes("secret"), octets);
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE(VerifyPskAuthData(PrfAlgorithm::kHmacSha256, PskBytes("secret"),
                                octets, *auth));
  EXPECT_FALSE(VerifyPskAuthData(PrfAlgorithm::kHmacSha256, {}, octets, *auth));
  EXPECT_FALSE(VerifyPskAuthData(PrfAlgorithm::kHmacSha256,
                                 PskBytes("secreT"), octets, *auth));
  std::vector<uint8_t> shorter(auth->begin(), auth->end() - 1);
  EXPECT_FALSE(VerifyPskAuthData(PrfAlgorithm::kHmacSha256,
                                 PskBytes("secret"), octets, shorter));
  for (size_t i = 0; i < auth->size(); ++i) {
    std::vector<uint8_t> bad = *auth;
    bad[i] ^= 0x10;
    EXPECT_FALSE(VerifyPskAuthData(PrfAlgorithm::kHmacSha256,
                                   PskBytes("secret"), octets, bad));
  }
}

}  // namespace
}  // namespace stow::ike
