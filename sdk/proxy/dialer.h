// The Dialer seam: "connect to host:port through the tunnel", where host may
// be a name resolved through the tunnel's DNS. The proxy server, the local
// forward and the fd bridge dial through it; tests substitute a fake
// NameResolver (or a fake Dialer).
#ifndef STOWAWAY_SDK_PROXY_DIALER_H_
#define STOWAWAY_SDK_PROXY_DIALER_H_

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
#include "sdk/dns/resolver.h"
#include "sdk/event/loop.h"

namespace stow::proxy {

// Why a dial failed; each proxy maps it to its protocol's reply.
enum class DialFailure {
  kNone,           // Connected.
  kBadName,        // Not a valid host name or address.
  kNameNotFound,   // The name does not resolve (NXDOMAIN, no records).
  kResolveFailed,  // DNS failed otherwise (no answer, server error).
  kNoRoute,        // No interface routes to the address.
  kRefused,        // The peer answered with a reset.
  kUnreachable,    // The connect was aborted (no answer, interface gone).
  kTimeout,        // The dial's deadline passed.
};

const char* DialFailureName(DialFailure failure);

// Resolves names to addresses. Threading: loop thread; callbacks run later,
// never inside Resolve(), exactly once unless cancelled.
class NameResolver {
 public:
  using Callback =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<IpAddress>>)>;
  virtual ~NameResolver() = default;
  // Errors now (no callback): kInvalidArgument for a bad name,
  // kFailedPrecondition when there is nothing to ask. In the callback:
  // kNotFound when the name does not exist, kDeadlineExceeded, others.
  virtual absl::StatusOr<uint64_t> Resolve(absl::string_view name,
                                           Callback callback) = 0;
  virtual void Cancel(uint64_t id) = 0;
};

// A NameResolver over the tunnel's DNS resolver (both address families).
class DnsNameResolver : public NameResolver {
 public:
  explicit DnsNameResolver(dns::Resolver* resolver) : resolver_(resolver) {}
  absl::StatusOr<uint64_t> Resolve(absl::string_view name,
                                   Callback callback) override;
  void Cancel(uint64_t id) override { resolver_->Cancel(id); }

 private:
  dns::Resolver* const resolver_;  // Not owned.
};

// Connects TCP through the tunnel and opens UDP endpoints on it.
// Threading: loop thread; callbacks run later on the loop thread, never
// inside the call, exactly once unless cancelled.
class Dialer {
 public:
  using DialId = uint64_t;
  struct Result {
    // Connected, with no delegate yet (set one at once); null on failure.
    std::unique_ptr<netstack::TcpConnection> connection;
    DialFailure failure = DialFailure::kNone;
    // OK, or what failed, naming the host ("no such name www.x", ...).
    absl::Status status;
  };
  using DialCallback = absl::AnyInvocable<void(Result)>;
  using ResolveCallback =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<IpAddress>>)>;

  virtual ~Dialer() = default;
  // `host` is an IPv4/IPv6 literal (IPv6 without brackets) or a name.
  virtual DialId Dial(absl::string_view host, uint16_t port,
                      DialCallback callback) = 0;
  // Drops a dial; its callback is destroyed without running.
  virtual void Cancel(DialId id) = 0;
  // Resolves `host` (a literal resolves to itself); the callback's error is
  // kNotFound for a name that does not exist.
  virtual DialId ResolveName(absl::string_view host,
                             ResolveCallback callback) = 0;
  // A UDP endpoint on the tunnel, bound to an ephemeral port of both
  // families.
  virtual absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> BindUdp(
      netstack::UdpEndpoint::Delegate* delegate) = 0;
  virtual event::Loop* loop() const = 0;
};

struct DialerOptions {
  // The whole dial (resolution and every address tried) ends by then.
  absl::Duration timeout = absl::Seconds(30);
};

// The Dialer over the netstack: resolves names with `resolver` (may be null:
// then only literals dial), tries the addresses IPv4 first, in order, and
// connects with netstack::TcpConnection::Connect.
// Ownership: the stack and the resolver must outlive the dialer; destroying
// it cancels every dial (no callbacks).
class NetstackDialer : public Dialer {
 public:
  NetstackDialer(netstack::Stack* stack, NameResolver* resolver,
                 DialerOptions options = {});
  ~NetstackDialer() override;
  NetstackDialer(const NetstackDialer&) = delete;
  NetstackDialer& operator=(const NetstackDialer&) = delete;

  DialId Dial(absl::string_view host, uint16_t port,
              DialCallback callback) override;
  void Cancel(DialId id) override;
  DialId ResolveName(absl::string_view host,
                     ResolveCallback callback) override;
  absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> BindUdp(
      netstack::UdpEndpoint::Delegate* delegate) override;
  event::Loop* loop() const override { return stack_->loop(); }

  size_t pending() const { return attempts_.size() + finished_.size(); }

 private:
  class Attempt;
  friend class Attempt;

  void Finish(Attempt* attempt);
  void RunFinished();

  netstack::Stack* const stack_;  // Not owned.
  NameResolver* const resolver_;  // Not owned; may be null.
  const DialerOptions options_;
  DialId next_id_ = 1;
  std::map<DialId, std::unique_ptr<Attempt>> attempts_;
  std::deque<std::unique_ptr<Attempt>> finished_;
  std::unique_ptr<event::Timer> finisher_;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_DIALER_H_
