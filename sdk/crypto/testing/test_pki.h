// Test-only: mints keys and X.509 certificates in memory with BoringSSL, so
// certificate tests need no files and no openssl / pki command. Not for
// production use (no randomness guarantees on serials, no revocation).
//
// Thread-compatible; each call is independent.
#ifndef STOWAWAY_SDK_CRYPTO_TESTING_TEST_PKI_H_
#define STOWAWAY_SDK_CRYPTO_TESTING_TEST_PKI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/x509.h"

namespace stow::crypto::testing {

// The fixed "now" test certificates are valid around by default:
// 2025-06-01T00:00:00Z.
inline absl::Time TestNow() { return absl::FromUnixSeconds(1748736000); }

// How a private key is written: PKCS#8 "PRIVATE KEY", or the traditional
// "EC PRIVATE KEY" (RFC 5915, with curve parameters and public key, as
// strongSwan's `pki --gen --outform pem` writes it) / "RSA PRIVATE KEY"
// (PKCS#1).
enum class KeyPemFormat { kPkcs8, kTraditional };

// A fresh private key as PEM. RSA keys are 2048 bits.
std::string GenerateKeyPem(KeyType type,
                           KeyPemFormat format = KeyPemFormat::kPkcs8);

struct CertSpec {
  // DN text in EncodeDistinguishedName syntax.
  std::string subject = "C=XX, O=test, CN=leaf";
  KeyType key_type = KeyType::kEcdsaP256;
  KeyPemFormat key_format = KeyPemFormat::kPkcs8;
  // When set, the certificate holds this (PEM) key instead of a new one.
  std::string key_pem;
  // subjectAltName entries.
  std::vector<std::string> dns_names;
  std::vector<std::string> emails;
  std::vector<IpAddress> ips;
  absl::Time not_before = TestNow() - absl::Hours(24);
  absl::Time not_after = TestNow() + absl::Hours(24 * 365);
  // basicConstraints cA (critical) and keyUsage keyCertSign | cRLSign.
  // A certificate with is_ca = false may still be passed as `issuer` below
  // (a "CA" that is not one).
  bool is_ca = false;
};

struct TestCert {
  std::string cert_pem;
  std::vector<uint8_t> cert_der;
  std::string key_pem;  // The certificate's private key.
  KeyType key_type = KeyType::kEcdsaP256;
  std::shared_ptr<const Certificate> certificate;  // cert_der, parsed.
};

// Mints a certificate for `spec`, signed by `issuer`'s key (its subject as
// issuer name), or self-signed when `issuer` is null. The signature hash
// follows the signing key: SHA-256 for RSA and P-256, SHA-384 for P-384,
// SHA-512 for P-521.
absl::StatusOr<TestCert> MakeCert(const CertSpec& spec,
                                  const TestCert* issuer = nullptr);

// A CA spec: self-signed-ready, is_ca set, ten years around TestNow().
CertSpec CaSpec(std::string subject, KeyType key_type = KeyType::kEcdsaP256);

}  // namespace stow::crypto::testing

#endif  // STOWAWAY_SDK_CRYPTO_TESTING_TEST_PKI_H_
