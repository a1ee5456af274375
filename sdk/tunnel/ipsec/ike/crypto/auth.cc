#include "sdk/tunnel/ipsec/ike/crypto/auth.h"

#include "sdk/crypto/hmac.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

namespace stow::ike {

std::vector<uint8_t> SignedOctets(crypto::PrfAlgorithm prf,
                                  absl::Span<const uint8_t> real_message,
                                  absl::Span<const uint8_t> peer_nonce,
                                  absl::Span<const uint8_t> sk_p,
                                  absl::Span<const uint8_t> rest_of_id_payload) {
  const std::vector<uint8_t> maced_id =
      crypto::Prf(prf, sk_p, rest_of_id_payload);
  std::vector<uint8_t> octets;
  octets.reserve(real_message.size() + peer_nonce.size() + maced_id.size());
  octets.insert(octets.end(), real_message.begin(), real_message.end());
  octets.insert(octets.end(), peer_nonce.begin(), peer_nonce.end());
  octets.insert(octets.end(), maced_id.begin(), maced_id.end());
  return octets;
}

std::vector<uint8_t> InitiatorSignedOctets(
    const AuthTranscript& transcript, absl::Span<const uint8_t> rest_of_idi) {
  return SignedOctets(transcript.prf, transcript.ike_sa_init_request,
                      transcript.nonce_r, transcript.sk_pi, rest_of_idi);
}

std::vector<uint8_t> ResponderSignedOctets(
    const AuthTranscript& transcript, absl::Span<const uint8_t> rest_of_idr) {
  return SignedOctets(transcript.prf, transcript.ike_sa_init_response,
                      transcript.nonce_i, transcript.sk_pr, rest_of_idr);
}

absl::StatusOr<std::vector<uint8_t>> PskAuthData(
    crypto::PrfAlgorithm prf, absl::Span<const uint8_t> psk,
    absl::Span<const uint8_t> signed_octets) {
  if (psk.empty()) return absl::InvalidArgumentError("empty pre-shared key");
  std::vector<uint8_t> pad_key = crypto::Prf(
      prf, psk,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kIkev2KeyPad.data()),
                          kIkev2KeyPad.size()));
  std::vector<uint8_t> auth = crypto::Prf(prf, pad_key, signed_octets);
  WipeBytes(absl::MakeSpan(pad_key));
  return auth;
}

bool VerifyPskAuthData(crypto::PrfAlgorithm prf, absl::Span<const uint8_t> psk,
                       absl::Span<const uint8_t> signed_octets,
                       absl::Span<const uint8_t> auth_data) {
  absl::StatusOr<std::vector<uint8_t>> expected =
      PskAuthData(prf, psk, signed_octets);
  if (!expected.ok()) return false;
  return crypto::ConstantTimeEquals(*expected, auth_data);
}

}  // namespace stow::ike
