#include "sdk/dns/resolver.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/crypto/random.h"
#include "sdk/dns/tcp_framing.h"

namespace stow::dns {

// How one question (a name, A or AAAA) ended.
struct Resolver::Outcome {
  enum class Kind { kError, kAddresses, kNxDomain, kNoData };
  Kind kind = Kind::kError;
  std::vector<IpAddress> addresses;
  absl::Status error;
  // Set for answers from a server (not from the cache): the smallest record
  // TTL of an address answer, or a negative answer's SOA TTL (RFC 2308) if
  // it had one.
  bool from_server = false;
  absl::optional<uint32_t> ttl;
};

// One question (A or AAAA of one candidate name) asked of the servers in
// turn: UDP with retries, then TCP on truncation.
class Resolver::Query : public netstack::UdpEndpoint::Delegate,
                        public netstack::TcpConnection::Delegate {
 public:
  Query(Resolver* resolver, Request* request, size_t slot, std::string name,
        RecordType type)
      : resolver_(resolver),
        request_(request),
        slot_(slot),
        name_(std::move(name)),
        type_(type),
        timer_(resolver->loop_->NewTimer([this] { OnTimeout(); })) {}

  ~Query() override { ReleaseNetwork(/*abort_tcp=*/true); }

  void Start();

  // netstack::UdpEndpoint::Delegate:
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override;

  // netstack::TcpConnection::Delegate:
  void OnConnected() override { WriteTcp(); }
  void OnReadable() override { ReadTcp(); }
  void OnWritable() override { WriteTcp(); }
  void OnError(absl::Status status) override;

 private:
  void StartServer();
  void Transmit();
  void OnTimeout();
  // The current server failed with `status`: try the next one.
  void NextServer(absl::Status status);
  // A well-formed answer to this question (not truncated).
  void OnAnswer(const Response& response);

  // TCP fallback after a truncated UDP answer.
  void StartTcp();
  void WriteTcp();
  void ReadTcp();
  void OnTcpMessage(absl::Span<const uint8_t> message);
  void TcpFailed(absl::Status status);
  void CloseTcp(bool abort);

  // Hands the endpoint and connection to the reaper and stops the timer.
  void ReleaseNetwork(bool abort_tcp);
  void Done(Outcome outcome);
  void Fail(absl::Status status) {
    Outcome outcome;
    outcome.error = std::move(status);
    Done(std::move(outcome));
  }

  Resolver* const resolver_;  // Not owned.
  Request* const request_;    // Not owned; owns this.
  const size_t slot_;         // Index among the candidate's questions.
  const std::string name_;    // Normalized.
  const RecordType type_;
  std::unique_ptr<event::Timer> timer_;
  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
  size_t server_index_ = 0;
  SocketAddress server_;
  uint16_t id_ = 0;
  int tries_ = 0;
  std::vector<uint8_t> packet_;
  // The last error a server gave, and the last unusable reply seen.
  absl::Status server_error_;
  std::string last_malformed_;
  // TCP: the connection, the framed query and how much of it went out, and
  // the answer being reassembled.
  std::unique_ptr<netstack::TcpConnection> tcp_;
  std::vector<uint8_t> tcp_out_;
  size_t tcp_written_ = 0;
  TcpMessageReader tcp_reader_;
  bool started_ = false;
  bool done_ = false;
};

struct Resolver::Request {
  RequestId id = 0;
  std::string asked;  // The name as the app gave it.
  std::vector<std::string> candidates;
  size_t next_candidate = 0;
  std::vector<RecordType> types;
  std::vector<IpAddress> servers;
  Callback callback;
  // The candidate being asked, its outcomes (one per type) and how many are
  // still missing. `generation` moves with every candidate.
  std::string name;
  uint64_t generation = 0;
  std::vector<Outcome> outcomes;
  size_t pending = 0;
  // The first candidate that exists without records of the asked types.
  std::string nodata_name;
  // Every query made, older candidates' included (finished, inert): a query
  // may still be on the stack when its candidate ends.
  std::vector<std::unique_ptr<Query>> queries;
  bool finished = false;
  absl::StatusOr<std::vector<IpAddress>> result;
};

void Resolver::Query::Start() {
  if (started_) return;
  started_ = true;
  StartServer();
}

void Resolver::Query::StartServer() {
  if (endpoint_) resolver_->Bury(std::move(endpoint_));
  const std::vector<IpAddress>& servers = request_->servers;
  if (server_index_ >= servers.size()) {
    Fail(server_error_);
    return;
  }
  server_ = SocketAddress(servers[server_index_], resolver_->options_.port);
  absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> endpoint =
      netstack::UdpEndpoint::Bind(
          resolver_->stack_,
          SocketAddress(IpAddress::Any(server_.ip().family()), 0), this);
  if (!endpoint.ok()) {
    NextServer(endpoint.status());
    return;
  }
  endpoint_ = std::move(*endpoint);
  id_ = static_cast<uint16_t>(crypto::RandomUint32());
  absl::StatusOr<std::vector<uint8_t>> packet = BuildQuery(id_, name_, type_);
  if (!packet.ok()) {  // The name was checked in Resolve().
    Fail(packet.status());
    return;
  }
  packet_ = std::move(*packet);
  tries_ = 0;
  last_malformed_.clear();
  Transmit();
}

void Resolver::Query::Transmit() {
  absl::Status sent = endpoint_->SendTo(packet_, server_);
  if (!sent.ok()) {
    NextServer(absl::Status(
        sent.code(), absl::StrCat("DNS query to ", server_.ToString(), ": ",
                                  sent.message())));
    return;
  }
  ++resolver_->counters_.queries_sent;
  const absl::Duration timeout =
      resolver_->options_.initial_timeout * (int64_t{1} << tries_);
  ++tries_;
  timer_->Start(timeout);
}

void Resolver::Query::OnTimeout() {
  if (done_) return;
  if (tcp_ != nullptr) {
    TcpFailed(absl::DeadlineExceededError(absl::StrCat(
        "no answer over TCP from DNS server ", server_.ToString(), " for ",
        name_, " within ",
        absl::FormatDuration(resolver_->options_.tcp_timeout))));
    return;
  }
  ++resolver_->counters_.timeouts;
  if (tries_ < resolver_->options_.tries_per_server) {
    ++resolver_->counters_.retransmissions;
    Transmit();
    return;
  }
  std::string message =
      absl::StrCat("no answer from DNS server ", server_.ToString(), " for ",
                   name_, " after ", tries_, " tries");
  if (!last_malformed_.empty()) {
    absl::StrAppend(&message, " (last reply refused: ", last_malformed_, ")");
  }
  NextServer(absl::DeadlineExceededError(message));
}

void Resolver::Query::NextServer(absl::Status status) {
  timer_->Stop();
  CloseTcp(/*abort=*/true);
  // A server's explicit error outranks a later server's silence.
  if (server_error_.ok() ||
      server_error_.code() == absl::StatusCode::kDeadlineExceeded) {
    server_error_ = std::move(status);
  }
  ++server_index_;
  StartServer();
}

void Resolver::Query::OnDatagram(absl::Span<const uint8_t> payload,
                                 const SocketAddress& from) {
  if (done_ || tcp_ != nullptr) return;
  ResolverCounters& counters = resolver_->counters_;
  const absl::optional<uint16_t> id = PeekId(payload);
  if (from != server_ || !id.has_value() || *id != id_) {
    ++counters.stray_replies;
    return;
  }
  absl::StatusOr<Response> response = ParseAnswer(payload, id_, name_, type_);
  if (response.ok()) {
    if (response->truncated) {
      ++counters.truncated;
      StartTcp();
      return;
    }
    ++counters.responses;
    OnAnswer(*response);
    return;
  }
  switch (response.status().code()) {
    case absl::StatusCode::kFailedPrecondition:
      ++counters.mismatched_replies;
      return;
    case absl::StatusCode::kInvalidArgument:
      ++counters.malformed_replies;
      last_malformed_ = std::string(response.status().message());
      return;
    default:  // SERVFAIL, REFUSED, ...: perhaps another server does better.
      ++counters.responses;
      NextServer(response.status());
      return;
  }
}

void Resolver::Query::OnAnswer(const Response& response) {
  Outcome outcome;
  outcome.from_server = true;
  if (response.rcode == Rcode::kNxDomain) {
    outcome.kind = Outcome::Kind::kNxDomain;
    outcome.ttl = response.negative_ttl;
  } else if (response.addresses.empty()) {
    outcome.kind = Outcome::Kind::kNoData;
    outcome.ttl = response.negative_ttl;
  } else {
    outcome.kind = Outcome::Kind::kAddresses;
    uint32_t ttl = UINT32_MAX;
    for (const AddressRecord& rec : response.addresses) {
      outcome.addresses.push_back(rec.address);
      ttl = std::min(ttl, rec.ttl);
    }
    outcome.ttl = ttl;
  }
  Done(std::move(outcome));
}

void Resolver::Query::StartTcp() {
  timer_->Stop();
  // The UDP exchange with this server is over.
  if (endpoint_) resolver_->Bury(std::move(endpoint_));
  ++resolver_->counters_.tcp_queries;
  absl::StatusOr<std::vector<uint8_t>> framed = FrameTcpMessage(packet_);
  if (!framed.ok()) {  // A query is far shorter than 64 KiB.
    TcpFailed(framed.status());
    return;
  }
  tcp_out_ = std::move(*framed);
  tcp_written_ = 0;
  tcp_reader_.Reset();
  absl::StatusOr<std::unique_ptr<netstack::TcpConnection>> connection =
      netstack::TcpConnection::Connect(resolver_->stack_, server_, this);
  if (!connection.ok()) {
    TcpFailed(connection.status());
    return;
  }
  tcp_ = std::move(*connection);
  timer_->Start(resolver_->options_.tcp_timeout);
}

void Resolver::Query::WriteTcp() {
  if (done_ || tcp_ == nullptr) return;
  while (tcp_written_ < tcp_out_.size()) {
    absl::StatusOr<size_t> n = tcp_->Write(
        absl::Span<const uint8_t>(tcp_out_).subspan(tcp_written_));
    if (!n.ok()) {
      TcpFailed(n.status());
      return;
    }
    if (*n == 0) return;  // OnWritable() follows.
    tcp_written_ += *n;
  }
}

void Resolver::Query::ReadTcp() {
  if (done_ || tcp_ == nullptr) return;
  uint8_t buffer[4096];
  while (tcp_reader_.state() == TcpMessageReader::State::kNeedMore) {
    const size_t n = tcp_->Read(absl::MakeSpan(buffer));
    if (n == 0) break;
    // Bytes after the first message are not ours to use: dropped.
    tcp_reader_.Feed(absl::MakeConstSpan(buffer, n));
  }
  switch (tcp_reader_.state()) {
    case TcpMessageReader::State::kComplete:
      OnTcpMessage(tcp_reader_.message());
      return;
    case TcpMessageReader::State::kError:
      ++resolver_->counters_.malformed_replies;
      TcpFailed(absl::InvalidArgumentError(tcp_reader_.error()));
      return;
    case TcpMessageReader::State::kNeedMore:
      if (tcp_->peer_closed() && tcp_->readable_bytes() == 0) {
        TcpFailed(absl::UnavailableError(absl::StrCat(
            "DNS server closed the TCP connection after ",
            tcp_reader_.announced_length() > 0
                ? absl::StrCat(tcp_reader_.message().size(), " of ",
                               tcp_reader_.announced_length(),
                               " bytes of the answer")
                : std::string("less than the answer's length"))));
      }
      return;
  }
}

void Resolver::Query::OnError(absl::Status status) {
  if (done_ || tcp_ == nullptr) return;
  // Bytes that arrived before the error may still hold the whole answer.
  ReadTcp();
  if (done_ || tcp_ == nullptr) return;
  TcpFailed(std::move(status));
}

void Resolver::Query::OnTcpMessage(absl::Span<const uint8_t> message) {
  ResolverCounters& counters = resolver_->counters_;
  absl::StatusOr<Response> response = ParseAnswer(message, id_, name_, type_);
  if (response.ok() && !response->truncated) {
    ++counters.responses;
    CloseTcp(/*abort=*/false);
    OnAnswer(*response);
    return;
  }
  if (response.ok()) {  // TC over TCP: nothing more to hope for here.
    ++counters.malformed_replies;
    TcpFailed(absl::InvalidArgumentError(
        absl::StrCat("DNS answer for ", name_, " truncated even over TCP")));
    return;
  }
  switch (response.status().code()) {
    case absl::StatusCode::kFailedPrecondition:
      ++counters.mismatched_replies;
      TcpFailed(response.status());
      return;
    case absl::StatusCode::kInvalidArgument:
      ++counters.malformed_replies;
      TcpFailed(response.status());
      return;
    default:  // The server's own error (SERVFAIL, ...): not a TCP failure.
      ++counters.responses;
      CloseTcp(/*abort=*/false);
      NextServer(response.status());
      return;
  }
}

void Resolver::Query::TcpFailed(absl::Status status) {
  ++resolver_->counters_.tcp_failures;
  CloseTcp(/*abort=*/true);
  NextServer(absl::Status(
      status.code(), absl::StrCat("DNS over TCP to ", server_.ToString(),
                                  " for ", name_, ": ", status.message())));
}

void Resolver::Query::CloseTcp(bool abort) {
  if (tcp_ == nullptr) return;
  if (abort) {
    tcp_->Abort();
  } else {
    tcp_->Close();
  }
  resolver_->Bury(std::move(tcp_));
}

void Resolver::Query::ReleaseNetwork(bool abort_tcp) {
  timer_->Stop();
  CloseTcp(abort_tcp);
  if (endpoint_) resolver_->Bury(std::move(endpoint_));
}

void Resolver::Query::Done(Outcome outcome) {
  if (done_) return;
  done_ = true;
  ReleaseNetwork(/*abort_tcp=*/true);
  resolver_->OnQueryDone(request_, slot_, name_, type_, std::move(outcome));
}

Resolver::Resolver(netstack::Stack* stack, std::vector<IpAddress> servers,
                   ResolverOptions options)
    : stack_(stack),
      loop_(stack->loop()),
      servers_(std::move(servers)),
      options_(std::move(options)),
      cache_(options_.cache_entries),
      reaper_(loop_->NewTimer([this] { Reap(); })) {
  for (const std::string& domain : options_.search_domains) {
    absl::StatusOr<std::string> normalized = NormalizeName(domain);
    if (normalized.ok()) search_domains_.push_back(std::move(*normalized));
  }
}

Resolver::~Resolver() {
  requests_.clear();
  finished_.clear();
  graveyard_.clear();
  tcp_graveyard_.clear();
}

void Resolver::SetServers(std::vector<IpAddress> servers) {
  servers_ = std::move(servers);
  cache_.Clear();
}

absl::Status Resolver::SetSearchDomains(std::vector<std::string> domains) {
  std::vector<std::string> normalized;
  for (const std::string& domain : domains) {
    absl::StatusOr<std::string> n = NormalizeName(domain);
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad search domain \"", domain, "\": ", n.status().message()));
    }
    normalized.push_back(std::move(*n));
  }
  search_domains_ = std::move(normalized);
  return absl::OkStatus();
}

