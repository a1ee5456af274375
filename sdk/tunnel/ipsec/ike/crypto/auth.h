// IKEv2 authentication data (RFC 7296 section 2.15): the octets each side
// signs or MACs, and AUTH for a pre-shared key (Auth Method 2, "Shared Key
// Message Integrity Code"). Signatures (RFC 7427) and EAP build on
// SignedOctets later.
//
// Pure functions over byte spans; callable from any thread.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_AUTH_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_AUTH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "sdk/crypto/prf.h"

namespace stow::ike {

// Auth Method 2 in the AUTH payload.
inline constexpr uint8_t kAuthMethodSharedKeyMic = 2;

// The key pad of RFC 7296 section 2.15 (17 ASCII bytes, no terminator).
inline constexpr absl::string_view kIkev2KeyPad = "Key Pad for IKEv2";

// <SignedOctets> = RealMessage | NoncePeerData | prf(SK_p, RestOfIDPayload)
//
//   real_message:  the signer's own first message as sent, every byte: the
//                  IKE_SA_INIT request for the initiator, the IKE_SA_INIT
//                  response for the responder (the one that carried the
//                  nonce and KE used, i.e. after any COOKIE/INVALID_KE retry).
//   peer_nonce:    the other side's nonce data (Nr for the initiator, Ni for
//                  the responder), without the payload header.
//   sk_p:          the signer's SK_pi (initiator) or SK_pr (responder).
//   rest_of_id_payload: the signer's own ID payload body after the generic
//                  header: ID Type (1) | RESERVED (3) | Identification Data.
std::vector<uint8_t> SignedOctets(crypto::PrfAlgorithm prf,
                                  absl::Span<const uint8_t> real_message,
                                  absl::Span<const uint8_t> peer_nonce,
                                  absl::Span<const uint8_t> sk_p,
                                  absl::Span<const uint8_t> rest_of_id_payload);

// The inputs both sides know once IKE_SA_INIT is done; all spans are
// borrowed (not owned) and must outlive the calls below.
struct AuthTranscript {
  crypto::PrfAlgorithm prf = crypto::PrfAlgorithm::kHmacSha256;
  absl::Span<const uint8_t> ike_sa_init_request;   // RealMessage1
  absl::Span<const uint8_t> ike_sa_init_response;  // RealMessage2
  absl::Span<const uint8_t> nonce_i;               // Ni data
  absl::Span<const uint8_t> nonce_r;               // Nr data
  absl::Span<const uint8_t> sk_pi;
  absl::Span<const uint8_t> sk_pr;
};

// InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfIDi):
// what the initiator's AUTH covers (computed by the initiator, checked by
// the responder). `rest_of_idi` is the IDi payload body.
std::vector<uint8_t> InitiatorSignedOctets(
    const AuthTranscript& transcript, absl::Span<const uint8_t> rest_of_idi);

// ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, RestOfIDr).
std::vector<uint8_t> ResponderSignedOctets(
    const AuthTranscript& transcript, absl::Span<const uint8_t> rest_of_idr);

// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>):
// PrfOutputLength(prf) bytes, the AUTH payload's Authentication Data for
// method 2. InvalidArgument for an empty PSK.
absl::StatusOr<std::vector<uint8_t>> PskAuthData(
    crypto::PrfAlgorithm prf, absl::Span<const uint8_t> psk,
    absl::Span<const uint8_t> signed_octets);

// True if `auth_data` (from the peer's AUTH payload) equals PskAuthData,
// compared in constant time. False for an empty PSK or a wrong length.
bool VerifyPskAuthData(crypto::PrfAlgorithm prf, absl::Span<const uint8_t> psk,
                       absl::Span<const uint8_t> signed_octets,
                       absl::Span<const uint8_t> auth_data);

// The pre-shared key as bytes, for PSKs configured as text.
inline absl::Span<const uint8_t> PskBytes(absl::string_view psk) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(psk.data()),
                             psk.size());
}

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_AUTH_H_
