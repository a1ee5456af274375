#include "sdk/gateway/tls/tls_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/tls/cstp.h"
#include "sdk/tunnel/tls/tls_engine.h"

namespace stow::gateway::tls {
namespace {

using tunnel::tls::CstpFrame;
using tunnel::tls::CstpReader;
using tunnel::tls::CstpReadResult;
using tunnel::tls::CstpType;
using tunnel::tls::TlsEngine;

// Frames a client may send are at most the tunnel MTU; this leaves room for
// a client that miscounts, and bounds what one frame can make us buffer.
size_t MaxFramePayload(int mtu) {
  return std::min<size_t>(tunnel::tls::kCstpMaxPayload,
                          static_cast<size_t>(std::max(mtu, 1500)) + 512);
}

std::string Seconds(absl::Duration d) {
  d = absl::Trunc(d, absl::Seconds(1));
  return d == absl::ZeroDuration() ? "0s" : absl::FormatDuration(d);
}

}  // namespace

struct TlsServer::Connection final : public event::TcpSocket::Delegate {
  Connection(TlsServer* s, uint64_t i) : server(s), id(i) {}

  // event::TcpSocket::Delegate
  void OnConnected(absl::Status) override {}
  void OnData(absl::Span<const uint8_t> data) override {
    server->OnData(this, data);
  }
  void OnEof() override { server->OnEnd(this, "closed by the client"); }
  void OnWritable() override {}
  void OnError(absl::Status status) override {
    server->OnEnd(this, std::string(status.message()));
  }

  std::string Name() const {
    return absl::StrCat("tls#", id, " ", user.empty() ? peer.ToString() : user);
  }