std::vector<std::string> Resolver::Candidates(
    absl::string_view name, const std::string& normalized) const {
  const bool absolute = !name.empty() && name.back() == '.';
  if (absolute || search_domains_.empty()) return {normalized};
  std::vector<std::string> out;
  const int dots =
      static_cast<int>(std::count(normalized.begin(), normalized.end(), '.'));
  const bool as_is_first = dots >= options_.ndots;
  if (as_is_first) out.push_back(normalized);
  for (const std::string& domain : search_domains_) {
    std::string candidate = absl::StrCat(normalized, ".", domain);
    // Both parts are valid names: only the total length can be too much.
    if (candidate.size() <= kMaxNameLength) out.push_back(std::move(candidate));
  }
  if (!as_is_first) out.push_back(normalized);
  return out;
}

absl::StatusOr<Resolver::RequestId> Resolver::Resolve(absl::string_view name,
                                                      AddressFamily family,
                                                      Callback callback) {
  auto request = std::make_unique<Request>();
  request->id = next_id_++;
  request->callback = std::move(callback);
  if (absl::StatusOr<IpAddress> literal = IpAddress::Parse(name);
      literal.ok()) {
    ++counters_.literals;
    request->result = std::vector<IpAddress>{*literal};
    request->finished = true;
    const RequestId id = request->id;
    finished_.push_back(std::move(request));
    reaper_->Start(absl::ZeroDuration());
    return id;
  }
  absl::StatusOr<std::string> normalized = NormalizeName(name);
  if (!normalized.ok()) return normalized.status();
  if (servers_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no DNS servers to resolve ", *normalized));
  }
  request->asked = std::string(name);
  request->candidates = Candidates(name, *normalized);
  request->servers = servers_;
  if (family != AddressFamily::kV6) request->types.push_back(RecordType::kA);
  if (family != AddressFamily::kV4) {
    request->types.push_back(RecordType::kAaaa);
  }
  Request* r = request.get();
  const RequestId id = r->id;
  requests_.emplace(id, std::move(request));
  // Queries report through OnQueryDone(), which never runs the callback
  // from here: a failure or a cached answer still completes on a later
  // turn.
  StartNextCandidate(r);
  return id;
}

