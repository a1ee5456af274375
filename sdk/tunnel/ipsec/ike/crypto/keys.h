// The IKEv2 key schedule (RFC 7296 sections 2.13, 2.14, 2.17 and 2.18) for
// the suites this SDK negotiates: an AEAD ENCR transform (AES-GCM with a
// 16-byte ICV, RFC 5282; ChaCha20-Poly1305, RFC 7634) and an HMAC-SHA-2 PRF
// (RFC 4868). With an AEAD there is no INTEG transform and so no SK_ai/SK_ar.
//
// Pure functions over byte spans: no state, callable from any thread. The
// returned key structs erase their bytes when destroyed.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_KEYS_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/crypto/aead.h"
#include "sdk/crypto/prf.h"
#include "sdk/tunnel/ipsec/ike/codec/constants.h"

namespace stow::ike {

// IKEv2 transform IDs of Transform Type 1 (ENCR) that we support.
// (The ENCR transform IDs, kEncrAesGcm16 = 20 and kEncrChaCha20Poly1305 =
// 28, are in the codec's constants.h.)

// The ENCR transform of an IKE SA (and of ESP: the same key material layout).
enum class EncrAlgorithm : uint8_t {
  kAesGcm16With128BitKey,  // ENCR_AES_GCM_16, Key Length attribute 128.
  kAesGcm16With256BitKey,  // ENCR_AES_GCM_16, Key Length attribute 256.
  kChaCha20Poly1305,       // ENCR_CHACHA20_POLY1305, no Key Length attribute.
};

// The algorithm for an ENCR transform and its Key Length attribute (in
// bits; nullopt when the transform carries none), or nullopt when we do not
// support it. AES-GCM needs the attribute (128 or 256; 192 is declined);
// ChaCha20-Poly1305 must not carry one (RFC 7634 section 2).
absl::optional<EncrAlgorithm> EncrFromTransform(
    uint16_t transform_id, absl::optional<uint16_t> key_length_bits);
uint16_t EncrTransformId(EncrAlgorithm encr);
// The Key Length attribute to send: 128 / 256, or nullopt for ChaCha20.
absl::optional<uint16_t> EncrKeyLengthAttribute(EncrAlgorithm encr);
// "AES_GCM_16_128", "AES_GCM_16_256", "CHACHA20_POLY1305".
absl::string_view EncrName(EncrAlgorithm encr);
crypto::AeadAlgorithm EncrAead(EncrAlgorithm encr);

// The salt that follows the cipher key in AEAD key material (RFC 5282
// section 7.1 and RFC 7634 section 3/4): the implicit part of the nonce.
inline constexpr size_t kAeadSaltSize = 4;
// Cipher key length: 16, 32, 32.
size_t EncrKeySize(EncrAlgorithm encr);
// Key material per key (SK_ei, SK_er, one ESP direction): cipher key plus
// salt, 20, 36, 36 bytes.
size_t EncrKeyMaterialSize(EncrAlgorithm encr);

// The negotiated transforms of an IKE SA.
struct IkeSuite {
  EncrAlgorithm encr = EncrAlgorithm::kAesGcm16With256BitKey;
  crypto::PrfAlgorithm prf = crypto::PrfAlgorithm::kHmacSha256;
};

// Overwrites `bytes` with zeros in a way the compiler does not elide.
void WipeBytes(absl::Span<uint8_t> bytes);

// The seven secrets of an IKE SA. sk_ai and sk_ar stay empty (AEAD suites
// have no integrity keys). Erased on destruction.
struct IkeSaKeys {
  IkeSaKeys() = default;
  IkeSaKeys(const IkeSaKeys&) = default;
  IkeSaKeys& operator=(const IkeSaKeys&) = default;
  IkeSaKeys(IkeSaKeys&&) = default;
  IkeSaKeys& operator=(IkeSaKeys&&) = default;
  ~IkeSaKeys();

