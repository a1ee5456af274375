// A DNS stub resolver over the netstack: names resolve through the tunnel's
// DNS servers (the ones the VPN pushed), never through the OS resolver.
#ifndef STOWAWAY_SDK_DNS_RESOLVER_H_
#define STOWAWAY_SDK_DNS_RESOLVER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/udp.h"
#include "sdk/base/ip_address.h"
#include "sdk/dns/cache.h"
#include "sdk/dns/message.h"
#include "sdk/event/loop.h"

namespace stow::dns {

// Which address records to ask for.
enum class AddressFamily { kV4, kV6, kBoth };

struct ResolverOptions {
  // Timeout of the first try at a server; it doubles with every retry
  // (1 s, 2 s, 4 s by default).
  absl::Duration initial_timeout = absl::Seconds(1);
  // Tries at one server before moving on to the next.
  int tries_per_server = 3;
  // The servers' port (UDP and TCP).
  uint16_t port = 53;
  // A truncated UDP answer is asked again over TCP (RFC 7766); connecting,
  // sending and reading the answer must finish within this, else the next
  // server is tried.
  absl::Duration tcp_timeout = absl::Seconds(5);

  // The cache: answers per (name, A or AAAA), at most `cache_entries`
  // (least recently used evicted first; 0 disables the cache). An address
  // answer lives for its smallest record TTL, a negative answer (NXDOMAIN
  // or NODATA) for the TTL of the SOA in it (RFC 2308 section 5) or, without
  // one, `negative_ttl` (0 disables negative caching). Every TTL is then
  // clamped to [min_ttl, max_ttl]; a TTL of 0 is not cached.
  size_t cache_entries = 1024;
  absl::Duration min_ttl = absl::ZeroDuration();
  absl::Duration max_ttl = absl::Hours(1);
  absl::Duration negative_ttl = absl::Seconds(30);

  // Search domains with resolv.conf semantics (see Resolver). Entries that
  // are not valid names are ignored (SetSearchDomains() reports them).
  std::vector<std::string> search_domains;
  int ndots = 1;
};

// Loop thread only.
struct ResolverCounters {
  uint64_t queries_sent = 0;     // datagrams sent, retransmissions included
  uint64_t retransmissions = 0;  // tries after a timeout
  uint64_t timeouts = 0;         // tries that got no answer in time
  uint64_t responses = 0;        // accepted answers over UDP or TCP (errors
                                 // like NXDOMAIN included, truncated ones
                                 // not)
  // Datagrams from a source other than the server asked (address or port)
  // or with an ID that no outstanding query used: forged or late. Ignored.
  uint64_t stray_replies = 0;
  // Right source and ID but a different question: ignored (over TCP: the
  // connection fails).
  uint64_t mismatched_replies = 0;
  // Right source and ID but not a well-formed response: ignored (over TCP:
  // the connection fails).
  uint64_t malformed_replies = 0;
  uint64_t truncated = 0;     // UDP answers with TC set
  uint64_t tcp_queries = 0;   // TCP connections opened for a query
  uint64_t tcp_failures = 0;  // of which ended without a usable answer
  // Questions (one name, A or AAAA) answered from the cache, and asked of
  // the servers because the cache had no live answer. Not counted with the
  // cache disabled.
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t literals = 0;  // names that were IP addresses
  uint64_t resolved = 0;  // requests that ended with addresses
  uint64_t failed = 0;    // requests that ended with an error
};

// Resolves names to addresses by asking the configured servers over UDP
// from an ephemeral netstack port (a fresh port and random 16-bit ID per
// query and server). Each server is tried `tries_per_server` times with
// doubling timeouts, then the next server. A reply is accepted only from the
// server's address and port, with the query's ID and question; anything
// else is ignored and counted, so a forged reply cannot end a query.
// A truncated reply (TC) is asked again of the same server over TCP
// through the netstack (2-byte length prefix, `tcp_timeout`); a TCP
// failure moves on to the next server. SERVFAIL, REFUSED, FORMERR and
// NOTIMP move on to the next server; NXDOMAIN and NODATA are answers.
//
// Search domains (resolv.conf semantics): a name with a trailing dot is
// absolute and asked as is only. A name with at least `ndots` dots is
// asked as is first, then with each search domain appended in order;
// one with fewer dots is asked with each domain first, then as is. A
// candidate that does not exist (NXDOMAIN, or NODATA for every asked
// family) moves on to the next; any other error ends the request.
//
// Results of Resolve(), in the callback:
//   addresses      A records first, then AAAA (kBoth), in answer order, of
//                  the first candidate name that has any;
//   kNotFound      "no such name: <name as asked>" when no candidate
//                  exists; "no IPv6 addresses for <candidate>" (or IPv4,
//                  or addresses for kBoth) when the first candidate that
//                  exists has no records of the asked families;
//   kDeadlineExceeded  no server answered in time;
//   others         the last server's error (see message.h's table).
// With kBoth, one family's addresses are enough: the other query's error is
// then dropped; an NXDOMAIN for either family means the name does not exist.
//
// Answers are cached (see ResolverOptions); a request answered entirely
// from the cache sends nothing but still calls back on a later loop turn.
//
// Threading: all methods and callbacks on the loop thread. Callbacks run on
// a later turn of the loop, never inside Resolve(). A callback may call
// Resolve() and Cancel(), but must not destroy the Resolver (post that).
// Ownership: the Stack must outlive the Resolver. Destroying the Resolver
// cancels every request: their callbacks are destroyed without running.
class Resolver {
 public:
  using RequestId = uint64_t;
  using Callback =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<IpAddress>>)>;