void Resolver::StartNextCandidate(Request* r) {
  while (!r->finished) {
    if (r->next_candidate >= r->candidates.size()) {
      if (!r->nodata_name.empty()) {
        const bool v4 = r->types.front() == RecordType::kA;
        const char* what = r->types.size() == 2 ? "addresses"
                           : v4                 ? "IPv4 addresses"
                                                : "IPv6 addresses";
        Finish(r, absl::NotFoundError(
                      absl::StrCat("no ", what, " for ", r->nodata_name)));
      } else {
        Finish(r, absl::NotFoundError(
                      absl::StrCat("no such name: ", r->asked)));
      }
      return;
    }
    r->name = r->candidates[r->next_candidate++];
    const uint64_t generation = ++r->generation;
    r->outcomes.assign(r->types.size(), Outcome());
    r->pending = 0;
    std::vector<size_t> to_start;
    for (size_t slot = 0; slot < r->types.size(); ++slot) {
      if (cache_.enabled()) {
        absl::optional<CachedAnswer> cached =
            cache_.Lookup(r->name, r->types[slot], loop_->Now());
        if (cached.has_value()) {
          ++counters_.cache_hits;
          Outcome& outcome = r->outcomes[slot];
          switch (cached->kind) {
            case CachedAnswer::Kind::kAddresses:
              outcome.kind = Outcome::Kind::kAddresses;
              outcome.addresses = std::move(cached->addresses);
              break;
            case CachedAnswer::Kind::kNxDomain:
              outcome.kind = Outcome::Kind::kNxDomain;
              break;
            case CachedAnswer::Kind::kNoData:
              outcome.kind = Outcome::Kind::kNoData;
              break;
          }
          continue;
        }
        ++counters_.cache_misses;
      }
      to_start.push_back(r->queries.size());
      r->queries.push_back(
          std::make_unique<Query>(this, r, slot, r->name, r->types[slot]));
      ++r->pending;
    }
    if (r->pending == 0) {
      if (EvaluateCandidate(r)) return;
      continue;
    }
    for (size_t index : to_start) {
      // A query that fails at once may end this candidate (and start the
      // next one, or finish the request) before the others start.
      if (r->finished || r->generation != generation) break;
      r->queries[index]->Start();
    }
    return;
  }
}

