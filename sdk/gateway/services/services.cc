#include "sdk/gateway/services/services.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sdk/crypto/sha256.h"
#include "sdk/gateway/services/http_request.h"
#include "sdk/gateway/services/pattern.h"

namespace stow::gateway {
namespace {

using netstack::TcpConnection;

// Size of every read and of each generated chunk of output.
constexpr size_t kIoChunk = 64 * 1024;
// The HTTP head buffer: the head limit plus one read, so an oversized head
// is seen as such (431) rather than as "needs more".
constexpr size_t kHeadBuffer = kMaxHttpHeadBytes + 4096;

absl::Span<const uint8_t> AsBytes(absl::string_view text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                             text.size());
}

void AppendCounters(std::string* out, absl::string_view name,
                    const TcpServiceCounters& c) {
  absl::StrAppend(out, name, ".accepted ", c.accepted, "\n", name, ".active ",
                  c.active, "\n", name, ".closed ", c.closed, "\n", name,
                  ".errors ", c.errors, "\n", name, ".bytes_in ", c.bytes_in,
                  "\n", name, ".bytes_out ", c.bytes_out, "\n");
}

}  // namespace

std::string FormatCounters(const ServicesCounters& c) {
  std::string out;
  AppendCounters(&out, "tcp_echo", c.tcp_echo);
  AppendCounters(&out, "discard", c.discard);
  AppendCounters(&out, "source", c.source);
  AppendCounters(&out, "http", c.http);
  absl::StrAppend(&out, "udp_echo.datagrams_in ", c.udp_echo.datagrams_in,
                  "\nudp_echo.datagrams_out ", c.udp_echo.datagrams_out,
                  "\nudp_echo.bytes_in ", c.udp_echo.bytes_in,
                  "\nudp_echo.bytes_out ", c.udp_echo.bytes_out,
                  "\nudp_echo.errors ", c.udp_echo.errors, "\n");
  absl::StrAppend(&out, "http.requests ", c.http_requests.requests,
                  "\nhttp.responses_2xx ", c.http_requests.responses_2xx,
                  "\nhttp.responses_4xx ", c.http_requests.responses_4xx,
                  "\nhttp.responses_5xx ", c.http_requests.responses_5xx,
                  "\nhttp.idle_timeouts ", c.http_requests.idle_timeouts,
                  "\nrejected ", c.rejected, "\n");
  const DnsCounters& d = c.dns;
  absl::StrAppend(
      &out, "dns.udp_queries ", d.udp_queries, "\ndns.tcp_queries ",
      d.tcp_queries, "\ndns.answers ", d.answers, "\ndns.nodata ", d.nodata,
      "\ndns.nxdomain ", d.nxdomain, "\ndns.formerr ", d.formerr,
      "\ndns.notimp ", d.notimp, "\ndns.refused ", d.refused,
      "\ndns.truncated ", d.truncated, "\ndns.dropped ", d.dropped,
      "\ndns.send_errors ", d.send_errors, "\ndns.tcp_accepted ",
      d.tcp_accepted, "\ndns.tcp_active ", d.tcp_active, "\ndns.tcp_closed ",
      d.tcp_closed, "\ndns.tcp_errors ", d.tcp_errors,
      "\ndns.tcp_idle_timeouts ", d.tcp_idle_timeouts, "\ndns.tcp_rejected ",
      d.tcp_rejected, "\n");
  return out;
}

// ---- Sessions ----

// One accepted connection. Ends exactly once (End()), after which the
// connection is closed or dead and the owner deletes the session on a later
// loop turn. Loop thread only.
class Services::Session : public TcpConnection::Delegate {
 public:
  Session(Services* owner, TcpServiceCounters* counters,
          std::unique_ptr<TcpConnection> conn)
      : owner_(owner), counters_(counters), conn_(std::move(conn)) {
    conn_->set_delegate(this);
  }
  ~Session() override = default;

  // Runs once, right after the session is registered.
  virtual void Start() {}

  // Owner teardown: resets the connection without ending through the owner.
  void AbortNow() {
    if (done_) return;
    done_ = true;
    conn_->Abort();
    StopTimers();
    counters_->active--;
    counters_->closed++;
  }

