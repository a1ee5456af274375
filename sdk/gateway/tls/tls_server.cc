#include "sdk/gateway/tls/tls_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/gateway/tls/dtls_client_hello.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/tls/cstp.h"
#include "sdk/tunnel/tls/dtls_engine.h"
#include "sdk/tunnel/tls/tls_engine.h"

namespace stow::gateway::tls {
namespace {

using tunnel::tls::CstpFrame;
using tunnel::tls::CstpReader;
using tunnel::tls::CstpReadResult;
using tunnel::tls::CstpType;
using tunnel::tls::DtlsEngine;
using tunnel::tls::TlsEngine;

constexpr char kDtlsPskLabel[] = "EXPORTER-openconnect-psk";
constexpr size_t kDtlsPskBytes = 32;
// Bursts of thousands of datagrams at a time: as for ESP in UDP.
constexpr int kDtlsSocketBuffer = 8 << 20;
// The UDP payload a 1500-byte path carries.
size_t DtlsDatagramSize(const IpAddress& peer) {
  return 1500 - (peer.is_v4() ? 20 : 40) - 8;
}

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
  // The established DTLS channel, if any (owned by dtls_by_peer_).
  DtlsChannel* dtls = nullptr;
  uint64_t dtls_rx = 0;
  uint64_t dtls_tx = 0;
};

struct TlsServer::DtlsChannel {
  uint64_t id = 0;
  SocketAddress peer;
  uint64_t connection = 0;  // Connection::id of the tunnel it serves.
  std::unique_ptr<DtlsEngine> engine;
  std::unique_ptr<event::Timer> timer;
  std::array<uint8_t, 32> hello_random{};
  bool established = false;
  bool removed = false;
  absl::Duration started;
  absl::Duration last_rx;
  size_t max_packet = 0;  // Largest IP packet one record carries.
};

size_t TlsServer::SocketAddressHash::operator()(const SocketAddress& a) const {
  return IpAddressHash()(a.ip()) * 31 + a.port();
}

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
  dtls_socket_.reset();
  for (auto& [peer, ch] : dtls_by_peer_) ch->timer.reset();
  dtls_by_peer_.clear();
  dtls_graveyard_.clear();
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
  // The DTLS port is known once bound (below); until then a placeholder.
  AnyConnectServerConfig anyconnect_config = config_.anyconnect;
  if (anyconnect_config.dtls && anyconnect_config.dtls_port == 0) {
    anyconnect_config.dtls_port = 1;
  }
  auto anyconnect = AnyConnectServer::Create(std::move(anyconnect_config));
  if (!anyconnect.ok()) return anyconnect.status();
  anyconnect_ = *std::move(anyconnect);
  reaper_ = loop_->NewTimer([this] {
    graveyard_.clear();
    dtls_graveyard_.clear();
  });
  expiry_timer_ = loop_->NewTimer([this] { OnExpiryTimer(); });
  listener_ = std::make_unique<event::TcpListener>(
      loop_, static_cast<event::TcpListener::Delegate*>(this));
  absl::Status status = listener_->Listen(config_.listen, 128);
  if (!status.ok()) return status;
  auto local = listener_->LocalAddress();
  if (!local.ok()) return local.status();
  local_ = *local;
  if (config_.anyconnect.dtls) return InitDtls();
  return absl::OkStatus();
}

