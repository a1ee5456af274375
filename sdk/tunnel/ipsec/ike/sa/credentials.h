// How an IKE SA proves its identity and checks the peer's (RFC 7296 2.15):
// two small interfaces so that the state machine does not depend on how
// keys are held. psk.h implements them for a pre-shared key; cert
// credentials (RFC 7427 signatures over X.509) live in cert_credentials.h.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CREDENTIALS_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CREDENTIALS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/crypto/prf.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow::ike {

// Our side: the AUTH payload over our signed octets, and any CERT
// payloads that go with it.
class Credentials {
 public:
  virtual ~Credentials() = default;
  // CERT payloads to send before AUTH (end entity first).
  virtual std::vector<CertPayload> Certificates() const { return {}; }
  // `peer_hash_algorithms`: the peer's SIGNATURE_HASH_ALGORITHMS (empty if
  // it sent none).
  virtual absl::StatusOr<AuthPayload> Authenticate(
      crypto::PrfAlgorithm prf, absl::Span<const uint8_t> signed_octets,
      absl::Span<const uint16_t> peer_hash_algorithms) const = 0;
  // For logs and events: "PSK", "certificate C=XX, CN=client1".
  virtual std::string Describe() const = 0;
};

// The peer's side: checks its AUTH payload (and certificates).
class PeerAuthenticator {
 public:
  virtual ~PeerAuthenticator() = default;
  // A CERTREQ to send (our trusted CAs), if we check certificates.
  virtual absl::optional<CertPayload> CertificateRequest() const {
    return absl::nullopt;
  }
  // OK, or PermissionDenied whose message names the cause ("PSK does not
  // match", "certificate expired ...") for the AUTH event.
  virtual absl::Status Verify(const IdPayload& peer_id,
                              absl::Span<const CertPayload> certificates,
                              const AuthPayload& auth,
                              crypto::PrfAlgorithm prf,
                              absl::Span<const uint8_t> signed_octets,
                              absl::Time wall_now) const = 0;
};

// A pre-shared key used both ways (RFC 7296 2.15, AUTH method 2).
class PskCredentials : public Credentials, public PeerAuthenticator {
 public:
  // InvalidArgument for an empty key.
  static absl::StatusOr<std::shared_ptr<PskCredentials>> Create(
      std::string psk);
  ~PskCredentials() override;
  absl::StatusOr<AuthPayload> Authenticate(
      crypto::PrfAlgorithm prf, absl::Span<const uint8_t> signed_octets,
      absl::Span<const uint16_t> peer_hash_algorithms) const override;
  std::string Describe() const override { return "PSK"; }
  absl::Status Verify(const IdPayload& peer_id,
                      absl::Span<const CertPayload> certificates,
                      const AuthPayload& auth, crypto::PrfAlgorithm prf,
                      absl::Span<const uint8_t> signed_octets,
                      absl::Time wall_now) const override;

 private:
  explicit PskCredentials(std::string psk) : psk_(std::move(psk)) {}
  std::string psk_;
};

// Accepts whichever of several authenticators fits the peer's AUTH method
// (PSK for method 2, certificates for signatures). The first one that
// offers a CERTREQ provides it.
class AnyOfPeerAuthenticator : public PeerAuthenticator {
 public:
  AnyOfPeerAuthenticator(std::shared_ptr<const PeerAuthenticator> psk,
                         std::shared_ptr<const PeerAuthenticator> signatures)
      : psk_(std::move(psk)), signatures_(std::move(signatures)) {}
  absl::optional<CertPayload> CertificateRequest() const override;
  absl::Status Verify(const IdPayload& peer_id,
                      absl::Span<const CertPayload> certificates,
                      const AuthPayload& auth, crypto::PrfAlgorithm prf,
                      absl::Span<const uint8_t> signed_octets,
                      absl::Time wall_now) const override;

 private:
  std::shared_ptr<const PeerAuthenticator> psk_;
  std::shared_ptr<const PeerAuthenticator> signatures_;
};

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_CREDENTIALS_H_
