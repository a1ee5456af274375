#include "sdk/tunnel/ipsec/ike/sa/cert_credentials.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::ike {

absl::StatusOr<std::shared_ptr<CertificateCredentials>>
CertificateCredentials::Load(const std::string& cert_pem_path,
                             const std::string& key_pem_path) {
  auto loaded = LoadCertCredentials(cert_pem_path, key_pem_path);
  if (!loaded.ok()) return loaded.status();
  return std::make_shared<CertificateCredentials>(*std::move(loaded));
}

std::vector<CertPayload> CertificateCredentials::Certificates() const {
  std::vector<CertPayload> out;
  out.push_back(BuildCert(*credentials_.certificate));
  for (const auto& c : credentials_.intermediates) out.push_back(BuildCert(*c));
  return out;
}

absl::StatusOr<AuthPayload> CertificateCredentials::Authenticate(
    crypto::PrfAlgorithm /*prf*/, absl::Span<const uint8_t> signed_octets,
    absl::Span<const uint16_t> peer_hash_algorithms) const {
  return SignAuth(*credentials_.key, signed_octets, peer_hash_algorithms);
}

std::string CertificateCredentials::Describe() const {
  return absl::StrCat("certificate ", credentials_.certificate->SubjectText());
}

IdPayload CertificateCredentials::SubjectIdentity() const {
  return IdentityOfCertificate(*credentials_.certificate);
}

absl::StatusOr<std::shared_ptr<CaPeerAuthenticator>> CaPeerAuthenticator::Load(
    const std::string& ca_pem_path) {
  auto cas = crypto::Certificate::FromPemFile(ca_pem_path);
  if (!cas.ok()) return cas.status();
  return std::make_shared<CaPeerAuthenticator>(*std::move(cas));
}

absl::optional<CertPayload> CaPeerAuthenticator::CertificateRequest() const {
  return BuildCertReq(verifier_.anchors());
}

absl::Status CaPeerAuthenticator::Verify(
    const IdPayload& peer_id, absl::Span<const CertPayload> certificates,
    const AuthPayload& auth, crypto::PrfAlgorithm /*prf*/,
    absl::Span<const uint8_t> signed_octets, absl::Time wall_now) const {
  absl::Status s = VerifyCertAuth(verifier_, certificates, peer_id, auth,
                                  signed_octets, wall_now);
  if (s.ok() || s.code() == absl::StatusCode::kPermissionDenied) return s;
  return absl::PermissionDeniedError(s.message());
}

}  // namespace stow::ike
