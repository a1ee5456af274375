// Port forwards: a virtual TCP port on the gateway's netstack relayed to a
// TCP address on the host ("10.99.0.1:8080=127.0.0.1:8000").
#ifndef STOWAWAY_SDK_GATEWAY_SERVICES_PORT_FORWARD_H_
#define STOWAWAY_SDK_GATEWAY_SERVICES_PORT_FORWARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/forward.h"

namespace stow::gateway {

struct ForwardSpec {
  // Where the netstack listens. An unspecified address (0.0.0.0, ::)
  // listens on every virtual address of that family ("::": both).
  SocketAddress virtual_address;
  // Where each accepted connection is relayed: a host TCP address.
  SocketAddress host_address;

  // "10.99.0.1:8080=127.0.0.1:8000", "[fd99::1]:8080=[::1]:8000".
  std::string ToString() const;
};

// Parses "VIRTUAL=HOST", each side "IPv4:port" or "[IPv6]:port" with a port
// in 1..65535; the host address must not be unspecified. Host names are not
// resolved. Errors are kInvalidArgument and name the side and what is wrong.
absl::StatusOr<ForwardSpec> ParseForwardSpec(absl::string_view text);

struct PortForwardOptions {
  // Relayed connections alive at once; more are reset at accept.
  size_t max_connections = 512;
  // Bytes queued towards the host socket before the relay stops reading
  // from the virtual side (it resumes once the queue has drained).
  size_t host_queue_limit = 512 * 1024;
};

struct PortForwardCounters {
  uint64_t accepted = 0;          // Virtual connections accepted.
  uint64_t active = 0;            // Relays alive now.
  uint64_t closed = 0;            // Relays ended, any way.
  uint64_t connect_failures = 0;  // Host connects refused or failed.
  // Relays ended by a reset, abort or I/O error on either side (connect
  // failures included).
  uint64_t errors = 0;
  uint64_t rejected = 0;          // Reset at accept: max_connections alive.
  uint64_t bytes_to_host = 0;     // Virtual -> host, handed to the socket.
  uint64_t bytes_to_virtual = 0;  // Host -> virtual, handed to the stack.
};

// Listens on a virtual TCP address and relays every accepted connection to
// the host address through an event::TcpSocket: a proxy::RemoteForward (see
// sdk/proxy/relay.h for the relaying rules: bounded memory per relay,
// half-close passed on as FIN, resets passed on, a refused host connect
// resets the virtual connection).
//
// Threading: the stack must run on `loop`; everything, construction and
// destruction included, on that loop's thread. Ownership: the Stack and the
// UvLoop must outlive the PortForward. Destroying it stops listening,
// resets every virtual connection still open and closes their host sockets.
class PortForward {
 public:
  // Errors: kInvalidArgument (stack on another loop, host address
  // unspecified or port 0, max_connections 0), kAlreadyExists naming the
  // virtual address when the port is taken, or the stack's error.
  static absl::StatusOr<std::unique_ptr<PortForward>> Start(
      netstack::Stack* stack, event::UvLoop* loop, const ForwardSpec& spec,
      const PortForwardOptions& options = PortForwardOptions());
  ~PortForward();
  PortForward(const PortForward&) = delete;
  PortForward& operator=(const PortForward&) = delete;

  const ForwardSpec& spec() const { return spec_; }
  // The listening address (the chosen port if spec's was 0).
  SocketAddress listen_address() const;
  PortForwardCounters counters() const;
  size_t live_relays() const;

 private:
  PortForward(const ForwardSpec& spec,
              std::unique_ptr<proxy::RemoteForward> forward);

  const ForwardSpec spec_;
  std::unique_ptr<proxy::RemoteForward> forward_;
};

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_SERVICES_PORT_FORWARD_H_