  // The connection is dead (reset, aborted); lwIP freed it.
  void OnError(absl::Status) override { End(/*error=*/true); }

  // The session's place in the owner's list.
  std::list<std::unique_ptr<Session>>::iterator position;

 protected:
  // Reads up to out.size() bytes, counting them.
  size_t Read(absl::Span<uint8_t> out) {
    const size_t n = conn_->Read(out);
    if (n > 0) {
      counters_->bytes_in += n;
      Progress();
    }
    return n;
  }

  // Reads and drops everything queued.
  void DrainInput() {
    while (!done_ && Read(absl::MakeSpan(owner_->scratch_)) > 0) {
    }
  }

  // Appends bytes to the output buffer.
  void Queue(absl::Span<const uint8_t> data) {
    if (out_begin_ == out_end_) out_begin_ = out_end_ = 0;
    if (out_.size() < out_end_ + data.size()) out_.resize(out_end_ + data.size());
    std::memcpy(out_.data() + out_end_, data.data(), data.size());
    out_end_ += data.size();
  }

  // Makes the output buffer `len` bytes long and returns it for filling.
  absl::Span<uint8_t> Fresh(size_t len) {
    if (out_.size() < len) out_.resize(len);
    out_begin_ = 0;
    out_end_ = len;
    return absl::MakeSpan(out_.data(), len);
  }

  bool OutputEmpty() const { return out_begin_ == out_end_; }
  // Frees the output buffer's memory (it must be empty).
  void ReleaseOutput() {
    std::vector<uint8_t>().swap(out_);
    out_begin_ = out_end_ = 0;
  }

  // Writes what the stack takes of the output buffer. True once it is
  // empty; false while blocked (OnWritable() follows) or after the session
  // ended on a failed write.
  bool Flush() {
    while (!done_ && out_begin_ < out_end_) {
      absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(
          out_.data() + out_begin_, out_end_ - out_begin_));
      if (!n.ok()) {
        Fail();
        return false;
      }
      if (*n == 0) return false;
      out_begin_ += *n;
      counters_->bytes_out += *n;
      Progress();
    }
    if (done_) return false;
    out_begin_ = out_end_ = 0;
    return true;
  }

  bool InputFinished() const {
    return conn_->peer_closed() && conn_->readable_bytes() == 0;
  }

  // Graceful end: queued output is delivered, then FIN. Everything received
  // must have been read (else lwIP resets).
  void CloseGracefully(bool error = false) {
    conn_->Close();
    End(error);
  }
  // Resets the connection and ends with an error.
  void Fail() {
    conn_->Abort();
    End(/*error=*/true);
  }

  void End(bool error) {
    if (done_) return;
    done_ = true;
    StopTimers();
    counters_->active--;
    counters_->closed++;
    if (error) counters_->errors++;
    owner_->Retire(this);
  }

  // Bytes moved in either direction.
  virtual void Progress() {}
  virtual void StopTimers() {}

  Services* const owner_;               // Not owned.
  TcpServiceCounters* const counters_;  // Not owned: the owner's.
  std::unique_ptr<TcpConnection> conn_;
  bool done_ = false;

 private:
  std::vector<uint8_t> out_;
  size_t out_begin_ = 0;
  size_t out_end_ = 0;
};

// Echo: reads only while everything read before has been written, so a
// client that does not read its echo closes its own window.
class Services::EchoSession : public Session {
 public:
  using Session::Session;
  void OnReadable() override { Pump(); }
  void OnWritable() override { Pump(); }

 private:
  // Reads into the owner's scratch buffer and keeps only what the stack
  // did not take, so an idle echo connection holds no buffer (it held
  // 64 KiB each: capi_bench measured 65 KiB per idle connection).
  void Pump() {
    while (!done_) {
      if (!Flush()) return;
      const absl::Span<uint8_t> scratch = absl::MakeSpan(owner_->scratch_);
      const size_t n = Read(scratch);
      if (n == 0) break;
      Queue(scratch.first(n));
    }
    if (OutputEmpty()) ReleaseOutput();
    if (!done_ && InputFinished()) CloseGracefully();
  }
};

