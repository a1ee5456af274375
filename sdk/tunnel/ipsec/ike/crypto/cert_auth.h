// IKEv2 certificate authentication (RFC 7296 sections 2.15, 3.5-3.8;
// RFC 7427 digital signatures): identities, CERT / CERTREQ payload data,
// signing our AUTH and verifying the peer's.
//
// Pure functions over codec structures and sdk/crypto certificates.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_CERT_AUTH_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_CERT_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/crypto/x509.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow::ike {

// Parses an identity as configured: "fqdn:gw.ssw.test", "email:a@b.c"
// ("rfc822:" too), "ipv4:1.2.3.4", "ipv6:fd00::1", "dn:C=XX, O=org, CN=x"
// ("asn1dn:" too; encoded to DER by crypto::EncodeDistinguishedName:
// attribute names C, ST, L, O, OU, CN, emailAddress, DC, ..., UTF8String
// values, printable for C), or without a prefix (strongSwan's order): an IP
// address, a text containing '=' as a DN, "@name" as the FQDN "name", "x@y"
// as RFC822, else an FQDN. Prefixes are case-insensitive; surrounding
// spaces are dropped. InvalidArgument naming the problem (empty value, bad
// address, malformed DN, spaces inside an FQDN / email).
absl::StatusOr<IdPayload> ParseIdentity(absl::string_view text);
// "fqdn:gw.ssw.test", "dn:C=XX, O=ssw-harness, CN=client1", ...
std::string DescribeIdentity(const IdPayload& id);
// The ID_DER_ASN1_DN identity of a certificate's subject.
IdPayload IdentityOfCertificate(const crypto::Certificate& certificate);
// True when `id` is bound to `certificate` (RFC 4945 3.1): a DN equal to
// the subject (byte-equal DER, or equal after the text form), an FQDN /
// RFC822 / IP address among the subjectAltNames.
bool CertificateMatchesIdentity(const crypto::Certificate& certificate,
                                const IdPayload& id);
// Byte-equality of two identities (type and data): PSK peers and the
// configured remote identity.
bool IdentitiesEqual(const IdPayload& a, const IdPayload& b);

// CERTREQ data for our CAs: the concatenated SHA-1 hashes of their
// SubjectPublicKeyInfo (RFC 7296 3.7), encoding X.509 Signature.
CertPayload BuildCertReq(
    absl::Span<const std::shared_ptr<const crypto::Certificate>> cas);
// CERT payload (X.509 Signature) for a certificate.
CertPayload BuildCert(const crypto::Certificate& certificate);

// Hash algorithm identifiers of SIGNATURE_HASH_ALGORITHMS (RFC 7427 4):
// SHA2-256 (2), SHA2-384 (3), SHA2-512 (4), Identity (5) as strongSwan
// sends them.
std::vector<uint8_t> SignatureHashAlgorithmsNotifyData();
// The hash algorithm ids in a received notify (odd lengths: the extra byte
// is ignored).
std::vector<uint16_t> ParseSignatureHashAlgorithms(
    absl::Span<const uint8_t> data);

// Our credentials for certificate authentication.
struct CertCredentials {
  std::shared_ptr<const crypto::Certificate> certificate;
  std::vector<std::shared_ptr<const crypto::Certificate>> intermediates;
  std::shared_ptr<const crypto::PrivateKey> key;
};
// Loads and cross-checks PEM files: the key must match the certificate.
// Errors name the file.
absl::StatusOr<CertCredentials> LoadCertCredentials(
    const std::string& cert_pem_path, const std::string& key_pem_path);

// Our AUTH payload over `signed_octets` (auth.h's InitiatorSignedOctets or
// ResponderSignedOctets). When `peer_hash_algorithms` (from the peer's
// SIGNATURE_HASH_ALGORITHMS) is non-empty: method 14 (Digital Signature,
// RFC 7427) with the key's first scheme whose hash the peer listed
// (FailedPrecondition if none). Otherwise the classic methods: 9 / 10 for
// ECDSA P-256 / P-384 (RFC 4754), 1 for RSA (PKCS#1 v1.5 with SHA-1, RFC
// 7296 3.8).
absl::StatusOr<AuthPayload> SignAuth(const crypto::PrivateKey& key,
                                     absl::Span<const uint8_t> signed_octets,
                                     absl::Span<const uint16_t>
                                         peer_hash_algorithms);

// Verifies the peer's certificate authentication: the first CERT payload is
// the end-entity certificate, the others intermediates; it must chain to
// `verifier`'s anchors at `now`, be bound to `peer_id`, and `auth` (method
// 14, 1, 9, 10 or 11) must verify over `signed_octets` with its key.
// PermissionDenied with the cause for the AUTH event: "no CERT payload from
// the peer", "certificate expired ...", "untrusted ...", "identity
// fqdn:x does not match certificate CN=...", "signature does not verify",
// "unsupported signature algorithm ...". InvalidArgument for an
// unparseable CERT.
absl::Status VerifyCertAuth(const crypto::CertificateVerifier& verifier,
                            absl::Span<const CertPayload> certs,
                            const IdPayload& peer_id, const AuthPayload& auth,
                            absl::Span<const uint8_t> signed_octets,
                            absl::Time now);

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_CERT_AUTH_H_
