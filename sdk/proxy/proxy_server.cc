#include "sdk/proxy/proxy_server.h"

#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "netstack/udp.h"
#include "sdk/event/udp_socket.h"
#include "sdk/proxy/http_proxy_request.h"
#include "sdk/proxy/socks5.h"

namespace stow::proxy {
namespace {

// Client bytes buffered while dialling before reading pauses.
constexpr size_t kMaxEarlyBytes = 64 * 1024;
// After an error reply: how long to wait for the client's FIN.
constexpr absl::Duration kLinger = absl::Seconds(5);
// Datagrams waiting for one name's resolution in a UDP association.
constexpr size_t kMaxQueuedDatagrams = 16;

socks5::Reply SocksReplyFor(DialFailure failure) {
  switch (failure) {
    case DialFailure::kNone:
      return socks5::Reply::kSucceeded;
    case DialFailure::kNoRoute:
      return socks5::Reply::kNetworkUnreachable;
    case DialFailure::kRefused:
      return socks5::Reply::kConnectionRefused;
    case DialFailure::kBadName:
    case DialFailure::kNameNotFound:
    case DialFailure::kUnreachable:
    case DialFailure::kTimeout:
      return socks5::Reply::kHostUnreachable;
    case DialFailure::kResolveFailed:
      return socks5::Reply::kGeneralFailure;
  }
  return socks5::Reply::kGeneralFailure;
}

absl::Span<const uint8_t> Bytes(absl::string_view text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                             text.size());
}

}  // namespace

