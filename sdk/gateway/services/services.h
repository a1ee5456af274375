// The gateway's built-in services, hosted on its netstack: the classic
// echo/discard/chargen trio and a small HTTP/1.1 server for status pages and
// transfer tests.
//
// Protocols, on every configured virtual address (IPv4 and IPv6):
//   TCP echo    (7):  returns every byte; FIN after the client's FIN.
//   UDP echo    (7):  returns every datagram to its sender.
//   TCP discard (9):  reads and drops (RFC 863); FIN after the client's FIN.
//   TCP source  (19): sends ChargenPattern (pattern.h, RFC 864 lines) until
//                     the client closes or half-closes; drops what it reads.
//   HTTP/1.1    (80):
//     GET /               200 text/plain: the owner's status page.
//     GET /bytes?n=N[&seed=S]
//                         200 application/octet-stream, Content-Length N:
//                         the first N bytes of BytePattern(S) (seed 0 when
//                         absent; pattern.h), streamed with backpressure.
//                         N above kMaxHttpBytes or malformed: 400.
//     POST /sha256        Content-Length body -> 200 text/plain: the
//                         body's SHA-256 as 64 lower-case hex digits and
//                         "\n". Without Content-Length: 411. Honours
//                         "Expect: 100-continue".
//     HEAD is accepted wherever GET is. Unknown path: 404. Known path, other
//     method: 405 with Allow. Malformed request (http_request.h) or bad
//     query: 400. Head over 16 KiB: 431 (request line alone: 414).
//     Transfer-Encoding: 501. HTTP/2+: 505.
//     Every response has Content-Length. Connections are kept alive for
//     sequential (and pipelined) requests unless the request says
//     "Connection: close" (or is HTTP/1.0 without keep-alive), it carried a
//     body the server did not read, or it could not be framed (a parser
//     error, 411, 501); then the server sends FIN after the response and
//     drains the client's bytes until its FIN, so the response is never cut
//     by a reset. A connection with no progress in either direction for
//     `http_idle_timeout` is aborted.
//
//   DNS         (53, UDP and TCP): only when `dns_records` is given; an
//                     authoritative server for those records plus
//                     kGatewayDnsName -> every (specified) address in
//                     `addresses` (dns_service.h).
//
// Memory: every connection holds at most one 64 KiB I/O buffer plus the
// HTTP head buffer (16 KiB + one read); beyond that, a client that does not
// read what it gets back stops the service from reading (its window closes
// - flow control), so nothing grows without bound. At most
// `max_connections` TCP connections live at once; more are reset.
#ifndef STOWAWAY_SDK_GATEWAY_SERVICES_SERVICES_H_
#define STOWAWAY_SDK_GATEWAY_SERVICES_SERVICES_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/udp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/loop.h"
#include "sdk/gateway/services/dns_service.h"

