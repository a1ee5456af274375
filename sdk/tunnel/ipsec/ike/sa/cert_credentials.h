// Certificate authentication for an IKE SA (RFC 7296 2.15, RFC 7427):
// our certificate and key as Credentials, and the CAs we trust as a
// PeerAuthenticator. Built on ike/crypto/cert_auth.h.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CERT_CREDENTIALS_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CERT_CREDENTIALS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sdk/crypto/x509.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"

namespace stow::ike {

// Signs our AUTH with the private key and sends the certificate (and any
// intermediates) as CERT payloads.
class CertificateCredentials : public Credentials {
 public:
  // Loads PEM files; errors name the file (see LoadCertCredentials).
  static absl::StatusOr<std::shared_ptr<CertificateCredentials>> Load(
      const std::string& cert_pem_path, const std::string& key_pem_path);
  explicit CertificateCredentials(CertCredentials credentials)
      : credentials_(std::move(credentials)) {}
  std::vector<CertPayload> Certificates() const override;
  absl::StatusOr<AuthPayload> Authenticate(
      crypto::PrfAlgorithm prf, absl::Span<const uint8_t> signed_octets,
      absl::Span<const uint16_t> peer_hash_algorithms) const override;
  std::string Describe() const override;
  // The ID_DER_ASN1_DN identity of our certificate's subject.
  IdPayload SubjectIdentity() const;

 private:
  CertCredentials credentials_;
};

// Accepts a peer whose certificate chains to one of our CAs, is bound to
// its IDi/IDr and whose AUTH signature verifies; asks for certificates
// from those CAs with CERTREQ.
class CaPeerAuthenticator : public PeerAuthenticator {
 public:
  // Every certificate in a PEM file is a trust anchor.
  static absl::StatusOr<std::shared_ptr<CaPeerAuthenticator>> Load(
      const std::string& ca_pem_path);
  explicit CaPeerAuthenticator(
      std::vector<std::shared_ptr<const crypto::Certificate>> cas)
      : verifier_(std::move(cas)) {}
  absl::optional<CertPayload> CertificateRequest() const override;
  absl::Status Verify(const IdPayload& peer_id,
                      absl::Span<const CertPayload> certificates,
                      const AuthPayload& auth, crypto::PrfAlgorithm prf,
                      absl::Span<const uint8_t> signed_octets,
                      absl::Time wall_now) const override;

 private:
  crypto::CertificateVerifier verifier_;
};

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CERT_CREDENTIALS_H_
