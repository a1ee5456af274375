#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::ike {
namespace {

void AppendBigEndian64(uint64_t value, std::vector<uint8_t>* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<uint8_t>(value >> shift));
  }
}

void Append(absl::Span<const uint8_t> bytes, std::vector<uint8_t>* out) {
  out->insert(out->end(), bytes.begin(), bytes.end());
}

// Moves the next `length` bytes of `stream` (from *offset) into a vector.
std::vector<uint8_t> Take(const std::vector<uint8_t>& stream, size_t* offset,
                          size_t length) {
  std::vector<uint8_t> out(stream.begin() + *offset,
                           stream.begin() + *offset + length);
  *offset += length;
  return out;
}

}  // namespace

absl::optional<EncrAlgorithm> EncrFromTransform(
    uint16_t transform_id, absl::optional<uint16_t> key_length_bits) {
  switch (transform_id) {
    case kEncrAesGcm16:
      if (!key_length_bits.has_value()) return absl::nullopt;
      if (*key_length_bits == 128) return EncrAlgorithm::kAesGcm16With128BitKey;
      if (*key_length_bits == 256) return EncrAlgorithm::kAesGcm16With256BitKey;
      return absl::nullopt;
    case kEncrChaCha20Poly1305:
      if (key_length_bits.has_value()) return absl::nullopt;
      return EncrAlgorithm::kChaCha20Poly1305;
    default:
      return absl::nullopt;
  }
}

uint16_t EncrTransformId(EncrAlgorithm encr) {
  return encr == EncrAlgorithm::kChaCha20Poly1305 ? kEncrChaCha20Poly1305
                                                  : kEncrAesGcm16;
}

absl::optional<uint16_t> EncrKeyLengthAttribute(EncrAlgorithm encr) {
  switch (encr) {
    case EncrAlgorithm::kAesGcm16With128BitKey:
      return 128;
    case EncrAlgorithm::kAesGcm16With256BitKey:
      return 256;
    case EncrAlgorithm::kChaCha20Poly1305:
      break;
  }
  return absl::nullopt;
}

absl::string_view EncrName(EncrAlgorithm encr) {
  switch (encr) {
    case EncrAlgorithm::kAesGcm16With128BitKey:
      return "AES_GCM_16_128";
    case EncrAlgorithm::kAesGcm16With256BitKey:
      return "AES_GCM_16_256";
    case EncrAlgorithm::kChaCha20Poly1305:
      return "CHACHA20_POLY1305";
  }
  return "?";
}

crypto::AeadAlgorithm EncrAead(EncrAlgorithm encr) {
  switch (encr) {
    case EncrAlgorithm::kAesGcm16With128BitKey:
      return crypto::AeadAlgorithm::kAes128Gcm;
    case EncrAlgorithm::kAesGcm16With256BitKey:
      return crypto::AeadAlgorithm::kAes256Gcm;
    case EncrAlgorithm::kChaCha20Poly1305:
      break;
  }
  return crypto::AeadAlgorithm::kChaCha20Poly1305;
}

size_t EncrKeySize(EncrAlgorithm encr) {
  return crypto::Aead::KeySize(EncrAead(encr));
}

size_t EncrKeyMaterialSize(EncrAlgorithm encr) {
  return EncrKeySize(encr) + kAeadSaltSize;
}

void WipeBytes(absl::Span<uint8_t> bytes) {
  volatile uint8_t* p = bytes.data();
  for (size_t i = 0; i < bytes.size(); ++i) p[i] = 0;
}

IkeSaKeys::~IkeSaKeys() {
  for (std::vector<uint8_t>* key :
       {&sk_d, &sk_ai, &sk_ar, &sk_ei, &sk_er, &sk_pi, &sk_pr}) {
    WipeBytes(absl::MakeSpan(*key));
  }
}

ChildSaKeys::~ChildSaKeys() {
  WipeBytes(absl::MakeSpan(initiator_to_responder));
  WipeBytes(absl::MakeSpan(responder_to_initiator));
}

