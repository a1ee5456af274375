// Port forwards between host loopback ports and the tunnel.
//   LocalForward:  a host listener; each connection is dialled to a tunnel
//                  host:port (a name is allowed) and relayed.
//   RemoteForward: a netstack listener on a virtual address; each
//                  connection is relayed to a host TCP address (the
//                  gateway's port forwards are RemoteForwards).
#ifndef STOWAWAY_SDK_PROXY_FORWARD_H_
#define STOWAWAY_SDK_PROXY_FORWARD_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/dialer.h"
#include "sdk/proxy/graveyard.h"
#include "sdk/proxy/relay.h"

namespace stow::proxy {

struct ForwardOptions {
  // Relayed connections alive at once; more are reset at accept.
  size_t max_connections = 512;
  // Bytes queued towards the host stream before the relay stops reading
  // from the tunnel.
  size_t host_queue_limit = 512 * 1024;
};

struct ForwardCounters {
  uint64_t accepted = 0;          // Connections accepted.
  uint64_t active = 0;            // Relays (or dials) alive now.
  uint64_t closed = 0;            // Relays ended, any way.
  uint64_t connect_failures = 0;  // Outgoing connects/dials that failed.
  // Relays ended by a reset, abort or I/O error on either side (connect
  // failures included).
  uint64_t errors = 0;
  uint64_t rejected = 0;          // Reset at accept: max_connections alive.
  uint64_t bytes_to_host = 0;     // Tunnel -> host.
  uint64_t bytes_to_tunnel = 0;   // Host -> tunnel.
};

// Relays every connection accepted on a virtual TCP address to a host TCP
// address (see Relay for the relaying rules). A refused or failed host
// connect resets the tunnel connection.
//
// Threading: the stack must run on `loop`; everything on that loop's
// thread. Ownership: the Stack and the UvLoop must outlive it. Destroying it
// stops listening and resets every connection still open.
class RemoteForward {
 public:
  // Errors: kInvalidArgument (stack on another loop, host address
  // unspecified or port 0, max_connections 0), kAlreadyExists naming the
  // virtual address when the port is taken, or the stack's error.
  static absl::StatusOr<std::unique_ptr<RemoteForward>> Start(
      netstack::Stack* stack, event::UvLoop* loop,
      const SocketAddress& virtual_address, const SocketAddress& host_address,
      const ForwardOptions& options = ForwardOptions());
  ~RemoteForward();
  RemoteForward(const RemoteForward&) = delete;
  RemoteForward& operator=(const RemoteForward&) = delete;

  // The listening address (the chosen port if the asked one was 0).
  SocketAddress listen_address() const;
  SocketAddress host_address() const { return host_address_; }
  ForwardCounters counters() const;
  size_t live_relays() const { return relays_.size(); }

 private:
  class Acceptor;
  RemoteForward(event::UvLoop* loop, const SocketAddress& host_address,
                const ForwardOptions& options);
  void Accept(std::unique_ptr<netstack::TcpConnection> conn);
  void OnEnd(std::list<std::unique_ptr<Relay>>::iterator it, RelayEnd end);

  event::UvLoop* const loop_;  // Not owned.
  const SocketAddress host_address_;
  const ForwardOptions options_;
  ForwardCounters counters_;
  RelayCounters bytes_;
  std::unique_ptr<Acceptor> acceptor_;
  std::list<std::unique_ptr<Relay>> relays_;
  Graveyard<Relay> graveyard_;
};

// Listens on a host address (loopback, normally) and relays every
// connection to `host`:`port` through the tunnel, dialled with `dialer`
// (a name resolves through it). A failed dial closes the host connection
// with a reset.
//
// Threading: everything on the loop thread. Ownership: the loop and the
// dialer must outlive it; destroying it stops listening, cancels dials and
// resets every connection.
class LocalForward {
 public:
  // kInvalidArgument for port 0, an empty host or max_connections 0;
  // kAlreadyExists when the listen address is taken.
  static absl::StatusOr<std::unique_ptr<LocalForward>> Start(
      event::UvLoop* loop, Dialer* dialer, const SocketAddress& listen,
      const std::string& host, uint16_t port,
      const ForwardOptions& options = ForwardOptions());
  ~LocalForward();
  LocalForward(const LocalForward&) = delete;
  LocalForward& operator=(const LocalForward&) = delete;

  SocketAddress listen_address() const { return listen_address_; }
  ForwardCounters counters() const;
  size_t live_connections() const { return entries_.size(); }

 private:
  struct Entry;
  class Acceptor;
  LocalForward(event::UvLoop* loop, Dialer* dialer, const std::string& host,
               uint16_t port, const ForwardOptions& options);
  void Accept(std::unique_ptr<event::TcpSocket> socket);
  void OnDialed(Entry* entry, Dialer::Result result);
  void Remove(Entry* entry, bool error);

  event::UvLoop* const loop_;  // Not owned.
  Dialer* const dialer_;       // Not owned.
  const std::string host_;
  const uint16_t port_;
  const ForwardOptions options_;
  ForwardCounters counters_;
  RelayCounters bytes_;
  std::unique_ptr<Acceptor> acceptor_;
  SocketAddress listen_address_;
  std::list<std::unique_ptr<Entry>> entries_;
  Graveyard<Entry> graveyard_;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_FORWARD_H_
