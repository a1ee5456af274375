#include "sdk/proxy/dialer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::proxy {

const char* DialFailureName(DialFailure failure) {
  switch (failure) {
    case DialFailure::kNone: return "none";
    case DialFailure::kBadName: return "bad name";
    case DialFailure::kNameNotFound: return "name not found";
    case DialFailure::kResolveFailed: return "resolution failed";
    case DialFailure::kNoRoute: return "no route";
    case DialFailure::kRefused: return "refused";
    case DialFailure::kUnreachable: return "unreachable";
    case DialFailure::kTimeout: return "timeout";
  }
  return "unknown";
}

absl::StatusOr<uint64_t> DnsNameResolver::Resolve(absl::string_view name,
                                                  Callback callback) {
  return resolver_->Resolve(name, dns::AddressFamily::kBoth,
                            std::move(callback));
}

// One Dial() or ResolveName(): resolution, then each address in turn.
class NetstackDialer::Attempt : public netstack::TcpConnection::Delegate {
 public:
  Attempt(NetstackDialer* dialer, DialId id, std::string host, uint16_t port,
          DialCallback dial_callback, ResolveCallback resolve_callback)
      : dialer_(dialer),
        id_(id),
        host_(std::move(host)),
        port_(port),
        dial_callback_(std::move(dial_callback)),
        resolve_callback_(std::move(resolve_callback)),
        deadline_(dialer->loop()->NewTimer([this] { OnDeadline(); })) {}

  ~Attempt() override {
    if (resolve_id_ != 0 && dialer_->resolver_ != nullptr) {
      dialer_->resolver_->Cancel(resolve_id_);
    }
    if (connection_ != nullptr) connection_->Abort();
  }

  void Begin() {
    deadline_->Start(dialer_->options_.timeout);
    absl::StatusOr<IpAddress> literal = IpAddress::Parse(host_);
    if (literal.ok()) {
      OnResolved(std::vector<IpAddress>{*literal});
      return;
    }
    if (dialer_->resolver_ == nullptr) {
      Fail(DialFailure::kBadName,
           absl::InvalidArgumentError(absl::StrCat(
               "\"", host_, "\" is not an address and no resolver is set")));
      return;
    }
    absl::StatusOr<uint64_t> id = dialer_->resolver_->Resolve(
        host_, [this](absl::StatusOr<std::vector<IpAddress>> result) {
          resolve_id_ = 0;
          OnResolved(std::move(result));
        });
    if (!id.ok()) {
      Fail(id.status().code() == absl::StatusCode::kInvalidArgument
               ? DialFailure::kBadName
               : DialFailure::kResolveFailed,
           absl::Status(id.status().code(),
                        absl::StrCat("resolving \"", host_, "\": ",
                                     id.status().message())));
      return;
    }
    resolve_id_ = *id;
  }

  void RunCallback() {
    if (resolve_callback_) {
      ResolveCallback callback = std::move(resolve_callback_);
      if (result_.status.ok()) {
        callback(std::move(addresses_));
      } else {
        callback(result_.status);
      }
      return;
    }
    DialCallback callback = std::move(dial_callback_);
    if (callback) callback(std::move(result_));
  }

  // TcpConnection::Delegate, while connecting and until handed over.
  void OnConnected() override {
    if (done_) return;
    deadline_->Stop();
    result_.connection = std::move(connection_);
    result_.status = absl::OkStatus();
    done_ = true;
    dialer_->Finish(this);
  }
  void OnReadable() override {}  // Queued until the new delegate reads.
  void OnError(absl::Status status) override {
    if (done_) {
      // Failed between connecting and the hand-over: report that instead.
      if (result_.connection != nullptr) {
        graveyard_ = std::move(result_.connection);
        result_.failure = DialFailure::kUnreachable;
        result_.status = absl::UnavailableError(absl::StrCat(
            "connection to ", host_, " failed at once: ", status.message()));
      }
      return;
    }
    // lwIP reports a refused connect (RST to the SYN) as kUnavailable.
    if (status.code() == absl::StatusCode::kUnavailable) refused_ = true;
    last_error_ = status;
    graveyard_ = std::move(connection_);
    TryNext();
  }

 private:
  void OnResolved(absl::StatusOr<std::vector<IpAddress>> result) {
    if (done_) return;
    if (!result.ok()) {
      const bool not_found = result.status().code() == absl::StatusCode::kNotFound;
      Fail(not_found ? DialFailure::kNameNotFound : DialFailure::kResolveFailed,
           absl::Status(result.status().code(),
                        absl::StrCat("cannot resolve \"", host_,
                                     "\": ", result.status().message())));
      return;
    }
    addresses_ = std::move(*result);
    if (addresses_.empty()) {
      Fail(DialFailure::kNameNotFound,
           absl::NotFoundError(
               absl::StrCat("\"", host_, "\" has no addresses")));
      return;
    }
    std::stable_partition(addresses_.begin(), addresses_.end(),
                          [](const IpAddress& ip) { return ip.is_v4(); });
    if (resolve_callback_) {
      done_ = true;
      deadline_->Stop();
      result_.status = absl::OkStatus();
      dialer_->Finish(this);
      return;
    }
    next_ = 0;
    TryNext();
  }