// One client connection: handshake, then a relay or a UDP association.
// Ends exactly once (End()); the server deletes it on a later turn.
class ProxyServer::Session : public event::TcpSocket::Delegate {
 public:
  Session(ProxyServer* server, std::unique_ptr<event::TcpSocket> socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(server->loop_->NewTimer([this] { OnTimer(); })),
        host_udp_side_(this),
        tunnel_udp_side_(this) {}

  ~Session() override {
    if (dialing_) server_->dialer_->Cancel(dial_id_);
    for (auto& [name, pending] : resolving_) {
      server_->dialer_->Cancel(pending.id);
    }
    if (relay_ != nullptr && !relay_->ended()) relay_->Abort();
  }

  void Begin() {
    timer_->Start(server_->options_.handshake_timeout);
    socket_->SetDelegate(this);
  }

  // Server teardown: resets the client.
  void AbortNow() {
    if (ended_) return;
    ended_ = true;
    if (relay_ != nullptr) relay_->Abort();
    if (socket_ != nullptr) socket_->Reset();
  }

  std::list<std::unique_ptr<Session>>::iterator position;

 private:
  enum class State {
    kSniff,
    kSocksGreeting,
    kSocksAuth,
    kSocksRequest,
    kHttpHead,
    kDialing,
    kRelaying,
    kUdp,
    kClosing,
  };

  // The two UDP delegate interfaces have the same method: one adapter each.
  class HostUdpSide : public event::UdpSocket::Delegate {
   public:
    explicit HostUdpSide(Session* s) : s_(s) {}
    void OnDatagram(absl::Span<const uint8_t> data,
                    const SocketAddress& from) override {
      s_->OnClientDatagram(data, from);
    }

   private:
    Session* const s_;
  };
  class TunnelUdpSide : public netstack::UdpEndpoint::Delegate {
   public:
    explicit TunnelUdpSide(Session* s) : s_(s) {}
    void OnDatagram(absl::Span<const uint8_t> data,
                    const SocketAddress& from) override {
      s_->OnTunnelDatagram(data, from);
    }

   private:
    Session* const s_;
  };

  ProxyServerCounters& counters() { return server_->counters_; }
  const ProxyServerOptions& options() const { return server_->options_; }
  bool auth_required() const {
    return !options().username.empty() || !options().password.empty();
  }

  // ---- event::TcpSocket::Delegate (before the relay takes over) ----
  void OnConnected(absl::Status) override {}
  void OnData(absl::Span<const uint8_t> data) override {
    if (ended_) return;
    if (state_ == State::kClosing || state_ == State::kUdp) return;
    in_.insert(in_.end(), data.begin(), data.end());
    if (state_ == State::kDialing) {
      if (in_.size() > kMaxEarlyBytes) socket_->SetReading(false);
      return;
    }
    Process();
  }
  void OnEof() override { End(); }
  void OnWritable() override {}
  void OnError(absl::Status) override { End(); }

  void OnTimer() {
    if (ended_) return;
    if (state_ == State::kClosing) {
      End();
      return;
    }
    counters().handshake_timeouts++;
    if (state_ == State::kHttpHead) {
      ReplyAndClose(Bytes(HttpProxyErrorResponse(
          408, "the request head did not arrive in time")));
    } else {
      End();
    }
  }

  void Process() {
    while (!ended_) {
      switch (state_) {
        case State::kSniff:
          if (in_.empty()) return;
          state_ = in_[0] == socks5::kVersion ? State::kSocksGreeting
                                              : State::kHttpHead;
          break;
        case State::kSocksGreeting:
          if (!SocksGreeting()) return;
          break;
        case State::kSocksAuth:
          if (!SocksAuth()) return;
          break;
        case State::kSocksRequest:
          SocksRequest();
          return;
        case State::kHttpHead:
          HttpHead();
          return;
        default:
          return;
      }
    }
  }

  void Consume(size_t n) { in_.erase(in_.begin(), in_.begin() + n); }

  // Returns true when it moved to another state with bytes maybe left.
  bool SocksGreeting() {
    socks5::Greeting greeting;
    size_t used = 0;
    switch (socks5::ParseGreeting(in_, &greeting, &used)) {
      case socks5::ParseState::kNeedMore:
        return false;
      case socks5::ParseState::kError:
        counters().malformed++;
        ReplyAndClose(socks5::EncodeMethodChoice(socks5::kMethodNoAcceptable));
        return false;
      case socks5::ParseState::kComplete:
        break;
    }
    Consume(used);
    const uint8_t wanted =
        auth_required() ? socks5::kMethodUserPass : socks5::kMethodNoAuth;
    bool offered = false;
    for (uint8_t m : greeting.methods) offered |= (m == wanted);
    if (!offered) {
      if (auth_required()) counters().auth_failures++;
      ReplyAndClose(socks5::EncodeMethodChoice(socks5::kMethodNoAcceptable));
      return false;
    }
    Write(socks5::EncodeMethodChoice(wanted));
    state_ = auth_required() ? State::kSocksAuth : State::kSocksRequest;
    return true;
  }

  bool SocksAuth() {
    socks5::Credentials credentials;
    size_t used = 0;
    switch (socks5::ParseCredentials(in_, &credentials, &used)) {
      case socks5::ParseState::kNeedMore:
        return false;
      case socks5::ParseState::kError:
        counters().malformed++;
        ReplyAndClose(socks5::EncodeAuthStatus(false));
        return false;
      case socks5::ParseState::kComplete:
        break;
    }
    Consume(used);
    if (credentials.username != options().username ||
        credentials.password != options().password) {
      counters().auth_failures++;
      ReplyAndClose(socks5::EncodeAuthStatus(false));
      return false;
    }
    Write(socks5::EncodeAuthStatus(true));
    state_ = State::kSocksRequest;
    return true;
  }

  void SocksRequest() {
    socks5::Request request;
    size_t used = 0;
    socks5::Reply error = socks5::Reply::kGeneralFailure;
    switch (socks5::ParseRequest(in_, &request, &used, &error)) {
      case socks5::ParseState::kNeedMore:
        return;
      case socks5::ParseState::kError:
        counters().malformed++;
        SocksFail(error);
        return;
      case socks5::ParseState::kComplete:
        break;
    }
    Consume(used);
    counters().socks_requests++;
    is_socks_ = true;
    switch (request.command) {
      case socks5::kCommandConnect:
        if (request.address.port == 0) {
          counters().malformed++;
          SocksFail(socks5::Reply::kGeneralFailure);
          return;
        }
        StartDial(request.address.Host(), request.address.port);
        return;
      case socks5::kCommandUdpAssociate:
        StartUdp(request.address);
        return;
      default:
        counters().unsupported++;
        SocksFail(socks5::Reply::kCommandNotSupported);
        return;
    }
  }

  void SocksFail(socks5::Reply reply) {
    ReplyAndClose(socks5::EncodeReply(
        reply, SocketAddress(IpAddress::Any(IpAddress::Family::kV4), 0)));
  }

  void HttpHead() {
    HttpProxyParseResult parsed = ParseHttpProxyRequest(in_);
    if (parsed.state == gateway::HttpParseState::kNeedMore) return;
    if (parsed.state == gateway::HttpParseState::kError) {
      if (parsed.error_status == 405 || parsed.error_status == 501) {
        counters().unsupported++;
      } else {
        counters().malformed++;
      }
      ReplyAndClose(
          Bytes(HttpProxyErrorResponse(parsed.error_status, parsed.error)));
      return;
    }
    counters().http_requests++;
    if (auth_required() &&
        !CheckProxyAuthorization(parsed.request.request, options().username,
                                 options().password)) {
      counters().auth_failures++;
      ReplyAndClose(Bytes(HttpProxyErrorResponse(
          407, "proxy credentials required",
          "Proxy-Authenticate: Basic realm=\"stowaway\"\r\n")));
      return;
    }
    Consume(parsed.head_bytes);
    http_ = std::move(parsed.request);
    StartDial(http_.host, http_.port);
  }

  void StartDial(const std::string& host, uint16_t port) {
    timer_->Stop();
    state_ = State::kDialing;
    dialing_ = true;
    dial_id_ = server_->dialer_->Dial(
        host, port, [this](Dialer::Result result) { OnDialed(std::move(result)); });
  }

  void OnDialed(Dialer::Result result) {
    dialing_ = false;
    if (ended_) return;
    if (result.connection == nullptr) {
      counters().dial_failures++;
      if (is_socks_) {
        SocksFail(SocksReplyFor(result.failure));
        return;
      }
      const int status = result.failure == DialFailure::kTimeout ? 504 : 502;
      // The dialer's message names the host: "cannot resolve \"x.test\":
      // no such name x.test", "connecting to x.test port 80: ...".
      const std::string body(result.status.message());
      ReplyAndClose(Bytes(HttpProxyErrorResponse(status, body)));
      return;
    }
    if (is_socks_) {
      Write(socks5::EncodeReply(socks5::Reply::kSucceeded,
                                result.connection->local_address()));
    } else if (http_.is_connect) {
      Write(Bytes("HTTP/1.1 200 Connection established\r\n\r\n"));
    }
    std::vector<uint8_t> prefix;
    if (!is_socks_ && !http_.is_connect) {
      prefix.assign(http_.upstream_head.begin(), http_.upstream_head.end());
    }
    prefix.insert(prefix.end(), in_.begin(), in_.end());
    in_.clear();
    RelayOptions relay_options;
    relay_options.host_queue_limit = options().host_queue_limit;
    relay_options.aggregate = &server_->bytes_;
    relay_options.end_after_tunnel_eof = !is_socks_ && !http_.is_connect;
    state_ = State::kRelaying;
    counters().relays_started++;
    relay_ = std::make_unique<Relay>(
        std::move(result.connection), relay_options, [this](RelayEnd end) {
          if (end == RelayEnd::kClosed) {
            counters().relays_closed++;
          } else {
            counters().relay_errors++;
          }
          End();
        });
    socket_->SetReading(true);
    relay_->Start(WrapTcpSocket(std::move(socket_)), prefix);
  }

  // ---- UDP ASSOCIATE ----

  void StartUdp(const socks5::Address& requested) {
    timer_->Stop();
    absl::StatusOr<SocketAddress> local = socket_->LocalAddress();
    absl::StatusOr<SocketAddress> peer = socket_->PeerAddress();
    if (!local.ok() || !peer.ok()) {
      SocksFail(socks5::Reply::kGeneralFailure);
      return;
    }
    client_ip_ = peer->ip();
    if (!requested.is_name && requested.port != 0) {
      client_port_ = requested.port;
    }
    host_udp_ = std::make_unique<event::UdpSocket>(server_->loop_,
                                                   &host_udp_side_);
    absl::Status bound = host_udp_->Bind(SocketAddress(local->ip(), 0));
    absl::StatusOr<SocketAddress> udp_address = host_udp_->LocalAddress();
    absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> tunnel =
        server_->dialer_->BindUdp(&tunnel_udp_side_);
    if (!bound.ok() || !udp_address.ok() || !tunnel.ok()) {
      SocksFail(socks5::Reply::kGeneralFailure);
      return;
    }
    tunnel_udp_ = std::move(*tunnel);
    counters().udp_associations++;
    state_ = State::kUdp;
    in_.clear();
    Write(socks5::EncodeReply(socks5::Reply::kSucceeded, *udp_address));
  }

  void OnClientDatagram(absl::Span<const uint8_t> data,
                        const SocketAddress& from) {
    if (ended_ || state_ != State::kUdp) return;
    if (from.ip() != client_ip_ ||
        (client_port_ != 0 && from.port() != client_port_) ||
        (client_udp_.has_value() && from != *client_udp_)) {
      counters().udp_dropped_other++;
      return;
    }
    socks5::UdpHeader header;
    if (socks5::ParseUdpHeader(data, &header) != socks5::UdpParse::kOk) {
      counters().udp_dropped_malformed++;
      return;
    }
    if (header.frag != 0) {
      counters().udp_dropped_fragmented++;
      return;
    }
    client_udp_ = from;
    absl::Span<const uint8_t> payload = data.subspan(header.header_size);
    if (!header.address.is_name) {
      SendToTunnel(payload, SocketAddress(header.address.ip, header.address.port));
      return;
    }
    const std::string& name = header.address.name;
    auto cached = resolved_.find(name);
    if (cached != resolved_.end()) {
      SendToTunnel(payload, SocketAddress(cached->second, header.address.port));
      return;
    }
    Pending& pending = resolving_[name];
    if (pending.datagrams.size() >= kMaxQueuedDatagrams) {
      counters().udp_dropped_other++;
      return;
    }
    pending.datagrams.push_back(
        {std::vector<uint8_t>(payload.begin(), payload.end()),
         header.address.port});
    if (pending.datagrams.size() > 1) return;  // Already resolving.
    pending.id = server_->dialer_->ResolveName(
        name, [this, name](absl::StatusOr<std::vector<IpAddress>> result) {
          OnResolved(name, std::move(result));
        });
  }

  void OnResolved(const std::string& name,
                  absl::StatusOr<std::vector<IpAddress>> result) {
    auto it = resolving_.find(name);
    if (it == resolving_.end()) return;
    Pending pending = std::move(it->second);
    resolving_.erase(it);
    if (!result.ok() || result->empty()) {
      counters().udp_dropped_other += pending.datagrams.size();
      return;
    }
    resolved_[name] = result->front();
    for (const QueuedDatagram& d : pending.datagrams) {
      SendToTunnel(d.payload, SocketAddress(result->front(), d.port));
    }
  }

  void SendToTunnel(absl::Span<const uint8_t> payload, const SocketAddress& to) {
    if (tunnel_udp_->SendTo(payload, to).ok()) {
      counters().udp_to_tunnel++;
    } else {
      counters().udp_dropped_other++;
    }
  }

  void OnTunnelDatagram(absl::Span<const uint8_t> data,
                        const SocketAddress& from) {
    if (ended_ || !client_udp_.has_value()) {
      counters().udp_dropped_other++;
      return;
    }
    SocketAddress source = from;
    std::vector<uint8_t> header;
    socks5::AppendUdpHeader(source, &header);
    const absl::Span<const uint8_t> fragments[] = {header, data};
    if (host_udp_->SendTo(fragments, *client_udp_).ok()) {
      counters().udp_to_client++;
    } else {
      counters().udp_dropped_other++;
    }
  }

  // ---- Ending ----

  void Write(absl::Span<const uint8_t> bytes) {
    if (socket_ != nullptr) (void)socket_->Write(bytes);
  }

  // Sends a protocol error reply, half-closes, and waits (bounded) for the
  // client's FIN so that closing does not reset the reply away.
  void ReplyAndClose(absl::Span<const uint8_t> reply) {
    if (ended_ || socket_ == nullptr) return;
    Write(reply);
    if (!socket_->ShutdownWrite().ok()) {
      End();
      return;
    }
    state_ = State::kClosing;
    in_.clear();
    socket_->SetReading(true);
    timer_->Start(kLinger);
  }

  void End() {
    if (ended_) return;
    ended_ = true;
    timer_->Stop();
    server_->Remove(this);
  }

  struct QueuedDatagram {
    std::vector<uint8_t> payload;
    uint16_t port;
  };
  struct Pending {
    Dialer::DialId id = 0;
    std::vector<QueuedDatagram> datagrams;
  };

  ProxyServer* const server_;  // Not owned.
  std::unique_ptr<event::TcpSocket> socket_;  // Until the relay takes it.
  std::unique_ptr<event::Timer> timer_;
  State state_ = State::kSniff;
  bool ended_ = false;
  bool is_socks_ = false;
  std::vector<uint8_t> in_;
  HttpProxyRequest http_;
  bool dialing_ = false;
  Dialer::DialId dial_id_ = 0;
  std::unique_ptr<Relay> relay_;
  // UDP association.
  HostUdpSide host_udp_side_;
  TunnelUdpSide tunnel_udp_side_;
  std::unique_ptr<event::UdpSocket> host_udp_;
  std::unique_ptr<netstack::UdpEndpoint> tunnel_udp_;
  IpAddress client_ip_;
  uint16_t client_port_ = 0;
  absl::optional<SocketAddress> client_udp_;
  std::map<std::string, IpAddress> resolved_;
  std::map<std::string, Pending> resolving_;
};

class ProxyServer::Acceptor : public event::TcpListener::Delegate {
 public:
  Acceptor(ProxyServer* owner, event::UvLoop* loop)
      : owner_(owner), listener(loop, this) {}
  void OnAccept(std::unique_ptr<event::TcpSocket> socket) override {
    owner_->Accept(std::move(socket));
  }

