// Checks on inbound packets made before lwIP sees them. Pure functions.
#ifndef STOWAWAY_NETSTACK_PACKET_CHECK_H_
#define STOWAWAY_NETSTACK_PACKET_CHECK_H_

#include <cstdint>

#include "absl/types/span.h"

namespace stow::netstack {

enum class PacketVerdict {
  kPass,
  // Truncated or inconsistent headers: counted as malformed.
  kMalformed,
  // Well formed but not for a point-to-point tunnel link (IPv6 router
  // advertisements and redirects, which would install routes): ignored.
  kIgnored,
};

// Walks an IPv6 packet's extension header chain (hop-by-hop, destination
// options, routing, fragment) and the options inside, within the payload
// length the header declares. lwIP 2.1.3 reads a header's length byte and
// option headers before checking that they are inside the packet, so a
// chain cut short would make it read past the buffer.
PacketVerdict CheckIpv6(absl::Span<const uint8_t> packet);

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_PACKET_CHECK_H_
