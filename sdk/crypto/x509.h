// X.509 certificates and private keys for IKEv2 certificate authentication:
// loading PEM/DER, chain validation against configured CAs, and signing /
// verifying with ECDSA (P-256, P-384, P-521) and RSA (PKCS#1 v1.5) keys.
// RSASSA-PSS is not supported (its AlgorithmIdentifier is refused as
// unsupported). Wraps BoringSSL; nothing above sdk/crypto sees an OpenSSL
// type.
//
// Thread-compatible: const methods may be called from any thread.
#ifndef STOWAWAY_SDK_CRYPTO_X509_H_
#define STOWAWAY_SDK_CRYPTO_X509_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/hash.h"

namespace stow::crypto {

enum class KeyType : uint8_t { kRsa, kEcdsaP256, kEcdsaP384, kEcdsaP521 };
// "RSA", "ECDSA P-256", "ECDSA P-384", "ECDSA P-521".
absl::string_view KeyTypeName(KeyType type);

// A signature scheme as RFC 7427 names it by AlgorithmIdentifier.
enum class SignatureScheme : uint8_t {
  kEcdsaSha256,        // ecdsa-with-SHA256
  kEcdsaSha384,        // ecdsa-with-SHA384
  kEcdsaSha512,        // ecdsa-with-SHA512
  kRsaPkcs1Sha256,     // sha256WithRSAEncryption
  kRsaPkcs1Sha384,     // sha384WithRSAEncryption
  kRsaPkcs1Sha512,     // sha512WithRSAEncryption
  kRsaPkcs1Sha1,       // sha1WithRSAEncryption (classic AUTH method 1 only)
};
absl::string_view SignatureSchemeName(SignatureScheme scheme);
// The DER AlgorithmIdentifier (SEQUENCE { OID [, NULL for RSA] }) RFC 7427
// section 3 puts in front of the signature.
std::vector<uint8_t> SignatureAlgorithmIdentifier(SignatureScheme scheme);
// The scheme for a DER AlgorithmIdentifier, or InvalidArgument ("unsupported
// signature algorithm 1.2.840.113549.1.1.10").
absl::StatusOr<SignatureScheme> SignatureSchemeFromAlgorithmIdentifier(
    absl::Span<const uint8_t> der);
// The hash a scheme uses.
HashAlgorithm SignatureSchemeHash(SignatureScheme scheme);
// True if a key of `type` signs with `scheme`: the ECDSA schemes for any
// ECDSA key (RFC 7427 does not tie the hash to the curve), the RSA schemes
// for RSA keys.
bool SchemeFitsKey(SignatureScheme scheme, KeyType type);

// ECDSA signature formats: DER Ecdsa-Sig-Value (RFC 3279 2.2.3, what
// RFC 7427 and PrivateKey::Sign use) and the fixed-size r || s of the
// classic IKEv2 methods 9/10/11 (RFC 4754 section 7), each integer
// big-endian and left-padded to `component_length` bytes (32 for P-256, 48
// for P-384, 66 for P-521). InvalidArgument for a malformed input or an
// integer that does not fit.
absl::StatusOr<std::vector<uint8_t>> EcdsaSignatureToRaw(
    absl::Span<const uint8_t> der, size_t component_length);
absl::StatusOr<std::vector<uint8_t>> EcdsaSignatureFromRaw(
    absl::Span<const uint8_t> raw);
// The r || s component length of an ECDSA key type (0 for RSA).
size_t EcdsaComponentLength(KeyType type);

// Distinguished names. EncodeDistinguishedName turns "C=XX, O=org, CN=x"
// into a DER Name (RDNs in the order written): attribute names C, ST, L, O,
// OU, CN, SN, GN, serialNumber, title, emailAddress (or E), DC, or a dotted
// OID; ',' (or ';') separates RDNs, '+' joins attributes of one RDN,
// spaces around separators are dropped and '\' escapes the next
// character. String types follow strongSwan (`pki --dn`, its identity
// parser), so a DN configured as text has the DER of a strongSwan-made
// certificate: PrintableString when the value fits its character set,
// else UTF8String; C always PrintableString (two letters); emailAddress
// IA5String; DC PrintableString or IA5String (ASCII). InvalidArgument
// naming the problem.
absl::StatusOr<std::vector<uint8_t>> EncodeDistinguishedName(
    absl::string_view text);
// The text form of a DER Name, as Certificate::SubjectText() writes it
// ("C=XX, O=ssw-harness, CN=client1"; ',', '+', '=', '\' and leading or
// trailing spaces in values escaped with '\'), so that the two compare
// equal for equal names whatever string types encode them. Empty if `der`
// is not a Name.
std::string DistinguishedNameText(absl::Span<const uint8_t> der);

class PublicKey;

// One certificate, immutable.
class Certificate {
 public:
  // One DER certificate. InvalidArgument if it does not parse.
  static absl::StatusOr<std::shared_ptr<const Certificate>> FromDer(
      absl::Span<const uint8_t> der);
  // Every certificate in PEM text (at least one). InvalidArgument otherwise.
  static absl::StatusOr<std::vector<std::shared_ptr<const Certificate>>>
  FromPem(absl::string_view pem);
  // FromPem on a file's contents; NotFound / InvalidArgument naming the path.
  static absl::StatusOr<std::vector<std::shared_ptr<const Certificate>>>
  FromPemFile(const std::string& path);
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  const std::vector<uint8_t>& der() const { return der_; }
  // The subject Name as DER (what an ID_DER_ASN1_DN identity carries).
  std::vector<uint8_t> SubjectDer() const;
  std::vector<uint8_t> IssuerDer() const;
  // "C=XX, O=ssw-harness, CN=client1" (RFC 4514-like, order as encoded).
  std::string SubjectText() const;
  std::string IssuerText() const;
  // subjectAltName entries.
  std::vector<std::string> DnsNames() const;
  std::vector<std::string> EmailAddresses() const;
  std::vector<IpAddress> IpAddresses() const;
  absl::Time not_before() const;
  absl::Time not_after() const;
  // SHA-1 of the DER SubjectPublicKeyInfo: the CA hash in CERTREQ
  // (RFC 7296 3.7).
  std::vector<uint8_t> SpkiSha1() const;
  // The DER SubjectPublicKeyInfo.
  std::vector<uint8_t> SpkiDer() const;
  // The subject public key; nullptr for a key type KeyType does not name
  // (e.g. Ed25519, DSA, other curves).
  std::unique_ptr<PublicKey> public_key() const;