  void TryNext() {
    while (next_ < addresses_.size()) {
      SocketAddress to(addresses_[next_++], port_);
      absl::StatusOr<std::unique_ptr<netstack::TcpConnection>> conn =
          netstack::TcpConnection::Connect(dialer_->stack_, to, this);
      if (conn.ok()) {
        connection_ = std::move(*conn);
        return;
      }
      no_route_ = no_route_ || conn.status().code() ==
                                   absl::StatusCode::kUnavailable;
      last_error_ = conn.status();
    }
    DialFailure failure = DialFailure::kUnreachable;
    if (refused_) {
      failure = DialFailure::kRefused;
    } else if (graveyard_ == nullptr && no_route_) {
      failure = DialFailure::kNoRoute;
    }
    Fail(failure, absl::Status(
                      last_error_.code(),
                      absl::StrCat("connecting to ", host_, " port ", port_,
                                   ": ", last_error_.message())));
  }

  void OnDeadline() {
    if (done_) return;
    if (connection_ != nullptr) {
      connection_->Abort();
      connection_.reset();
    }
    Fail(DialFailure::kTimeout,
         absl::DeadlineExceededError(absl::StrCat(
             "connecting to ", host_, " port ", port_, " timed out")));
  }

  void Fail(DialFailure failure, absl::Status status) {
    if (done_) return;
    done_ = true;
    deadline_->Stop();
    result_.failure = failure;
    result_.status = std::move(status);
    dialer_->Finish(this);
  }

  NetstackDialer* const dialer_;  // Not owned.

 public:
  const DialId id_;

 private:
  const std::string host_;
  const uint16_t port_;
  DialCallback dial_callback_;
  ResolveCallback resolve_callback_;
  std::unique_ptr<event::Timer> deadline_;
  uint64_t resolve_id_ = 0;
  std::vector<IpAddress> addresses_;
  size_t next_ = 0;
  std::unique_ptr<netstack::TcpConnection> connection_;
  // A failed connection: deleted with the attempt, outside its callback.
  std::unique_ptr<netstack::TcpConnection> graveyard_;
  absl::Status last_error_;
  bool no_route_ = false;
  bool refused_ = false;
  bool done_ = false;
  Result result_;
};

NetstackDialer::NetstackDialer(netstack::Stack* stack, NameResolver* resolver,
                               DialerOptions options)
    : stack_(stack),
      resolver_(resolver),
      options_(options),
      finisher_(stack->loop()->NewTimer([this] { RunFinished(); })) {}

NetstackDialer::~NetstackDialer() {
  finisher_.reset();
  finished_.clear();
  attempts_.clear();
}

Dialer::DialId NetstackDialer::Dial(absl::string_view host, uint16_t port,
                                    DialCallback callback) {
  const DialId id = next_id_++;
  auto attempt = std::make_unique<Attempt>(this, id, std::string(host), port,
                                           std::move(callback), nullptr);
  Attempt* raw = attempt.get();
  attempts_[id] = std::move(attempt);
  raw->Begin();
  return id;
}

Dialer::DialId NetstackDialer::ResolveName(absl::string_view host,
                                           ResolveCallback callback) {
  const DialId id = next_id_++;
  auto attempt = std::make_unique<Attempt>(this, id, std::string(host), 0,
                                           nullptr, std::move(callback));
  Attempt* raw = attempt.get();
  attempts_[id] = std::move(attempt);
  raw->Begin();
  return id;
}

void NetstackDialer::Cancel(DialId id) {
  auto it = attempts_.find(id);
  if (it != attempts_.end()) {
    // Never called from inside the attempt's own connection callbacks
    // (those belong to the dialer), so deleting now is safe.
    attempts_.erase(it);
    return;
  }
  for (auto f = finished_.begin(); f != finished_.end(); ++f) {
    if ((*f)->id_ == id) {
      finished_.erase(f);
      return;
    }
  }
}

absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> NetstackDialer::BindUdp(
    netstack::UdpEndpoint::Delegate* delegate) {
  return netstack::UdpEndpoint::Bind(
      stack_, SocketAddress(IpAddress::Any(IpAddress::Family::kV6), 0),
      delegate);
}

void NetstackDialer::Finish(Attempt* attempt) {
  auto it = attempts_.find(attempt->id_);
  if (it == attempts_.end()) return;
  finished_.push_back(std::move(it->second));
  attempts_.erase(it);
  if (!finisher_->IsArmed()) finisher_->Start(absl::ZeroDuration());
}

void NetstackDialer::RunFinished() {
  while (!finished_.empty()) {
    std::unique_ptr<Attempt> attempt = std::move(finished_.front());
    finished_.pop_front();
    attempt->RunCallback();
  }
}

}  // namespace stow::proxy