class Services::DiscardSession : public Session {
 public:
  using Session::Session;
  void OnReadable() override {
    DrainInput();
    if (!done_ && InputFinished()) CloseGracefully();
  }
};

// Byte source: writes while the stack takes bytes; stops when the client
// sends FIN (or resets).
class Services::SourceSession : public Session {
 public:
  using Session::Session;
  void Start() override { Pump(); }
  void OnReadable() override { Pump(); }
  void OnWritable() override { Pump(); }

 private:
  void Pump() {
    DrainInput();
    if (done_) return;
    if (conn_->peer_closed()) {
      CloseGracefully();
      return;
    }
    while (Flush()) pattern_.Fill(Fresh(kIoChunk));
  }

  ChargenPattern pattern_;
};

// HTTP/1.1: parse a head, read the body if the resource takes one, send the
// response (generated in chunks as the stack takes them), repeat.
class Services::HttpSession : public Session {
 public:
  HttpSession(Services* owner, TcpServiceCounters* counters,
              std::unique_ptr<TcpConnection> conn)
      : Session(owner, counters, std::move(conn)),
        idle_(owner->loop_->NewTimer([this] { OnIdle(); })) {}

  void Start() override { Progress(); }
  void OnReadable() override { Pump(); }
  void OnWritable() override { Pump(); }

 private:
  enum class State {
    kHead,     // Reading a request head.
    kBody,     // Hashing a POST /sha256 body.
    kRespond,  // Sending a response.
    kLinger,   // FIN sent; dropping input until the client's FIN.
  };

  void Progress() override {
    idle_->Start(owner_->config_.http_idle_timeout);
  }
  void StopTimers() override { idle_->Stop(); }

  void OnIdle() {
    if (done_) return;
    owner_->counters_.http_requests.idle_timeouts++;
    Fail();
  }

  void Pump() {
    bool more = true;
    while (more && !done_) {
      switch (state_) {
        case State::kHead:
          more = PumpHead();
          break;
        case State::kBody:
          more = PumpBody();
          break;
        case State::kRespond:
          more = PumpRespond();
          break;
        case State::kLinger:
          DrainInput();
          if (!done_ && InputFinished()) CloseGracefully(protocol_error_);
          more = false;
          break;
      }
    }
  }

  // Returns true when the state changed or input was consumed.
  bool PumpHead() {
    if (parse_due_) {
      parse_due_ = false;
      HttpParseResult result = ParseHttpRequest(in_);
      if (result.state == HttpParseState::kComplete) {
        in_.erase(in_.begin(), in_.begin() + result.head_bytes);
        parse_due_ = !in_.empty();
        Handle(result.request);
        return true;
      }
      if (result.state == HttpParseState::kError) {
        owner_->counters_.http_requests.requests++;
        protocol_error_ = true;
        head_only_ = false;
        keep_alive_ = false;
        SendText(result.error_status, absl::StrCat(result.error, "\n"));
        return true;
      }
    }
    if (in_.size() < kHeadBuffer) {
      const size_t old = in_.size();
      in_.resize(kHeadBuffer);
      const size_t n = Read(absl::MakeSpan(in_).subspan(old));
      in_.resize(old + n);
      if (n > 0) {
        // Re-parse only when a line completed (or the limit passed), so a
        // trickle of bytes costs one scan per line, not per segment.
        parse_due_ = std::memchr(in_.data() + old, '\n', n) != nullptr ||
                     in_.size() > kMaxHttpHeadBytes;
        return true;
      }
    }
    if (InputFinished()) {
      // Between requests this is the normal end; a partial head is cut off.
      bool partial = false;
      for (uint8_t c : in_) partial |= (c != '\r' && c != '\n');
      CloseGracefully(partial);
    }
    return false;
  }