 private:
  struct Impl;
  explicit Certificate(std::unique_ptr<Impl> impl, std::vector<uint8_t> der);
  std::unique_ptr<Impl> impl_;
  std::vector<uint8_t> der_;
  friend class CertificateVerifier;
};

class PublicKey {
 public:
  virtual ~PublicKey() = default;
  virtual KeyType type() const = 0;
  // True if `signature` over `data` verifies under `scheme`; false for a
  // scheme that does not fit the key type, or any malformed signature.
  virtual bool Verify(SignatureScheme scheme, absl::Span<const uint8_t> data,
                      absl::Span<const uint8_t> signature) const = 0;
};

class PrivateKey {
 public:
  // PEM (PKCS#8 "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"),
  // unencrypted; the first key block counts, other blocks (e.g. "EC
  // PARAMETERS") are skipped. InvalidArgument for encrypted keys, other
  // algorithms or anything that does not parse; FromPemFile names the path
  // (NotFound if it cannot be read).
  static absl::StatusOr<std::unique_ptr<PrivateKey>> FromPem(
      absl::string_view pem);
  static absl::StatusOr<std::unique_ptr<PrivateKey>> FromPemFile(
      const std::string& path);
  virtual ~PrivateKey() = default;
  virtual KeyType type() const = 0;
  // The schemes this key can sign with, preferred first (ECDSA P-256:
  // ecdsa-with-SHA256 then 384, 512; P-384: SHA384 first; RSA: PKCS#1
  // SHA-256, 384, 512; P-521: SHA512 first).
  virtual std::vector<SignatureScheme> Schemes() const = 0;
  // DER signature (ECDSA: Ecdsa-Sig-Value SEQUENCE{r,s}).
  // InvalidArgument for a scheme that does not fit the key.
  virtual absl::StatusOr<std::vector<uint8_t>> Sign(
      SignatureScheme scheme, absl::Span<const uint8_t> data) const = 0;
  // True if `certificate` holds this key's public half.
  virtual bool Matches(const Certificate& certificate) const = 0;
};

// Chain validation against trust anchors.
class CertificateVerifier {
 public:
  // `anchors`: the configured CA certificates (at least one).
  explicit CertificateVerifier(
      std::vector<std::shared_ptr<const Certificate>> anchors);
  ~CertificateVerifier();
  CertificateVerifier(const CertificateVerifier&) = delete;
  CertificateVerifier& operator=(const CertificateVerifier&) = delete;
  // Validates `leaf` with optional `intermediates` up to an anchor, at time
  // `now`. Any anchor ends a path (a configured intermediate CA is trusted
  // as such); every issuer in the path must be a CA (basicConstraints).
  // No purpose / extended key usage check. Errors are PermissionDenied with the reason a user can act on:
  // "certificate expired (not after 2026-01-01T00:00:00Z): CN=...",
  // "certificate not yet valid (not before 2026-01-01T00:00:00Z): CN=...",
  // "untrusted: no path to a configured CA (issuer C=XX, CN=...)",
  // "bad signature on certificate CN=...", "CA certificate is not a CA:
  // CN=..." (the subject named is that of the certificate at fault), else
  // "certificate verification failed: <BoringSSL reason>: CN=...".
  absl::Status Verify(const Certificate& leaf,
                      absl::Span<const std::shared_ptr<const Certificate>>
                          intermediates,
                      absl::Time now) const;
  const std::vector<std::shared_ptr<const Certificate>>& anchors() const {
    return anchors_;
  }

 private:
  std::vector<std::shared_ptr<const Certificate>> anchors_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_X509_H_
