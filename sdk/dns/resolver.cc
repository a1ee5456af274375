#include "sdk/dns/resolver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/crypto/random.h"

namespace stow::dns {

// One question (A or AAAA) asked of the servers in turn.
class Resolver::Query : public netstack::UdpEndpoint::Delegate {
 public:
  Query(Resolver* resolver, Request* request, RecordType type)
      : resolver_(resolver),
        request_(request),
        type_(type),
        timer_(resolver->loop_->NewTimer([this] { OnTimeout(); })) {}

  ~Query() override {
    // The endpoint may be mid-callback (a request finished from a datagram
    // of this query): let the reaper destroy it.
    if (endpoint_) resolver_->Bury(std::move(endpoint_));
  }

  void Start() { StartServer(); }

  bool done() const { return done_; }
  const absl::Status& error() const { return error_; }
  const std::vector<AddressRecord>& addresses() const { return addresses_; }
  RecordType type() const { return type_; }

  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override;

 private:
  void StartServer();
  void Transmit();
  void OnTimeout();
  // The current server failed with `status`: try the next one.
  void NextServer(absl::Status status);
  void Done(absl::Status status, std::vector<AddressRecord> addresses = {});

  Resolver* const resolver_;  // Not owned.
  Request* const request_;    // Not owned; owns this.
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
  bool done_ = false;
  absl::Status error_;
  std::vector<AddressRecord> addresses_;
};

struct Resolver::Request {
  RequestId id = 0;
  std::string name;  // Normalized.
  std::vector<IpAddress> servers;
  Callback callback;
  std::vector<std::unique_ptr<Query>> queries;
  absl::StatusOr<std::vector<IpAddress>> result;
};

void Resolver::Query::StartServer() {
  if (endpoint_) resolver_->Bury(std::move(endpoint_));
  const std::vector<IpAddress>& servers = request_->servers;
  if (server_index_ >= servers.size()) {
    Done(server_error_);
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
  absl::StatusOr<std::vector<uint8_t>> packet =
      BuildQuery(id_, request_->name, type_);
  if (!packet.ok()) {  // The name was checked in Resolve().
    Done(packet.status());
    return;
  }
  packet_ = std::move(*packet);
  tries_ = 0;
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
  ++resolver_->counters_.timeouts;
  if (tries_ < resolver_->options_.tries_per_server) {
    ++resolver_->counters_.retransmissions;
    Transmit();
    return;
  }
  std::string message =
      absl::StrCat("no answer from DNS server ", server_.ToString(), " for ",
                   request_->name, " after ", tries_, " tries");
  if (!last_malformed_.empty()) {
    absl::StrAppend(&message, " (last reply refused: ", last_malformed_, ")");
  }
  NextServer(absl::DeadlineExceededError(message));
}

void Resolver::Query::NextServer(absl::Status status) {
  timer_->Stop();
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
  if (done_) return;
  ResolverCounters& counters = resolver_->counters_;
  const absl::optional<uint16_t> id = PeekId(payload);
  if (from != server_ || !id.has_value() || *id != id_) {
    ++counters.stray_replies;
    return;
  }
  absl::StatusOr<Response> response =
      ParseResponse(payload, id_, request_->name, type_);
  if (response.ok()) {
    ++counters.responses;
    Done(absl::OkStatus(), std::move(response->addresses));
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
    case absl::StatusCode::kNotFound:  // NXDOMAIN: the name does not exist.
      ++counters.responses;
      Done(response.status());
      return;
    default:  // SERVFAIL, REFUSED, ...: perhaps another server does better.
      ++counters.responses;
      NextServer(response.status());
      return;
  }
}

void Resolver::Query::Done(absl::Status status,
                           std::vector<AddressRecord> addresses) {
  if (done_) return;
  done_ = true;
  timer_->Stop();
  error_ = std::move(status);
  addresses_ = std::move(addresses);
  resolver_->OnQueryDone(request_);
}

Resolver::Resolver(netstack::Stack* stack, std::vector<IpAddress> servers,
                   ResolverOptions options)
    : stack_(stack),
      loop_(stack->loop()),
      servers_(std::move(servers)),
      options_(options),
      reaper_(loop_->NewTimer([this] { Reap(); })) {}

Resolver::~Resolver() {
  requests_.clear();
  finished_.clear();
  graveyard_.clear();
}

void Resolver::SetServers(std::vector<IpAddress> servers) {
  servers_ = std::move(servers);
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
  request->name = std::move(*normalized);
  request->servers = servers_;
  Request* r = request.get();
  if (family != AddressFamily::kV6) {
    r->queries.push_back(std::make_unique<Query>(this, r, RecordType::kA));
  }
  if (family != AddressFamily::kV4) {
    r->queries.push_back(std::make_unique<Query>(this, r, RecordType::kAaaa));
  }
  const RequestId id = r->id;
  requests_.emplace(id, std::move(request));
  // Queries report through OnQueryDone(), which never runs the callback
  // from here: a failure now still completes on a later turn.
  for (size_t i = 0; i < r->queries.size(); ++i) {
    auto it = requests_.find(id);
    if (it == requests_.end()) break;  // Finished already.
    r->queries[i]->Start();
  }
  return id;
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

void Resolver::OnQueryDone(Request* request) {
  for (const std::unique_ptr<Query>& q : request->queries) {
    if (!q->done()) return;
  }
  std::vector<IpAddress> addresses;
  absl::Status not_found;
  absl::Status other;
  for (const std::unique_ptr<Query>& q : request->queries) {
    for (const AddressRecord& rec : q->addresses()) {
      addresses.push_back(rec.address);
    }
    if (q->error().code() == absl::StatusCode::kNotFound) {
      if (not_found.ok()) not_found = q->error();
    } else if (!q->error().ok() && other.ok()) {
      other = q->error();
    }
  }
  if (!addresses.empty()) {
    Finish(request, std::move(addresses));
  } else if (!not_found.ok()) {
    Finish(request, not_found);
  } else if (!other.ok()) {
    Finish(request, other);
  } else {
    const bool v4 = request->queries.front()->type() == RecordType::kA;
    const char* what = request->queries.size() == 2 ? "addresses"
                       : v4                         ? "IPv4 addresses"
                                                    : "IPv6 addresses";
    Finish(request, absl::NotFoundError(
                        absl::StrCat("no ", what, " for ", request->name)));
  }
}

void Resolver::Finish(Request* request,
                      absl::StatusOr<std::vector<IpAddress>> result) {
  auto it = requests_.find(request->id);
  if (it == requests_.end()) return;
  request->result = std::move(result);
  finished_.push_back(std::move(it->second));
  requests_.erase(it);
  reaper_->Start(absl::ZeroDuration());
}

void Resolver::Bury(std::unique_ptr<netstack::UdpEndpoint> endpoint) {
  graveyard_.push_back(std::move(endpoint));
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
}

}  // namespace stow::dns
