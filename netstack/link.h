// The link seam: a packet device beneath the netstack. One netif per link.
#ifndef STOWAWAY_NETSTACK_LINK_H_
#define STOWAWAY_NETSTACK_LINK_H_

#include <cstdint>

#include "absl/types/span.h"

namespace stow::netstack {

// A point-to-point device that carries whole IP packets (IPv4 or IPv6, no
// link-layer header): a tunnel, a TUN device, or a test double.
//
// Threading: all methods on the loop thread. The netstack calls SendPacket;
// the link delivers inbound packets to its Receiver.
class Link {
 public:
  // Takes inbound packets. Implemented by the netstack's Interface.
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // `packet` is valid only during the call; the receiver copies it.
    virtual void OnPacket(absl::Span<const uint8_t> packet) = 0;
  };

  virtual ~Link() = default;

  // Largest IP packet the link carries, in bytes.
  virtual int mtu() const = 0;

  // Sends one IP packet made of `fragments` in order (valid only during the
  // call). A link that cannot send drops the packet and counts it; TCP
  // recovers, as on any network.
  virtual void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) = 0;

  // Attaches the receiver of inbound packets; nullptr detaches. Not owned.
  virtual void SetReceiver(Receiver* receiver) = 0;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_LINK_H_