  IkeSuite suite;
  std::vector<uint8_t> sk_d;   // PrfOutputLength(prf): derives CHILD SA keys.
  std::vector<uint8_t> sk_ai;  // Empty with AEAD.
  std::vector<uint8_t> sk_ar;  // Empty with AEAD.
  std::vector<uint8_t> sk_ei;  // EncrKeyMaterialSize(encr): key || salt.
  std::vector<uint8_t> sk_er;  // EncrKeyMaterialSize(encr): key || salt.
  std::vector<uint8_t> sk_pi;  // PrfOutputLength(prf): for the initiator's AUTH.
  std::vector<uint8_t> sk_pr;  // PrfOutputLength(prf): for the responder's AUTH.
};

// Nonce length rules: RFC 7296 section 2.10 (at least 128 bits and at least
// half the PRF's preferred key size: 16, 24 and 32 bytes for HMAC-SHA-256,
// -384 and -512) and section 3.9 (at most 256 bytes). InvalidArgument
// naming the rule otherwise.
absl::Status CheckNonceLength(crypto::PrfAlgorithm prf,
                              absl::Span<const uint8_t> nonce);

// The PRF key made of the nonces for SKEYSEED (RFC 7296 section 2.14).
// `fixed_key_size` 0 means the PRF takes keys of any length, as every HMAC
// PRF does: the key is all of Ni | Nr. For a PRF with a fixed key size (such
// as AES-XCBC-PRF-128 or AES-CMAC-PRF-128, 16 bytes, which we do not
// negotiate) the key is Ni | Nr when their lengths add up to it, and
// otherwise the first half of the key from the start of Ni and the second
// half from the start of Nr. InvalidArgument if a nonce is too short for
// its half or fixed_key_size is odd.
absl::StatusOr<std::vector<uint8_t>> NonceKey(absl::Span<const uint8_t> ni,
                                              absl::Span<const uint8_t> nr,
                                              size_t fixed_key_size = 0);

// SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA (section 2.14).
std::vector<uint8_t> ComputeSkeyseed(crypto::PrfAlgorithm prf,
                                     absl::Span<const uint8_t> ni,
                                     absl::Span<const uint8_t> nr,
                                     absl::Span<const uint8_t> shared_secret);

// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) for an IKE SA created by
// rekeying (section 2.18). `old_prf` and `old_sk_d` are the old IKE SA's;
// the old SA's PRF computes this, since the exchange belongs to it. Ni and
// Nr are the nonces of the CREATE_CHILD_SA exchange.
std::vector<uint8_t> ComputeRekeySkeyseed(
    crypto::PrfAlgorithm old_prf, absl::Span<const uint8_t> old_sk_d,
    absl::Span<const uint8_t> shared_secret, absl::Span<const uint8_t> ni,
    absl::Span<const uint8_t> nr);

// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//     = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), with the suite's PRF.
// The SPIs are the 8-byte IKE SPIs as on the wire (here as numbers, written
// big-endian). For a rekeyed IKE SA they are the new SA's: SPIi from the
// CREATE_CHILD_SA initiator's proposal, SPIr from the responder's.
// InvalidArgument if an SPI is 0.
absl::StatusOr<IkeSaKeys> ExpandIkeSaKeys(const IkeSuite& suite,
                                          absl::Span<const uint8_t> skeyseed,
                                          absl::Span<const uint8_t> ni,
                                          absl::Span<const uint8_t> nr,
                                          uint64_t spi_i, uint64_t spi_r);

// The keys of a new IKE SA from its IKE_SA_INIT exchange: ComputeSkeyseed
// then ExpandIkeSaKeys. InvalidArgument on a nonce that fails
// CheckNonceLength, an empty shared secret or a zero SPI.
absl::StatusOr<IkeSaKeys> DeriveIkeSaKeys(
    const IkeSuite& suite, absl::Span<const uint8_t> ni,
    absl::Span<const uint8_t> nr, absl::Span<const uint8_t> shared_secret,
    uint64_t spi_i, uint64_t spi_r);

// The keys of the IKE SA that replaces `old_keys` (rekeying by
// CREATE_CHILD_SA, section 2.18): ComputeRekeySkeyseed with the old SA's
// PRF and SK_d, then ExpandIkeSaKeys with `new_suite`. Same errors.
absl::StatusOr<IkeSaKeys> DeriveRekeyedIkeSaKeys(
    const IkeSaKeys& old_keys, const IkeSuite& new_suite,
    absl::Span<const uint8_t> ni, absl::Span<const uint8_t> nr,
    absl::Span<const uint8_t> shared_secret, uint64_t spi_i, uint64_t spi_r);

// The ESP key material of one CHILD SA (section 2.17). "Initiator" here is
// the initiator of the exchange that created the CHILD SA (IKE_AUTH or
// CREATE_CHILD_SA), who may be the IKE SA's original responder. Each
// direction is encryption key then integrity key; for the AEAD transforms,
// key || salt (esp::KeyMaterialSize). Erased on destruction.
struct ChildSaKeys {
  ChildSaKeys() = default;
  ChildSaKeys(const ChildSaKeys&) = default;
  ChildSaKeys& operator=(const ChildSaKeys&) = default;
  ChildSaKeys(ChildSaKeys&&) = default;
  ChildSaKeys& operator=(ChildSaKeys&&) = default;
  ~ChildSaKeys();

  std::vector<uint8_t> initiator_to_responder;
  std::vector<uint8_t> responder_to_initiator;
};

// KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) when the
// CREATE_CHILD_SA exchange carried KE payloads (pass an empty
// `shared_secret` for none). The first `key_material_size` bytes are the
// initiator-to-responder SA's, the next `key_material_size` the other
// direction's. Ni and Nr are IKE_SA_INIT's nonces for the CHILD SA set up by
// IKE_AUTH, else those of the CREATE_CHILD_SA exchange. `prf` is the IKE
// SA's. InvalidArgument if key_material_size is 0, or 2 * key_material_size
// exceeds what prf+ can produce, or sk_d is empty.
absl::StatusOr<ChildSaKeys> DeriveChildSaKeys(
    crypto::PrfAlgorithm prf, absl::Span<const uint8_t> sk_d,
    absl::Span<const uint8_t> ni, absl::Span<const uint8_t> nr,
    size_t key_material_size,
    absl::Span<const uint8_t> shared_secret = absl::Span<const uint8_t>());

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_KEYS_H_