  bool PumpBody() {
    if (!Flush()) return false;  // "100 Continue" first.
    if (!in_.empty() && body_left_ > 0) {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(in_.size(), body_left_));
      hash_.Update(absl::MakeConstSpan(in_.data(), take));
      in_.erase(in_.begin(), in_.begin() + take);
      body_left_ -= take;
    }
    while (body_left_ > 0 && !done_) {
      absl::Span<uint8_t> buffer = absl::MakeSpan(owner_->scratch_);
      if (buffer.size() > body_left_) buffer = buffer.first(body_left_);
      const size_t n = Read(buffer);
      if (n == 0) break;
      hash_.Update(buffer.first(n));
      body_left_ -= n;
    }
    if (done_) return false;
    if (body_left_ == 0) {
      parse_due_ = !in_.empty();
      SendText(200, absl::StrCat(crypto::Sha256::Hex(hash_.Finish()), "\n"));
      return true;
    }
    if (InputFinished()) CloseGracefully(/*error=*/true);  // Truncated body.
    return false;
  }

  bool PumpRespond() {
    if (!Flush()) return false;
    if (stream_left_ > 0) {
      const size_t len =
          static_cast<size_t>(std::min<uint64_t>(kIoChunk, stream_left_));
      pattern_.Fill(Fresh(len));
      stream_left_ -= len;
      return true;
    }
    if (!keep_alive_) {
      absl::Status status = conn_->Shutdown();
      if (!status.ok()) {
        Fail();
        return false;
      }
      in_.clear();
      state_ = State::kLinger;
      return true;
    }
    state_ = State::kHead;
    return true;
  }

  void Handle(const HttpRequest& request) {
    owner_->counters_.http_requests.requests++;
    keep_alive_ = request.keep_alive;
    http10_ = request.version_minor == 0;
    head_only_ = request.method == "HEAD";
    const bool get = request.method == "GET" || head_only_;
    const bool has_body = request.content_length.value_or(0) > 0;
    if (request.has_transfer_encoding) {
      protocol_error_ = true;
      keep_alive_ = false;
      SendText(501, "transfer codings are not supported\n");
      return;
    }
    // A body this resource does not read is not skipped: the connection
    // closes after the response (and drains it meanwhile).
    if (has_body && request.path != "/sha256") keep_alive_ = false;
    if (request.path == "/") {
      if (!get) return MethodNotAllowed("GET, HEAD");
      SendText(200, owner_->StatusPageBody());
    } else if (request.path == "/bytes") {
      if (!get) return MethodNotAllowed("GET, HEAD");
      HandleBytes(request.query);
    } else if (request.path == "/sha256") {
      if (request.method != "POST") {
        if (has_body) keep_alive_ = false;
        return MethodNotAllowed("POST");
      }
      if (!request.content_length.has_value()) {
        keep_alive_ = false;
        SendText(411, "POST /sha256 needs a Content-Length\n");
        return;
      }
      body_left_ = *request.content_length;
      if (request.expect_continue && body_left_ > 0) {
        Queue(AsBytes("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      state_ = State::kBody;
    } else {
      SendText(404, absl::StrCat("no resource at ", request.path, "\n"));
    }
  }

  void HandleBytes(absl::string_view query) {
    absl::optional<absl::string_view> n_text = FindQueryParam(query, "n");
    absl::optional<uint64_t> n =
        n_text.has_value() ? ParseDecimal(*n_text) : absl::nullopt;
    if (!n.has_value()) {
      SendText(400, "/bytes needs n=<decimal byte count>\n");
      return;
    }
    if (*n > kMaxHttpBytes) {
      SendText(400, absl::StrCat("n may be at most ", kMaxHttpBytes, "\n"));
      return;
    }
    uint64_t seed = 0;
    if (absl::optional<absl::string_view> s = FindQueryParam(query, "seed")) {
      absl::optional<uint64_t> parsed = ParseDecimal(*s);
      if (!parsed.has_value()) {
        SendText(400, "seed must be a decimal number below 2^64\n");
        return;
      }
      seed = *parsed;
    }
    SendHead(200, "application/octet-stream", *n, "");
    pattern_ = BytePattern(seed);
    stream_left_ = head_only_ ? 0 : *n;
  }

  void MethodNotAllowed(absl::string_view allow) {
    SendHead(405, "text/plain; charset=utf-8", 19,
             absl::StrCat("Allow: ", allow, "\r\n"));
    if (!head_only_) Queue(AsBytes("method not allowed\n"));
  }

  void SendText(int status, absl::string_view body) {
    SendHead(status, "text/plain; charset=utf-8", body.size(), "");
    if (!head_only_) Queue(AsBytes(body));
  }

  // Queues the status line and fields, and enters kRespond.
  void SendHead(int status, absl::string_view content_type,
                uint64_t content_length, absl::string_view extra_fields) {
    HttpRequestCounters& c = owner_->counters_.http_requests;
    if (status >= 500) {
      c.responses_5xx++;
    } else if (status >= 400) {
      c.responses_4xx++;
    } else if (status >= 200) {
      c.responses_2xx++;
    }
    absl::string_view connection =
        !keep_alive_ ? "Connection: close\r\n"
                     : (http10_ ? "Connection: keep-alive\r\n" : "");
    Queue(AsBytes(absl::StrCat(
        "HTTP/1.1 ", status, " ", HttpReasonPhrase(status),
        "\r\nServer: stowaway-gateway\r\nContent-Type: ", content_type,
        "\r\nContent-Length: ", content_length, "\r\n", extra_fields,
        connection, "\r\n")));
    state_ = State::kRespond;
  }

  std::unique_ptr<event::Timer> idle_;
  State state_ = State::kHead;
  // Received bytes not yet used: a head being read, or what followed one.
  std::vector<uint8_t> in_;
  bool parse_due_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_only_ = false;
  // The connection ends with an error once the response is out.
  bool protocol_error_ = false;
  uint64_t body_left_ = 0;
  crypto::Sha256 hash_;
  uint64_t stream_left_ = 0;
  BytePattern pattern_{0};
};

// ---- Listeners ----

class Services::Acceptor : public netstack::TcpListener::Delegate {
 public:
  Acceptor(Services* owner, Kind kind) : owner_(owner), kind_(kind) {}
  void OnAccept(std::unique_ptr<TcpConnection> connection) override {
    owner_->Accept(kind_, std::move(connection));
  }
  std::unique_ptr<netstack::TcpListener> listener;

 private:
  Services* const owner_;  // Not owned.
  const Kind kind_;
};

class Services::UdpEcho : public netstack::UdpEndpoint::Delegate {
 public:
  explicit UdpEcho(UdpServiceCounters* counters) : counters_(counters) {}
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    counters_->datagrams_in++;
    counters_->bytes_in += payload.size();
    if (endpoint->SendTo(payload, from).ok()) {
      counters_->datagrams_out++;
      counters_->bytes_out += payload.size();
    } else {
      counters_->errors++;
    }
  }
  std::unique_ptr<netstack::UdpEndpoint> endpoint;

 private:
  UdpServiceCounters* const counters_;  // Not owned.
};

// ---- Services ----

Services::Services(netstack::Stack* stack, const ServicesConfig& config)
    : stack_(stack),
      loop_(stack->loop()),
      config_(config),
      scratch_(kIoChunk),
      reaper_(stack->loop()->NewTimer([this] { Reap(); })) {}

absl::StatusOr<std::unique_ptr<Services>> Services::Start(
    netstack::Stack* stack, const ServicesConfig& config) {
  if (config.addresses.empty()) {
    return absl::InvalidArgumentError("services need at least one address");
  }
  const bool dns = !config.dns_records.empty() && config.dns_port != 0;
  std::vector<uint16_t> tcp_ports;
  for (uint16_t port : {config.tcp_echo_port, config.discard_port,
                        config.source_port, config.http_port,
                        dns ? config.dns_port : uint16_t{0}}) {
    if (port == 0) continue;
    if (std::find(tcp_ports.begin(), tcp_ports.end(), port) !=
        tcp_ports.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("two TCP services on port ", port));
    }
    tcp_ports.push_back(port);
  }
  if (dns && config.udp_echo_port == config.dns_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("two UDP services on port ", config.dns_port));
  }
  if (tcp_ports.empty() && config.udp_echo_port == 0) {
    return absl::InvalidArgumentError("every service is disabled");
  }
  if (config.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  std::unique_ptr<Services> services(new Services(stack, config));
  for (const IpAddress& ip : config.addresses) {
    const std::pair<Kind, uint16_t> tcp[] = {
        {Kind::kEcho, config.tcp_echo_port},
        {Kind::kDiscard, config.discard_port},
        {Kind::kSource, config.source_port},
        {Kind::kHttp, config.http_port}};
    for (const auto& [kind, port] : tcp) {
      if (port == 0) continue;
      absl::Status status = services->Listen(kind, ip, port);
      if (!status.ok()) return status;
    }
    if (config.udp_echo_port != 0) {
      auto echo = std::make_unique<UdpEcho>(&services->counters_.udp_echo);
      absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> endpoint =
          netstack::UdpEndpoint::Bind(
              stack, SocketAddress(ip, config.udp_echo_port), echo.get());
      if (!endpoint.ok()) return endpoint.status();
      echo->endpoint = std::move(*endpoint);
      services->udp_echo_.push_back(std::move(echo));
    }
  }
  if (dns) {
    DnsServiceConfig dns_config;
    dns_config.addresses = config.addresses;
    dns_config.port = config.dns_port;
    dns_config.ttl = config.dns_ttl;
    // The gateway's own name first, then the configured records.
    for (const IpAddress& ip : config.addresses) {
      if (!ip.IsUnspecified()) {
        dns_config.records.push_back({kGatewayDnsName, ip});
      }
    }
    dns_config.records.insert(dns_config.records.end(),
                              config.dns_records.begin(),
                              config.dns_records.end());
    absl::StatusOr<std::unique_ptr<DnsService>> started =
        DnsService::Start(stack, dns_config, &services->counters_.dns);
    if (!started.ok()) return started.status();
    services->dns_ = *std::move(started);
  }
  return services;
}

