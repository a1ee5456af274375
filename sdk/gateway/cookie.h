// Stateless IKEv2 cookies (RFC 7296 section 2.6): under load, the gateway
// answers a first IKE_SA_INIT request with N(COOKIE) instead of creating
// state, and accepts the retried request only if it starts with that
// cookie, proving the initiator receives at its source address.
//
//   Cookie = <VersionIDofSecret> | SHA-256(<secret> | Ni | IPi | SPIi)
//
// 33 bytes (the notify allows 1..64). The secret is replaced every
// `rotation` period; cookies made with the previous secret are still
// accepted for one more period, so that a retry racing a rotation passes.
//
// Pure: the clock is passed in; randomness from sdk/crypto/random.
#ifndef STOWAWAY_SDK_GATEWAY_COOKIE_H_
#define STOWAWAY_SDK_GATEWAY_COOKIE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow::gateway {

inline constexpr size_t kCookieSize = 33;

// Threading: one owner on one thread (the loop thread).
class CookieJar {
 public:
  explicit CookieJar(absl::Duration rotation = absl::Minutes(2));

  // The cookie for an initiator's nonce, source address and SPIi.
  std::vector<uint8_t> Make(absl::Span<const uint8_t> nonce,
                            const IpAddress& ip, uint64_t spi_i,
                            absl::Duration now);
  // True if `cookie` is what Make() gives for these values under the
  // current or the previous secret (compared in constant time).
  bool Verify(absl::Span<const uint8_t> cookie,
              absl::Span<const uint8_t> nonce, const IpAddress& ip,
              uint64_t spi_i, absl::Duration now);

  uint8_t version() const { return version_; }

 private:
  using Secret = std::array<uint8_t, 32>;
  void MaybeRotate(absl::Duration now);
  static std::vector<uint8_t> Compute(uint8_t version, const Secret& secret,
                                      absl::Span<const uint8_t> nonce,
                                      const IpAddress& ip, uint64_t spi_i);

  const absl::Duration rotation_;
  absl::Duration rotated_at_ = absl::InfiniteDuration();  // Never yet.
  uint8_t version_ = 0;
  Secret secret_{};
  Secret previous_{};
  bool has_previous_ = false;
};

// The data of N(COOKIE) when it is the first payload of `request` (where
// RFC 7296 2.6 puts it), else nullptr.
const ike::Bytes* LeadingCookie(const ike::Message& request);

// The Nonce payload's data of an IKE_SA_INIT request, or nullptr.
const ike::Bytes* InitiatorNonce(const ike::Message& request);

// The stateless reply to an IKE_SA_INIT request: HDR(SPIi, SPIr = 0,
// response) N(COOKIE). Serialized, without a non-ESP marker.
ike::Bytes BuildCookieReply(const ike::Header& request,
                            absl::Span<const uint8_t> cookie);

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_COOKIE_H_