absl::Status CheckNonceLength(crypto::PrfAlgorithm prf,
                              absl::Span<const uint8_t> nonce) {
  if (nonce.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nonce of ", nonce.size(),
        " bytes is shorter than 128 bits (RFC 7296 section 2.10)"));
  }
  if (nonce.size() < crypto::PrfOutputLength(prf) / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nonce of ", nonce.size(), " bytes is shorter than half the key of ",
        crypto::PrfName(prf), " (RFC 7296 section 2.10)"));
  }
  if (nonce.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nonce of ", nonce.size(),
        " bytes is longer than 256 bytes (RFC 7296 section 3.9)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> NonceKey(absl::Span<const uint8_t> ni,
                                              absl::Span<const uint8_t> nr,
                                              size_t fixed_key_size) {
  std::vector<uint8_t> key;
  if (fixed_key_size == 0 || ni.size() + nr.size() == fixed_key_size) {
    key.reserve(ni.size() + nr.size());
    Append(ni, &key);
    Append(nr, &key);
    return key;
  }
  if (fixed_key_size % 2 != 0) {
    return absl::InvalidArgumentError("odd fixed PRF key size");
  }
  const size_t half = fixed_key_size / 2;
  if (ni.size() < half || nr.size() < half) {
    return absl::InvalidArgumentError(
        absl::StrCat("a nonce is shorter than half of the ", fixed_key_size,
                     "-byte PRF key"));
  }
  key.reserve(fixed_key_size);
  Append(ni.subspan(0, half), &key);
  Append(nr.subspan(0, half), &key);
  return key;
}

std::vector<uint8_t> ComputeSkeyseed(crypto::PrfAlgorithm prf,
                                     absl::Span<const uint8_t> ni,
                                     absl::Span<const uint8_t> nr,
                                     absl::Span<const uint8_t> shared_secret) {
  // HMAC PRFs take any key length: the key is all of Ni | Nr.
  std::vector<uint8_t> key = *NonceKey(ni, nr);
  std::vector<uint8_t> skeyseed = crypto::Prf(prf, key, shared_secret);
  WipeBytes(absl::MakeSpan(key));
  return skeyseed;
}

std::vector<uint8_t> ComputeRekeySkeyseed(
    crypto::PrfAlgorithm old_prf, absl::Span<const uint8_t> old_sk_d,
    absl::Span<const uint8_t> shared_secret, absl::Span<const uint8_t> ni,
    absl::Span<const uint8_t> nr) {
  std::vector<uint8_t> data;
  data.reserve(shared_secret.size() + ni.size() + nr.size());
  Append(shared_secret, &data);
  Append(ni, &data);
  Append(nr, &data);
  std::vector<uint8_t> skeyseed = crypto::Prf(old_prf, old_sk_d, data);
  WipeBytes(absl::MakeSpan(data));
  return skeyseed;
}

absl::StatusOr<IkeSaKeys> ExpandIkeSaKeys(const IkeSuite& suite,
                                          absl::Span<const uint8_t> skeyseed,
                                          absl::Span<const uint8_t> ni,
                                          absl::Span<const uint8_t> nr,
                                          uint64_t spi_i, uint64_t spi_r) {
  if (spi_i == 0 || spi_r == 0) {
    return absl::InvalidArgumentError("IKE SPI of zero");
  }
  const size_t prf_key = crypto::PrfOutputLength(suite.prf);
  const size_t encr_key = EncrKeyMaterialSize(suite.encr);
  const size_t integ_key = 0;  // AEAD: no INTEG transform.
  const size_t total = 3 * prf_key + 2 * integ_key + 2 * encr_key;

  std::vector<uint8_t> seed;
  seed.reserve(ni.size() + nr.size() + 16);
  Append(ni, &seed);
  Append(nr, &seed);
  AppendBigEndian64(spi_i, &seed);
  AppendBigEndian64(spi_r, &seed);
  absl::StatusOr<std::vector<uint8_t>> stream =
      crypto::PrfPlus(suite.prf, skeyseed, seed, total);
  if (!stream.ok()) return stream.status();

  IkeSaKeys keys;
  keys.suite = suite;
  size_t offset = 0;
  keys.sk_d = Take(*stream, &offset, prf_key);
  keys.sk_ai = Take(*stream, &offset, integ_key);
  keys.sk_ar = Take(*stream, &offset, integ_key);
  keys.sk_ei = Take(*stream, &offset, encr_key);
  keys.sk_er = Take(*stream, &offset, encr_key);
  keys.sk_pi = Take(*stream, &offset, prf_key);
  keys.sk_pr = Take(*stream, &offset, prf_key);
  WipeBytes(absl::MakeSpan(*stream));
  return keys;
}

