#include "sdk/engine/tls_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::engine {

absl::StatusOr<std::unique_ptr<TlsSession>> TlsSession::Start(
    event::UvLoop* loop, netstack::Stack* stack,
    const tunnel::tls::TlsProfile& profile, EventCallback on_event) {
  std::unique_ptr<TlsSession> session(
      new TlsSession(loop, stack, profile, std::move(on_event)));
  session->Attempt();
  return session;
}

TlsSession::TlsSession(event::UvLoop* loop, netstack::Stack* stack,
                       const tunnel::tls::TlsProfile& profile,
                       EventCallback on_event)
    : loop_(loop),
      stack_(stack),
      events_(loop, std::move(on_event)),
      tunnel_(std::make_unique<tunnel::tls::TlsTunnel>(
          loop, profile, static_cast<tunnel::tls::TlsTunnel::Delegate*>(this))),
      reconnect_timer_(loop->NewTimer([this] { Attempt(); })),
      backoff_(profile.reconnect_initial),
      dns_search_(profile.dns_search) {}

TlsSession::~TlsSession() {
  reconnect_timer_.reset();
  iface_.interface.reset();  // Aborts the session's connections first.
  if (state_ != State::kStopped) tunnel_->Disconnect("session destroyed");
  tunnel_.reset();
}

void TlsSession::Close(const std::string& reason) {
  if (state_ == State::kStopped) return;
  tunnel_->Disconnect(reason);
  Stop({SessionEvent::Kind::kDisconnected, reason});
}

void TlsSession::Stop(SessionEvent event) {
  state_ = State::kStopped;
  reconnect_timer_->Stop();
  events_.Emit(std::move(event));
}

void TlsSession::Attempt() {
  if (state_ == State::kStopped) return;
  state_ = State::kConnecting;
  attempts_++;
  const tunnel::tls::TlsProfile& p = tunnel_->profile();
  events_.Emit({SessionEvent::Kind::kConnecting,
                absl::StrCat("attempt ", attempts_, " to ", p.url, " at ",
                             p.address.ToString(),
                             cookie_.empty() ? " (login)"
                                             : " (with the session cookie)")});
  tunnel_->Connect(cookie_);
}

void TlsSession::OnTlsInfo(const std::string& line) {
  UpdateTcpTuning();  // The DTLS channel may have come or gone.
  events_.Emit({SessionEvent::Kind::kInfo, line});
}

void TlsSession::UpdateTcpTuning() {
  if (iface_.interface == nullptr) return;
  iface_.interface->SetTcpMinRto(tunnel_->data_over_tcp()
                                     ? tunnel_->profile().tcp_min_rto
                                     : absl::ZeroDuration());
}

void TlsSession::OnTlsUp(const tunnel::tls::CstpConfig& config) {
  if (state_ == State::kStopped) return;
  cookie_ = tunnel_->cookie();
  if (absl::Status s = InstallInterface(config); !s.ok()) {
    tunnel_->Disconnect(std::string(s.message()));
    OnTlsDown(absl::UnavailableError(s.message()));
    return;
  }
  UpdateTcpTuning();
  state_ = State::kConnected;
  connections_++;
  backoff_ = tunnel_->profile().reconnect_initial;
  std::vector<IpAddress> addresses;
  if (iface_.ipv4) addresses.push_back(*iface_.ipv4);
  if (iface_.ipv6) addresses.push_back(*iface_.ipv6);
  events_.Emit(
      {SessionEvent::Kind::kConnected,
       absl::StrCat("address ", AddressList(addresses), "; DNS ",
                    dns_.empty() ? "-" : AddressList(dns_), "; routes ",
                    iface_.routes.empty() ? "everything" : RouteList(iface_.routes),
                    "; MTU ", tunnel_->mtu(), "; CSTP over TLS",
                    config.server_name.empty() ? "" : "; gateway ",
                    config.server_name)});
}

void TlsSession::OnTlsDown(const absl::Status& why) {
  if (state_ == State::kStopped) return;
  if (why.code() == absl::StatusCode::kUnauthenticated) {
    Stop({SessionEvent::Kind::kAuthFailed, std::string(why.message())});
    return;
  }
  if (why.code() == absl::StatusCode::kPermissionDenied && !cookie_.empty()) {
    // The gateway forgot or ended the session: a fresh login, now.
    cookie_refusals_++;
    cookie_.clear();
    events_.Emit({SessionEvent::Kind::kReconnecting,
                  absl::StrCat(why.message(), "; logging in again")});
    state_ = State::kWaiting;
    reconnect_timer_->Start(absl::ZeroDuration());
    return;
  }
  state_ = State::kWaiting;
  reconnects_++;
  const absl::Duration wait = backoff_;
  backoff_ = std::min(backoff_ * 2, tunnel_->profile().reconnect_max);
  events_.Emit({SessionEvent::Kind::kReconnecting,
                absl::StrCat(why.message(), "; retrying in ",
                             absl::FormatDuration(wait))});
  reconnect_timer_->Start(wait);
}

absl::Status TlsSession::InstallInterface(
    const tunnel::tls::CstpConfig& config) {
  absl::optional<IpAddress> v4, v6;
  if (config.address && config.address->is_v4()) v4 = *config.address;
  if (config.address && config.address->is_v6()) v6 = *config.address;
  if (config.address6) v6 = *config.address6;
  std::vector<netstack::Route> routes;
  for (const tunnel::tls::CstpRoute& r : config.split_include) {
    if ((r.prefix.is_v4() && !v4) || (r.prefix.is_v6() && !v6)) continue;
    routes.push_back({r.prefix, r.prefix_len});
  }
  // Split excludes are not supported by the netstack's routing: with
  // excludes only, everything goes through the tunnel anyway (the app has
  // no other network in this stack).
  dns_ = config.dns;
  const std::string& domain = config.default_domain;
  if (!domain.empty() && std::find(dns_search_.begin(), dns_search_.end(),
                                   domain) == dns_search_.end()) {
    dns_search_.push_back(domain);  // X-CSTP-Default-Domain.
  }
  return iface_.Update(stack_, tunnel_.get(), v4, v6, std::move(routes),
                       &events_);
}

tunnel::CounterList TlsSession::Counters() const {
  tunnel::CounterList list = tunnel_->Counters();
  if (iface_.interface != nullptr) {
    const netstack::InterfaceCounters& c = iface_.interface->counters();
    list.insert(list.end(), {{"netstack_rx_packets", c.rx_packets},
                             {"netstack_tx_packets", c.tx_packets},
                             {"netstack_rx_malformed", c.rx_malformed},
                             {"netstack_rx_ignored", c.rx_ignored},
                             {"netstack_tcp_rto_raised", c.tcp_rto_raised},
                             {"netstack_tcp_rto_timeouts",
                              c.tcp_rto_timeouts}});
  }
  list.insert(list.end(), {{"session_attempts", attempts_},
                           {"session_connections", connections_},
                           {"session_reconnects", reconnects_},
                           {"session_cookie_refusals", cookie_refusals_},
                           {"session_interface_changes", iface_.changes}});
  return list;
}

}  // namespace stow::engine
