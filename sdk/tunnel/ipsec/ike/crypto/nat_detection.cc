#include "sdk/tunnel/ipsec/ike/crypto/nat_detection.h"

#include "sdk/crypto/hash.h"
#include "sdk/crypto/hmac.h"

namespace stow::ike {

std::vector<uint8_t> NatDetectionHash(uint64_t spi_i, uint64_t spi_r,
                                      const IpAddress& address,
                                      uint16_t port) {
  uint8_t spis[16];
  for (int i = 0; i < 8; ++i) {
    spis[i] = static_cast<uint8_t>(spi_i >> (56 - 8 * i));
    spis[8 + i] = static_cast<uint8_t>(spi_r >> (56 - 8 * i));
  }
  const uint8_t port_bytes[2] = {static_cast<uint8_t>(port >> 8),
                                 static_cast<uint8_t>(port)};
  crypto::Hasher hasher(crypto::HashAlgorithm::kSha1);
  hasher.Update(spis);
  hasher.Update(address.bytes());
  hasher.Update(port_bytes);
  return hasher.Finish();
}

bool NatDetectionMatches(absl::Span<const uint8_t> notification_data,
                         uint64_t spi_i, uint64_t spi_r,
                         const SocketAddress& endpoint) {
  if (notification_data.size() != kNatDetectionHashSize) return false;
  return crypto::ConstantTimeEquals(
      notification_data, NatDetectionHash(spi_i, spi_r, endpoint));
}

}  // namespace stow::ike