  Resolver(netstack::Stack* stack, std::vector<IpAddress> servers,
           ResolverOptions options = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Starts resolving `name`; exactly one `callback` follows unless the
  // request is cancelled. A literal IPv4/IPv6 address resolves to itself
  // without a query. Errors now (no callback): kInvalidArgument for a bad
  // name (see NormalizeName), kFailedPrecondition with no servers.
  absl::StatusOr<RequestId> Resolve(absl::string_view name,
                                    AddressFamily family, Callback callback);

  // Drops a request; its callback is destroyed without running. A no-op for
  // unknown or finished requests.
  void Cancel(RequestId id);

  // Replaces the server list and empties the cache; requests already
  // running keep the old servers.
  void SetServers(std::vector<IpAddress> servers);

  // Replaces the search domains (e.g. the default domain a VPN pushed);
  // requests already running keep the old list. kInvalidArgument naming the
  // entry, and no change, when one is not a valid name.
  absl::Status SetSearchDomains(std::vector<std::string> domains);
  // The search domains in use, normalized.
  const std::vector<std::string>& search_domains() const {
    return search_domains_;
  }

  // Forgets every cached answer.
  void ClearCache() { cache_.Clear(); }
  size_t cache_size() const { return cache_.size(); }

  const ResolverCounters& counters() const { return counters_; }
  // Requests whose callback has not run yet.
  size_t pending_requests() const {
    return requests_.size() + finished_.size();
  }

 private:
  class Query;
  struct Outcome;
  struct Request;
  friend class Query;

  // The names to ask for `name` (already normalized as `normalized`), in
  // order.
  std::vector<std::string> Candidates(absl::string_view name,
                                      const std::string& normalized) const;
  // Asks for the request's next candidate name (from the cache or the
  // servers), or finishes the request when none is left.
  void StartNextCandidate(Request* request);
  // Every question of the current candidate has an outcome: finishes the
  // request (true) or leaves it to the next candidate (false).
  bool EvaluateCandidate(Request* request);
  // A query of `request`'s current candidate finished.
  void OnQueryDone(Request* request, size_t slot, const std::string& name,
                   RecordType type, Outcome outcome);
  void MaybeCache(const std::string& name, RecordType type,
                  const Outcome& outcome);
  void Finish(Request* request, absl::StatusOr<std::vector<IpAddress>> result);
  // Keeps endpoints and connections alive until the reaper runs: they may
  // not be destroyed inside their own callbacks.
  void Bury(std::unique_ptr<netstack::UdpEndpoint> endpoint);
  void Bury(std::unique_ptr<netstack::TcpConnection> connection);
  void Reap();

  netstack::Stack* const stack_;  // Not owned.
  event::Loop* const loop_;       // Not owned.
  std::vector<IpAddress> servers_;
  const ResolverOptions options_;
  std::vector<std::string> search_domains_;  // Normalized.
  ResolverCounters counters_;
  AnswerCache cache_;
  RequestId next_id_ = 1;
  std::map<RequestId, std::unique_ptr<Request>> requests_;
  // Finished requests whose callbacks run on the reaper's turn.
  std::deque<std::unique_ptr<Request>> finished_;
  std::vector<std::unique_ptr<netstack::UdpEndpoint>> graveyard_;
  std::vector<std::unique_ptr<netstack::TcpConnection>> tcp_graveyard_;
  std::unique_ptr<event::Timer> reaper_;
};

}  // namespace stow::dns

#endif  // STOWAWAY_SDK_DNS_RESOLVER_H_
