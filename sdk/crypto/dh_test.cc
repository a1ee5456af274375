#include "sdk/crypto/dh.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sdk/crypto/testing/kat_reader.h"

namespace stow::crypto {
namespace {

using ::stow::crypto::testing::Hex;
using ::stow::crypto::testing::KatRecord;
using ::stow::crypto::testing::ReadKatFile;
using ::stow::crypto::testing::ToHex;

constexpr DhGroup kAllGroups[] = {DhGroup::kCurve25519, DhGroup::kEcp256,
                                  DhGroup::kEcp384, DhGroup::kModp2048};

std::vector<uint8_t> Concat(const std::vector<uint8_t>& a,
                            const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// a - b for equal-length big-endian numbers with a >= b.
std::vector<uint8_t> Subtract(const std::vector<uint8_t>& a,
                              const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out(a.size());
  int borrow = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int d = a[i] - b[i] - borrow;
    borrow = d < 0;
    out[i] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
  }
  return out;
}

// a + b for equal-length big-endian numbers whose sum fits.
std::vector<uint8_t> Add(const std::vector<uint8_t>& a,
                         const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out(a.size());
  int carry = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int d = a[i] + b[i] + carry;
    carry = d >> 8;
    out[i] = static_cast<uint8_t>(d & 0xFF);
  }
  EXPECT_EQ(carry, 0);
  return out;
}

// `small` as a big-endian number of `length` bytes.
std::vector<uint8_t> Number(size_t length, uint8_t small) {
  std::vector<uint8_t> out(length, 0);
  out.back() = small;
  return out;
}

std::unique_ptr<KeyExchange> MustCreate(DhGroup group,
                                        const std::vector<uint8_t>& key) {
  auto exchange = KeyExchange::CreateWithPrivateKey(group, key);
  EXPECT_TRUE(exchange.ok()) << DhGroupName(group) << ": "
                             << exchange.status();
  return exchange.ok() ? std::move(*exchange) : nullptr;
}

std::string SharedHex(const KeyExchange& exchange,
                      const std::vector<uint8_t>& peer) {
  auto shared = exchange.ComputeSharedSecret(peer);
  EXPECT_TRUE(shared.ok()) << DhGroupName(exchange.group()) << ": "
                           << shared.status();
  return shared.ok() ? ToHex(*shared) : "error";
}

void ExpectRejected(const KeyExchange& exchange,
                    const std::vector<uint8_t>& peer,
                    absl::string_view message_part) {
  auto shared = exchange.ComputeSharedSecret(peer);
  ASSERT_FALSE(shared.ok()) << DhGroupName(exchange.group()) << " accepted "
                            << ToHex(peer);
  EXPECT_EQ(shared.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shared.status().message().find(DhGroupName(exchange.group())),
            absl::string_view::npos)
      << shared.status();
  EXPECT_NE(shared.status().message().find(message_part),
            absl::string_view::npos)
      << shared.status();
}

std::vector<KatRecord> Read(const std::string& name) {
  auto records = ReadKatFile("sdk/crypto/testdata/" + name);
  EXPECT_TRUE(records.ok()) << records.status();
  return records.ok() ? *records : std::vector<KatRecord>();
}

TEST(DhTest, GroupsAndLengths) {
  EXPECT_EQ(DhGroupFromTransformId(14), DhGroup::kModp2048);
  EXPECT_EQ(DhGroupFromTransformId(19), DhGroup::kEcp256);
  EXPECT_EQ(DhGroupFromTransformId(20), DhGroup::kEcp384);
  EXPECT_EQ(DhGroupFromTransformId(31), DhGroup::kCurve25519);
  for (uint16_t id : {0, 1, 2, 5, 15, 21, 32, 0xFFFF}) {
    EXPECT_FALSE(DhGroupFromTransformId(id).has_value()) << id;
  }
  EXPECT_EQ(DhPublicValueLength(DhGroup::kModp2048), 256u);
  EXPECT_EQ(DhPublicValueLength(DhGroup::kEcp256), 64u);
  EXPECT_EQ(DhPublicValueLength(DhGroup::kEcp384), 96u);
  EXPECT_EQ(DhPublicValueLength(DhGroup::kCurve25519), 32u);
  EXPECT_EQ(DhSharedSecretLength(DhGroup::kModp2048), 256u);
  EXPECT_EQ(DhSharedSecretLength(DhGroup::kEcp256), 32u);
  EXPECT_EQ(DhSharedSecretLength(DhGroup::kEcp384), 48u);
  EXPECT_EQ(DhSharedSecretLength(DhGroup::kCurve25519), 32u);
}

TEST(DhTest, UnknownGroupIsInvalidArgument) {
  auto exchange = KeyExchange::Create(static_cast<DhGroup>(2));
  EXPECT_EQ(exchange.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(exchange.status().message().find("unsupported"),
            absl::string_view::npos);
  EXPECT_EQ(KeyExchange::CreateWithPrivateKey(static_cast<DhGroup>(2),
                                              std::vector<uint8_t>(32, 1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DhTest, X25519Rfc7748Section52) {
  std::vector<KatRecord> records = Read("x25519_rfc7748.txt");
  ASSERT_EQ(records.size(), 4u);
  for (int i = 0; i < 2; ++i) {
    const KatRecord& r = records[i];
    auto exchange = MustCreate(DhGroup::kCurve25519, r.Bytes("scalar"));
    ASSERT_NE(exchange, nullptr);
    EXPECT_EQ(SharedHex(*exchange, r.Bytes("u")), ToHex(r.Bytes("output")))
        << r.name();
  }
}

TEST(DhTest, X25519Rfc7748Section52Iterated) {
  const KatRecord r = Read("x25519_rfc7748.txt").at(2);
  std::vector<uint8_t> k = r.Bytes("start");
  std::vector<uint8_t> u = k;
  for (int i = 1; i <= 1000; ++i) {
    auto exchange = MustCreate(DhGroup::kCurve25519, k);
    ASSERT_NE(exchange, nullptr);
    auto result = exchange->ComputeSharedSecret(u);
    ASSERT_TRUE(result.ok()) << result.status();
    u = k;
    k = *result;
    if (i == 1) {
      EXPECT_EQ(ToHex(k), ToHex(r.Bytes("after_1")));
    }
  }
  EXPECT_EQ(ToHex(k), ToHex(r.Bytes("after_1000")));
}

TEST(DhTest, X25519Rfc7748Section61) {
  const KatRecord r = Read("x25519_rfc7748.txt").at(3);
  auto alice = MustCreate(DhGroup::kCurve25519, r.Bytes("alice_private"));
  auto bob = MustCreate(DhGroup::kCurve25519, r.Bytes("bob_private"));
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(alice->group(), DhGroup::kCurve25519);
  EXPECT_EQ(ToHex(std::vector<uint8_t>(alice->public_value().begin(),
                                       alice->public_value().end())),
            ToHex(r.Bytes("alice_public")));
  EXPECT_EQ(ToHex(std::vector<uint8_t>(bob->public_value().begin(),
                                       bob->public_value().end())),
            ToHex(r.Bytes("bob_public")));
  EXPECT_EQ(SharedHex(*alice, r.Bytes("bob_public")), ToHex(r.Bytes("shared")));
  EXPECT_EQ(SharedHex(*bob, r.Bytes("alice_public")), ToHex(r.Bytes("shared")));
}

TEST(DhTest, EcpRfc5903Section8) {
  std::vector<KatRecord> records = Read("ecp_rfc5903.txt");
  ASSERT_EQ(records.size(), 2u);
  for (const KatRecord& r : records) {
    auto group = DhGroupFromTransformId(static_cast<uint16_t>(r.Int("group")));
    ASSERT_TRUE(group.has_value()) << r.name();
    auto initiator = MustCreate(*group, r.Bytes("i"));
    auto responder = MustCreate(*group, r.Bytes("r"));
    ASSERT_NE(initiator, nullptr);
    ASSERT_NE(responder, nullptr);
    const std::vector<uint8_t> gi = Concat(r.Bytes("gix"), r.Bytes("giy"));
    const std::vector<uint8_t> gr = Concat(r.Bytes("grx"), r.Bytes("gry"));
    EXPECT_EQ(ToHex(std::vector<uint8_t>(initiator->public_value().begin(),
                                         initiator->public_value().end())),
              ToHex(gi))
        << r.name();
    EXPECT_EQ(ToHex(std::vector<uint8_t>(responder->public_value().begin(),
                                         responder->public_value().end())),
              ToHex(gr))
        << r.name();
    // The shared secret is the x coordinate of g^ir only.
    EXPECT_EQ(SharedHex(*initiator, gr), ToHex(r.Bytes("girx"))) << r.name();
    EXPECT_EQ(SharedHex(*responder, gi), ToHex(r.Bytes("girx"))) << r.name();
  }
}

TEST(DhTest, FixedLengthEncodingsKeepLeadingZeros) {
  std::vector<KatRecord> records = Read("dh_fixed_length.txt");
  ASSERT_EQ(records.size(), 4u);
  for (const KatRecord& r : records) {
    auto group = DhGroupFromTransformId(static_cast<uint16_t>(r.Int("group")));
    ASSERT_TRUE(group.has_value()) << r.name();
    auto a = MustCreate(*group, r.Bytes("a_private"));
    auto b = MustCreate(*group, r.Bytes("b_private"));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(ToHex(std::vector<uint8_t>(a->public_value().begin(),
                                         a->public_value().end())),
              ToHex(r.Bytes("a_public")))
        << r.name();
    EXPECT_EQ(ToHex(std::vector<uint8_t>(b->public_value().begin(),
                                         b->public_value().end())),
              ToHex(r.Bytes("b_public")))
        << r.name();
    EXPECT_EQ(SharedHex(*a, r.Bytes("b_public")), ToHex(r.Bytes("shared")))
        << r.name();
    EXPECT_EQ(SharedHex(*b, r.Bytes("a_public")), ToHex(r.Bytes("shared")))
        << r.name();
  }
}

TEST(DhTest, RandomPartiesAgree) {
  for (DhGroup group : kAllGroups) {
    auto a = KeyExchange::Create(group);
    auto b = KeyExchange::Create(group);
    auto c = KeyExchange::Create(group);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ((*a)->group(), group);
    ASSERT_EQ((*a)->public_value().size(), DhPublicValueLength(group));
    ASSERT_EQ((*b)->public_value().size(), DhPublicValueLength(group));
    EXPECT_NE((*a)->public_value(), (*b)->public_value());
    std::vector<uint8_t> a_public((*a)->public_value().begin(),
                                  (*a)->public_value().end());
    std::vector<uint8_t> b_public((*b)->public_value().begin(),
                                  (*b)->public_value().end());
    auto ab = (*a)->ComputeSharedSecret(b_public);
    auto ba = (*b)->ComputeSharedSecret(a_public);
    auto cb = (*c)->ComputeSharedSecret(b_public);
    ASSERT_TRUE(ab.ok()) << ab.status();
    ASSERT_TRUE(ba.ok()) << ba.status();
    ASSERT_TRUE(cb.ok()) << cb.status();
    EXPECT_EQ(ab->size(), DhSharedSecretLength(group));
    EXPECT_EQ(*ab, *ba) << DhGroupName(group);
    EXPECT_NE(*ab, *cb) << DhGroupName(group);
    // Computing again gives the same answer.
    auto again = (*a)->ComputeSharedSecret(b_public);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *ab);
  }
}

TEST(DhTest, ManyRandomKeysHaveFixedLengthPublicValues) {
  // About one public value in 256 has a leading zero byte (two in 256 for
  // ECP, x or y); every one must still be full length.
  for (DhGroup group : {DhGroup::kCurve25519, DhGroup::kEcp256}) {
    for (int i = 0; i < 300; ++i) {
      auto exchange = KeyExchange::Create(group);
      ASSERT_TRUE(exchange.ok()) << exchange.status();
      ASSERT_EQ((*exchange)->public_value().size(),
                DhPublicValueLength(group));
    }
  }
}

TEST(DhTest, RejectsPublicValuesOfTheWrongLength) {
  for (DhGroup group : kAllGroups) {
    auto exchange = KeyExchange::Create(group);
    ASSERT_TRUE(exchange.ok()) << exchange.status();
    std::vector<uint8_t> good((*exchange)->public_value().begin(),
                              (*exchange)->public_value().end());
    ExpectRejected(**exchange, {}, "0 bytes, want");
    std::vector<uint8_t> shorter(good.begin(), good.end() - 1);
    ExpectRejected(**exchange, shorter, "bytes, want");
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    ExpectRejected(**exchange, longer, "bytes, want");
    // X9.62 uncompressed (0x04 || x || y) and compressed forms are not the
    // KE payload format for ECP.
    std::vector<uint8_t> prefixed = good;
    prefixed.insert(prefixed.begin(), 0x04);
    ExpectRejected(**exchange, prefixed, "bytes, want");
  }
}

TEST(DhTest, X25519RejectsSmallOrderPoints) {
  auto exchange = KeyExchange::Create(DhGroup::kCurve25519);
  ASSERT_TRUE(exchange.ok());
  // u-coordinates (little-endian) of points of order 1, 2, 4 and 8 on
  // Curve25519 or its twist, and their non-canonical forms u + p: every
  // clamped scalar maps them to 0.
  for (const char* u : {
           "0000000000000000000000000000000000000000000000000000000000000000",
           "0100000000000000000000000000000000000000000000000000000000000000",
           "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
           "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
       }) {
    ExpectRejected(**exchange, Hex(u), "all zero");
  }
}

TEST(DhTest, EcpRejectsPointsNotOnTheCurve) {
  std::vector<KatRecord> records = Read("ecp_rfc5903.txt");
  ASSERT_EQ(records.size(), 2u);
  for (const KatRecord& r : records) {
    auto group = DhGroupFromTransformId(static_cast<uint16_t>(r.Int("group")));
    ASSERT_TRUE(group.has_value());
    auto initiator = MustCreate(*group, r.Bytes("i"));
    ASSERT_NE(initiator, nullptr);
    const std::vector<uint8_t> x = r.Bytes("grx");
    const std::vector<uint8_t> y = r.Bytes("gry");
    const size_t n = x.size();
    // The field prime of P-256 / P-384 (FIPS 186-4 appendix D.1.2).
    const std::vector<uint8_t> p =
        n == 32 ? Hex("ffffffff00000001000000000000000000000000ffffffffffffffff"
                      "ffffffff")
                : Hex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                      "fffffffeffffffff0000000000000000ffffffff");
    ASSERT_EQ(p.size(), n);

    std::vector<uint8_t> flipped = Concat(x, y);
    flipped.back() ^= 1;
    ExpectRejected(*initiator, flipped, "not a point on the curve");
    ExpectRejected(*initiator, std::vector<uint8_t>(2 * n, 0),
                   "not a point on the curve");
    ExpectRejected(*initiator, std::vector<uint8_t>(2 * n, 0xFF),
                   "not a point on the curve");
    // (x, y) and (x, y + p) are congruent, but y + p does not fit; (x + p)
    // does not either, so use a coordinate equal to p itself.
    ExpectRejected(*initiator, Concat(p, y), "not a point on the curve");
    ExpectRejected(*initiator, Concat(x, p), "not a point on the curve");

    // Sanity check that validation is not too strict: -G_r = (x, p - y) is a
    // valid point, and i * (-G_r) = -(G_ir) has the same x coordinate.
    EXPECT_EQ(SharedHex(*initiator, Concat(x, Subtract(p, y))),
              ToHex(r.Bytes("girx")));
  }
}

TEST(DhTest, ModpRejectsValuesOutsideTwoToPMinusTwo) {
  const KatRecord group_record = Read("modp2048_rfc3526.txt").at(0);
  const std::vector<uint8_t> p = group_record.Bytes("prime");
  ASSERT_EQ(p.size(), 256u);
  auto exchange = KeyExchange::Create(DhGroup::kModp2048);
  ASSERT_TRUE(exchange.ok()) << exchange.status();
  const std::vector<uint8_t> one = Number(256, 1);
  const std::vector<uint8_t> two = Number(256, 2);
  const std::vector<uint8_t> p_minus_1 = Subtract(p, one);
  const std::vector<uint8_t> p_minus_2 = Subtract(p, two);
  const std::vector<uint8_t> p_plus_1 = Add(p, one);

  for (const auto& bad : {Number(256, 0), one, p_minus_1, p, p_plus_1,
                          std::vector<uint8_t>(256, 0xFF)}) {
    ExpectRejected(**exchange, bad, "not in 2..p-2");
  }
  // The ends of the range are accepted (for this test's purpose only: a
  // real peer sends g^y).
  for (const auto& edge : {two, p_minus_2}) {
    auto shared = (*exchange)->ComputeSharedSecret(edge);
    ASSERT_TRUE(shared.ok()) << shared.status();
    EXPECT_EQ(shared->size(), 256u);
  }
}

TEST(DhTest, ModpSmallPrivateKeysGiveKnownPowersOfTwo) {
  // x = 1 gives g = 2 and x = 10 gives 1024, left-padded to 256 bytes; the
  // secret with peer value 2 is then 2^x again.
  auto x1 = MustCreate(DhGroup::kModp2048, {1});
  auto x10 = MustCreate(DhGroup::kModp2048, {10});
  ASSERT_NE(x1, nullptr);
  ASSERT_NE(x10, nullptr);
  std::vector<uint8_t> g = Number(256, 2);
  std::vector<uint8_t> two_to_10 = Number(256, 0);
  two_to_10[254] = 0x04;
  EXPECT_EQ(ToHex(std::vector<uint8_t>(x1->public_value().begin(),
                                       x1->public_value().end())),
            ToHex(g));
  EXPECT_EQ(ToHex(std::vector<uint8_t>(x10->public_value().begin(),
                                       x10->public_value().end())),
            ToHex(two_to_10));
  EXPECT_EQ(SharedHex(*x10, g), ToHex(two_to_10));
}

TEST(DhTest, RejectsBadPrivateKeys) {
  auto expect_invalid = [](DhGroup group, const std::vector<uint8_t>& key,
                           absl::string_view message_part) {
    auto exchange = KeyExchange::CreateWithPrivateKey(group, key);
    ASSERT_FALSE(exchange.ok()) << DhGroupName(group) << " " << ToHex(key);
    EXPECT_EQ(exchange.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(exchange.status().message().find(message_part),
              absl::string_view::npos)
        << exchange.status();
  };
  expect_invalid(DhGroup::kCurve25519, std::vector<uint8_t>(31, 1),
                 "31 bytes, want 32");
  expect_invalid(DhGroup::kCurve25519, std::vector<uint8_t>(33, 1),
                 "33 bytes, want 32");

  // Group orders n (FIPS 186-4 appendix D.1.2).
  const std::vector<uint8_t> n256 = Hex(
      "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  const std::vector<uint8_t> n384 = Hex(
      "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
      "581a0db248b0a77aecec196accc52973");
  expect_invalid(DhGroup::kEcp256, std::vector<uint8_t>(32, 0), "1..n-1");
  expect_invalid(DhGroup::kEcp256, n256, "1..n-1");
  expect_invalid(DhGroup::kEcp256, std::vector<uint8_t>(32, 0xFF), "1..n-1");
  expect_invalid(DhGroup::kEcp256, std::vector<uint8_t>(31, 1),
                 "31 bytes, want 32");
  expect_invalid(DhGroup::kEcp384, n384, "1..n-1");
  expect_invalid(DhGroup::kEcp384, std::vector<uint8_t>(32, 1),
                 "32 bytes, want 48");
  EXPECT_NE(MustCreate(DhGroup::kEcp256, Subtract(n256, Number(32, 1))),
            nullptr);
  EXPECT_NE(MustCreate(DhGroup::kEcp384, Number(48, 1)), nullptr);

  const std::vector<uint8_t> p =
      Read("modp2048_rfc3526.txt").at(0).Bytes("prime");
  expect_invalid(DhGroup::kModp2048, {}, "0 bytes, want 1 to 256");
  expect_invalid(DhGroup::kModp2048, std::vector<uint8_t>(257, 1),
                 "257 bytes, want 1 to 256");
  expect_invalid(DhGroup::kModp2048, {0}, "1..p-2");
  expect_invalid(DhGroup::kModp2048, Subtract(p, Number(256, 1)), "1..p-2");
  expect_invalid(DhGroup::kModp2048, p, "1..p-2");
  EXPECT_NE(MustCreate(DhGroup::kModp2048, Subtract(p, Number(256, 2))),
            nullptr);
}

}  // namespace
}  // namespace stow::crypto
