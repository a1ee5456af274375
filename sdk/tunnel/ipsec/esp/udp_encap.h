// UDP encapsulation of ESP (RFC 3948) on one socket (the IKE NAT-T port,
// 4500) shared with IKE: the demultiplexing of a received datagram, and
// builders for what is sent besides ESP packets.
//
//   0xFF                          NAT-keepalive (section 2.3), ignored
//   00 00 00 00 | IKE message     non-ESP marker (section 2.2), to IKE
//   SPI (non-zero) | ...          ESP packet (section 2.1), to its SA
//
// Pure functions; the returned spans point into the caller's datagram.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_UDP_ENCAP_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_UDP_ENCAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace stow::esp {

inline constexpr uint16_t kNatTraversalPort = 4500;
inline constexpr size_t kNonEspMarkerSize = 4;
inline constexpr uint8_t kNatKeepaliveByte = 0xFF;
// The fixed IKEv2 header (RFC 7296 section 3.1): a shorter message after the
// marker cannot be IKE.
inline constexpr size_t kIkeHeaderSize = 28;
// An ESP packet starts with SPI and sequence number.
inline constexpr size_t kMinEspDatagramSize = 8;

enum class UdpKind : uint8_t {
  kNatKeepalive,  // Exactly one 0xFF byte.
  kIke,           // Non-ESP marker then at least an IKE header.
  kEsp,           // Non-zero SPI and at least SPI + sequence number.
  kMalformed,     // Anything else (empty, short, a bare marker, ...).
};

const char* UdpKindName(UdpKind kind);

struct UdpClassified {
  UdpKind kind = UdpKind::kMalformed;
  // kIke: the IKE message without the marker. kEsp: the whole datagram (the
  // ESP packet, SPI first). Empty otherwise.
  absl::Span<const uint8_t> payload;
  uint32_t spi = 0;  // kEsp only.
};

UdpClassified ClassifyUdp(absl::Span<const uint8_t> datagram);

// The one-byte NAT-keepalive datagram.
absl::Span<const uint8_t> NatKeepaliveDatagram();

// Writes marker || ike_message into `out`; returns the datagram size, or 0 if
// `out` is shorter than kNonEspMarkerSize + ike_message.size().
size_t WriteIkeDatagram(absl::Span<const uint8_t> ike_message,
                        absl::Span<uint8_t> out);
// The same into a new vector.
std::vector<uint8_t> IkeDatagram(absl::Span<const uint8_t> ike_message);

}  // namespace stow::esp

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_UDP_ENCAP_H_