bool Resolver::EvaluateCandidate(Request* r) {
  std::vector<IpAddress> addresses;
  bool nxdomain = false;
  absl::Status error;
  for (Outcome& outcome : r->outcomes) {
    switch (outcome.kind) {
      case Outcome::Kind::kAddresses:
        addresses.insert(addresses.end(), outcome.addresses.begin(),
                         outcome.addresses.end());
        break;
      case Outcome::Kind::kNxDomain:
        nxdomain = true;
        break;
      case Outcome::Kind::kNoData:
        break;
      case Outcome::Kind::kError:
        if (error.ok()) error = outcome.error;
        break;
    }
  }
  if (!addresses.empty()) {
    Finish(r, std::move(addresses));
    return true;
  }
  if (nxdomain) return false;
  if (!error.ok()) {
    Finish(r, std::move(error));
    return true;
  }
  if (r->nodata_name.empty()) r->nodata_name = r->name;
  return false;
}

void Resolver::OnQueryDone(Request* r, size_t slot, const std::string& name,
                           RecordType type, Outcome outcome) {
  MaybeCache(name, type, outcome);
  if (r->finished || name != r->name || slot >= r->outcomes.size()) return;
  r->outcomes[slot] = std::move(outcome);
  if (--r->pending > 0) return;
  if (!EvaluateCandidate(r)) StartNextCandidate(r);
}

