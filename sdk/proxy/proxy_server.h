// The local proxy: SOCKS5 (RFC 1928: CONNECT and UDP ASSOCIATE; RFC 1929
// username/password) and HTTP (CONNECT, and absolute-URI requests) on one
// host port, relaying through the tunnel.
#ifndef STOWAWAY_SDK_PROXY_PROXY_SERVER_H_
#define STOWAWAY_SDK_PROXY_PROXY_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/dialer.h"
#include "sdk/proxy/graveyard.h"
#include "sdk/proxy/relay.h"

namespace stow::proxy {

struct ProxyServerOptions {
  // Where to listen; port 0 picks one. Loopback is the only sensible
  // choice: the proxy has no other access control than the credentials.
  SocketAddress listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 0);
  // Both empty: no authentication. Otherwise SOCKS5 clients must use
  // username/password (method 0x02; clients offering only 0x00 get 0xFF)
  // and HTTP clients must send "Proxy-Authorization: Basic" (else 407).
  std::string username;
  std::string password;
  // Client connections alive at once; more are reset at accept.
  size_t max_connections = 256;
  // A client must finish its handshake (SOCKS greeting, authentication and
  // request; an HTTP request head) within this time, else it is closed
  // (HTTP: with 408). Dialling has its own timeout (the Dialer's).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Bytes queued towards a client before the relay stops reading the
  // tunnel.
  size_t host_queue_limit = 512 * 1024;
};

struct ProxyServerCounters {
  uint64_t accepted = 0;
  uint64_t active = 0;             // Client connections alive now.
  uint64_t rejected = 0;           // Reset at accept: max_connections.
  uint64_t socks_requests = 0;     // Complete SOCKS5 requests.
  uint64_t http_requests = 0;      // Complete HTTP request heads.
  uint64_t malformed = 0;          // Protocol errors answered and closed.
  uint64_t auth_failures = 0;      // Wrong or missing credentials.
  uint64_t unsupported = 0;        // SOCKS BIND etc., HTTP 405/501.
  uint64_t handshake_timeouts = 0;
  uint64_t dial_failures = 0;
  uint64_t relays_started = 0;
  uint64_t relays_closed = 0;      // Ended gracefully.
  uint64_t relay_errors = 0;       // Ended by a reset or error.
  uint64_t bytes_to_tunnel = 0;
  uint64_t bytes_to_host = 0;
  uint64_t udp_associations = 0;
  uint64_t udp_to_tunnel = 0;      // Datagrams relayed client -> tunnel.
  uint64_t udp_to_client = 0;      // Datagrams relayed tunnel -> client.
  uint64_t udp_dropped_fragmented = 0;  // FRAG != 0.
  uint64_t udp_dropped_malformed = 0;   // Bad header.
  // From an unexpected source, unresolvable or failed sends, queue full.
  uint64_t udp_dropped_other = 0;
};

// Listens on a host address and speaks SOCKS5 or HTTP on each connection,
// chosen by the first byte (0x05: SOCKS5, anything else: HTTP).
//
// SOCKS5 replies: 0x01 general failure (malformed request, resolution
// errors other than "no such name"), 0x03 network unreachable (no route),
// 0x04 host unreachable (name does not resolve, no answer, dial timeout),
// 0x05 connection refused, 0x07 command not supported (BIND), 0x08 address
// type not supported. UDP ASSOCIATE binds a host UDP socket on the control
// connection's local address; datagrams are accepted only from the control
// connection's peer address (and the port the request named, if any);
// fragments (FRAG != 0) are dropped and counted; the association ends when
// the control connection closes.
//
// HTTP: "CONNECT host:port" answers "200 Connection established" and
// relays. A request with an absolute http:// URI is forwarded with its head
// rewritten to origin form, hop-by-hop fields dropped and "Connection:
// close"; the response is relayed and the client connection closes after
// it: one request per client connection. Errors: 400 malformed, 405
// origin-form requests, 501 other schemes, 431 heads over 64 KiB, 407
// missing credentials, 502 when the name does not resolve (the body names
// it) or the connect fails, 504 on a dial timeout, 408 on a handshake
// timeout. Every error reply is followed by closing the connection.
//
// Threading: everything on the loop thread. Ownership: the loop and the
// dialer must outlive the server; destroying it closes every client
// connection (resetting relays) and cancels dials.
class ProxyServer {
 public:
  // kInvalidArgument for max_connections 0 or half-given credentials;
  // kAlreadyExists when the address is taken.
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Start(
      event::UvLoop* loop, Dialer* dialer, const ProxyServerOptions& options);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  SocketAddress listen_address() const { return listen_address_; }
  ProxyServerCounters counters() const;
  size_t live_sessions() const { return sessions_.size(); }

 private:
  class Session;
  class Acceptor;
  friend class Session;

  ProxyServer(event::UvLoop* loop, Dialer* dialer,
              const ProxyServerOptions& options);
  void Accept(std::unique_ptr<event::TcpSocket> socket);
  void Remove(Session* session);

  event::UvLoop* const loop_;  // Not owned.
  Dialer* const dialer_;       // Not owned.
  const ProxyServerOptions options_;
  ProxyServerCounters counters_;
  RelayCounters bytes_;
  std::unique_ptr<Acceptor> acceptor_;
  SocketAddress listen_address_;
  std::list<std::unique_ptr<Session>> sessions_;
  Graveyard<Session> graveyard_;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_PROXY_SERVER_H_
