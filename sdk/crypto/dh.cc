#include "sdk/crypto/dh.h"

#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdh.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/nid.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stow::crypto {
namespace {

// The 2048-bit MODP group, RFC 3526 section 3: p = 2^2048 - 2^1984 - 1 +
// 2^64 * { [2^1918 pi] + 124476 }, generator 2. (BoringSSL ships only the
// 1536-bit prime of RFC 3526.)
constexpr char kModp2048PrimeHex[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D"
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D"
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9"
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF";
constexpr size_t kModp2048Bytes = 256;

absl::Status BoringSslError(absl::string_view what) {
  uint32_t code = ERR_get_error();
  ERR_clear_error();
  char reason[120];
  ERR_error_string_n(code, reason, sizeof(reason));
  return absl::InternalError(absl::StrCat(what, " failed: ", reason));
}

// Any error left on BoringSSL's thread-local queue by a rejected input is
// dropped, so that it does not surface in an unrelated later report.
absl::Status Reject(std::string message) {
  ERR_clear_error();
  return absl::InvalidArgumentError(std::move(message));
}

absl::Status CheckLength(DhGroup group, absl::Span<const uint8_t> value,
                         absl::string_view what) {
  size_t want = DhPublicValueLength(group);
  if (value.size() == want) return absl::OkStatus();
  return Reject(absl::StrCat(DhGroupName(group), " ", what, " is ",
                             value.size(), " bytes, want ", want));
}

// --- X25519 -----------------------------------------------------------------

class X25519KeyExchange final : public KeyExchange {
 public:
  static std::unique_ptr<KeyExchange> Make(
      const uint8_t private_key[X25519_PRIVATE_KEY_LEN]) {
    std::vector<uint8_t> public_value(X25519_PUBLIC_VALUE_LEN);
    X25519_public_from_private(public_value.data(), private_key);
    return std::unique_ptr<KeyExchange>(
        new X25519KeyExchange(private_key, std::move(public_value)));
  }

  ~X25519KeyExchange() override {
    OPENSSL_cleanse(private_key_.data(), private_key_.size());
  }

  absl::StatusOr<std::vector<uint8_t>> ComputeSharedSecret(
      absl::Span<const uint8_t> peer) const override {
    if (absl::Status s = CheckLength(group(), peer, "public value"); !s.ok()) {
      return s;
    }
    std::vector<uint8_t> shared(X25519_SHARED_KEY_LEN);
    // X25519() returns 0 exactly when the result is all zero, i.e. the peer
    // sent a point of small order (or the u-coordinate 0).
    if (!X25519(shared.data(), private_key_.data(), peer.data())) {
      return Reject(
          "Curve25519 shared secret is all zero: the peer's public value is "
          "a point of small order");
    }
    return shared;
  }

 private:
  X25519KeyExchange(const uint8_t private_key[X25519_PRIVATE_KEY_LEN],
                    std::vector<uint8_t> public_value)
      : KeyExchange(DhGroup::kCurve25519, std::move(public_value)) {
    std::copy(private_key, private_key + X25519_PRIVATE_KEY_LEN,
              private_key_.begin());
  }

  std::array<uint8_t, X25519_PRIVATE_KEY_LEN> private_key_;
};

// --- ECP (P-256, P-384) -------------------------------------------------------

class EcpKeyExchange final : public KeyExchange {
 public:
  // Takes a key that holds a private scalar and its public point.
  static absl::StatusOr<std::unique_ptr<KeyExchange>> Make(
      DhGroup group, bssl::UniquePtr<EC_KEY> key) {
    const EC_GROUP* ec_group = EC_KEY_get0_group(key.get());
    // Uncompressed X9.62: 0x04 || x || y; the KE payload drops the 0x04.
    std::vector<uint8_t> encoded(1 + DhPublicValueLength(group));
    if (EC_POINT_point2oct(ec_group, EC_KEY_get0_public_key(key.get()),
                           POINT_CONVERSION_UNCOMPRESSED, encoded.data(),
                           encoded.size(), nullptr) != encoded.size() ||
        encoded[0] != POINT_CONVERSION_UNCOMPRESSED) {
      return BoringSslError("EC_POINT_point2oct");
    }
    encoded.erase(encoded.begin());
    return std::unique_ptr<KeyExchange>(
        new EcpKeyExchange(group, std::move(key), std::move(encoded)));
  }

  absl::StatusOr<std::vector<uint8_t>> ComputeSharedSecret(
      absl::Span<const uint8_t> peer) const override {
    if (absl::Status s = CheckLength(group(), peer, "public value"); !s.ok()) {
      return s;
    }
    const EC_GROUP* ec_group = EC_KEY_get0_group(key_.get());
    std::vector<uint8_t> encoded(1 + peer.size());
    encoded[0] = POINT_CONVERSION_UNCOMPRESSED;
    std::copy(peer.begin(), peer.end(), encoded.begin() + 1);
    bssl::UniquePtr<EC_POINT> point(EC_POINT_new(ec_group));
    if (point == nullptr) return BoringSslError("EC_POINT_new");
    // Fails for a coordinate >= p and for a point not on the curve. The
    // uncompressed encoding cannot express the point at infinity, and both
    // curves have cofactor 1, so every point that passes is a valid peer.
    if (!EC_POINT_oct2point(ec_group, point.get(), encoded.data(),
                            encoded.size(), nullptr)) {
      return Reject(absl::StrCat(DhGroupName(group()),
                                 " public value is not a point on the curve"));
    }
    std::vector<uint8_t> shared(DhSharedSecretLength(group()));
    // Without a KDF, ECDH_compute_key writes the x coordinate of the shared
    // point as a fixed-length field element.
    int written = ECDH_compute_key(shared.data(), shared.size(), point.get(),
                                   key_.get(), nullptr);
    if (written != static_cast<int>(shared.size())) {
      return BoringSslError("ECDH_compute_key");
    }
    return shared;
  }

 private:
  EcpKeyExchange(DhGroup group, bssl::UniquePtr<EC_KEY> key,
                 std::vector<uint8_t> public_value)
      : KeyExchange(group, std::move(public_value)), key_(std::move(key)) {}

  bssl::UniquePtr<EC_KEY> key_;  // BoringSSL clears the scalar when freed.
};

int CurveNid(DhGroup group) {
  return group == DhGroup::kEcp256 ? NID_X9_62_prime256v1 : NID_secp384r1;
}

absl::StatusOr<std::unique_ptr<KeyExchange>> CreateEcp(
    DhGroup group, absl::optional<absl::Span<const uint8_t>> private_key) {
  bssl::UniquePtr<EC_KEY> key(EC_KEY_new_by_curve_name(CurveNid(group)));
  if (key == nullptr) return BoringSslError("EC_KEY_new_by_curve_name");
  if (!private_key.has_value()) {
    if (!EC_KEY_generate_key(key.get())) {
      return BoringSslError("EC_KEY_generate_key");
    }
    return EcpKeyExchange::Make(group, std::move(key));
  }
  const EC_GROUP* ec_group = EC_KEY_get0_group(key.get());
  const size_t scalar_bytes = DhSharedSecretLength(group);
  if (private_key->size() != scalar_bytes) {
    return Reject(absl::StrCat(DhGroupName(group), " private key is ",
                               private_key->size(), " bytes, want ",
                               scalar_bytes));
  }
  bssl::UniquePtr<BIGNUM> scalar(
      BN_bin2bn(private_key->data(), private_key->size(), nullptr));
  if (scalar == nullptr) return BoringSslError("BN_bin2bn");
  if (BN_is_zero(scalar.get()) ||
      BN_cmp(scalar.get(), EC_GROUP_get0_order(ec_group)) >= 0) {
    BN_clear(scalar.get());
    return Reject(absl::StrCat(DhGroupName(group),
                               " private key is not in 1..n-1"));
  }
  bssl::UniquePtr<EC_POINT> public_point(EC_POINT_new(ec_group));
  bool ok = public_point != nullptr &&
            EC_KEY_set_private_key(key.get(), scalar.get()) &&
            EC_POINT_mul(ec_group, public_point.get(), scalar.get(), nullptr,
                         nullptr, nullptr) &&
            EC_KEY_set_public_key(key.get(), public_point.get());
  BN_clear(scalar.get());
  if (!ok) return BoringSslError("EC key from private scalar");
  return EcpKeyExchange::Make(group, std::move(key));
}

// --- MODP-2048 ----------------------------------------------------------------

bssl::UniquePtr<BIGNUM> Modp2048Prime() {
  BIGNUM* p = nullptr;
  if (!BN_hex2bn(&p, kModp2048PrimeHex)) return nullptr;
  return bssl::UniquePtr<BIGNUM>(p);
}

// True if 2 <= value <= p - 2 (the MODP check of RFC 6989):
// excludes 0, 1 and p - 1, the elements of order 1 and 2, and everything
// that is not reduced mod p.
bool InModpRange(const BIGNUM* value, const BIGNUM* p) {
  if (BN_cmp_word(value, 2) < 0) return false;
  bssl::UniquePtr<BIGNUM> p_minus_2(BN_dup(p));
  if (p_minus_2 == nullptr || !BN_sub_word(p_minus_2.get(), 2)) return false;
  return BN_cmp(value, p_minus_2.get()) <= 0;
}

class ModpKeyExchange final : public KeyExchange {
 public:
  // Takes a DH whose p, g and private key are set; computes the public value.
  static absl::StatusOr<std::unique_ptr<KeyExchange>> Make(
      bssl::UniquePtr<DH> dh) {
    // With a private key already set, DH_generate_key only computes g^x.
    if (!DH_generate_key(dh.get())) return BoringSslError("DH_generate_key");
    const BIGNUM* public_key = nullptr;
    DH_get0_key(dh.get(), &public_key, nullptr);
    std::vector<uint8_t> public_value(kModp2048Bytes);
    if (!BN_bn2bin_padded(public_value.data(), public_value.size(),
                          public_key)) {
      return BoringSslError("BN_bn2bin_padded");
    }
    return std::unique_ptr<KeyExchange>(
        new ModpKeyExchange(std::move(dh), std::move(public_value)));
  }

  absl::StatusOr<std::vector<uint8_t>> ComputeSharedSecret(
      absl::Span<const uint8_t> peer) const override {
    if (absl::Status s = CheckLength(group(), peer, "public value"); !s.ok()) {
      return s;
    }
    bssl::UniquePtr<BIGNUM> peer_value(
        BN_bin2bn(peer.data(), peer.size(), nullptr));
    if (peer_value == nullptr) return BoringSslError("BN_bin2bn");
    const BIGNUM* p = nullptr;
    DH_get0_pqg(dh_.get(), &p, nullptr, nullptr);
    if (!InModpRange(peer_value.get(), p)) {
      return Reject("MODP-2048 public value is not in 2..p-2");
    }
    std::vector<uint8_t> shared(kModp2048Bytes);
    // DH_compute_key_padded keeps leading zero bytes (PKCS #3 / RFC 7296
    // section 2.14: g^ir is padded to the length of the prime).
    if (DH_compute_key_padded(shared.data(), peer_value.get(), dh_.get()) !=
        static_cast<int>(shared.size())) {
      return BoringSslError("DH_compute_key_padded");
    }
    return shared;
  }

 private:
  ModpKeyExchange(bssl::UniquePtr<DH> dh, std::vector<uint8_t> public_value)
      : KeyExchange(DhGroup::kModp2048, std::move(public_value)),
        dh_(std::move(dh)) {}

  // BoringSSL serialises use of its cached Montgomery context internally, but
  // we promise only one thread at a time anyway.
  bssl::UniquePtr<DH> dh_;  // BoringSSL clears the exponent when freed.
};

absl::StatusOr<std::unique_ptr<KeyExchange>> CreateModp(
    absl::optional<absl::Span<const uint8_t>> private_key) {
  bssl::UniquePtr<DH> dh(DH_new());
  bssl::UniquePtr<BIGNUM> p = Modp2048Prime();
  bssl::UniquePtr<BIGNUM> g(BN_new());
  if (dh == nullptr || p == nullptr || g == nullptr ||
      !BN_set_word(g.get(), 2)) {
    return BoringSslError("MODP-2048 parameters");
  }
  bssl::UniquePtr<BIGNUM> exponent;
  if (private_key.has_value()) {
    if (private_key->empty() || private_key->size() > kModp2048Bytes) {
      return Reject(absl::StrCat("MODP-2048 private key is ",
                                 private_key->size(),
                                 " bytes, want 1 to 256"));
    }
    exponent.reset(
        BN_bin2bn(private_key->data(), private_key->size(), nullptr));
    if (exponent == nullptr) return BoringSslError("BN_bin2bn");
    bssl::UniquePtr<BIGNUM> p_minus_2(BN_dup(p.get()));
    if (p_minus_2 == nullptr || !BN_sub_word(p_minus_2.get(), 2)) {
      return BoringSslError("BN_sub_word");
    }
    if (BN_is_zero(exponent.get()) ||
        BN_cmp(exponent.get(), p_minus_2.get()) > 0) {
      BN_clear(exponent.get());
      return Reject("MODP-2048 private key is not in 1..p-2");
    }
  }
  // DH_set0_* take ownership only on success.
  if (!DH_set0_pqg(dh.get(), p.get(), nullptr, g.get())) {
    return BoringSslError("DH_set0_pqg");
  }
  p.release();
  g.release();
  if (exponent != nullptr) {
    if (!DH_set0_key(dh.get(), nullptr, exponent.get())) {
      BN_clear(exponent.get());
      return BoringSslError("DH_set0_key");
    }
    exponent.release();
  }
  // Without a private key, DH_generate_key draws one (of the prime's size,
  // as no subgroup order is set) before computing g^x.
  return ModpKeyExchange::Make(std::move(dh));
}

absl::StatusOr<std::unique_ptr<KeyExchange>> CreateImpl(
    DhGroup group, absl::optional<absl::Span<const uint8_t>> private_key) {
  switch (group) {
    case DhGroup::kCurve25519: {
      uint8_t scalar[X25519_PRIVATE_KEY_LEN];
      if (!private_key.has_value()) {
        uint8_t unused_public[X25519_PUBLIC_VALUE_LEN];
        X25519_keypair(unused_public, scalar);
      } else if (private_key->size() != X25519_PRIVATE_KEY_LEN) {
        return Reject(absl::StrCat("Curve25519 private key is ",
                                   private_key->size(), " bytes, want 32"));
      } else {
        std::copy(private_key->begin(), private_key->end(), scalar);
      }
      std::unique_ptr<KeyExchange> exchange = X25519KeyExchange::Make(scalar);
      OPENSSL_cleanse(scalar, sizeof(scalar));
      return exchange;
    }
    case DhGroup::kEcp256:
    case DhGroup::kEcp384:
      return CreateEcp(group, private_key);
    case DhGroup::kModp2048:
      return CreateModp(private_key);
  }
  return Reject(absl::StrCat("unsupported Diffie-Hellman group ",
                             static_cast<int>(group)));
}

}  // namespace

absl::optional<DhGroup> DhGroupFromTransformId(uint16_t transform_id) {
  switch (transform_id) {
    case static_cast<uint16_t>(DhGroup::kModp2048):
      return DhGroup::kModp2048;
    case static_cast<uint16_t>(DhGroup::kEcp256):
      return DhGroup::kEcp256;
    case static_cast<uint16_t>(DhGroup::kEcp384):
      return DhGroup::kEcp384;
    case static_cast<uint16_t>(DhGroup::kCurve25519):
      return DhGroup::kCurve25519;
  }
  return absl::nullopt;
}

absl::string_view DhGroupName(DhGroup group) {
  switch (group) {
    case DhGroup::kModp2048:
      return "MODP-2048";
    case DhGroup::kEcp256:
      return "ECP-256";
    case DhGroup::kEcp384:
      return "ECP-384";
    case DhGroup::kCurve25519:
      return "Curve25519";
  }
  return "unknown group";
}

size_t DhPublicValueLength(DhGroup group) {
  switch (group) {
    case DhGroup::kModp2048:
      return kModp2048Bytes;
    case DhGroup::kEcp256:
      return 64;
    case DhGroup::kEcp384:
      return 96;
    case DhGroup::kCurve25519:
      return X25519_PUBLIC_VALUE_LEN;
  }
  return 0;
}

size_t DhSharedSecretLength(DhGroup group) {
  switch (group) {
    case DhGroup::kModp2048:
      return kModp2048Bytes;
    case DhGroup::kEcp256:
      return 32;
    case DhGroup::kEcp384:
      return 48;
    case DhGroup::kCurve25519:
      return X25519_SHARED_KEY_LEN;
  }
  return 0;
}

KeyExchange::KeyExchange(DhGroup group, std::vector<uint8_t> public_value)
    : group_(group), public_value_(std::move(public_value)) {}

KeyExchange::~KeyExchange() = default;

absl::StatusOr<std::unique_ptr<KeyExchange>> KeyExchange::Create(
    DhGroup group) {
  return CreateImpl(group, absl::nullopt);
}

absl::StatusOr<std::unique_ptr<KeyExchange>> KeyExchange::CreateWithPrivateKey(
    DhGroup group, absl::Span<const uint8_t> private_key) {
  return CreateImpl(group, private_key);
}

}  // namespace stow::crypto