void Resolver::MaybeCache(const std::string& name, RecordType type,
                          const Outcome& outcome) {
  if (!outcome.from_server || !cache_.enabled()) return;
  CachedAnswer answer;
  absl::Duration ttl;
  switch (outcome.kind) {
    case Outcome::Kind::kError:
      return;
    case Outcome::Kind::kAddresses:
      answer.kind = CachedAnswer::Kind::kAddresses;
      answer.addresses = outcome.addresses;
      ttl = absl::Seconds(outcome.ttl.value_or(0));
      break;
    case Outcome::Kind::kNxDomain:
    case Outcome::Kind::kNoData:
      if (options_.negative_ttl <= absl::ZeroDuration()) return;
      answer.kind = outcome.kind == Outcome::Kind::kNxDomain
                        ? CachedAnswer::Kind::kNxDomain
                        : CachedAnswer::Kind::kNoData;
      ttl = outcome.ttl.has_value() ? absl::Seconds(*outcome.ttl)
                                    : options_.negative_ttl;
      break;
  }
  ttl = std::min(std::max(ttl, options_.min_ttl), options_.max_ttl);
  cache_.Insert(name, type, std::move(answer), loop_->Now(), ttl);
}

void Resolver::Cancel(RequestId id) {
  requests_.erase(id);
  for (auto it = finished_.begin(); it != finished_.end(); ++it) {
    if ((*it)->id == id) {
      finished_.erase(it);
      break;
    }
  }
}

