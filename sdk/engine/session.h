// What every client session (IKEv2 + ESP, or AnyConnect over TLS) has in
// common: its events, the interface the C API and the samples use, and
// helpers both implementations share.
#ifndef STOWAWAY_SDK_ENGINE_SESSION_H_
#define STOWAWAY_SDK_ENGINE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/loop.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::engine {

// A state change of the session, with its reason.
struct SessionEvent {
  enum class Kind : uint8_t {
    kConnecting,        // An attempt starts (detail: the attempt).
    kConnected,         // Up: addresses, DNS and routes are installed.
    kRekeyed,           // A CHILD or the IKE SA was replaced (detail says).
    kReconnecting,      // The connection ended; detail: why and the delay.
    kAuthFailed,        // Terminal: authentication failed (either side's,
                        // the gateway's certificate included).
    kNoProposalChosen,  // Terminal: no common algorithms (both lists).
    kDisconnected,      // Terminal: Close() was called.
    kInfo,              // A log line: no state change.
  };
  Kind kind = Kind::kInfo;
  std::string detail;
};
const char* SessionEventKindName(SessionEvent::Kind kind);
bool IsTerminal(SessionEvent::Kind kind);

// A client session, whatever its transport. Loop thread only.
class Session {
 public:
  using EventCallback = absl::AnyInvocable<void(const SessionEvent&)>;

  virtual ~Session() = default;
  // Says goodbye to the gateway and stops; kDisconnected follows.
  // Idempotent.
  virtual void Close(const std::string& reason) = 0;
  // The interface holding the virtual addresses; null before the first
  // connection.
  virtual netstack::Interface* interface() const = 0;
  virtual const absl::optional<IpAddress>& ipv4() const = 0;
  virtual const absl::optional<IpAddress>& ipv6() const = 0;
  virtual const std::vector<IpAddress>& dns_servers() const = 0;
  virtual const std::vector<netstack::Route>& routes() const = 0;
  // Search domains for names resolved through dns_servers().
  virtual const std::vector<std::string>& dns_search() const = 0;
  virtual tunnel::CounterList Counters() const = 0;
  // The wait before the next attempt (after kReconnecting).
  virtual absl::Duration next_backoff() const = 0;
};

// Delivers session events on a later turn of the loop, in order, and
// nothing after a terminal one.
class EventQueue {
 public:
  EventQueue(event::Loop* loop, Session::EventCallback callback);
  void Emit(SessionEvent event);

 private:
  void Deliver();

  Session::EventCallback callback_;
  std::unique_ptr<event::Timer> timer_;
  std::vector<SessionEvent> pending_;
};

// The interface that holds a session's virtual addresses, kept across
// reconnections that give the same addresses and routes.
struct SessionInterface {
  std::unique_ptr<netstack::Interface> interface;
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  std::vector<netstack::Route> routes;
  uint64_t changes = 0;  // Replaced because the addresses changed.

  // Keeps the interface when the addresses and routes are the same
  // (connections carry on); otherwise replaces it, which aborts the
  // connections on the old address, and says so in `events`. No routes
  // means a default route. Errors: no address, or the netstack's.
  absl::Status Update(netstack::Stack* stack, netstack::Link* link,
                      const absl::optional<IpAddress>& v4,
                      const absl::optional<IpAddress>& v6,
                      std::vector<netstack::Route> new_routes,
                      EventQueue* events);
};

// "a, b" and "10.0.0.0/8, ..." for event details.
std::string AddressList(const std::vector<IpAddress>& addresses);
std::string RouteList(const std::vector<netstack::Route>& routes);
bool SameRoutes(const std::vector<netstack::Route>& a,
                const std::vector<netstack::Route>& b);

}  // namespace stow::engine

#endif  // STOWAWAY_SDK_ENGINE_SESSION_H_
