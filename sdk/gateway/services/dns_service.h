// A small authoritative DNS server for the gateway's netstack: it answers A
// and AAAA questions from a static table, over UDP and TCP (RFC 1035 4.2),
// so that clients resolving through the tunnel (the DNS server the gateway
// pushes in IKE) find names without any DNS server outside.
//
// Answers (RFC 1035 4.1; RA clear and RD copied in every response, AA set
// in those from the table: NOERROR and NXDOMAIN):
//   A/AAAA for a name in the table     NOERROR, the name's records of that
//                                      type in configured order, `ttl` each.
//   ANY (255)                          NOERROR, every A then AAAA record.
//   another type for a name in the     NOERROR without records (NODATA);
//   table, or for an ancestor of one   an ancestor ("test" of "a.test", an
//   (an empty non-terminal)            empty non-terminal) exists too: RFC
//                                      8020 resolvers read NXDOMAIN as "no
//                                      name below it".
//   any other name                     NXDOMAIN.
//   class other than IN (1)            REFUSED.
//   meta types AXFR/IXFR/MAILA/MAILB   NOTIMP.
//   opcode other than QUERY            NOTIMP (header only).
//   QDCOUNT != 1, a bad or cut name,   FORMERR (header only) when the 12-byte
//   cut question, answer/authority     header is there;
//   records, trailing bytes without
//   additional records
//   shorter than a header, or QR set   dropped and counted, no response.
// The question is echoed as received (name case kept); names match
// case-insensitively (ASCII). Additional records (an EDNS OPT, RFC 6891)
// are accepted and ignored: replies carry no OPT, and a UDP reply longer
// than 512 bytes is cut to header and question with TC set (RFC 1035
// 4.2.1), so the client asks again over TCP. No SOA accompanies negative
// answers (there is no zone apex), so resolvers do not cache them.
//
// TCP (RFC 1035 4.2.2, RFC 7766): every message carries a 2-byte length
// prefix; a connection takes any number of queries, pipelined ones too, and
// answers them in order. A query with a bad length (below 12 bytes) or one
// that gets no response closes the connection. A connection idle for
// `tcp_idle_timeout` is closed; a client that does not read its answers
// stops the server reading its queries (flow control). At most
// `max_connections` live at once; more are reset.
#ifndef STOWAWAY_SDK_GATEWAY_SERVICES_DNS_SERVICE_H_
#define STOWAWAY_SDK_GATEWAY_SERVICES_DNS_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/udp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/loop.h"

namespace stow::gateway {

// The name under which the gateway's own virtual addresses are always
// served while DNS runs (services.h adds it).
inline constexpr char kGatewayDnsName[] = "gateway.stowaway.test";
// Largest UDP reply without EDNS (RFC 1035 2.3.4).
inline constexpr size_t kMaxDnsUdpReply = 512;
// Largest reply a 2-byte TCP length can frame.
inline constexpr size_t kMaxDnsTcpReply = 65535;

// One address record: an A record for an IPv4 address, AAAA for IPv6.
struct DnsRecord {
  std::string name;  // Host name, any case, optional trailing dot.
  IpAddress address;
};

// Parses "name=address" specs (as --dns_record takes them, one per
// element). kInvalidArgument naming the spec: no '=', a bad host name
// (dns::NormalizeName's rules), or not an IP address.
absl::StatusOr<std::vector<DnsRecord>> ParseDnsRecords(
    const std::vector<std::string>& specs);

// What Answer() did with a message.
enum class DnsOutcome : uint8_t {
  kAnswer,    // NOERROR with records.
  kNoData,    // NOERROR without records.
  kNxDomain,  // NXDOMAIN.
  kFormErr,   // FORMERR.
  kNotImp,    // NOTIMP.
  kRefused,   // REFUSED.
  kDropped,   // No response: no header, or a response (QR set).
};

// The static record table and the pure query -> response step (no sockets,
// no clock): what the server runs on every query and the fuzz target
// feeds. Immutable after Create(); safe to share between threads.
class DnsTable {
 public:
  // Checks and indexes `records` (duplicates kept once). kInvalidArgument
  // naming a bad name or an unspecified address.
  static absl::StatusOr<DnsTable> Create(const std::vector<DnsRecord>& records,
                                         uint32_t ttl);

  struct Result {
    DnsOutcome outcome = DnsOutcome::kDropped;
    // The reply would have been longer than `max_reply`: it holds the
    // header (TC set, no records) and the question only.
    bool truncated = false;
  };
  // Answers `query` into `*reply` (replaced; empty for kDropped), at most
  // `max_reply` bytes (at least 512).
  Result Answer(absl::Span<const uint8_t> query, size_t max_reply,
                std::vector<uint8_t>* reply) const;

