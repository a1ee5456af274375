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
#include "netstack/udp.h"
#include "sdk/base/ip_address.h"
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
  // The servers' port.
  uint16_t port = 53;
};

// Loop thread only.
struct ResolverCounters {
  uint64_t queries_sent = 0;     // datagrams sent, retransmissions included
  uint64_t retransmissions = 0;  // tries after a timeout
  uint64_t timeouts = 0;         // tries that got no answer in time
  uint64_t responses = 0;        // accepted answers (errors like NXDOMAIN
                                 // included)
  // Datagrams from a source other than the server asked (address or port)
  // or with an ID that no outstanding query used: forged or late. Ignored.
  uint64_t stray_replies = 0;
  // Right source and ID but a different question: ignored.
  uint64_t mismatched_replies = 0;
  // Right source and ID but not a well-formed response: ignored.
  uint64_t malformed_replies = 0;
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
// SERVFAIL, REFUSED, FORMERR, NOTIMP and truncated answers move on to the
// next server; NXDOMAIN ends the request.
//
// Results of Resolve(), in the callback:
//   addresses      A records first, then AAAA (kBoth), in answer order;
//   kNotFound      NXDOMAIN ("no such name www.x"), or no records of the
//                  asked families;
//   kDeadlineExceeded  no server answered in time;
//   others         the last server's error (see message.h's table).
// With kBoth, one family's addresses are enough: the other query's error is
// then dropped.
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

  // Replaces the server list; requests already running keep the old one.
  void SetServers(std::vector<IpAddress> servers);

  const ResolverCounters& counters() const { return counters_; }
  // Requests whose callback has not run yet.
  size_t pending_requests() const {
    return requests_.size() + finished_.size();
  }

 private:
  class Query;
  struct Request;
  friend class Query;

  // A query finished: completes its request once every query did.
  void OnQueryDone(Request* request);
  void Finish(Request* request, absl::StatusOr<std::vector<IpAddress>> result);
  // Keeps `endpoint` alive until the reaper runs: endpoints may not be
  // destroyed inside their own callbacks.
  void Bury(std::unique_ptr<netstack::UdpEndpoint> endpoint);
  void Reap();

  netstack::Stack* const stack_;  // Not owned.
  event::Loop* const loop_;       // Not owned.
  std::vector<IpAddress> servers_;
  const ResolverOptions options_;
  ResolverCounters counters_;
  RequestId next_id_ = 1;
  std::map<RequestId, std::unique_ptr<Request>> requests_;
  // Finished requests whose callbacks run on the reaper's turn.
  std::deque<std::unique_ptr<Request>> finished_;
  std::vector<std::unique_ptr<netstack::UdpEndpoint>> graveyard_;
  std::unique_ptr<event::Timer> reaper_;
};

}  // namespace stow::dns

#endif  // STOWAWAY_SDK_DNS_RESOLVER_H_
