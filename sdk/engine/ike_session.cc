#include "sdk/engine/ike_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

namespace stow::engine {

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
  session->Attempt();
  return session;
}

IkeSession::IkeSession(event::UvLoop* loop, netstack::Stack* stack,
                       EventCallback on_event)
    : loop_(loop), stack_(stack), events_(loop, std::move(on_event)) {}

IkeSession::~IkeSession() {
  reconnect_timer_.reset();
  iface_.interface.reset();  // Aborts the session's connections first.
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

void IkeSession::Emit(SessionEvent event) { events_.Emit(std::move(event)); }

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
  if (iface_.ipv4) addresses.push_back(*iface_.ipv4);
  if (iface_.ipv6) addresses.push_back(*iface_.ipv6);
  const ike::IkeSa* sa = tunnel_->ike_sa();
  Emit({SessionEvent::Kind::kConnected,
        absl::StrCat("address ", AddressList(addresses), "; DNS ",
                     dns_.empty() ? "-" : AddressList(dns_), "; routes ",
                     iface_.routes.empty() ? "everything" : RouteList(iface_.routes),
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
  return iface_.Update(stack_, tunnel_.get(), assigned.ipv4, assigned.ipv6,
                       std::move(routes), &events_);
}

tunnel::CounterList IkeSession::Counters() const {
  tunnel::CounterList list = tunnel_->Counters();
  if (iface_.interface != nullptr) {
    const netstack::InterfaceCounters& c = iface_.interface->counters();
    list.insert(list.end(), {{"netstack_rx_packets", c.rx_packets},
                             {"netstack_tx_packets", c.tx_packets},
                             {"netstack_rx_malformed", c.rx_malformed},
                             {"netstack_rx_ignored", c.rx_ignored}});
  }
  list.insert(list.end(), {{"session_attempts", attempts_},
                           {"session_connections", connections_},
                           {"session_reconnects", reconnects_},
                           {"session_interface_changes", iface_.changes}});
  return list;
}

}  // namespace stow::engine
