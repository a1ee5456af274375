// NAT detection (RFC 7296 section 2.23): the Notification Data of
// NAT_DETECTION_SOURCE_IP (16388) and NAT_DETECTION_DESTINATION_IP (16389)
// is SHA-1(SPIi | SPIr | IP address | port), with the address in network
// order (4 bytes for IPv4, 16 for IPv6) and the port as 2 bytes big-endian.
// In the IKE_SA_INIT request SPIr is 0.
//
// Pure functions; callable from any thread.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_NAT_DETECTION_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_NAT_DETECTION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "sdk/base/ip_address.h"

namespace stow::ike {

inline constexpr uint16_t kNotifyNatDetectionSourceIp = 16388;
inline constexpr uint16_t kNotifyNatDetectionDestinationIp = 16389;
inline constexpr size_t kNatDetectionHashSize = 20;

// SHA-1(SPIi | SPIr | address | port): 20 bytes. `address` must be an IPv4
// or IPv6 address (an unset IpAddress hashes as its family's bytes).
std::vector<uint8_t> NatDetectionHash(uint64_t spi_i, uint64_t spi_r,
                                      const IpAddress& address,
                                      uint16_t port);
inline std::vector<uint8_t> NatDetectionHash(
    uint64_t spi_i, uint64_t spi_r, const SocketAddress& endpoint) {
  return NatDetectionHash(spi_i, spi_r, endpoint.ip(), endpoint.port());
}

// True if `notification_data` (from a received NAT_DETECTION_* notify) is
// the hash of `endpoint` as we see it; a mismatch means a NAT sits on that
// side. Constant-time compare; false for a wrong length.
bool NatDetectionMatches(absl::Span<const uint8_t> notification_data,
                         uint64_t spi_i, uint64_t spi_r,
                         const SocketAddress& endpoint);

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_NAT_DETECTION_H_