  uint32_t ttl() const { return ttl_; }
  // Names that own records.
  size_t name_count() const { return names_.size(); }

 private:
  struct Entry {
    std::vector<std::vector<uint8_t>> a;     // RDATA, 4 bytes each.
    std::vector<std::vector<uint8_t>> aaaa;  // RDATA, 16 bytes each.
  };
  // Keys: names in wire form (length-prefixed labels, lower case, no root
  // label). `names_` holds owners, `ancestors_` every proper suffix of an
  // owner (the root included, as an empty key).
  std::map<std::string, Entry> names_;
  std::set<std::string> ancestors_;
  uint32_t ttl_ = 60;
};

struct DnsServiceConfig {
  // Addresses to serve on (at least one), as ServicesConfig::addresses.
  std::vector<IpAddress> addresses;
  uint16_t port = 53;
  std::vector<DnsRecord> records;
  uint32_t ttl = 60;
  // TCP connections alive at once; more are reset.
  size_t max_connections = 64;
  // A TCP connection without a query or answer moving for this long is
  // closed (RFC 7766 6.2.3 asks for a timeout of seconds).
  absl::Duration tcp_idle_timeout = absl::Seconds(10);
};

struct DnsCounters {
  uint64_t udp_queries = 0;  // Datagrams received.
  uint64_t tcp_queries = 0;  // Framed messages received.
  // Responses sent (or attempted), by outcome.
  uint64_t answers = 0;  // NOERROR with records.
  uint64_t nodata = 0;
  uint64_t nxdomain = 0;
  uint64_t formerr = 0;
  uint64_t notimp = 0;
  uint64_t refused = 0;
  uint64_t truncated = 0;  // Replies cut to the question (TC set).
  // Messages without a response: shorter than a header, or with QR set;
  // over TCP also a length prefix below 12 (the connection closes).
  uint64_t dropped = 0;
  uint64_t send_errors = 0;  // UDP replies the stack refused.
  uint64_t tcp_accepted = 0;
  uint64_t tcp_active = 0;
  uint64_t tcp_closed = 0;
  // Connections that ended badly: reset by the client, a failed write, a
  // dropped message, a query cut by FIN.
  uint64_t tcp_errors = 0;
  uint64_t tcp_idle_timeouts = 0;
  uint64_t tcp_rejected = 0;  // Reset at accept: max_connections alive.
};

// The DNS server on a netstack: a UDP endpoint and a TCP listener per
// address.
//
// Threading: everything, construction and destruction included, on the
// stack's loop thread; no callback runs after destruction.
// Ownership: the Stack (and its interfaces) must outlive the service.
// Destroying it closes the endpoints and listeners and resets every open
// connection, leaving no pcb of its own behind.
class DnsService {
 public:
  // Starts serving. `counters`, if given, receives the counts (it must
  // outlive the service; services.h keeps them with its own); else the
  // service keeps its own. Errors: kInvalidArgument (no address, port 0,
  // max_connections 0, a bad record), kAlreadyExists naming the address
  // when the port is taken, or the stack's error.
  static absl::StatusOr<std::unique_ptr<DnsService>> Start(
      netstack::Stack* stack, const DnsServiceConfig& config,
      DnsCounters* counters = nullptr);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  const DnsCounters& counters() const { return *counters_; }
  const DnsTable& table() const { return table_; }
  // TCP connections alive, including ones finishing now.
  size_t live_connections() const { return sessions_.size(); }

 private:
  class UdpServer;
  class Acceptor;
  class Session;

  DnsService(netstack::Stack* stack, const DnsServiceConfig& config,
             DnsTable table, DnsCounters* counters);
  void Accept(std::unique_ptr<netstack::TcpConnection> conn);
  // Counts an Answer() result.
  void Count(const DnsTable::Result& result);
  void Retire(Session* session);
  void Reap();

  netstack::Stack* const stack_;  // Not owned.
  event::Loop* const loop_;       // Not owned.
  const DnsServiceConfig config_;
  const DnsTable table_;
  DnsCounters own_counters_;
  DnsCounters* const counters_;  // Not owned, or &own_counters_.
  std::vector<uint8_t> scratch_;  // UDP replies (one loop thread).
  std::vector<std::unique_ptr<UdpServer>> udp_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::list<std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> retired_;
  std::unique_ptr<event::Timer> reaper_;
};

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_SERVICES_DNS_SERVICE_H_