absl::StatusOr<IkeSaKeys> DeriveIkeSaKeys(
    const IkeSuite& suite, absl::Span<const uint8_t> ni,
    absl::Span<const uint8_t> nr, absl::Span<const uint8_t> shared_secret,
    uint64_t spi_i, uint64_t spi_r) {
  if (absl::Status s = CheckNonceLength(suite.prf, ni); !s.ok()) return s;
  if (absl::Status s = CheckNonceLength(suite.prf, nr); !s.ok()) return s;
  if (shared_secret.empty()) {
    return absl::InvalidArgumentError("empty Diffie-Hellman shared secret");
  }
  std::vector<uint8_t> skeyseed =
      ComputeSkeyseed(suite.prf, ni, nr, shared_secret);
  absl::StatusOr<IkeSaKeys> keys =
      ExpandIkeSaKeys(suite, skeyseed, ni, nr, spi_i, spi_r);
  WipeBytes(absl::MakeSpan(skeyseed));
  return keys;
}

absl::StatusOr<IkeSaKeys> DeriveRekeyedIkeSaKeys(
    const IkeSaKeys& old_keys, const IkeSuite& new_suite,
    absl::Span<const uint8_t> ni, absl::Span<const uint8_t> nr,
    absl::Span<const uint8_t> shared_secret, uint64_t spi_i, uint64_t spi_r) {
  if (absl::Status s = CheckNonceLength(new_suite.prf, ni); !s.ok()) return s;
  if (absl::Status s = CheckNonceLength(new_suite.prf, nr); !s.ok()) return s;
  if (shared_secret.empty()) {
    return absl::InvalidArgumentError("empty Diffie-Hellman shared secret");
  }
  if (old_keys.sk_d.empty()) {
    return absl::InvalidArgumentError("old IKE SA has no SK_d");
  }
  std::vector<uint8_t> skeyseed = ComputeRekeySkeyseed(
      old_keys.suite.prf, old_keys.sk_d, shared_secret, ni, nr);
  absl::StatusOr<IkeSaKeys> keys =
      ExpandIkeSaKeys(new_suite, skeyseed, ni, nr, spi_i, spi_r);
  WipeBytes(absl::MakeSpan(skeyseed));
  return keys;
}

absl::StatusOr<ChildSaKeys> DeriveChildSaKeys(
    crypto::PrfAlgorithm prf, absl::Span<const uint8_t> sk_d,
    absl::Span<const uint8_t> ni, absl::Span<const uint8_t> nr,
    size_t key_material_size, absl::Span<const uint8_t> shared_secret) {
  if (sk_d.empty()) return absl::InvalidArgumentError("empty SK_d");
  if (key_material_size == 0 ||
      key_material_size > crypto::PrfPlusMaxLength(prf) / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad CHILD SA key material size ", key_material_size));
  }
  std::vector<uint8_t> seed;
  seed.reserve(shared_secret.size() + ni.size() + nr.size());
  Append(shared_secret, &seed);
  Append(ni, &seed);
  Append(nr, &seed);
  absl::StatusOr<std::vector<uint8_t>> keymat =
      crypto::PrfPlus(prf, sk_d, seed, 2 * key_material_size);
  WipeBytes(absl::MakeSpan(seed));
  if (!keymat.ok()) return keymat.status();
  ChildSaKeys keys;
  size_t offset = 0;
  keys.initiator_to_responder = Take(*keymat, &offset, key_material_size);
  keys.responder_to_initiator = Take(*keymat, &offset, key_material_size);
  WipeBytes(absl::MakeSpan(*keymat));
  return keys;
}

}  // namespace stow::ike