  TlsServer* const server;  // Not owned.
  const uint64_t id;
  SocketAddress peer;
  std::unique_ptr<event::TcpSocket> socket;
  std::unique_ptr<TlsEngine> engine;
  std::unique_ptr<event::Timer> timer;
  Phase phase = Phase::kHttp;
  HttpRequestReader reader;
  std::unique_ptr<CstpReader> cstp;  // In the tunnel.
  uint64_t session = 0;
  std::string user;
  std::vector<IpAddress> addresses;  // Registered in by_address_.
  absl::Duration last_rx;
  absl::Duration since;
  uint64_t rx_data = 0;
  uint64_t tx_data = 0;
  uint64_t tx_dropped = 0;
  uint64_t rx_spoofed = 0;
};

absl::StatusOr<std::unique_ptr<TlsServer>> TlsServer::Start(
    event::UvLoop* loop, Delegate* delegate, TlsServerConfig config) {
  std::unique_ptr<TlsServer> server(
      new TlsServer(loop, delegate, std::move(config)));
  absl::Status status = server->Init();
  if (!status.ok()) return status;
  return server;
}

TlsServer::TlsServer(event::UvLoop* loop, Delegate* delegate,
                     TlsServerConfig config)
    : loop_(loop), delegate_(delegate), config_(std::move(config)) {}

TlsServer::~TlsServer() {
  destroying_ = true;
  listener_.reset();
  expiry_timer_.reset();
  reaper_.reset();
  by_address_.clear();
  by_session_.clear();
  graveyard_.clear();
  connections_.clear();
}

absl::Status TlsServer::Init() {
  auto context = tunnel::tls::TlsServerContext::Create(config_.cert_pem,
                                                       config_.key_pem);
  if (!context.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls certificate/key: ", context.status().message()));
  }
  context_ = *std::move(context);
  auto anyconnect = AnyConnectServer::Create(config_.anyconnect);
  if (!anyconnect.ok()) return anyconnect.status();
  anyconnect_ = *std::move(anyconnect);
  reaper_ = loop_->NewTimer([this] { graveyard_.clear(); });
  expiry_timer_ = loop_->NewTimer([this] { OnExpiryTimer(); });
  listener_ = std::make_unique<event::TcpListener>(
      loop_, static_cast<event::TcpListener::Delegate*>(this));
  absl::Status status = listener_->Listen(config_.listen, 128);
  if (!status.ok()) return status;
  auto local = listener_->LocalAddress();
  if (!local.ok()) return local.status();
  local_ = *local;
  return absl::OkStatus();
}

void TlsServer::Log(const std::string& line) {
  if (!destroying_) delegate_->OnTunnelLog(line);
}

absl::Duration TlsServer::IdleTimeout() const {
  if (config_.idle_timeout > absl::ZeroDuration()) return config_.idle_timeout;
  const int longest = std::max(config_.anyconnect.dpd_seconds,
                               config_.anyconnect.keepalive_seconds);
  return std::max(absl::Seconds(3 * longest), absl::Seconds(30));
}

void TlsServer::OnAccept(std::unique_ptr<event::TcpSocket> socket) {
  if (connections_.size() >= config_.max_connections) {
    counters_.connections_refused++;
    socket->Reset();
    return;
  }
  counters_.connections_accepted++;
  const uint64_t id = next_id_++;
  auto owned = std::make_unique<Connection>(this, id);
  Connection* c = owned.get();
  auto peer = socket->PeerAddress();
  if (peer.ok()) c->peer = *peer;
  c->engine = TlsEngine::Server(context_);
  c->engine->Start();
  c->reader = HttpRequestReader(config_.http_limits);
  c->since = c->last_rx = loop_->Now();
  c->timer = loop_->NewTimer([this, c] { OnConnectionTimer(c); });
  c->socket = std::move(socket);
  connections_[id] = std::move(owned);
  c->socket->SetDelegate(c);
  ArmTimer(c);
}

void TlsServer::OnData(Connection* c, absl::Span<const uint8_t> data) {
  if (c->phase == Phase::kClosing || c->phase == Phase::kDead) return;
  c->engine->FeedCiphertext(data);
  Flush(c);
  if (c->engine->state() == TlsEngine::State::kFailed) {
    counters_.tls_failures++;
    Close(c, /*graceful=*/false,
          absl::StrCat("TLS failed: ", c->engine->error().message()));
    return;
  }
  plain_.clear();
  c->engine->Read(&plain_);
  if (!plain_.empty()) {
    c->last_rx = loop_->Now();
    if (c->phase == Phase::kHttp) {
      c->reader.Append(plain_);
      HandleRequests(c);
    } else if (c->phase == Phase::kTunnel) {
      c->cstp->Append(plain_);
      HandleFrames(c);
    }
  }
  if (c->engine->state() == TlsEngine::State::kClosed &&
      (c->phase == Phase::kHttp || c->phase == Phase::kTunnel)) {
    Close(c, /*graceful=*/true, "TLS closed by the client");
  }
}

void TlsServer::OnEnd(Connection* c, const std::string& why) {
  if (c->phase == Phase::kDead) return;
  if (c->phase == Phase::kClosing) {
    Destroy(c);
    return;
  }
  Close(c, /*graceful=*/false, why);
}

void TlsServer::HandleRequests(Connection* c) {
  HttpRequest request;
  std::string body;
  while (c->phase == Phase::kHttp) {
    switch (c->reader.Next(&request, &body)) {
      case RequestReadResult::kNeedMore:
        return;
      case RequestReadResult::kError: {
        counters_.http_errors++;
        AnyConnectResponse r;
        r.status = c->reader.error_status();
        r.reason = std::string(HttpReasonPhrase(r.status));
        r.close = true;
        const std::string wire = r.Serialize();
        WritePlain(c, absl::MakeConstSpan(
                          reinterpret_cast<const uint8_t*>(wire.data()),
                          wire.size()));
        Close(c, /*graceful=*/true,
              absl::StrCat("bad request: ", c->reader.error()));
        return;
      }
      case RequestReadResult::kRequest:
        break;
    }
    const uint64_t failed = anyconnect_->counters().logins_failed +
                            anyconnect_->counters().logins_locked_out;
    AnyConnectResponse r =
        anyconnect_->Handle(request, body, c->peer.ip(), loop_->Now());
    if (anyconnect_->counters().logins_failed +
            anyconnect_->counters().logins_locked_out !=
        failed) {
      Log(absl::StrCat(c->Name(), ": login failed"));
    }
    const std::string wire = r.Serialize();
    WritePlain(c, absl::MakeConstSpan(
                      reinterpret_cast<const uint8_t*>(wire.data()),
                      wire.size()));
    if (r.tunnel_session != 0) {
      StartTunnel(c, r.tunnel_session);
      return;
    }
    if (r.close) {
      Close(c, /*graceful=*/true,
            absl::StrCat("HTTP ", r.status, " ", r.reason));
      return;
    }
  }
}

void TlsServer::StartTunnel(Connection* c, uint64_t session) {
  const AnyConnectSession* s = anyconnect_->Find(session);
  if (s == nullptr) {  // Cannot happen: the machine just answered for it.
    Close(c, false, "session vanished");
    return;
  }
  c->phase = Phase::kTunnel;
  c->session = session;
  c->user = s->user;
  c->cstp = std::make_unique<CstpReader>(MaxFramePayload(s->mtu));
  counters_.tunnels_opened++;
  // A connection that still has this session loses it.
  auto old = by_session_.find(session);
  Connection* previous = old == by_session_.end() ? nullptr : old->second;
  by_session_[session] = c;
  for (const absl::optional<IpAddress>& ip : {s->ipv4, s->ipv6}) {
    if (!ip) continue;
    by_address_[*ip] = c;
    c->addresses.push_back(*ip);
  }
  if (previous != nullptr && previous != c) {
    counters_.tunnels_superseded++;
    Close(previous, /*graceful=*/false, "taken over by a new connection");
  }
  std::vector<std::string> addresses;
  for (const IpAddress& ip : c->addresses) addresses.push_back(ip.ToString());
  Log(absl::StrCat(c->Name(), ": tunnel up from ", c->peer.ToString(), ", ",
                   absl::StrJoin(addresses, ", "),
                   s->group.empty() ? "" : absl::StrCat(", group ", s->group),
                   s->tunnels > 1 ? " (reconnect)" : "", ", ",
                   c->engine->version(), " ", c->engine->cipher()));
  ScheduleExpiry();
  ArmTimer(c);
  std::vector<uint8_t> rest = c->reader.TakeRemaining();
  if (!rest.empty()) {
    c->cstp->Append(rest);
    HandleFrames(c);
  }
}

void TlsServer::HandleFrames(Connection* c) {
  CstpFrame frame;
  while (c->phase == Phase::kTunnel) {
    const CstpReadResult result = c->cstp->Next(&frame);
    if (result == CstpReadResult::kNeedMore) return;
    if (result != CstpReadResult::kFrame) {
      counters_.rx_bad_framing++;
      Close(c, /*graceful=*/false,
            result == CstpReadResult::kBadMagic ? "bad CSTP magic"
                                                : "CSTP frame too large");
      return;
    }
    switch (static_cast<CstpType>(frame.type)) {
      case CstpType::kData: {
        IpAddress source, destination;
        absl::Span<const uint8_t> one[] = {frame.payload};
        if (!ipsec::ReadIpAddresses(one, &source, &destination) ||
            std::find(c->addresses.begin(), c->addresses.end(), source) ==
                c->addresses.end()) {
          counters_.rx_spoofed++;
          c->rx_spoofed++;
          break;
        }
        counters_.rx_data++;
        c->rx_data++;
        delegate_->OnTunnelPacket(frame.payload);
        break;
      }
      case CstpType::kDpdRequest: {
        counters_.rx_dpd++;
        const std::vector<uint8_t> reply = tunnel::tls::BuildCstpDpdResponse();
        WritePlain(c, reply);
        break;
      }
      case CstpType::kDpdResponse:
        counters_.rx_dpd_responses++;
        break;
      case CstpType::kKeepalive:
        counters_.rx_keepalives++;
        break;
      case CstpType::kDisconnect: {
        counters_.rx_disconnects++;
        const tunnel::tls::CstpDisconnect d =
            tunnel::tls::ParseCstpDisconnect(frame.payload);
        std::string text = d.text.substr(0, 100);
        for (char& ch : text) {
          if (ch < 0x20 || ch > 0x7e) ch = '?';
        }
        EndTunnel(c, /*disconnected=*/true,
                  absl::StrCat("DISCONNECT", text.empty() ? "" : " (", text,
                               text.empty() ? "" : ")"));
        Close(c, /*graceful=*/true, "");
        return;
      }
      default:
        // Compressed data was never offered; TERMINATE is the server's.
        counters_.rx_unknown++;
        break;
    }
  }
}

void TlsServer::EndTunnel(Connection* c, bool disconnected,
                          const std::string& why) {
  if (c->phase != Phase::kTunnel) return;
  c->phase = Phase::kHttp;  // Until Close() moves it on.
  for (const IpAddress& ip : c->addresses) {
    auto it = by_address_.find(ip);
    if (it != by_address_.end() && it->second == c) by_address_.erase(it);
  }
  c->addresses.clear();
  auto owner = by_session_.find(c->session);
  const bool owns = owner != by_session_.end() && owner->second == c;
  if (owns) {
    by_session_.erase(owner);
    anyconnect_->TunnelClosed(c->session, disconnected, loop_->Now());
  }
  if (!destroying_) {
    Log(absl::StrCat(c->Name(), ": tunnel down (", why, ")",
                     disconnected ? "; session ended"
                     : owns ? absl::StrCat("; address kept ",
                                           Seconds(config_.anyconnect
                                                       .cookie_lifetime),
                                           " for a reconnect")
                            : "",
                     "; up ", Seconds(loop_->Now() - c->since), ", rx ",
                     c->rx_data, " tx ", c->tx_data, " packets"));
  }
  ScheduleExpiry();
}

void TlsServer::WritePlain(Connection* c, absl::Span<const uint8_t> bytes) {
  if (!c->engine->Write(bytes).ok()) return;
  Flush(c);
}

void TlsServer::Flush(Connection* c) {
  if (!c->engine->HasCiphertext()) return;
  std::vector<uint8_t> out;
  c->engine->TakeCiphertext(&out);
  (void)c->socket->Write(out);  // A failure arrives as OnError().
}

void TlsServer::Close(Connection* c, bool graceful, const std::string& why) {
  if (c->phase == Phase::kClosing || c->phase == Phase::kDead) return;
  if (c->phase == Phase::kTunnel) {
    EndTunnel(c, /*disconnected=*/false, why);
  } else if (!why.empty() && c->session == 0) {
    Log(absl::StrCat(c->Name(), ": closed (", why, ")"));
  }
  if (!graceful) {
    c->socket->Reset();
    Destroy(c);
    return;
  }
  c->phase = Phase::kClosing;
  c->engine->Shutdown();
  Flush(c);
  (void)c->socket->ShutdownWrite();
  c->timer->Start(config_.linger);
}

void TlsServer::Destroy(Connection* c) {
  c->phase = Phase::kDead;
  c->timer->Stop();
  auto it = connections_.find(c->id);
  if (it == connections_.end()) return;
  graveyard_.push_back(std::move(it->second));
  connections_.erase(it);
  reaper_->Start(absl::ZeroDuration());
}

void TlsServer::ArmTimer(Connection* c) {
  const absl::Duration limit =
      c->phase == Phase::kHttp ? config_.login_timeout : IdleTimeout();
  const absl::Duration left = c->last_rx + limit - loop_->Now();
  c->timer->Start(std::max(left, absl::Milliseconds(1)));
}

void TlsServer::OnConnectionTimer(Connection* c) {
  const absl::Duration now = loop_->Now();
  switch (c->phase) {
    case Phase::kClosing:
      Destroy(c);
      return;
    case Phase::kDead:
      return;
    case Phase::kHttp:
      if (now - c->last_rx >= config_.login_timeout) {
        counters_.login_timeouts++;
        Close(c, /*graceful=*/false, "no request in time");
        return;
      }
      break;
    case Phase::kTunnel:
      if (now - c->last_rx >= IdleTimeout()) {
        counters_.idle_timeouts++;
        // Tell the client (an empty DISCONNECT, as ocserv sends it).
        std::vector<uint8_t> bye;
        tunnel::tls::AppendCstpHeader(
            static_cast<uint8_t>(CstpType::kDisconnect), 0, &bye);
        WritePlain(c, bye);
        Close(c, /*graceful=*/true,
              absl::StrCat("idle for ", Seconds(now - c->last_rx)));
        return;
      }
      break;
  }
  ArmTimer(c);
}

TlsServer::SendResult TlsServer::SendPacket(
    const IpAddress& destination,
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  auto it = by_address_.find(destination);
  if (it == by_address_.end()) {
    counters_.tx_no_tunnel++;
    return SendResult::kNoTunnel;
  }
  Connection* c = it->second;
  size_t total = 0;
  for (absl::Span<const uint8_t> f : fragments) total += f.size();
  if (total > tunnel::tls::kCstpMaxPayload) {
    counters_.tx_dropped_too_large++;
    return SendResult::kDropped;
  }
  if (c->socket->QueuedBytes() > config_.tx_queue_limit) {
    counters_.tx_dropped_queue++;
    c->tx_dropped++;
    return SendResult::kDropped;
  }
  frame_.clear();
  tunnel::tls::AppendCstpHeader(static_cast<uint8_t>(CstpType::kData), total,
                                &frame_);
  for (absl::Span<const uint8_t> f : fragments) {
    frame_.insert(frame_.end(), f.begin(), f.end());
  }
  counters_.tx_data++;
  c->tx_data++;
  WritePlain(c, frame_);
  return SendResult::kSent;
}

void TlsServer::ScheduleExpiry() {
  if (expiry_timer_ == nullptr || destroying_) return;
  const absl::Duration next = anyconnect_->NextExpiry();
  if (next == absl::InfiniteDuration()) {
    expiry_timer_->Stop();
    return;
  }
  expiry_timer_->Start(
      std::max(next - loop_->Now(), absl::Milliseconds(1)));
}

void TlsServer::OnExpiryTimer() {
  for (uint64_t id : anyconnect_->Expire(loop_->Now())) {
    Log(absl::StrCat("tls session ", id,
                     ": cookie expired; address released"));
  }
  ScheduleExpiry();
}

std::string TlsServer::OwnerOf(const IpAddress& ip) const {
  auto it = by_address_.find(ip);
  if (it != by_address_.end()) return it->second->Name();
  for (const AnyConnectSession* s : anyconnect_->Sessions()) {
    if ((s->ipv4 && *s->ipv4 == ip) || (s->ipv6 && *s->ipv6 == ip)) {
      return absl::StrCat("tls session ", s->id, " ", s->user,
                          " (waiting for a reconnect)");
    }
  }
  return std::string();
}

std::string TlsServer::StatusText() const {
  const AnyConnectServerConfig& a = config_.anyconnect;
  std::string out = absl::StrCat(
      "TLS (AnyConnect) on ", local_.ToString(), ", pool ",
      anyconnect_->pool4().ToString(), ", ", a.users->size(), " user(s)",
      a.dtls ? ", DTLS offered" : "", "\n");
  absl::StrAppend(&out, "tls tunnels: ", by_session_.size(), ", connections: ",
                  connections_.size(), "\n");
  const absl::Duration now = loop_->Now();
  for (const auto& [id, c] : connections_) {
    if (c->phase != Phase::kTunnel) continue;
    std::vector<std::string> addresses;
    for (const IpAddress& ip : c->addresses) addresses.push_back(ip.ToString());
    absl::StrAppend(&out, "  ", c->Name(), " [",
                    absl::StrJoin(addresses, ", "), "] at ",
                    c->peer.ToString(), ", up ", Seconds(now - c->since), ", ",
                    c->engine->version(), " ", c->engine->cipher(), "\n");
    for (const auto& [name, value] :
         {std::make_pair("rx_data", c->rx_data),
          std::make_pair("tx_data", c->tx_data),
          std::make_pair("tx_dropped", c->tx_dropped),
          std::make_pair("rx_spoofed", c->rx_spoofed)}) {
      if (value != 0) absl::StrAppend(&out, "    ", name, " ", value, "\n");
    }
  }
  for (const AnyConnectSession* s : anyconnect_->Sessions()) {
    if (s->tunnel || !s->ipv4) continue;
    absl::StrAppend(&out, "  session ", s->id, " ", s->user, " [",
                    s->ipv4->ToString(), "] waiting for a reconnect, ",
                    Seconds(s->expires - now), " left\n");
  }
  const TlsServerCounters& t = counters_;
  const AnyConnectCounters& l = anyconnect_->counters();
  absl::StrAppend(
      &out, "\ntls\n", "  tls_connections_accepted ", t.connections_accepted,
      "\n  tls_connections_refused ", t.connections_refused,
      "\n  tls_failures ", t.tls_failures, "\n  tls_http_errors ",
      t.http_errors, "\n  tls_login_timeouts ", t.login_timeouts,
      "\n  tls_logins_ok ", l.logins_ok, "\n  tls_logins_failed ",
      l.logins_failed, "\n  tls_logins_locked_out ", l.logins_locked_out,
      "\n  tls_logins_refused ", l.logins_refused, "\n  tls_cookies_rejected ",
      l.cookies_rejected, "\n  tls_connects ", l.connects,
      "\n  tls_reconnects ", l.reconnects, "\n  tls_pool_exhausted ",
      l.pool_exhausted, "\n  tls_sessions_expired ", l.sessions_expired,
      "\n  tls_tunnels_opened ", t.tunnels_opened,
      "\n  tls_tunnels_superseded ", t.tunnels_superseded,
      "\n  tls_idle_timeouts ", t.idle_timeouts, "\n  tls_rx_data ", t.rx_data,
      "\n  tls_rx_dpd ", t.rx_dpd, "\n  tls_rx_keepalives ", t.rx_keepalives,
      "\n  tls_rx_disconnects ", t.rx_disconnects, "\n  tls_rx_unknown ",
      t.rx_unknown, "\n  tls_rx_bad_framing ", t.rx_bad_framing,
      "\n  tls_rx_spoofed ", t.rx_spoofed, "\n  tls_tx_data ", t.tx_data,
      "\n  tls_tx_no_tunnel ", t.tx_no_tunnel, "\n  tls_tx_dropped_queue ",
      t.tx_dropped_queue, "\n  tls_tx_dropped_too_large ",
      t.tx_dropped_too_large, "\n");
  return out;
}

}  // namespace stow::gateway::tls
