#include "sdk/engine/ike_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

namespace stow::engine {
namespace {

std::string AddressList(const std::vector<IpAddress>& addresses) {
  return absl::StrJoin(addresses, ", ",
                       [](std::string* out, const IpAddress& ip) {
                         out->append(ip.ToString());
                       });
}

std::string RouteList(const std::vector<netstack::Route>& routes) {
  return absl::StrJoin(routes, ", ",
                       [](std::string* out, const netstack::Route& r) {
                         absl::StrAppend(out, r.prefix.ToString(), "/",
                                         r.prefix_len);
                       });
}

bool SameRoutes(const std::vector<netstack::Route>& a,
                const std::vector<netstack::Route>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const netstack::Route& x, const netstack::Route& y) {
                      return x.prefix == y.prefix &&
                             x.prefix_len == y.prefix_len;
                    });
}

bool IsTerminal(SessionEvent::Kind kind) {
  return kind == SessionEvent::Kind::kAuthFailed ||
         kind == SessionEvent::Kind::kNoProposalChosen ||
         kind == SessionEvent::Kind::kDisconnected;
}

}  // namespace

const char* SessionEventKindName(SessionEvent::Kind kind) {
  switch (kind) {
    case SessionEvent::Kind::kConnecting:
      return "connecting";
    case SessionEvent::Kind::kConnected:
      return "connected";
    case SessionEvent::Kind::kRekeyed:
      return "rekeyed";
    case SessionEvent::Kind::kReconnecting:
      return "reconnecting";
    case SessionEvent::Kind::kAuthFailed:
      return "auth_failed";
    case SessionEvent::Kind::kNoProposalChosen:
      return "no_proposal_chosen";
    case SessionEvent::Kind::kDisconnected:
      return "disconnected";
    case SessionEvent::Kind::kInfo:
      return "info";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<IkeSession>> IkeSession::Start(
    event::UvLoop* loop, netstack::Stack* stack,
    const ipsec::IkeProfile& profile, EventCallback on_event) {
  std::unique_ptr<IkeSession> session(
      new IkeSession(loop, stack, std::move(on_event)));
  auto tunnel = ipsec::IkeTunnel::Create(loop, profile, session.get());
  if (!tunnel.ok()) return tunnel.status();
  session->tunnel_ = *std::move(tunnel);
  session->backoff_ = profile.reconnect_initial;
  IkeSession* raw = session.get();
  session->reconnect_timer_ = loop->NewTimer([raw] { raw->Attempt(); });
  session->deliver_timer_ = loop->NewTimer([raw] { raw->Deliver(); });
  session->Attempt();
  return session;
}

IkeSession::IkeSession(event::UvLoop* loop, netstack::Stack* stack,
                       EventCallback on_event)
    : loop_(loop), stack_(stack), on_event_(std::move(on_event)) {}

IkeSession::~IkeSession() {
  reconnect_timer_.reset();
  deliver_timer_.reset();
  interface_.reset();  // Aborts the session's connections first.
  // A courtesy DELETE when the owner did not Close(); no events follow.
  if (tunnel_ != nullptr && state_ != State::kStopped) {
    tunnel_->Close("session destroyed");
  }
  tunnel_.reset();
}

void IkeSession::Close(const std::string& reason) {
  if (state_ == State::kStopped) return;
  tunnel_->Close(reason);
  Stop({SessionEvent::Kind::kDisconnected, reason});
}

void IkeSession::Attempt() {
  if (state_ == State::kStopped) return;
  state_ = State::kConnecting;
  attempts_++;
  const ipsec::IkeProfile& p = tunnel_->profile();
  Emit({SessionEvent::Kind::kConnecting,
        absl::StrCat("attempt ", attempts_, " to ",
                     (p.ike.force_nat_t ? p.gateway_nat_t : p.gateway)
                         .ToString(),
                     " from ", tunnel_->local_address().ToString())});
  tunnel_->Connect();
}

void IkeSession::Stop(SessionEvent event) {
  state_ = State::kStopped;
  reconnect_timer_->Stop();
  Emit(std::move(event));
}

void IkeSession::Emit(SessionEvent event) {
  for (const SessionEvent& queued : pending_) {
    if (IsTerminal(queued.kind)) return;  // Nothing after the end.
  }
  pending_.push_back(std::move(event));
  if (!deliver_timer_->IsArmed()) deliver_timer_->Start(absl::ZeroDuration());
}

void IkeSession::Deliver() {
  std::vector<SessionEvent> events = std::exchange(pending_, {});
  for (const SessionEvent& event : events) {
    if (on_event_) on_event_(event);
    if (IsTerminal(event.kind)) {
      pending_.clear();
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// IkeTunnel::Delegate

void IkeSession::OnIkeEvent(const ike::IkeEvent& event) {
  using Kind = ike::IkeEvent::Kind;
  switch (event.kind) {
    case Kind::kChildRekeyed:
    case Kind::kIkeRekeyed:
      Emit({SessionEvent::Kind::kRekeyed,
            absl::StrCat(ike::IkeEventKindName(event.kind), ": ",
                         event.detail)});
      return;
    case Kind::kAuthFailed:
    case Kind::kNoProposalChosen:
    case Kind::kPeerDead:
    case Kind::kFailed:
    case Kind::kClosed:
      // Decided in OnTunnelDown, once the IKE SA has settled.
      return;
    case Kind::kConnecting:
    case Kind::kAuthenticating:
    case Kind::kEstablished:
    case Kind::kNatDetected:
    case Kind::kInfo:
      Emit({SessionEvent::Kind::kInfo,
            absl::StrCat("ike ", ike::IkeEventKindName(event.kind), ": ",
                         event.detail)});
      return;
  }
}

void IkeSession::OnTunnelEvent(const tunnel::TunnelEvent& event) {
  Emit({SessionEvent::Kind::kInfo,
        absl::StrCat("esp ", tunnel::TunnelEventKindName(event.kind), ": ",
                     event.detail)});
}

void IkeSession::OnTunnelUp() {
  if (state_ == State::kStopped) return;
  absl::Status status = InstallInterface();
  if (!status.ok()) {
    // The gateway's answer is unusable (no address): try again later, it
    // may be a transient pool problem.
    tunnel_->Close(std::string(status.message()));
    OnTunnelDown(ike::IkeEvent::Kind::kFailed,
                 std::string(status.message()));
    return;
  }
  state_ = State::kConnected;
  connections_++;
  backoff_ = tunnel_->profile().reconnect_initial;
  std::vector<IpAddress> addresses;
  if (ipv4_) addresses.push_back(*ipv4_);
  if (ipv6_) addresses.push_back(*ipv6_);
  const ike::IkeSa* sa = tunnel_->ike_sa();
  Emit({SessionEvent::Kind::kConnected,
        absl::StrCat("address ", AddressList(addresses), "; DNS ",
                     dns_.empty() ? "-" : AddressList(dns_), "; routes ",
                     routes_.empty() ? "everything" : RouteList(routes_),
                     "; ", sa != nullptr ? sa->Describe() : "")});
}

void IkeSession::OnTunnelDown(ike::IkeEvent::Kind kind,
                              const std::string& detail) {
  if (state_ == State::kStopped) return;
  if (kind == ike::IkeEvent::Kind::kAuthFailed) {
    Stop({SessionEvent::Kind::kAuthFailed, detail});
    return;
  }
  if (kind == ike::IkeEvent::Kind::kNoProposalChosen) {
    Stop({SessionEvent::Kind::kNoProposalChosen, detail});
    return;
  }
  state_ = State::kWaiting;
  reconnects_++;
  const absl::Duration wait = backoff_;
  backoff_ = std::min(backoff_ * 2, tunnel_->profile().reconnect_max);
  Emit({SessionEvent::Kind::kReconnecting,
        absl::StrCat(ike::IkeEventKindName(kind), ": ", detail,
                     "; retrying in ", absl::FormatDuration(wait))});
  reconnect_timer_->Start(wait);
}

absl::Status IkeSession::InstallInterface() {
  const ike::AssignedConfig& assigned = tunnel_->assigned_config();
  if (!assigned.ipv4 && !assigned.ipv6) {
    return absl::FailedPreconditionError(
        "the gateway assigned no virtual address");
  }
  std::vector<netstack::Route> routes;
  for (const ike::TrafficSelector& ts : tunnel_->remote_ts()) {
    for (const ike::Prefix& p : ike::SelectorToPrefixes(ts)) {
      // Only families we have an address for can be routed.
      if ((p.address.is_v4() && !assigned.ipv4) ||
          (p.address.is_v6() && !assigned.ipv6)) {
        continue;
      }
      routes.push_back({p.address, p.length});
    }
  }
  dns_ = assigned.dns;
  if (interface_ != nullptr && ipv4_ == assigned.ipv4 &&
      ipv6_ == assigned.ipv6 && SameRoutes(routes_, routes)) {
    return absl::OkStatus();  // Same address: connections carry on.
  }
  if (interface_ != nullptr) {
    interface_changes_++;
    Emit({SessionEvent::Kind::kInfo,
          absl::StrCat("virtual address changed from ",
                       ipv4_ ? ipv4_->ToString() : "-", "/",
                       ipv6_ ? ipv6_->ToString() : "-", " to ",
                       assigned.ipv4 ? assigned.ipv4->ToString() : "-", "/",
                       assigned.ipv6 ? assigned.ipv6->ToString() : "-",
                       ": connections on the old one end")});
  }
  interface_.reset();  // Aborts connections bound to the old address.
  ipv4_ = assigned.ipv4;
  ipv6_ = assigned.ipv6;
  routes_ = routes;
  netstack::InterfaceConfig config;
  config.ipv4 = ipv4_;
  config.ipv6 = ipv6_;
  config.verify_checksums = false;  // ESP's AEAD authenticated every packet.
  config.routes = routes_;
  config.default_route = routes_.empty();
  auto interface = stack_->AddInterface(tunnel_.get(), config);
  if (!interface.ok()) return interface.status();
  interface_ = *std::move(interface);
  return absl::OkStatus();
}

tunnel::CounterList IkeSession::Counters() const {
  tunnel::CounterList list = tunnel_->Counters();
  if (interface_ != nullptr) {
    const netstack::InterfaceCounters& c = interface_->counters();
    list.insert(list.end(), {{"netstack_rx_packets", c.rx_packets},
                             {"netstack_tx_packets", c.tx_packets},
                             {"netstack_rx_malformed", c.rx_malformed},
                             {"netstack_rx_ignored", c.rx_ignored}});
  }
  list.insert(list.end(), {{"session_attempts", attempts_},
                           {"session_connections", connections_},
                           {"session_reconnects", reconnects_},
                           {"session_interface_changes", interface_changes_}});
  return list;
}

}  // namespace stow::engine