void Resolver::Finish(Request* request,
                      absl::StatusOr<std::vector<IpAddress>> result) {
  auto it = requests_.find(request->id);
  if (it == requests_.end() || request->finished) return;
  request->finished = true;
  request->result = std::move(result);
  finished_.push_back(std::move(it->second));
  requests_.erase(it);
  reaper_->Start(absl::ZeroDuration());
}

void Resolver::Bury(std::unique_ptr<netstack::UdpEndpoint> endpoint) {
  graveyard_.push_back(std::move(endpoint));
  reaper_->Start(absl::ZeroDuration());
}

void Resolver::Bury(std::unique_ptr<netstack::TcpConnection> connection) {
  tcp_graveyard_.push_back(std::move(connection));
  reaper_->Start(absl::ZeroDuration());
}

void Resolver::Reap() {
  // One request at a time: a callback may Cancel() the ones after it.
  while (!finished_.empty()) {
    std::unique_ptr<Request> request = std::move(finished_.front());
    finished_.pop_front();
    if (request->result.ok()) {
      ++counters_.resolved;
    } else {
      ++counters_.failed;
    }
    Callback callback = std::move(request->callback);
    absl::StatusOr<std::vector<IpAddress>> result = std::move(request->result);
    request.reset();  // Buries its endpoints.
    callback(std::move(result));
  }
  graveyard_.clear();
  tcp_graveyard_.clear();
}

}  // namespace stow::dns
