// Checks on inbound packets made before lwIP sees them. Pure functions.
#ifndef STOWAWAY_NETSTACK_PACKET_CHECK_H_
#define STOWAWAY_NETSTACK_PACKET_CHECK_H_

#include <cstdint>

#include "absl/types/span.h"

namespace stow::netstack {

enum class PacketVerdict {
  kPass,
  // Well formed, and a fragment that goes to lwIP's reassembly queue (its
  // Fragment header has a non-zero offset or the M flag). lwIP 2.1.3 can
  // complete such a datagram with a hole in it (see CheckIpv6), so the
  // caller verifies the transport checksum of whatever it reassembles.
  kFragment,
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
//
// Fragments (RFC 8200 section 4.5) that lwIP 2.1.3's reassembly
// (src/core/ipv6/ip6_frag.c, ip6_reass) mishandles are malformed:
//  - a fragment without data (payload ends right after the Fragment
//    header): lwIP queues it as the empty range [offset, offset), and then
//    drops the real fragment at that offset as a "duplicate" (it compares
//    start offsets only), so the datagram can never complete;
//  - a second Fragment header in one chain (RFC 8200 section 4.1: at most
//    once): lwIP would reassemble again inside a reassembled datagram.
// Other well-formed fragments are kFragment.
PacketVerdict CheckIpv6(absl::Span<const uint8_t> packet);

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_PACKET_CHECK_H_
