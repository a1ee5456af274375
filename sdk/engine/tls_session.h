// A client session over the AnyConnect-compatible TLS tunnel: the
// TlsTunnel to the gateway plus the netstack interface that carries the
// address the gateway assigned (X-CSTP-Address), routed to its split
// includes (everything when it sends none), with the pushed DNS servers.
//
// Reconnection: when the connection drops (TCP or TLS error, unanswered
// DPD, the gateway's DISCONNECT, a stalled attempt), the session connects
// again after a backoff (reconnect.initial_ms, doubled per failed attempt
// up to reconnect.max_ms) presenting the cookie of its login, so the
// gateway gives back the same address and the app's connections survive.
// When the gateway refuses the cookie, the session logs in again at once.
// A failed certificate check or login is terminal (kAuthFailed): retrying
// cannot help.
//
// TCP over TCP: while packets travel inside the TLS connection (no DTLS),
// the interface puts the profile's floor (tcp_min_rto_ms, 1 s) under the
// retransmission timeout of the app's TCP connections: the outer TCP
// already retransmits, and an inner timeout that fires while the outer one
// recovers only sends duplicates and collapses the inner window.
//
// Same contract as IkeSession: exactly one terminal event; events on later
// turns of the loop; loop thread only; the loop and stack outlive it.
#ifndef STOWAWAY_SDK_ENGINE_TLS_SESSION_H_
#define STOWAWAY_SDK_ENGINE_TLS_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netstack/stack.h"
#include "sdk/engine/session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/tls/tls_profile.h"
#include "sdk/tunnel/tls/tls_tunnel.h"

namespace stow::engine {

class TlsSession : public Session, private tunnel::tls::TlsTunnel::Delegate {
 public:
  enum class State : uint8_t { kConnecting, kConnected, kWaiting, kStopped };

  static absl::StatusOr<std::unique_ptr<TlsSession>> Start(
      event::UvLoop* loop, netstack::Stack* stack,
      const tunnel::tls::TlsProfile& profile, EventCallback on_event = nullptr);
  ~TlsSession() override;

  void Close(const std::string& reason = "closed by the application") override;

  State state() const { return state_; }
  tunnel::tls::TlsTunnel* tunnel() const { return tunnel_.get(); }
  netstack::Interface* interface() const override {
    return iface_.interface.get();
  }
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
    return dns_search_;
  }
  absl::Duration next_backoff() const override { return backoff_; }
  tunnel::CounterList Counters() const override;

 private:
  TlsSession(event::UvLoop* loop, netstack::Stack* stack,
             const tunnel::tls::TlsProfile& profile, EventCallback on_event);

  // TlsTunnel::Delegate
  void OnTlsUp(const tunnel::tls::CstpConfig& config) override;
  void OnTlsDown(const absl::Status& why) override;
  void OnTlsInfo(const std::string& line) override;

  void Attempt();
  void Stop(SessionEvent event);
  absl::Status InstallInterface(const tunnel::tls::CstpConfig& config);
  // TCP over TCP: while packets travel inside the TLS connection, the app's
  // TCP connections get the profile's RTO floor; over DTLS, none.
  void UpdateTcpTuning();

  event::UvLoop* const loop_;     // Not owned.
  netstack::Stack* const stack_;  // Not owned.
  EventQueue events_;
  std::unique_ptr<tunnel::tls::TlsTunnel> tunnel_;
  SessionInterface iface_;
  std::unique_ptr<event::Timer> reconnect_timer_;
  State state_ = State::kConnecting;
  absl::Duration backoff_;
  std::string cookie_;
  std::vector<IpAddress> dns_;
  std::vector<std::string> dns_search_;
  uint64_t attempts_ = 0;
  uint64_t connections_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t cookie_refusals_ = 0;
};

}  // namespace stow::engine

#endif  // STOWAWAY_SDK_ENGINE_TLS_SESSION_H_