absl::Status Services::Listen(Kind kind, const IpAddress& ip, uint16_t port) {
  auto acceptor = std::make_unique<Acceptor>(this, kind);
  absl::StatusOr<std::unique_ptr<netstack::TcpListener>> listener =
      netstack::TcpListener::Listen(stack_, SocketAddress(ip, port),
                                    acceptor.get());
  if (!listener.ok()) return listener.status();
  acceptor->listener = std::move(*listener);
  acceptors_.push_back(std::move(acceptor));
  return absl::OkStatus();
}

Services::~Services() {
  acceptors_.clear();
  for (std::unique_ptr<Session>& session : sessions_) session->AbortNow();
  sessions_.clear();
  retired_.clear();
  udp_echo_.clear();
  dns_.reset();
  reaper_.reset();
}

TcpServiceCounters* Services::CountersFor(Kind kind) {
  switch (kind) {
    case Kind::kEcho:
      return &counters_.tcp_echo;
    case Kind::kDiscard:
      return &counters_.discard;
    case Kind::kSource:
      return &counters_.source;
    case Kind::kHttp:
      break;
  }
  return &counters_.http;
}

void Services::Accept(Kind kind, std::unique_ptr<TcpConnection> conn) {
  if (sessions_.size() >= config_.max_connections) {
    conn->Abort();
    counters_.rejected++;
    return;
  }
  TcpServiceCounters* counters = CountersFor(kind);
  counters->accepted++;
  counters->active++;
  std::unique_ptr<Session> session;
  switch (kind) {
    case Kind::kEcho:
      session = std::make_unique<EchoSession>(this, counters, std::move(conn));
      break;
    case Kind::kDiscard:
      session =
          std::make_unique<DiscardSession>(this, counters, std::move(conn));
      break;
    case Kind::kSource:
      session =
          std::make_unique<SourceSession>(this, counters, std::move(conn));
      break;
    case Kind::kHttp:
      session = std::make_unique<HttpSession>(this, counters, std::move(conn));
      break;
  }
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  raw->position = std::prev(sessions_.end());
  raw->Start();
}

void Services::Retire(Session* session) {
  retired_.push_back(std::move(*session->position));
  sessions_.erase(session->position);
  reaper_->Start(absl::ZeroDuration());
}

void Services::Reap() {
  std::vector<std::unique_ptr<Session>> batch;
  batch.swap(retired_);
}

std::string Services::StatusPageBody() {
  if (status_page_) return status_page_();
  return FormatCounters(counters_);
}

}  // namespace stow::gateway
