#include "sdk/gateway/cookie.h"

#include "sdk/crypto/hmac.h"
#include "sdk/crypto/random.h"
#include "sdk/crypto/sha256.h"

namespace stow::gateway {

CookieJar::CookieJar(absl::Duration rotation) : rotation_(rotation) {}

void CookieJar::MaybeRotate(absl::Duration now) {
  if (rotated_at_ != absl::InfiniteDuration() && now - rotated_at_ < rotation_) {
    return;
  }
  if (rotated_at_ != absl::InfiniteDuration()) {
    // One period late or more: the previous secret is too old to keep.
    has_previous_ = now - rotated_at_ < 2 * rotation_;
    previous_ = secret_;
    version_++;
  }
  crypto::RandomBytes(absl::MakeSpan(secret_));
  rotated_at_ = now;
}

std::vector<uint8_t> CookieJar::Compute(uint8_t version, const Secret& secret,
                                        absl::Span<const uint8_t> nonce,
                                        const IpAddress& ip, uint64_t spi_i) {
  uint8_t spi[8];
  for (int i = 0; i < 8; ++i) spi[i] = static_cast<uint8_t>(spi_i >> (56 - 8 * i));
  crypto::Sha256 hash;
  hash.Update(secret);
  hash.Update(nonce);
  hash.Update(ip.bytes());
  hash.Update(spi);
  const crypto::Sha256::Digest digest = hash.Finish();
  std::vector<uint8_t> cookie;
  cookie.reserve(kCookieSize);
  cookie.push_back(version);
  cookie.insert(cookie.end(), digest.begin(), digest.end());
  return cookie;
}

std::vector<uint8_t> CookieJar::Make(absl::Span<const uint8_t> nonce,
                                     const IpAddress& ip, uint64_t spi_i,
                                     absl::Duration now) {
  MaybeRotate(now);
  return Compute(version_, secret_, nonce, ip, spi_i);
}

bool CookieJar::Verify(absl::Span<const uint8_t> cookie,
                       absl::Span<const uint8_t> nonce, const IpAddress& ip,
                       uint64_t spi_i, absl::Duration now) {
  MaybeRotate(now);
  if (cookie.size() != kCookieSize) return false;
  if (cookie[0] == version_) {
    return crypto::ConstantTimeEquals(
        cookie, Compute(version_, secret_, nonce, ip, spi_i));
  }
  const uint8_t previous_version = static_cast<uint8_t>(version_ - 1);
  if (has_previous_ && cookie[0] == previous_version) {
    return crypto::ConstantTimeEquals(
        cookie, Compute(previous_version, previous_, nonce, ip, spi_i));
  }
  return false;
}

const ike::Bytes* LeadingCookie(const ike::Message& request) {
  if (request.payloads.empty() ||
      request.payloads.front().type != ike::PayloadType::kNotify) {
    return nullptr;
  }
  const auto* notify =
      absl::get_if<ike::NotifyPayload>(&request.payloads.front().body);
  if (notify == nullptr || notify->type != ike::NotifyType::kCookie) {
    return nullptr;
  }
  return &notify->data;
}

const ike::Bytes* InitiatorNonce(const ike::Message& request) {
  const ike::Payload* payload = request.Find(ike::PayloadType::kNonce);
  if (payload == nullptr) return nullptr;
  const auto* nonce = absl::get_if<ike::NoncePayload>(&payload->body);
  return nonce == nullptr ? nullptr : &nonce->data;
}

ike::Bytes BuildCookieReply(const ike::Header& request,
                            absl::Span<const uint8_t> cookie) {
  ike::Message reply;
  reply.header.spi_i = request.spi_i;
  reply.header.spi_r = 0;
  reply.header.exchange_type = ike::ExchangeType::kIkeSaInit;
  reply.header.initiator = false;
  reply.header.response = true;
  reply.header.message_id = request.message_id;
  ike::NotifyPayload notify;
  notify.protocol = ike::ProtocolId::kNone;
  notify.type = ike::NotifyType::kCookie;
  notify.data.assign(cookie.begin(), cookie.end());
  reply.payloads.push_back(ike::Payload::Notify(std::move(notify)));
  absl::StatusOr<ike::Bytes> bytes = ike::SerializeMessage(reply);
  // A header and one notify of at most 64 bytes always serialize.
  return bytes.ok() ? *std::move(bytes) : ike::Bytes();
}

}  // namespace stow::gateway
