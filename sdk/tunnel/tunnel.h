// The seam between the netstack and a transport: a Tunnel is the netstack's
// Link for one session, and carries its IP packets to a gateway somehow
// (ESP in UDP, later TLS).
#ifndef STOWAWAY_SDK_TUNNEL_TUNNEL_H_
#define STOWAWAY_SDK_TUNNEL_TUNNEL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "netstack/link.h"

namespace stow::tunnel {

// Something that happened to a tunnel, for logs and the app's event
// callback.
struct TunnelEvent {
  enum class Kind {
    // The first authenticated packet arrived from the peer.
    kPeerUp,
    // The peer's address changed (NAT rebinding); detail names both.
    kPeerMoved,
    // An SA reached its soft lifetime: new keys are needed soon.
    kRekeyNeeded,
    // An SA reached its hard lifetime: traffic stops until new keys.
    kExpired,
  };
  Kind kind;
  std::string detail;
};

const char* TunnelEventKindName(TunnelEvent::Kind kind);

// Named counters, in a fixed order, for status pages and the demo.
using CounterList = std::vector<std::pair<std::string, uint64_t>>;

// A tunnel to one peer. Everything on the loop thread.
class Tunnel : public netstack::Link {
 public:
  using EventCallback = absl::AnyInvocable<void(const TunnelEvent&)>;

  ~Tunnel() override = default;

  virtual CounterList Counters() const = 0;
};

}  // namespace stow::tunnel

#endif  // STOWAWAY_SDK_TUNNEL_TUNNEL_H_
