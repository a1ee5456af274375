// A client session over IKEv2 + ESP: the IKE tunnel to the gateway plus the
// netstack interface that carries the addresses the gateway assigned, with
// reconnection. Until the C API arrives, the demo and the tests use it
// directly.
#ifndef STOWAWAY_SDK_ENGINE_IKE_SESSION_H_
#define STOWAWAY_SDK_ENGINE_IKE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"
#include "sdk/engine/session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/ike_profile.h"
#include "sdk/tunnel/ipsec/ike_tunnel.h"

namespace stow::engine {


// Connects at Start(). When the IKE SA and its CHILD SA are up, the
// assigned virtual IPv4/IPv6 addresses go on a netstack interface for this
// session, routed to the CHILD SA's remote traffic selectors (as narrowed by
// the gateway), and dns_servers() lists the pushed DNS servers.
//
// When the IKE SA fails, the gateway stops answering (retransmissions or
// DPD exhausted) or deletes the SA, the session reconnects after a backoff
// (the profile's reconnect.initial_ms, doubled per failed attempt up to
// reconnect.max_ms, back to the initial value once connected), forever.
// The interface stays while reconnecting, so connections survive a
// re-establishment that keeps the virtual address; a different address
// re-creates it (aborting the connections bound to the old one).
// Authentication failures and NO_PROPOSAL_CHOSEN are configuration errors:
// the session stops with that event instead of retrying.
//
// Exactly one terminal event (kAuthFailed, kNoProposalChosen or
// kDisconnected) ends a session; nothing is called after it. Close() sends
// the DELETE and reports kDisconnected on a later turn of the loop.
//
// Threading: loop thread only, construction and destruction included.
// Events are delivered on the loop thread, never from inside Start() or
// Close(); the callback must not destroy the session (defer it with Post).
// Ownership: the loop and the stack outlive the session.
class IkeSession : public Session, private ipsec::IkeTunnel::Delegate {
 public:
  enum class State : uint8_t {
    kConnecting,
    kConnected,
    kWaiting,  // Backoff before the next attempt.
    kStopped,  // After a terminal event.
  };

  // Creates the tunnel and starts the first attempt (kConnecting follows on
  // a later turn of the loop). Errors: the tunnel's socket.
  static absl::StatusOr<std::unique_ptr<IkeSession>> Start(
      event::UvLoop* loop, netstack::Stack* stack,
      const ipsec::IkeProfile& profile, EventCallback on_event = nullptr);
  ~IkeSession() override;

  // Deletes the IKE SA and stops; kDisconnected follows. Idempotent.
  void Close(const std::string& reason = "closed by the application") override;

  State state() const { return state_; }
  const ipsec::IkeProfile& profile() const { return tunnel_->profile(); }
  ipsec::IkeTunnel* tunnel() const { return tunnel_.get(); }
  // The interface holding the virtual addresses; null before the first
  // connection.
  netstack::Interface* interface() const override {
    return iface_.interface.get();
  }
  // What the gateway assigned at the last connection (empty before).
  const absl::optional<IpAddress>& ipv4() const override {
    return iface_.ipv4;
  }
  const absl::optional<IpAddress>& ipv6() const override {
    return iface_.ipv6;
  }
  const std::vector<IpAddress>& dns_servers() const override { return dns_; }
  const std::vector<netstack::Route>& routes() const override {
    return iface_.routes;
  }
  const std::vector<std::string>& dns_search() const override {
    return tunnel_->profile().dns_search;
  }
  // The wait before the next attempt (after kReconnecting).
  absl::Duration next_backoff() const override { return backoff_; }
  // The tunnel's, the interface's and the session's counters.
  tunnel::CounterList Counters() const override;

 private:
  IkeSession(event::UvLoop* loop, netstack::Stack* stack,
             EventCallback on_event);

  // ipsec::IkeTunnel::Delegate
  void OnIkeEvent(const ike::IkeEvent& event) override;
  void OnTunnelUp() override;
  void OnTunnelDown(ike::IkeEvent::Kind kind,
                    const std::string& detail) override;
  void OnTunnelEvent(const tunnel::TunnelEvent& event) override;

  void Attempt();
  void Stop(SessionEvent event);
  // Queues `event` and delivers the queue on a later turn of the loop.
  void Emit(SessionEvent event);
  absl::Status InstallInterface();

  event::UvLoop* const loop_;     // Not owned.
  netstack::Stack* const stack_;  // Not owned.
  EventQueue events_;
  std::unique_ptr<ipsec::IkeTunnel> tunnel_;
  SessionInterface iface_;
  std::unique_ptr<event::Timer> reconnect_timer_;
  State state_ = State::kConnecting;
  absl::Duration backoff_;
  std::vector<IpAddress> dns_;
  uint64_t attempts_ = 0;
  uint64_t connections_ = 0;
  uint64_t reconnects_ = 0;
};

}  // namespace stow::engine

#endif  // STOWAWAY_SDK_ENGINE_IKE_SESSION_H_
