// A client session over ESP: the tunnel to the gateway plus the netstack
// interface that carries the session's virtual addresses. Until the C API
// and IKE arrive, the demo and the tests use it directly.
#ifndef STOWAWAY_SDK_ENGINE_ESP_SESSION_H_
#define STOWAWAY_SDK_ENGINE_ESP_SESSION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "netstack/stack.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/esp_tunnel.h"
#include "sdk/tunnel/ipsec/profile.h"

namespace stow::engine {

// Packets for the profile's routes (everything when it lists none) leave
// through the tunnel; the session's interface holds the virtual addresses,
// so connections bound to them live and die with the session.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the loop and the stack outlive the session.
class EspSession {
 public:
  static absl::StatusOr<std::unique_ptr<EspSession>> Start(
      event::UvLoop* loop, netstack::Stack* stack,
      const ipsec::EspProfile& profile,
      tunnel::Tunnel::EventCallback on_event = nullptr);
  ~EspSession();

  const ipsec::EspProfile& profile() const { return profile_; }
  ipsec::EspTunnel* tunnel() const { return tunnel_.get(); }
  netstack::Interface* interface() const { return interface_.get(); }
  // The tunnel's and the interface's counters together.
  tunnel::CounterList Counters() const;

 private:
  explicit EspSession(const ipsec::EspProfile& profile) : profile_(profile) {}

  const ipsec::EspProfile profile_;
  std::unique_ptr<ipsec::EspTunnel> tunnel_;
  std::unique_ptr<netstack::Interface> interface_;
};

}  // namespace stow::engine

#endif  // STOWAWAY_SDK_ENGINE_ESP_SESSION_H_