absl::Status TlsServer::InitDtls() {
  const SocketAddress address =
      config_.dtls_listen.value_or(SocketAddress(local_.ip(), local_.port()));
  dtls_socket_ = std::make_unique<event::UdpSocket>(
      loop_, static_cast<event::UdpSocket::Delegate*>(this));
  absl::Status status = dtls_socket_->Bind(address);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat("dtls: ", status.message(),
                     config_.dtls_listen
                         ? ""
                         : " (the TLS port number over UDP; choose another "
                           "DTLS address)"));
  }
  (void)dtls_socket_->SetBufferSizes(kDtlsSocketBuffer, kDtlsSocketBuffer);
  auto local = dtls_socket_->LocalAddress();
  if (!local.ok()) return local.status();
  dtls_local_ = *local;
  config_.anyconnect.dtls_port = dtls_local_->port();
  anyconnect_->set_dtls_port(dtls_local_->port());
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
  EndDtlsOf(c, "tunnel down");
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
  DtlsChannel* ch = c->dtls;
  if (ch != nullptr && total <= ch->max_packet &&
      ch->engine->state() == DtlsEngine::State::kEstablished) {
    record_.clear();
    record_.push_back(static_cast<uint8_t>(CstpType::kData));
    for (absl::Span<const uint8_t> f : fragments) {
      record_.insert(record_.end(), f.begin(), f.end());
    }
    if (ch->engine->WriteRecord(record_).ok()) {
      SendDtlsDatagrams(ch);
      counters_.dtls_tx_data++;
      c->tx_data++;
      c->dtls_tx++;
      return SendResult::kSent;
    }
    // The engine failed: its channel goes at the next event; CSTP now.
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

// DTLS

absl::Duration TlsServer::DtlsDeadInterval() const {
  if (config_.dtls_dead_interval > absl::ZeroDuration()) {
    return config_.dtls_dead_interval;
  }
  const int longest = std::max(config_.anyconnect.dtls_dpd_seconds,
                               config_.anyconnect.dtls_keepalive_seconds);
  return std::max(absl::Seconds(3 * longest), absl::Seconds(30));
}

void TlsServer::OnDatagram(absl::Span<const uint8_t> data,
                           const SocketAddress& from) {
  if (destroying_) return;
  absl::optional<DtlsClientHelloInfo> hello = ParseDtlsClientHello(data);
  auto it = dtls_by_peer_.find(from);
  if (it != dtls_by_peer_.end()) {
    DtlsChannel* ch = it->second.get();
    // A ClientHello with a new random is a new handshake (the client
    // restarted DTLS from the same address); a retransmitted one belongs to
    // the handshake under way.
    if (!hello || hello->random == ch->hello_random) {
      FeedDtls(ch, data);
      return;
    }
  }
  if (!hello) {
    counters_.dtls_rx_dropped++;
    return;
  }
  StartDtlsHandshake(data, from, hello->random, hello->session_id);
}

void TlsServer::StartDtlsHandshake(absl::Span<const uint8_t> hello_datagram,
                                   const SocketAddress& from,
                                   const std::array<uint8_t, 32>& hello_random,
                                   absl::Span<const uint8_t> app_id) {
  const AnyConnectSession* s = anyconnect_->FindByDtlsAppId(app_id);
  auto owner = s == nullptr ? by_session_.end() : by_session_.find(s->id);
  if (owner == by_session_.end() || owner->second->phase != Phase::kTunnel) {
    counters_.dtls_refused++;
    return;
  }
  Connection* c = owner->second;
  auto existing = dtls_by_peer_.find(from);
  const bool replaces_pending =
      existing != dtls_by_peer_.end() && !existing->second->established;
  if (!replaces_pending && dtls_half_open_ >= config_.max_dtls_half_open) {
    counters_.dtls_half_open_dropped++;
    return;
  }
  auto psk = c->engine->ExportKeyingMaterial(kDtlsPskLabel, kDtlsPskBytes);
  if (!psk.ok()) {
    counters_.dtls_handshakes_failed++;
    return;
  }
  tunnel::tls::DtlsServerOptions options;
  options.mtu = DtlsDatagramSize(from.ip());
  event::UvLoop* loop = loop_;
  options.clock = [loop] { return absl::UnixEpoch() + loop->Now(); };
  std::vector<uint8_t> expected(app_id.begin(), app_id.end());
  auto engine = DtlsEngine::Server(
      [expected = std::move(expected), key = *std::move(psk)](
          absl::Span<const uint8_t> id)
          -> absl::optional<std::vector<uint8_t>> {
        if (id.size() != expected.size() ||
            !std::equal(id.begin(), id.end(), expected.begin())) {
          return absl::nullopt;
        }
        return key;
      },
      std::move(options));
  if (!engine.ok()) {
    counters_.dtls_handshakes_failed++;
    return;
  }
  if (existing != dtls_by_peer_.end()) {
    if (existing->second->established) counters_.dtls_replaced++;
    RemoveDtls(existing->second.get(), "a new handshake from its address");
  }
  counters_.dtls_handshakes_started++;
  auto owned = std::make_unique<DtlsChannel>();
  DtlsChannel* ch = owned.get();
  ch->id = next_dtls_id_++;
  ch->peer = from;
  ch->connection = c->id;
  ch->engine = *std::move(engine);
  ch->hello_random = hello_random;
  ch->started = ch->last_rx = loop_->Now();
  ch->timer = loop_->NewTimer([this, ch] { OnDtlsTimer(ch); });
  dtls_by_peer_[from] = std::move(owned);
  dtls_half_open_++;
  FeedDtls(ch, hello_datagram);
}

void TlsServer::FeedDtls(DtlsChannel* ch, absl::Span<const uint8_t> data) {
  const uint64_t dropped = ch->engine->dropped();
  ch->engine->FeedDatagram(data);
  counters_.dtls_rx_dropped += ch->engine->dropped() - dropped;
  PumpDtls(ch);
}

void TlsServer::SendDtlsDatagrams(DtlsChannel* ch) {
  datagrams_.clear();
  ch->engine->TakeDatagrams(&datagrams_);
  for (const std::vector<uint8_t>& d : datagrams_) {
    absl::Span<const uint8_t> one[] = {d};
    if (!dtls_socket_->SendTo(one, ch->peer).ok()) {
      counters_.dtls_send_failed++;
    }
  }
}

void TlsServer::PumpDtls(DtlsChannel* ch) {
  if (ch->removed) return;
  SendDtlsDatagrams(ch);
  switch (ch->engine->state()) {
    case DtlsEngine::State::kFailed:
      if (!ch->established) counters_.dtls_handshakes_failed++;
      RemoveDtls(ch, std::string(ch->engine->error().message()));
      return;
    case DtlsEngine::State::kClosed:
      RemoveDtls(ch, "close_notify");
      return;
    case DtlsEngine::State::kEstablished:
      if (!ch->established) {
        OnDtlsEstablished(ch);
        if (ch->removed) return;
      }
      break;
    case DtlsEngine::State::kHandshaking:
      break;
  }
  if (ch->established) {
    auto it = connections_.find(ch->connection);
    Connection* c = it == connections_.end() ? nullptr : it->second.get();
    std::vector<uint8_t> record;
    while (!ch->removed && ch->engine->ReadRecord(&record)) {
      if (c == nullptr || c->phase != Phase::kTunnel || c->dtls != ch) {
        counters_.dtls_rx_dropped++;
        continue;
      }
      HandleDtlsRecord(ch, c, record);
    }
  }
  if (!ch->removed) ArmDtlsTimer(ch);
}

void TlsServer::OnDtlsEstablished(DtlsChannel* ch) {
  auto it = connections_.find(ch->connection);
  Connection* c = it == connections_.end() ? nullptr : it->second.get();
  ch->established = true;
  dtls_half_open_--;
  dtls_established_++;
  counters_.dtls_handshakes_ok++;
  if (c == nullptr || c->phase != Phase::kTunnel) {
    RemoveDtls(ch, "its tunnel is down");
    return;
  }
  if (c->dtls != nullptr && c->dtls != ch) {
    counters_.dtls_replaced++;
    RemoveDtls(c->dtls,
               absl::StrCat("replaced by DTLS from ", ch->peer.ToString()));
  }
  c->dtls = ch;
  const size_t max_record = ch->engine->max_record_payload();
  ch->max_packet = max_record > 0 ? max_record - 1 : 0;
  ch->last_rx = loop_->Now();
  Log(absl::StrCat(c->Name(), ": DTLS up from ", ch->peer.ToString(), ", ",
                   ch->engine->cipher(), "; packets up to ", ch->max_packet,
                   " bytes go over DTLS"));
}

void TlsServer::HandleDtlsRecord(DtlsChannel* ch, Connection* c,
                                 absl::Span<const uint8_t> record) {
  const absl::Duration now = loop_->Now();
  ch->last_rx = now;
  c->last_rx = now;  // The client is alive, whichever channel it uses.
  if (record.empty()) {
    counters_.dtls_rx_unknown++;
    return;
  }
  absl::Span<const uint8_t> payload = record.subspan(1);
  switch (static_cast<CstpType>(record[0])) {
    case CstpType::kData: {
      IpAddress source, destination;
      absl::Span<const uint8_t> one[] = {payload};
      if (!ipsec::ReadIpAddresses(one, &source, &destination) ||
          std::find(c->addresses.begin(), c->addresses.end(), source) ==
              c->addresses.end()) {
        counters_.dtls_rx_spoofed++;
        c->rx_spoofed++;
        return;
      }
      counters_.dtls_rx_data++;
      c->rx_data++;
      c->dtls_rx++;
      delegate_->OnTunnelPacket(payload);
      return;
    }
    case CstpType::kDpdRequest: {
      // The response carries the request's payload back: openconnect's MTU
      // detection sends padded DPD requests and waits for the same bytes
      // (as ocserv echoes them).
      counters_.dtls_rx_dpd++;
      record_.assign(record.begin(), record.end());
      record_[0] = static_cast<uint8_t>(CstpType::kDpdResponse);
      if (ch->engine->WriteRecord(record_).ok()) SendDtlsDatagrams(ch);
      return;
    }
    case CstpType::kDpdResponse:
      counters_.dtls_rx_dpd_responses++;
      return;
    case CstpType::kKeepalive:
      counters_.dtls_rx_keepalives++;
      return;
    default:
      counters_.dtls_rx_unknown++;
      return;
  }
}

void TlsServer::ArmDtlsTimer(DtlsChannel* ch) {
  const absl::Duration now = loop_->Now();
  absl::Duration delay;
  if (ch->established) {
    delay = ch->last_rx + DtlsDeadInterval() - now;
  } else {
    delay = ch->started + config_.dtls_handshake_timeout - now;
    if (absl::optional<absl::Duration> t = ch->engine->NextTimeout(); t) {
      delay = std::min(delay, *t);
    }
  }
  ch->timer->Start(std::max(delay, absl::Milliseconds(1)));
}

void TlsServer::OnDtlsTimer(DtlsChannel* ch) {
  if (ch->removed) return;
  const absl::Duration now = loop_->Now();
  if (ch->established) {
    if (now - ch->last_rx >= DtlsDeadInterval()) {
      RemoveDtls(ch, absl::StrCat("no DTLS record for ",
                                  Seconds(now - ch->last_rx)));
      return;
    }
    ArmDtlsTimer(ch);
    return;
  }
  if (now - ch->started >= config_.dtls_handshake_timeout) {
    counters_.dtls_handshakes_failed++;
    RemoveDtls(ch, "handshake timed out");
    return;
  }
  ch->engine->OnTimer();
  PumpDtls(ch);
}

void TlsServer::RemoveDtls(DtlsChannel* ch, const std::string& why) {
  if (ch->removed) return;
  ch->removed = true;
  ch->timer->Stop();
  if (!ch->established) {
    dtls_half_open_--;
  } else {
    dtls_established_--;
    counters_.dtls_closed++;
    auto it = connections_.find(ch->connection);
    if (it != connections_.end() && it->second->dtls == ch) {
      Connection* c = it->second.get();
      c->dtls = nullptr;
      Log(absl::StrCat(c->Name(), ": DTLS from ", ch->peer.ToString(),
                       " down (", why, ")",
                       c->phase == Phase::kTunnel ? "; packets go over TLS"
                                                  : ""));
    }
  }
  auto it = dtls_by_peer_.find(ch->peer);
  if (it == dtls_by_peer_.end() || it->second.get() != ch) return;
  dtls_graveyard_.push_back(std::move(it->second));
  dtls_by_peer_.erase(it);
  if (reaper_ != nullptr && !destroying_) reaper_->Start(absl::ZeroDuration());
}

void TlsServer::EndDtlsOf(Connection* c, const std::string& why) {
  std::vector<DtlsChannel*> mine;
  for (const auto& [peer, ch] : dtls_by_peer_) {
    if (ch->connection == c->id) mine.push_back(ch.get());
  }
  for (DtlsChannel* ch : mine) RemoveDtls(ch, why);
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
      dtls_local_ ? absl::StrCat(", DTLS on UDP ", dtls_local_->ToString())
                  : "",
      "\n");
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
    if (c->dtls != nullptr) {
      absl::StrAppend(&out, "    DTLS from ", c->dtls->peer.ToString(), ", ",
                      c->dtls->engine->cipher(), ", up ",
                      Seconds(now - c->dtls->started), "\n");
    }
    for (const auto& [name, value] :
         {std::make_pair("rx_data", c->rx_data),
          std::make_pair("tx_data", c->tx_data),
          std::make_pair("tx_dropped", c->tx_dropped),
          std::make_pair("dtls_rx_data", c->dtls_rx),
          std::make_pair("dtls_tx_data", c->dtls_tx),
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
  if (dtls_local_) {
    absl::StrAppend(
        &out, "\ndtls\n", "  dtls_channels ", dtls_established_,
        "\n  dtls_half_open ", dtls_half_open_,
        "\n  dtls_handshakes_started ", t.dtls_handshakes_started,
        "\n  dtls_handshakes_ok ", t.dtls_handshakes_ok,
        "\n  dtls_handshakes_failed ", t.dtls_handshakes_failed,
        "\n  dtls_refused ", t.dtls_refused, "\n  dtls_half_open_dropped ",
        t.dtls_half_open_dropped, "\n  dtls_replaced ", t.dtls_replaced,
        "\n  dtls_closed ", t.dtls_closed, "\n  dtls_rx_data ",
        t.dtls_rx_data, "\n  dtls_rx_dpd ", t.dtls_rx_dpd,
        "\n  dtls_rx_dpd_responses ", t.dtls_rx_dpd_responses,
        "\n  dtls_rx_keepalives ", t.dtls_rx_keepalives,
        "\n  dtls_rx_unknown ", t.dtls_rx_unknown, "\n  dtls_rx_spoofed ",
        t.dtls_rx_spoofed, "\n  dtls_rx_dropped ", t.dtls_rx_dropped,
        "\n  dtls_tx_data ", t.dtls_tx_data, "\n  dtls_send_failed ",
        t.dtls_send_failed, "\n");
  }
  return out;
}

}  // namespace stow::gateway::tls