namespace stow::gateway {

// The largest N that GET /bytes serves: 1 TiB.
inline constexpr uint64_t kMaxHttpBytes = uint64_t{1} << 40;

struct ServicesConfig {
  // Virtual addresses to serve on (at least one); each must belong to an
  // interface of the stack, or be unspecified ("0.0.0.0" / "::": all).
  std::vector<IpAddress> addresses;
  // Ports; 0 disables a service. The TCP ports must differ.
  uint16_t tcp_echo_port = 7;
  uint16_t udp_echo_port = 7;
  uint16_t discard_port = 9;
  uint16_t source_port = 19;
  uint16_t http_port = 80;
  // TCP connections alive at once over all services; more are reset.
  size_t max_connections = 512;
  // HTTP connections without progress for this long are aborted.
  absl::Duration http_idle_timeout = absl::Seconds(60);
  // DNS (dns_service.h) on UDP and TCP `dns_port` runs when `dns_records`
  // is not empty (and dns_port is not 0). Its own TCP connection limit
  // applies, not max_connections.
  std::vector<DnsRecord> dns_records;
  uint32_t dns_ttl = 60;
  uint16_t dns_port = 53;
};

// Counters of one TCP service.
struct TcpServiceCounters {
  uint64_t accepted = 0;   // Connections accepted.
  uint64_t active = 0;     // Connections open now.
  uint64_t closed = 0;     // Connections ended, any way.
  // Connections that ended badly: reset or aborted by the client or the
  // stack, a failed write, (HTTP) a malformed request, a truncated body or
  // an idle timeout.
  uint64_t errors = 0;
  uint64_t bytes_in = 0;   // Bytes read from clients.
  uint64_t bytes_out = 0;  // Bytes handed to the stack for clients.
};

struct UdpServiceCounters {
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t errors = 0;  // Replies the stack refused (no route, no memory).
};

struct HttpRequestCounters {
  uint64_t requests = 0;       // Request heads parsed or rejected.
  uint64_t responses_2xx = 0;  // Final responses by class (100 not counted).
  uint64_t responses_4xx = 0;
  uint64_t responses_5xx = 0;
  uint64_t idle_timeouts = 0;
};

struct ServicesCounters {
  TcpServiceCounters tcp_echo;
  TcpServiceCounters discard;
  TcpServiceCounters source;
  TcpServiceCounters http;
  UdpServiceCounters udp_echo;
  HttpRequestCounters http_requests;
  DnsCounters dns;  // All 0 while DNS is off.
  // Connections reset at accept because max_connections were alive.
  uint64_t rejected = 0;
};

// Renders counters as "name value" lines, for status pages.
std::string FormatCounters(const ServicesCounters& counters);

// The built-in services on a netstack.
//
// Threading: everything, including construction and destruction, on the
// stack's loop thread; no callback runs after destruction.
// Ownership: the Stack (and its interfaces) must outlive the Services.
// Destroying the Services closes the listeners and UDP endpoints and aborts
// (RST) every connection still open, leaving no lwIP pcb of its own behind.
// Do not destroy it from inside its status-page callback.
class Services {
 public:
  // Produces the body of GET /. Runs on the loop thread.
  using StatusPage = absl::AnyInvocable<std::string()>;

  // Starts listening. Errors: kInvalidArgument (no address, clashing TCP
  // or UDP ports, nothing enabled, a bad DNS record), kAlreadyExists naming
  // the address when a port is taken, or the stack's error.
  static absl::StatusOr<std::unique_ptr<Services>> Start(
      netstack::Stack* stack, const ServicesConfig& config);
  ~Services();
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  // Replaces the producer of GET /'s body. Without one, the page lists the
  // counters (FormatCounters()).
  void set_status_page(StatusPage page) { status_page_ = std::move(page); }

  const ServicesCounters& counters() const { return counters_; }
  // TCP connections alive (all services), including ones finishing now.
  size_t live_connections() const { return sessions_.size(); }
  const ServicesConfig& config() const { return config_; }
  // The DNS server, or null while DNS is off.
  const DnsService* dns() const { return dns_.get(); }

 private:
  enum class Kind { kEcho, kDiscard, kSource, kHttp };
  class Session;
  class EchoSession;
  class DiscardSession;
  class SourceSession;
  class HttpSession;
  class Acceptor;
  class UdpEcho;

  Services(netstack::Stack* stack, const ServicesConfig& config);
  absl::Status Listen(Kind kind, const IpAddress& ip, uint16_t port);
  void Accept(Kind kind, std::unique_ptr<netstack::TcpConnection> conn);
  // Moves `session` to the reaper, which deletes it on a later loop turn.
  void Retire(Session* session);
  void Reap();
  std::string StatusPageBody();
  TcpServiceCounters* CountersFor(Kind kind);

  netstack::Stack* const stack_;  // Not owned.
  event::Loop* const loop_;       // Not owned.
  const ServicesConfig config_;
  StatusPage status_page_;
  ServicesCounters counters_;
  // Reads whose bytes are dropped or hashed land here (one loop thread).
  std::vector<uint8_t> scratch_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::unique_ptr<UdpEcho>> udp_echo_;
  std::unique_ptr<DnsService> dns_;
  std::list<std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> retired_;
  std::unique_ptr<event::Timer> reaper_;
};

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_SERVICES_SERVICES_H_