 private:
  ProxyServer* const owner_;  // Not owned.

 public:
  event::TcpListener listener;
};

ProxyServer::ProxyServer(event::UvLoop* loop, Dialer* dialer,
                         const ProxyServerOptions& options)
    : loop_(loop), dialer_(dialer), options_(options), graveyard_(loop) {}

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(
    event::UvLoop* loop, Dialer* dialer, const ProxyServerOptions& options) {
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  if (options.username.empty() != options.password.empty()) {
    return absl::InvalidArgumentError(
        "give both a username and a password, or neither");
  }
  if (options.username.size() > 255 || options.password.size() > 255) {
    return absl::InvalidArgumentError(
        "SOCKS5 usernames and passwords are at most 255 bytes");
  }
  std::unique_ptr<ProxyServer> server(new ProxyServer(loop, dialer, options));
  server->acceptor_ = std::make_unique<Acceptor>(server.get(), loop);
  absl::Status status = server->acceptor_->listener.Listen(options.listen, 128);
  if (!status.ok()) return status;
  absl::StatusOr<SocketAddress> local = server->acceptor_->listener.LocalAddress();
  if (!local.ok()) return local.status();
  server->listen_address_ = *local;
  return server;
}

ProxyServer::~ProxyServer() {
  acceptor_.reset();
  for (std::unique_ptr<Session>& session : sessions_) {
    session->AbortNow();
    counters_.active--;
  }
  sessions_.clear();
}

ProxyServerCounters ProxyServer::counters() const {
  ProxyServerCounters c = counters_;
  c.bytes_to_host = bytes_.bytes_to_host;
  c.bytes_to_tunnel = bytes_.bytes_to_tunnel;
  return c;
}

void ProxyServer::Accept(std::unique_ptr<event::TcpSocket> socket) {
  if (sessions_.size() >= options_.max_connections) {
    socket->Reset();
    counters_.rejected++;
    return;
  }
  counters_.accepted++;
  counters_.active++;
  sessions_.push_back(std::make_unique<Session>(this, std::move(socket)));
  Session* session = sessions_.back().get();
  session->position = std::prev(sessions_.end());
  session->Begin();
}

void ProxyServer::Remove(Session* session) {
  counters_.active--;
  auto position = session->position;
  graveyard_.Bury(std::move(*position));
  sessions_.erase(position);
}

}  // namespace stow::proxy
