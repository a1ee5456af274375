#include "sdk/tunnel/ipsec/ike/sa/credentials.h"

#include <utility>

#include "sdk/tunnel/ipsec/ike/crypto/auth.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

namespace stow::ike {

absl::StatusOr<std::shared_ptr<PskCredentials>> PskCredentials::Create(
    std::string psk) {
  if (psk.empty()) return absl::InvalidArgumentError("PSK is empty");
  return std::shared_ptr<PskCredentials>(new PskCredentials(std::move(psk)));
}

PskCredentials::~PskCredentials() {
  WipeBytes(absl::MakeSpan(reinterpret_cast<uint8_t*>(psk_.data()),
                           psk_.size()));
}

absl::StatusOr<AuthPayload> PskCredentials::Authenticate(
    crypto::PrfAlgorithm prf, absl::Span<const uint8_t> signed_octets,
    absl::Span<const uint16_t> /*peer_hash_algorithms*/) const {
  auto data = PskAuthData(prf, PskBytes(psk_), signed_octets);
  if (!data.ok()) return data.status();
  AuthPayload auth;
  auth.method = AuthMethod::kSharedKeyMic;
  auth.data = *std::move(data);
  return auth;
}

absl::Status PskCredentials::Verify(
    const IdPayload& /*peer_id*/, absl::Span<const CertPayload> /*certs*/,
    const AuthPayload& auth, crypto::PrfAlgorithm prf,
    absl::Span<const uint8_t> signed_octets, absl::Time /*wall_now*/) const {
  if (auth.method != AuthMethod::kSharedKeyMic) {
    return absl::PermissionDeniedError(
        "peer used AUTH method " +
        std::to_string(static_cast<int>(auth.method)) + ", we expect a PSK");
  }
  if (!VerifyPskAuthData(prf, PskBytes(psk_), signed_octets, auth.data)) {
    return absl::PermissionDeniedError(
        "PSK does not match (the peer's AUTH does not verify)");
  }
  return absl::OkStatus();
}

absl::optional<CertPayload> AnyOfPeerAuthenticator::CertificateRequest()
    const {
  if (signatures_ != nullptr) return signatures_->CertificateRequest();
  return absl::nullopt;
}

absl::Status AnyOfPeerAuthenticator::Verify(
    const IdPayload& peer_id, absl::Span<const CertPayload> certificates,
    const AuthPayload& auth, crypto::PrfAlgorithm prf,
    absl::Span<const uint8_t> signed_octets, absl::Time wall_now) const {
  const PeerAuthenticator* chosen =
      auth.method == AuthMethod::kSharedKeyMic ? psk_.get()
                                               : signatures_.get();
  if (chosen == nullptr) {
    return absl::PermissionDeniedError(
        auth.method == AuthMethod::kSharedKeyMic
            ? "peer authenticates with a PSK, none is configured"
            : "peer authenticates with a signature (method " +
                  std::to_string(static_cast<int>(auth.method)) +
                  "), no CA is configured");
  }
  return chosen->Verify(peer_id, certificates, auth, prf, signed_octets,
                        wall_now);
}

}  // namespace stow::ike
