// The public C API (sdk/include/stowaway/stowaway.h) over the C++ SDK.
//
// Handles are not pointers to objects: each is a number, (sequence << 4) |
// kind, looked up in the engine's table on the network thread. A destroyed
// handle is simply absent, so using one is STOW_ERR_BAD_HANDLE, never a
// use-after-free. Sequence numbers are never reused within a process.
//
// Every entry point runs its body on the network thread (inline when called
// there, else through UvLoop::RunSync) and returns a stow_status; the
// message of a failure is stored for stow_last_error_message() on the
// caller's thread. Objects that end are moved to a graveyard freed on a
// later turn of the loop, so nothing is deleted inside its own callback.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/udp.h"
#include "sdk/dns/resolver.h"
#include "sdk/engine/ike_session.h"
#include "sdk/engine/tls_session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/include/stowaway/stowaway.h"
#include "sdk/proxy/dialer.h"
#include "sdk/proxy/fd_bridge.h"
#include "sdk/proxy/forward.h"
#include "sdk/proxy/proxy_server.h"
#include "sdk/tunnel/ipsec/ike_profile.h"
#include "sdk/tunnel/tls/tls_profile.h"

// The opaque handle types are never defined: handles are numbers.
namespace stow::capi {
namespace {

enum class Kind : uintptr_t {
  kEngine = 1,
  kSession = 2,
  kTcp = 3,
  kListener = 4,
  kUdp = 5,
  kProxy = 6,
  kForward = 7,
  kBridge = 8,  // Internal: the app gets a descriptor, not a handle.
};
constexpr int kKindBits = 4;

thread_local std::string t_last_error;

struct Result {
  stow_status status = STOW_OK;
  std::string message;
};

Result Ok() { return {}; }
Result Fail(stow_status status, std::string message) {
  return {status, std::move(message)};
}

stow_status Finish(const Result& r) {
  if (r.status != STOW_OK) t_last_error = r.message;
  return r.status;
}

// Synchronous errors of the C++ layers, as C codes.
stow_status FromStatusCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return STOW_OK;
    case absl::StatusCode::kInvalidArgument:
      return STOW_ERR_INVALID_ARGUMENT;
    case absl::StatusCode::kAlreadyExists:
      return STOW_ERR_ADDRESS_IN_USE;
    case absl::StatusCode::kUnavailable:
      return STOW_ERR_UNREACHABLE;
    case absl::StatusCode::kResourceExhausted:
      return STOW_ERR_RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return STOW_ERR_ILLEGAL_STATE;
    case absl::StatusCode::kNotFound:
      return STOW_ERR_NAME_NOT_FOUND;
    case absl::StatusCode::kDeadlineExceeded:
      return STOW_ERR_TIMED_OUT;
    case absl::StatusCode::kUnimplemented:
      return STOW_ERR_UNSUPPORTED;
    default:
      return STOW_ERR_INTERNAL;
  }
}

Result FromStatus(const absl::Status& s) {
  if (s.ok()) return Ok();
  return Fail(FromStatusCode(s.code()), std::string(s.message()));
}

// An asynchronous error with its category and retry hint.
struct AsyncError {
  stow_status status = STOW_OK;
  int32_t category = STOW_CATEGORY_NONE;
  int32_t retry_after_ms = 0;
  std::string message;
};

AsyncError Aborted(std::string why) {
  return {STOW_ERR_ABORTED, STOW_CATEGORY_LOCAL, 0, std::move(why)};
}

// A dead TCP connection's status (netstack/tcp.h's table).
AsyncError FromTcpError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
      return {STOW_ERR_CONNECTION_REFUSED, STOW_CATEGORY_PEER, 1000,
              std::string(s.message())};
    case absl::StatusCode::kDeadlineExceeded:
      return {STOW_ERR_TIMED_OUT, STOW_CATEGORY_NETWORK, 1000,
              std::string(s.message())};
    default:
      return {STOW_ERR_CONNECTION_RESET, STOW_CATEGORY_PEER, 0,
              std::string(s.message())};
  }
}

// A failed resolution (sdk/dns/resolver.h's table).
AsyncError FromDnsError(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kNotFound) {
    return {STOW_ERR_NAME_NOT_FOUND, STOW_CATEGORY_DNS, -1,
            std::string(s.message())};
  }
  return {STOW_ERR_DNS_FAILED, STOW_CATEGORY_DNS, 1000,
          std::string(s.message())};
}

stow_error View(const AsyncError& e) {
  return stow_error{e.status, e.category, e.retry_after_ms, e.message.c_str()};
}

// Copies `text` with its NUL into buf.
Result CopyOut(const std::string& text, char* buf, size_t buf_len) {
  if (buf == nullptr) return Fail(STOW_ERR_INVALID_ARGUMENT, "buf is NULL");
  if (text.size() + 1 > buf_len) {
    return Fail(STOW_ERR_BUFFER_TOO_SMALL,
                absl::StrCat("needs ", text.size() + 1, " bytes, buf has ",
                             buf_len));
  }
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return Ok();
}

class Engine;
class Session;

// Everything a handle can name.
class Object {
 public:
  Object(Engine* engine, uintptr_t id) : engine_(engine), id_(id) {}
  virtual ~Object() = default;
  uintptr_t id() const { return id_; }
  Kind kind() const {
    return static_cast<Kind>(id_ & ((uintptr_t{1} << kKindBits) - 1));
  }
  // The session went: stop, and report `error` in the terminal callback on
  // a later turn. Objects without a session never get this.
  virtual void AbortBySession(const AsyncError& error) = 0;

 protected:
  // Runs fn(*this as T) on a later turn of the loop if the object is still
  // alive then (its handle not destroyed).
  template <typename T, typename F>
  void LaterIfAlive(F fn);

  Engine* const engine_;  // Not owned.
  const uintptr_t id_;
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(uintptr_t id) {
    auto loop = event::UvLoop::Start();
    if (!loop.ok()) return loop.status();
    std::unique_ptr<Engine> e(new Engine(id, *std::move(loop)));
    absl::Status made;
    absl::Status ran = e->loop_->RunSync([&] {
      auto stack = netstack::Stack::Create(e->loop_.get());
      if (!stack.ok()) {
        made = stack.status();
        return;
      }
      e->stack_ = *std::move(stack);
    });
    if (!ran.ok()) return ran;
    if (!made.ok()) {
      (void)e->loop_->Shutdown();
      return made;
    }
    return e;
  }

  uintptr_t id() const { return id_; }
  event::UvLoop* loop() const { return loop_.get(); }
  netstack::Stack* stack() const { return stack_.get(); }

  uintptr_t NewId(Kind kind) {
    return (next_sequence_.fetch_add(1) << kKindBits) |
           static_cast<uintptr_t>(kind);
  }

  void Add(std::unique_ptr<Object> object) {
    const uintptr_t id = object->id();
    objects_[id] = std::move(object);
  }

  template <typename T>
  T* Find(const void* handle, Kind kind) {
    const auto id = reinterpret_cast<uintptr_t>(handle);
    if ((id & ((uintptr_t{1} << kKindBits) - 1)) !=
        static_cast<uintptr_t>(kind)) {
      return nullptr;
    }
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : static_cast<T*>(it->second.get());
  }
  Object* FindAny(uintptr_t id) {
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : it->second.get();
  }

  // Removes the object from the table (its handle dies now) and frees it on
  // a later turn.
  void Bury(uintptr_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    graveyard_.push_back(std::move(it->second));
    objects_.erase(it);
    ScheduleReap();
  }
  template <typename T>
  void BuryLater(std::unique_ptr<T> thing) {
    if (thing == nullptr) return;
    struct Holder : Object {
      Holder(std::unique_ptr<T> t) : Object(nullptr, 0), t(std::move(t)) {}
      void AbortBySession(const AsyncError&) override {}
      std::unique_ptr<T> t;
    };
    graveyard_.push_back(std::make_unique<Holder>(std::move(thing)));
    ScheduleReap();
  }

  // Runs `task` on a later turn of the loop.
  void Later(absl::AnyInvocable<void()> task) { loop_->Post(std::move(task)); }

  void Log(int32_t level, const std::string& line) {
    if (log_fn_ != nullptr && level <= log_level_) {
      log_fn_(log_context_, level, line.c_str());
    }
  }
  void SetLog(int32_t level, stow_log_fn fn, void* context) {
    log_level_ = level;
    log_fn_ = fn;
    log_context_ = context;
  }

  // On the loop thread: frees every object without calling back.
  void DestroyAll() {
    // Sessions last: sockets first leave their interfaces.
    for (Kind kind : {Kind::kTcp, Kind::kListener, Kind::kUdp, Kind::kProxy,
                      Kind::kForward, Kind::kBridge, Kind::kSession,
                      Kind::kEngine}) {
      for (auto it = objects_.begin(); it != objects_.end();) {
        if (it->second->kind() == kind) {
          graveyard_.push_back(std::move(it->second));
          it = objects_.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Freeing may bury more (a session buries its tunnel).
    while (!graveyard_.empty()) {
      std::vector<std::unique_ptr<Object>> dead;
      dead.swap(graveyard_);
      dead.clear();
    }
    stack_->AbortOrphanedConnections();
    stack_.reset();
  }

  absl::Status Shutdown() { return loop_->Shutdown(); }

 private:
  Engine(uintptr_t id, std::unique_ptr<event::UvLoop> loop)
      : id_(id), loop_(std::move(loop)) {}

  void ScheduleReap() {
    if (reap_scheduled_) return;
    reap_scheduled_ = true;
    Later([this] {
      reap_scheduled_ = false;
      // Freeing may bury more (a session frees its tunnel): loop.
      while (!graveyard_.empty()) {
        std::vector<std::unique_ptr<Object>> dead;
        dead.swap(graveyard_);
        dead.clear();
      }
    });
  }

  const uintptr_t id_;
  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::atomic<uintptr_t> next_sequence_{1};
  std::map<uintptr_t, std::unique_ptr<Object>> objects_;
  std::vector<std::unique_ptr<Object>> graveyard_;
  bool reap_scheduled_ = false;
  int32_t log_level_ = STOW_LOG_INFO;
  stow_log_fn log_fn_ = nullptr;
  void* log_context_ = nullptr;
};

template <typename T, typename F>
void Object::LaterIfAlive(F fn) {
  Engine* engine = engine_;
  const uintptr_t id = id_;
  engine_->Later([engine, id, fn = std::move(fn)]() mutable {
    if (Object* o = engine->FindAny(id)) fn(*static_cast<T*>(o));
  });
}

// The engine of the process, shared so that a call racing
// stow_engine_destroy() finds either the live engine or none.
std::mutex g_engine_mu;
std::shared_ptr<Engine> g_engine;
std::atomic<uintptr_t> g_engine_sequence{1};

std::shared_ptr<Engine> CurrentEngine() {
  std::lock_guard<std::mutex> lock(g_engine_mu);
  return g_engine;
}

// Runs `body(engine)` on the network thread and returns its status.
template <typename F>
stow_status Call(F&& body) {
  std::shared_ptr<Engine> engine = CurrentEngine();
  if (engine == nullptr) {
    return Finish(Fail(STOW_ERR_BAD_HANDLE, "no engine: it was destroyed or "
                                            "never created"));
  }
  Result result;
  if (engine->loop()->IsLoopThread()) {
    result = body(*engine);
  } else {
    absl::Status ran = engine->loop()->RunSync([&] { result = body(*engine); });
    if (!ran.ok()) {
      result = Fail(STOW_ERR_BAD_HANDLE, "the engine is being destroyed");
    }
  }
  return Finish(result);
}

template <typename T>
bool StructSizeOk(const T* s) {
  return s == nullptr || s->struct_size == sizeof(T);
}

// Where the callbacks struct came from: validated and copied, or zeroed.
template <typename T>
T CopyCallbacks(const T* s) {
  T copy{};
  if (s != nullptr) copy = *s;
  return copy;
}

// ---- Session ----

int32_t LineOf(absl::string_view json, absl::string_view field_path) {
  // Finds the path's keys in order; the line of the last one found.
  size_t pos = 0;
  bool found = false;
  for (absl::string_view part : absl::StrSplit(field_path, '.')) {
    const size_t bracket = part.find('[');
    if (bracket != absl::string_view::npos) part = part.substr(0, bracket);
    if (part.empty()) continue;
    const size_t at = json.find(absl::StrCat("\"", part, "\""), pos);
    if (at == absl::string_view::npos) break;
    pos = at;
    found = true;
  }
  if (!found) return 0;
  return 1 + static_cast<int32_t>(
                 std::count(json.begin(), json.begin() + pos, '\n'));
}

// The profile error as the C API reports it: with the line.
std::string ProfileError(absl::string_view json, absl::string_view message) {
  if (message.find(" line ") != absl::string_view::npos) {
    return absl::StrCat("profile: ", message);
  }
  const size_t colon = message.find(':');
  const int32_t line =
      colon == absl::string_view::npos ? 0 : LineOf(json, message.substr(0, colon));
  if (line == 0) return absl::StrCat("profile: ", message);
  return absl::StrCat("profile line ", line, ": ", message);
}

class Session : public Object {
 public:
  // Exactly one of the two profiles, by the JSON's "transport".
  Session(Engine* engine, uintptr_t id,
          absl::optional<ipsec::IkeProfile> ike_profile,
          absl::optional<tunnel::tls::TlsProfile> tls_profile,
          const stow_session_callbacks& callbacks)
      : Object(engine, id),
        ike_profile_(std::move(ike_profile)),
        tls_profile_(std::move(tls_profile)),
        name_(ike_profile_ ? ike_profile_->name : tls_profile_->name),
        cb_(callbacks) {}
  ~Session() override {
    // Children keep their handles; their netstack objects must go before
    // the interface does.
    dialer_.reset();
    name_resolver_.reset();
    resolver_.reset();
    pingers_[0].reset();
    pingers_[1].reset();
    ping_timers_.clear();
    engine_->BuryLater(std::move(ike_));
  }

  void AbortBySession(const AsyncError&) override {}

  Result Start() {
    if (ike_ != nullptr || terminal_) {
      return Fail(STOW_ERR_ALREADY_STARTED, "the session was started already");
    }
    const uintptr_t id = id_;
    Engine* engine = engine_;
    auto on_event = [engine, id](const engine::SessionEvent& event) {
      auto* self =
          engine->Find<Session>(reinterpret_cast<void*>(id), Kind::kSession);
      if (self != nullptr) self->OnEvent(event);
    };
    if (ike_profile_) {
      auto ike = engine::IkeSession::Start(engine_->loop(), engine_->stack(),
                                           *ike_profile_, on_event);
      if (!ike.ok()) return FromStatus(ike.status());
      ike_ = *std::move(ike);
    } else {
      auto tls = engine::TlsSession::Start(engine_->loop(), engine_->stack(),
                                           *tls_profile_, on_event);
      if (!tls.ok()) return FromStatus(tls.status());
      ike_ = *std::move(tls);
    }
    state_ = STOW_SESSION_CONNECTING;
    return Ok();
  }

  Result Stop() {
    if (terminal_) return Fail(STOW_ERR_CLOSED, "the session has ended");
    if (ike_ == nullptr) {
      // Never started: end at once (on a later turn).
      EndLater(Aborted("stopped by the application"));
      return Ok();
    }
    stopping_ = true;
    ike_->Close("stopped by the application");
    return Ok();
  }

  int32_t state() const { return state_; }
  const engine::Session* ike() const { return ike_.get(); }
  dns::Resolver* resolver() const { return resolver_.get(); }
  // Dials through the tunnel (names through the session's DNS servers, if
  // any). Exists once connected.
  proxy::Dialer* dialer() const { return dialer_.get(); }
  bool connected() const {
    return ike_ != nullptr && ike_->interface() != nullptr && !terminal_;
  }

  void AddChild(uintptr_t id) { children_.insert(id); }
  void RemoveChild(uintptr_t id) { children_.erase(id); }

  std::string StatsJson() const {
    std::string out = "{";
    bool first = true;
    auto add = [&](const std::string& name, uint64_t value) {
      absl::StrAppend(&out, first ? "" : ", ", "\"", name, "\": ", value);
      first = false;
    };
    if (ike_ != nullptr) {
      for (const auto& [name, value] : ike_->Counters()) add(name, value);
    }
    if (resolver_ != nullptr) {
      const dns::ResolverCounters& c = resolver_->counters();
      add("dns_queries_sent", c.queries_sent);
      add("dns_resolved", c.resolved);
      add("dns_failed", c.failed);
    }
    add("capi_open_children", children_.size());
    out += "}";
    return out;
  }

  // ---- ICMP echo ----
  Result Ping(const IpAddress& to, uint32_t timeout_ms, stow_ping_fn fn,
              void* context) {
    if (!connected()) {
      return Fail(STOW_ERR_NOT_CONNECTED, "the session is not connected");
    }
    const int family = to.is_v4() ? 0 : 1;
    if (pingers_[family] == nullptr) {
      auto p = netstack::Pinger::Create(engine_->stack(), to.family(),
                                        &ping_delegate_);
      if (!p.ok()) return FromStatus(p.status());
      pingers_[family] = *std::move(p);
    }
    const uint16_t sequence = next_ping_sequence_++;
    absl::Status sent = pingers_[family]->Send(to, sequence);
    if (!sent.ok()) return FromStatus(sent);
    PendingPing pending{fn, context};
    pings_[sequence] = pending;
    auto timer = engine_->loop()->NewTimer([this, sequence] {
      FinishPing(sequence, {STOW_ERR_TIMED_OUT, STOW_CATEGORY_NETWORK, 0,
                            "no echo reply in time"},
                 0);
    });
    timer->Start(absl::Milliseconds(timeout_ms));
    ping_timers_[sequence] = std::move(timer);
    return Ok();
  }

  // ---- DNS ----
  Result Resolve(const std::string& name, int32_t family, stow_resolve_fn fn,
                 void* context) {
    if (resolver_ == nullptr) {
      return Fail(STOW_ERR_NOT_CONNECTED,
                  "the session has no DNS server (not connected, or the "
                  "gateway pushed none)");
    }
    dns::AddressFamily f = family == STOW_FAMILY_IPV4   ? dns::AddressFamily::kV4
                           : family == STOW_FAMILY_IPV6 ? dns::AddressFamily::kV6
                                                        : dns::AddressFamily::kBoth;
    const uint64_t key = next_resolve_key_++;
    Engine* engine = engine_;
    const uintptr_t id = id_;
    auto request = resolver_->Resolve(
        name, f,
        [engine, id, key](absl::StatusOr<std::vector<IpAddress>> result) {
          auto* self = engine->Find<Session>(reinterpret_cast<void*>(id),
                                             Kind::kSession);
          if (self != nullptr) self->FinishResolve(key, std::move(result));
        });
    if (!request.ok()) {
      Result r = FromStatus(request.status());
      if (r.status == STOW_ERR_INVALID_ARGUMENT) r.status = STOW_ERR_BAD_NAME;
      return r;
    }
    resolves_[key] = PendingResolve{*request, fn, context};
    return Ok();
  }

  // Resolves for a TCP connect; `done` runs once, later.
  using AddressCallback =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<IpAddress>>)>;
  absl::StatusOr<uint64_t> ResolveFor(const std::string& name,
                                      AddressCallback done) {
    if (resolver_ == nullptr) {
      return absl::FailedPreconditionError(
          "the session has no DNS server to resolve the name");
    }
    return resolver_->Resolve(name, dns::AddressFamily::kBoth,
                              std::move(done));
  }
  void CancelResolve(uint64_t request) {
    if (resolver_ != nullptr) resolver_->Cancel(request);
  }

 private:
  struct PendingPing {
    stow_ping_fn fn = nullptr;
    void* context = nullptr;
  };
  struct PendingResolve {
    uint64_t request = 0;
    stow_resolve_fn fn = nullptr;
    void* context = nullptr;
  };

  class PingDelegate : public netstack::Pinger::Delegate {
   public:
    explicit PingDelegate(Session* session) : session_(session) {}
    void OnEchoReply(const IpAddress&, uint16_t sequence,
                     absl::Duration rtt) override {
      session_->FinishPing(sequence, {},
                           static_cast<uint32_t>(absl::ToInt64Microseconds(rtt)));
    }

   private:
    Session* const session_;  // Not owned.
  };

  void FinishPing(uint16_t sequence, const AsyncError& error, uint32_t rtt) {
    auto it = pings_.find(sequence);
    if (it == pings_.end()) return;
    PendingPing p = it->second;
    pings_.erase(it);
    auto timer = ping_timers_.find(sequence);
    if (timer != ping_timers_.end()) {
      engine_->BuryLater(std::move(timer->second));
      ping_timers_.erase(timer);
    }
    stow_error e = View(error);
    if (p.fn != nullptr) p.fn(p.context, &e, rtt);
  }

  void FinishResolve(uint64_t key,
                     absl::StatusOr<std::vector<IpAddress>> result) {
    auto it = resolves_.find(key);
    if (it == resolves_.end()) return;
    PendingResolve p = it->second;
    resolves_.erase(it);
    if (p.fn == nullptr) return;
    if (!result.ok()) {
      AsyncError e = FromDnsError(result.status());
      stow_error view = View(e);
      p.fn(p.context, &view, nullptr, 0);
      return;
    }
    std::vector<std::string> text;
    for (const IpAddress& ip : *result) text.push_back(ip.ToString());
    std::vector<const char*> pointers;
    for (const std::string& t : text) pointers.push_back(t.c_str());
    AsyncError ok;
    ok.message = "resolved";
    stow_error view = View(ok);
    p.fn(p.context, &view, pointers.data(), pointers.size());
  }

  void OnEvent(const engine::SessionEvent& event) {
    using K = engine::SessionEvent::Kind;
    engine_->Log(event.kind == K::kInfo ? STOW_LOG_DEBUG : STOW_LOG_INFO,
                 absl::StrCat("session ", name_, ": ",
                              engine::SessionEventKindName(event.kind), ": ",
                              event.detail));
    if (terminal_) return;
    switch (event.kind) {
      case K::kConnecting:
        Notify(STOW_SESSION_CONNECTING, event.detail, 0);
        return;
      case K::kConnected: {
        ever_connected_ = true;
        if (!ike_->dns_servers().empty()) {
          if (resolver_ == nullptr) {
            dns::ResolverOptions options;
            options.search_domains = ike_->dns_search();
            resolver_ = std::make_unique<dns::Resolver>(
                engine_->stack(), ike_->dns_servers(), options);
          } else {
            resolver_->SetServers(ike_->dns_servers());
          }
        }
        if (resolver_ != nullptr && name_resolver_ == nullptr) {
          // The dialer follows the resolver (a later connection may push
          // DNS servers the first did not).
          dialer_.reset();
          name_resolver_ =
              std::make_unique<proxy::DnsNameResolver>(resolver_.get());
        }
        if (dialer_ == nullptr) {
          dialer_ = std::make_unique<proxy::NetstackDialer>(
              engine_->stack(), name_resolver_.get());
        }
        Notify(STOW_SESSION_CONNECTED, event.detail, 0);
        return;
      }
      case K::kRekeyed:
      case K::kInfo:
        return;
      case K::kReconnecting: {
        const int32_t wait = static_cast<int32_t>(
            absl::ToInt64Milliseconds(ike_->next_backoff()));
        if (!ever_connected_ && !stopping_) {
          // The first connection failed: the app should hear it, not wait
          // through endless retries. After a connection, retries go on.
          ike_->Close("the gateway did not answer");
          End({STOW_ERR_GATEWAY_UNREACHABLE, STOW_CATEGORY_NETWORK, wait,
               absl::StrCat("could not reach the gateway: ", event.detail)});
          return;
        }
        Notify(STOW_SESSION_RECONNECTING, event.detail, wait);
        return;
      }
      case K::kAuthFailed:
        End({STOW_ERR_AUTH_FAILED, STOW_CATEGORY_AUTH, -1, event.detail});
        return;
      case K::kNoProposalChosen:
        End({STOW_ERR_NO_PROPOSAL, STOW_CATEGORY_CONFIG, -1, event.detail});
        return;
      case K::kDisconnected:
        End({STOW_OK, STOW_CATEGORY_LOCAL, 0,
             stopping_ ? "stopped by the application" : event.detail});
        return;
    }
  }

  void Notify(int32_t state, const std::string& reason, int32_t wait) {
    state_ = state;
    if (cb_.on_event == nullptr) return;
    stow_session_event e{sizeof(stow_session_event), state, reason.c_str(),
                         wait};
    cb_.on_event(cb_.context, reinterpret_cast<stow_session*>(id_), &e);
  }

  // Terminal: aborts the children and calls on_closed.
  void End(const AsyncError& error) {
    if (terminal_) return;
    terminal_ = true;
    state_ = STOW_SESSION_CLOSED;
    AbortChildren();
    if (cb_.on_closed != nullptr) {
      stow_error e = View(error);
      cb_.on_closed(cb_.context, reinterpret_cast<stow_session*>(id_), &e);
    }
  }
  void EndLater(AsyncError error) {
    terminal_ = true;
    LaterIfAlive<Session>([error = std::move(error)](Session& self) {
      self.terminal_ = false;
      self.End(error);
    });
  }

 public:
  // Aborts children, pings and resolutions: their terminal callbacks run
  // on later turns (not inside the call that ended the session).
  void AbortChildren() {
    const AsyncError error = Aborted("the session ended");
    std::set<uintptr_t> children;
    children.swap(children_);
    for (uintptr_t child : children) {
      Object* o = engine_->FindAny(child);
      if (o != nullptr) o->AbortBySession(error);
    }
    std::map<uint16_t, PendingPing> pings;
    pings.swap(pings_);
    for (auto& [seq, timer] : ping_timers_) engine_->BuryLater(std::move(timer));
    ping_timers_.clear();
    for (const auto& [seq, p] : pings) {
      if (p.fn == nullptr) continue;
      engine_->Later([p = p, error] {
        stow_error e = View(error);
        p.fn(p.context, &e, 0);
      });
    }
    std::map<uint64_t, PendingResolve> resolves;
    resolves.swap(resolves_);
    for (const auto& [key, r] : resolves) {
      if (resolver_ != nullptr) resolver_->Cancel(r.request);
      if (r.fn == nullptr) continue;
      engine_->Later([r = r, error] {
        stow_error e = View(error);
        r.fn(r.context, &e, nullptr, 0);
      });
    }
  }

  // stow_session_destroy: no callbacks of the session; children still get
  // theirs.
  void Destroy() {
    terminal_ = true;
    AbortChildren();
    if (ike_ != nullptr) ike_->Close("the session was destroyed");
  }

 private:
  const absl::optional<ipsec::IkeProfile> ike_profile_;
  const absl::optional<tunnel::tls::TlsProfile> tls_profile_;
  const std::string name_;
  const stow_session_callbacks cb_;
  // The session, IKE or TLS.
  std::unique_ptr<engine::Session> ike_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<proxy::DnsNameResolver> name_resolver_;
  std::unique_ptr<proxy::NetstackDialer> dialer_;
  int32_t state_ = STOW_SESSION_IDLE;
  bool ever_connected_ = false;
  bool stopping_ = false;
  bool terminal_ = false;
  std::set<uintptr_t> children_;
  PingDelegate ping_delegate_{this};
  std::unique_ptr<netstack::Pinger> pingers_[2];
  uint16_t next_ping_sequence_ = 1;
  std::map<uint16_t, PendingPing> pings_;
  std::map<uint16_t, std::unique_ptr<event::Timer>> ping_timers_;
  uint64_t next_resolve_key_ = 1;
  std::map<uint64_t, PendingResolve> resolves_;
};

// The session a child was made through, or null once it is gone.
Session* SessionOf(Engine* engine, uintptr_t session_id) {
  return engine->Find<Session>(reinterpret_cast<void*>(session_id),
                               Kind::kSession);
}

// ---- TCP ----

class Tcp : public Object, private netstack::TcpConnection::Delegate {
 public:
  Tcp(Engine* engine, uintptr_t id, uintptr_t session_id)
      : Object(engine, id), session_id_(session_id) {}
  ~Tcp() override {
    // Destroying resets an open connection; after stow_tcp_close the
    // connection's destructor lets the graceful close finish.
    if (conn_ != nullptr && !closed_by_app_) conn_->Abort();
    if (resolve_ != 0) {
      Session* s = SessionOf(engine_, session_id_);
      if (s != nullptr) s->CancelResolve(resolve_);
    }
  }

  void SetCallbacks(const stow_tcp_callbacks& cb) {
    cb_ = cb;
    has_callbacks_ = true;
    // Bytes that arrived before the callbacks: announce them.
    if (conn_ != nullptr && (conn_->readable_bytes() > 0 ||
                             conn_->peer_closed())) {
      AnnounceLater(&stow_tcp_callbacks::on_readable);
    }
    if (terminal_pending_) DeliverTerminalLater();
  }

  // Connects to a literal, or resolves `host` first.
  Result Connect(Session* session, const std::string& host, uint16_t port) {
    port_ = port;
    auto literal = IpAddress::Parse(host);
    if (literal.ok()) return ConnectTo(*literal);
    Engine* engine = engine_;
    const uintptr_t id = id_;
    auto request = session->ResolveFor(
        host, [engine, id](absl::StatusOr<std::vector<IpAddress>> result) {
          auto* self = engine->Find<Tcp>(reinterpret_cast<void*>(id), Kind::kTcp);
          if (self != nullptr) self->OnResolved(std::move(result));
        });
    if (!request.ok()) {
      Result r = FromStatus(request.status());
      if (r.status == STOW_ERR_INVALID_ARGUMENT) r.status = STOW_ERR_BAD_NAME;
      if (r.status == STOW_ERR_ILLEGAL_STATE) r.status = STOW_ERR_NOT_CONNECTED;
      return r;
    }
    resolve_ = *request;
    return Ok();
  }

  // An accepted connection.
  void Adopt(std::unique_ptr<netstack::TcpConnection> conn) {
    conn_ = std::move(conn);
    connected_ = true;
    conn_->set_delegate(this);
  }

  Result Write(const uint8_t* data, size_t len, size_t* out_written) {
    *out_written = 0;
    if (closed_by_app_ || shut_down_) {
      return Fail(STOW_ERR_CLOSED, "the connection was shut down or closed");
    }
    if (terminal_sent_ || terminal_pending_) {
      return Fail(STOW_ERR_CLOSED, "the connection has ended");
    }
    if (conn_ == nullptr) {
      want_writable_ = true;
      return Fail(STOW_ERR_WOULD_BLOCK, "still resolving the name");
    }
    absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(data, len));
    if (!n.ok()) return Fail(STOW_ERR_CLOSED, std::string(n.status().message()));
    *out_written = *n;
    if (*n < len) want_writable_ = true;
    if (*n == 0) return Fail(STOW_ERR_WOULD_BLOCK, "the send buffer is full");
    return Ok();
  }

  Result Read(uint8_t* buf, size_t len, size_t* out_read) {
    *out_read = 0;
    if (closed_by_app_) return Fail(STOW_ERR_CLOSED, "the connection was closed");
    if (conn_ == nullptr) {
      if (terminal_sent_ || terminal_pending_) {
        return Fail(STOW_ERR_CLOSED, "the connection has ended");
      }
      return Fail(STOW_ERR_WOULD_BLOCK, "not connected yet");
    }
    *out_read = conn_->Read(absl::MakeSpan(buf, len));
    if (*out_read > 0) return Ok();
    if (conn_->peer_closed()) return Fail(STOW_ERR_EOF, "end of stream");
    if (!conn_->is_open()) return Fail(STOW_ERR_CLOSED, "the connection has ended");
    return Fail(STOW_ERR_WOULD_BLOCK, "nothing to read yet");
  }

  Result Shutdown() {
    if (closed_by_app_ || shut_down_) {
      return Fail(STOW_ERR_CLOSED, "already shut down or closed");
    }
    if (conn_ == nullptr) {
      return Fail(STOW_ERR_ILLEGAL_STATE, "not connected yet");
    }
    absl::Status s = conn_->Shutdown();
    if (!s.ok()) return Fail(STOW_ERR_CLOSED, std::string(s.message()));
    shut_down_ = true;
    return Ok();
  }

  Result Close() {
    if (closed_by_app_) return Fail(STOW_ERR_CLOSED, "already closed");
    closed_by_app_ = true;
    if (conn_ != nullptr) conn_->Close();
    if (resolve_ != 0) {
      Session* s = SessionOf(engine_, session_id_);
      if (s != nullptr) s->CancelResolve(resolve_);
      resolve_ = 0;
    }
    Session* s = SessionOf(engine_, session_id_);
    if (s != nullptr) s->RemoveChild(id_);
    Terminal({STOW_OK, STOW_CATEGORY_NONE, 0, "closed"});
    return Ok();
  }

  Result Address(bool local, char* buf, size_t buf_len, uint16_t* out_port) {
    if (conn_ == nullptr) return Fail(STOW_ERR_NOT_CONNECTED, "not connected yet");
    SocketAddress a = local ? conn_->local_address() : conn_->remote_address();
    if (out_port != nullptr) *out_port = a.port();
    return CopyOut(a.ip().ToString(), buf, buf_len);
  }

  void AbortBySession(const AsyncError& error) override {
    if (conn_ != nullptr && conn_->is_open()) conn_->Abort();
    if (resolve_ != 0) resolve_ = 0;  // the resolver goes with the session
    Terminal(error);
  }

 private:
  Result ConnectTo(const IpAddress& ip) {
    auto conn = netstack::TcpConnection::Connect(
        engine_->stack(), SocketAddress(ip, port_), this);
    if (!conn.ok()) return FromStatus(conn.status());
    conn_ = *std::move(conn);
    return Ok();
  }

  void OnResolved(absl::StatusOr<std::vector<IpAddress>> result) {
    resolve_ = 0;
    if (closed_by_app_) return;
    if (!result.ok()) {
      Terminal(FromDnsError(result.status()));
      return;
    }
    Result r = ConnectTo(result->front());
    if (r.status != STOW_OK) {
      Terminal({r.status, STOW_CATEGORY_NETWORK, 1000, r.message});
    }
  }

  // TcpConnection::Delegate
  void OnConnected() override {
    connected_ = true;
    Call(&stow_tcp_callbacks::on_connected);
    if (want_writable_) {
      want_writable_ = false;
      Call(&stow_tcp_callbacks::on_writable);
    }
  }
  void OnReadable() override { Call(&stow_tcp_callbacks::on_readable); }
  void OnWritable() override {
    want_writable_ = false;
    Call(&stow_tcp_callbacks::on_writable);
  }
  void OnError(absl::Status status) override {
    // Received bytes stay readable; the connection object stays.
    Terminal(FromTcpError(status));
  }

  void Call(void (*stow_tcp_callbacks::*member)(void*, stow_tcp*)) {
    if (!has_callbacks_ || closed_by_app_) return;
    auto fn = cb_.*member;
    if (fn != nullptr) fn(cb_.context, reinterpret_cast<stow_tcp*>(id_));
  }
  void AnnounceLater(void (*stow_tcp_callbacks::*member)(void*, stow_tcp*)) {
    LaterIfAlive<Tcp>([member](Tcp& self) {
      if (!self.terminal_sent_) self.Call(member);
    });
  }

  // Exactly once, on a later turn, when callbacks are set.
  void Terminal(AsyncError error) {
    if (terminal_sent_ || terminal_pending_) return;
    terminal_pending_ = true;
    terminal_ = std::move(error);
    if (has_callbacks_) DeliverTerminalLater();
  }
  void DeliverTerminalLater() {
    Engine* engine = engine_;
    const uintptr_t id = id_;
    engine_->Later([engine, id] {
      auto* self = engine->Find<Tcp>(reinterpret_cast<void*>(id), Kind::kTcp);
      if (self == nullptr || self->terminal_sent_ || !self->has_callbacks_) {
        return;
      }
      self->terminal_sent_ = true;
      self->terminal_pending_ = false;
      Session* s = SessionOf(engine, self->session_id_);
      if (s != nullptr) s->RemoveChild(id);
      if (self->cb_.on_closed != nullptr) {
        stow_error e = View(self->terminal_);
        self->cb_.on_closed(self->cb_.context, reinterpret_cast<stow_tcp*>(id),
                            &e);
      }
    });
  }

  const uintptr_t session_id_;
  stow_tcp_callbacks cb_{};
  bool has_callbacks_ = false;
  std::unique_ptr<netstack::TcpConnection> conn_;
  uint64_t resolve_ = 0;
  uint16_t port_ = 0;
  bool connected_ = false;
  bool want_writable_ = false;
  bool shut_down_ = false;
  bool closed_by_app_ = false;
  bool terminal_pending_ = false;
  bool terminal_sent_ = false;
  AsyncError terminal_;
};

class Listener : public Object, private netstack::TcpListener::Delegate {
 public:
  Listener(Engine* engine, uintptr_t id, uintptr_t session_id,
           const stow_tcp_listener_callbacks& cb)
      : Object(engine, id), session_id_(session_id), cb_(cb) {}

  Result Listen(const SocketAddress& local) {
    auto l = netstack::TcpListener::Listen(engine_->stack(), local, this);
    if (!l.ok()) return FromStatus(l.status());
    listener_ = *std::move(l);
    return Ok();
  }

  void AbortBySession(const AsyncError& error) override {
    engine_->BuryLater(std::move(listener_));
    if (ended_) return;
    ended_ = true;
    LaterIfAlive<Listener>([error](Listener& self) {
      if (self.cb_.on_closed == nullptr) return;
      stow_error e = View(error);
      self.cb_.on_closed(self.cb_.context,
                         reinterpret_cast<stow_tcp_listener*>(self.id()), &e);
    });
  }

 private:
  void OnAccept(std::unique_ptr<netstack::TcpConnection> connection) override {
    Session* session = SessionOf(engine_, session_id_);
    if (session == nullptr || ended_) {
      connection->Abort();
      return;
    }
    auto tcp = std::make_unique<Tcp>(engine_, engine_->NewId(Kind::kTcp),
                                     session_id_);
    Tcp* raw = tcp.get();
    tcp->Adopt(std::move(connection));
    session->AddChild(raw->id());
    engine_->Add(std::move(tcp));
    if (cb_.on_accept != nullptr) {
      cb_.on_accept(cb_.context, reinterpret_cast<stow_tcp_listener*>(id_),
                    reinterpret_cast<stow_tcp*>(raw->id()));
    }
  }

  const uintptr_t session_id_;
  const stow_tcp_listener_callbacks cb_;
  std::unique_ptr<netstack::TcpListener> listener_;
  bool ended_ = false;
};

class Udp : public Object, private netstack::UdpEndpoint::Delegate {
 public:
  Udp(Engine* engine, uintptr_t id, const stow_udp_callbacks& cb)
      : Object(engine, id), cb_(cb) {}

  Result Bind(const SocketAddress& local) {
    auto e = netstack::UdpEndpoint::Bind(engine_->stack(), local, this);
    if (!e.ok()) return FromStatus(e.status());
    endpoint_ = *std::move(e);
    return Ok();
  }

  Result SendTo(const SocketAddress& to, const uint8_t* data, size_t len) {
    if (endpoint_ == nullptr) return Fail(STOW_ERR_CLOSED, "the socket ended");
    const size_t max = to.ip().is_v4() ? netstack::UdpEndpoint::kMaxPayloadV4
                                       : netstack::UdpEndpoint::kMaxPayloadV6;
    if (len > max) {
      return Fail(STOW_ERR_MESSAGE_TOO_LONG,
                  absl::StrCat(len, " bytes: a datagram holds at most ", max));
    }
    return FromStatus(
        endpoint_->SendTo(absl::MakeConstSpan(data, len), to));
  }

  Result LocalPort(uint16_t* out) {
    if (endpoint_ == nullptr) return Fail(STOW_ERR_CLOSED, "the socket ended");
    *out = endpoint_->local_address().port();
    return Ok();
  }

  void AbortBySession(const AsyncError& error) override {
    engine_->BuryLater(std::move(endpoint_));
    LaterIfAlive<Udp>([error](Udp& self) {
      if (self.cb_.on_closed == nullptr) return;
      stow_error e = View(error);
      self.cb_.on_closed(self.cb_.context,
                         reinterpret_cast<stow_udp*>(self.id()), &e);
    });
  }

 private:
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    if (cb_.on_datagram == nullptr) return;
    const std::string address = from.ip().ToString();
    cb_.on_datagram(cb_.context, reinterpret_cast<stow_udp*>(id_),
                    payload.data(), payload.size(), address.c_str(),
                    from.port());
  }

  const stow_udp_callbacks cb_;
  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
};

// A proxy server or a forward: a listener whose life is the handle's.
class Service : public Object {
 public:
  Service(Engine* engine, uintptr_t id) : Object(engine, id) {}
  ~Service() override { Stop(); }
  void Set(std::unique_ptr<proxy::ProxyServer> p) { proxy_ = std::move(p); }
  void Set(std::unique_ptr<proxy::LocalForward> f) { local_ = std::move(f); }
  void Set(std::unique_ptr<proxy::RemoteForward> f) { remote_ = std::move(f); }
  Result Port(uint16_t* out) const {
    if (proxy_ != nullptr) *out = proxy_->listen_address().port();
    else if (local_ != nullptr) *out = local_->listen_address().port();
    else if (remote_ != nullptr) *out = remote_->listen_address().port();
    else return Fail(STOW_ERR_CLOSED, "stopped with its session");
    return Ok();
  }
  // They hold the session's dialer: they go now, before the session.
  void AbortBySession(const AsyncError&) override { Stop(); }

 private:
  void Stop() {
    proxy_.reset();
    local_.reset();
    remote_.reset();
  }
  std::unique_ptr<proxy::ProxyServer> proxy_;
  std::unique_ptr<proxy::LocalForward> local_;
  std::unique_ptr<proxy::RemoteForward> remote_;
};

// A descriptor bridge; freed once it ended.
class Bridge : public Object {
 public:
  Bridge(Engine* engine, uintptr_t id, uintptr_t session_id,
         stow_bridge_fn fn, void* context)
      : Object(engine, id), session_id_(session_id), fn_(fn),
        context_(context) {}

  Result Dial(proxy::Dialer* dialer, const std::string& host, uint16_t port,
              int* out_fd) {
    Engine* engine = engine_;
    const uintptr_t id = id_;
    auto bridge = proxy::FdBridge::Dial(
        engine_->loop(), dialer, host, port, [engine, id](absl::Status s) {
          auto* self =
              engine->Find<Bridge>(reinterpret_cast<void*>(id), Kind::kBridge);
          if (self != nullptr) self->End(s.ok() ? AsyncError{} : FromEnd(s));
        });
    if (!bridge.ok()) return FromStatus(bridge.status());
    bridge_ = *std::move(bridge);
    *out_fd = bridge_->app_fd();
    return Ok();
  }

  void AbortBySession(const AsyncError& error) override {
    bridge_.reset();  // Holds the session's dialer.
    LaterIfAlive<Bridge>([error](Bridge& self) { self.End(error); });
  }

 private:
  static AsyncError FromEnd(const absl::Status& s) {
    switch (s.code()) {
      case absl::StatusCode::kNotFound:
        return FromDnsError(s);
      case absl::StatusCode::kUnavailable:
        return {STOW_ERR_CONNECTION_REFUSED, STOW_CATEGORY_PEER, 1000,
                std::string(s.message())};
      case absl::StatusCode::kDeadlineExceeded:
        return {STOW_ERR_TIMED_OUT, STOW_CATEGORY_NETWORK, 1000,
                std::string(s.message())};
      default:
        return {STOW_ERR_CONNECTION_RESET, STOW_CATEGORY_PEER, 0,
                std::string(s.message())};
    }
  }

  // Once: reports and frees the bridge (on a later turn).
  void End(const AsyncError& error) {
    if (ended_) return;
    ended_ = true;
    Session* s = engine_->Find<Session>(reinterpret_cast<void*>(session_id_),
                                        Kind::kSession);
    if (s != nullptr) s->RemoveChild(id_);
    if (fn_ != nullptr) {
      stow_error e = View(error);
      fn_(context_, &e);
    }
    engine_->Bury(id_);
  }

  const uintptr_t session_id_;
  const stow_bridge_fn fn_;
  void* const context_;
  std::unique_ptr<proxy::FdBridge> bridge_;
  bool ended_ = false;
};

// Registers `object` as a child of `session` (it ends with it) and returns
// its handle.
template <typename Handle>
Handle* AddChild(Engine& e, Session& session, std::unique_ptr<Object> object) {
  const uintptr_t id = object->id();
  session.AddChild(id);
  e.Add(std::move(object));
  return reinterpret_cast<Handle*>(id);
}

// A proxy server or forward as a child of `session`.
template <typename Handle, typename T>
Handle* AddService(Engine& e, Session& session, Kind kind,
                   std::unique_ptr<T> server) {
  auto service = std::make_unique<Service>(&e, e.NewId(kind));
  service->Set(std::move(server));
  return AddChild<Handle>(e, session, std::move(service));
}

// "address:port" on the host, NULL meaning 127.0.0.1 and a free port.
absl::StatusOr<SocketAddress> HostAddress(const char* text) {
  if (text == nullptr) return SocketAddress(IpAddress::V4(127, 0, 0, 1), 0);
  return SocketAddress::Parse(text);
}

// The local address to listen or bind on: the one given, or every address
// of the session ("::" takes both families).
absl::StatusOr<IpAddress> LocalIp(Session* session, const char* address) {
  if (address == nullptr) return IpAddress::Any(IpAddress::Family::kV6);
  (void)session;
  return IpAddress::Parse(address);
}

}  // namespace
}  // namespace stow::capi

using namespace stow::capi;  // NOLINT: the C entry points below.
using stow::IpAddress;
using stow::SocketAddress;

extern "C" {

const char* stow_version(void) { return "0.5.0"; }
int32_t stow_api_version(void) { return STOW_API_VERSION; }

const char* stow_last_error_message(void) { return t_last_error.c_str(); }

stow_status stow_engine_create(stow_engine** out_engine) {
  if (out_engine == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_engine is NULL"));
  }
  *out_engine = nullptr;
  std::lock_guard<std::mutex> lock(g_engine_mu);
  if (g_engine != nullptr) {
    return Finish(Fail(STOW_ERR_ENGINE_EXISTS,
                       "an engine exists already (one per process: the "
                       "TCP/IP stack keeps process-wide state)"));
  }
  const uintptr_t id = (g_engine_sequence.fetch_add(1) << kKindBits) |
                       static_cast<uintptr_t>(Kind::kEngine);
  auto engine = Engine::Create(id);
  if (!engine.ok()) return Finish(FromStatus(engine.status()));
  g_engine = std::shared_ptr<Engine>(engine->release());
  *out_engine = reinterpret_cast<stow_engine*>(id);
  return STOW_OK;
}

}  // extern "C"

namespace {
// Checks that `handle` is the live engine.
Result CheckEngine(Engine& e, const stow_engine* handle) {
  if (reinterpret_cast<uintptr_t>(handle) != e.id()) {
    return Fail(STOW_ERR_BAD_HANDLE, "not the live engine");
  }
  return Ok();
}
}  // namespace

extern "C" {

stow_status stow_engine_set_log(stow_engine* engine, int32_t max_level,
                                stow_log_fn fn, void* context) {
  if (engine == nullptr) return Finish(Fail(STOW_ERR_NULL_HANDLE, "engine is NULL"));
  return Call([&](Engine& e) {
    Result r = CheckEngine(e, engine);
    if (r.status != STOW_OK) return r;
    e.SetLog(max_level, fn, context);
    return Ok();
  });
}

stow_status stow_engine_destroy(stow_engine* engine) {
  if (engine == nullptr) return STOW_OK;
  std::shared_ptr<Engine> e;
  {
    std::lock_guard<std::mutex> lock(g_engine_mu);
    if (g_engine == nullptr ||
        reinterpret_cast<uintptr_t>(engine) != g_engine->id()) {
      return Finish(Fail(STOW_ERR_BAD_HANDLE, "not the live engine"));
    }
    if (g_engine->loop()->IsLoopThread()) {
      return Finish(Fail(STOW_ERR_WRONG_THREAD,
                         "stow_engine_destroy waits for the network thread "
                         "and cannot run on it"));
    }
    e = std::move(g_engine);
  }
  (void)e->loop()->RunSync([&] { e->DestroyAll(); });
  absl::Status s = e->Shutdown();
  if (!s.ok()) return Finish(Fail(STOW_ERR_INTERNAL, std::string(s.message())));
  return STOW_OK;
}

stow_status stow_session_create(stow_engine* engine, const char* profile_json,
                                size_t profile_json_len,
                                const stow_session_callbacks* callbacks,
                                stow_session** out_session) {
  if (engine == nullptr) return Finish(Fail(STOW_ERR_NULL_HANDLE, "engine is NULL"));
  if (profile_json == nullptr || out_session == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "profile_json and out_session are required"));
  }
  if (!StructSizeOk(callbacks)) {
    return Finish(Fail(STOW_ERR_BAD_STRUCT_SIZE,
                       "callbacks->struct_size is not "
                       "sizeof(stow_session_callbacks)"));
  }
  *out_session = nullptr;
  const std::string json(profile_json, profile_json_len);
  absl::optional<stow::ipsec::IkeProfile> ike_profile;
  absl::optional<stow::tunnel::tls::TlsProfile> tls_profile;
  auto transport = stow::tunnel::tls::ProfileTransport(json);
  absl::Status parsed = transport.status();
  if (transport.ok() && *transport == "tls") {
    auto profile = stow::tunnel::tls::ParseTlsProfile(json);
    parsed = profile.status();
    if (profile.ok()) tls_profile = *std::move(profile);
  } else if (transport.ok()) {
    auto profile = stow::ipsec::ParseIkeProfile(json);
    parsed = profile.status();
    if (profile.ok()) ike_profile = *std::move(profile);
  }
  if (!parsed.ok()) {
    return Finish(
        Fail(STOW_ERR_BAD_PROFILE, ProfileError(json, parsed.message())));
  }
  const stow_session_callbacks cb = CopyCallbacks(callbacks);
  return Call([&](Engine& e) {
    Result r = CheckEngine(e, engine);
    if (r.status != STOW_OK) return r;
    const uintptr_t id = e.NewId(Kind::kSession);
    e.Add(std::make_unique<Session>(&e, id, std::move(ike_profile),
                                    std::move(tls_profile), cb));
    *out_session = reinterpret_cast<stow_session*>(id);
    return Ok();
  });
}

}  // extern "C"

namespace {
template <typename T, typename F>
stow_status WithObject(const void* handle, Kind kind, const char* what,
                       F&& body) {
  if (handle == nullptr) {
    return Finish(Fail(STOW_ERR_NULL_HANDLE, absl::StrCat(what, " is NULL")));
  }
  return Call([&](Engine& e) {
    T* object = e.Find<T>(handle, kind);
    if (object == nullptr) {
      return Fail(STOW_ERR_BAD_HANDLE,
                  absl::StrCat(what, ": destroyed or not a ", what));
    }
    return body(e, *object);
  });
}
}  // namespace

extern "C" {

stow_status stow_session_start(stow_session* session) {
  return WithObject<Session>(session, Kind::kSession, "session",
                             [](Engine&, Session& s) { return s.Start(); });
}

stow_status stow_session_stop(stow_session* session) {
  return WithObject<Session>(session, Kind::kSession, "session",
                             [](Engine&, Session& s) { return s.Stop(); });
}

void stow_session_destroy(stow_session* session) {
  if (session == nullptr) return;
  (void)WithObject<Session>(session, Kind::kSession, "session",
                            [](Engine& e, Session& s) {
                              s.Destroy();
                              e.Bury(s.id());
                              return Ok();
                            });
}

stow_status stow_session_state(stow_session* session, int32_t* out_state) {
  if (out_state == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_state is NULL"));
  }
  return WithObject<Session>(session, Kind::kSession, "session",
                             [&](Engine&, Session& s) {
                               *out_state = s.state();
                               return Ok();
                             });
}

stow_status stow_session_address(stow_session* session, int32_t family,
                                 char* buf, size_t buf_len) {
  if (family != STOW_FAMILY_IPV4 && family != STOW_FAMILY_IPV6) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "family must be STOW_FAMILY_IPV4 or STOW_FAMILY_IPV6"));
  }
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine&, Session& s) {
        if (s.ike() == nullptr) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session was not started");
        }
        const auto& ip =
            family == STOW_FAMILY_IPV4 ? s.ike()->ipv4() : s.ike()->ipv6();
        if (!ip.has_value()) {
          return Fail(STOW_ERR_NOT_CONNECTED,
                      "no address of that family was assigned");
        }
        return CopyOut(ip->ToString(), buf, buf_len);
      });
}

stow_status stow_session_dns_server(stow_session* session, size_t index,
                                    char* buf, size_t buf_len) {
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine&, Session& s) {
        if (s.ike() == nullptr || index >= s.ike()->dns_servers().size()) {
          return Fail(STOW_ERR_INVALID_ARGUMENT,
                      absl::StrCat("no DNS server number ", index));
        }
        return CopyOut(s.ike()->dns_servers()[index].ToString(), buf, buf_len);
      });
}

stow_status stow_session_stats(stow_session* session, char* buf,
                               size_t buf_len, size_t* out_len) {
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine&, Session& s) {
        const std::string json = s.StatsJson();
        if (out_len != nullptr) *out_len = json.size();
        return CopyOut(json, buf, buf_len);
      });
}

stow_status stow_tcp_connect(stow_session* session, const char* host,
                             uint16_t port, const stow_tcp_callbacks* callbacks,
                             stow_tcp** out_tcp) {
  if (host == nullptr || out_tcp == nullptr || port == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "host, a port (1-65535) and out_tcp are required"));
  }
  if (!StructSizeOk(callbacks)) {
    return Finish(Fail(STOW_ERR_BAD_STRUCT_SIZE,
                       "callbacks->struct_size is not sizeof(stow_tcp_callbacks)"));
  }
  *out_tcp = nullptr;
  const stow_tcp_callbacks cb = CopyCallbacks(callbacks);
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (!s.connected()) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session is not connected");
        }
        auto tcp = std::make_unique<Tcp>(&e, e.NewId(Kind::kTcp), s.id());
        Result r = tcp->Connect(&s, host, port);
        if (r.status != STOW_OK) return r;
        tcp->SetCallbacks(cb);
        *out_tcp = AddChild<stow_tcp>(e, s, std::move(tcp));
        return Ok();
      });
}

stow_status stow_tcp_set_callbacks(stow_tcp* tcp,
                                   const stow_tcp_callbacks* callbacks) {
  if (callbacks == nullptr || !StructSizeOk(callbacks)) {
    return Finish(Fail(STOW_ERR_BAD_STRUCT_SIZE,
                       "callbacks must be a stow_tcp_callbacks with its "
                       "struct_size"));
  }
  const stow_tcp_callbacks cb = *callbacks;
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine&, Tcp& t) {
    t.SetCallbacks(cb);
    return Ok();
  });
}

stow_status stow_tcp_write(stow_tcp* tcp, const uint8_t* data, size_t data_len,
                           size_t* out_written) {
  if ((data == nullptr && data_len > 0) || out_written == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "data and out_written are "
                                                  "required"));
  }
  *out_written = 0;
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine&, Tcp& t) {
    return t.Write(data, data_len, out_written);
  });
}

stow_status stow_tcp_read(stow_tcp* tcp, uint8_t* buf, size_t buf_len,
                          size_t* out_read) {
  if (buf == nullptr || buf_len == 0 || out_read == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "buf, a non-zero buf_len and out_read are required"));
  }
  *out_read = 0;
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine&, Tcp& t) {
    return t.Read(buf, buf_len, out_read);
  });
}

stow_status stow_tcp_shutdown(stow_tcp* tcp) {
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp",
                         [&](Engine&, Tcp& t) { return t.Shutdown(); });
}

stow_status stow_tcp_close(stow_tcp* tcp) {
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp",
                         [&](Engine&, Tcp& t) { return t.Close(); });
}

void stow_tcp_destroy(stow_tcp* tcp) {
  if (tcp == nullptr) return;
  (void)WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine& e, Tcp& t) {
    e.Bury(t.id());
    return Ok();
  });
}

stow_status stow_tcp_local_address(stow_tcp* tcp, char* buf, size_t buf_len,
                                   uint16_t* out_port) {
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine&, Tcp& t) {
    return t.Address(true, buf, buf_len, out_port);
  });
}

stow_status stow_tcp_remote_address(stow_tcp* tcp, char* buf, size_t buf_len,
                                    uint16_t* out_port) {
  return WithObject<Tcp>(tcp, Kind::kTcp, "tcp", [&](Engine&, Tcp& t) {
    return t.Address(false, buf, buf_len, out_port);
  });
}

stow_status stow_tcp_listen(stow_session* session, const char* address,
                            uint16_t port,
                            const stow_tcp_listener_callbacks* callbacks,
                            stow_tcp_listener** out_listener) {
  if (out_listener == nullptr || port == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "a port (1-65535) and out_listener are required"));
  }
  if (!StructSizeOk(callbacks)) {
    return Finish(Fail(STOW_ERR_BAD_STRUCT_SIZE,
                       "callbacks->struct_size is not "
                       "sizeof(stow_tcp_listener_callbacks)"));
  }
  *out_listener = nullptr;
  const stow_tcp_listener_callbacks cb = CopyCallbacks(callbacks);
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (!s.connected()) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session has no address yet");
        }
        auto ip = LocalIp(&s, address);
        if (!ip.ok()) return Fail(STOW_ERR_BAD_ADDRESS, std::string(ip.status().message()));
        auto listener = std::make_unique<Listener>(
            &e, e.NewId(Kind::kListener), s.id(), cb);
        Result r = listener->Listen(SocketAddress(*ip, port));
        if (r.status != STOW_OK) return r;
        *out_listener = AddChild<stow_tcp_listener>(e, s, std::move(listener));
        return Ok();
      });
}

void stow_tcp_listener_destroy(stow_tcp_listener* listener) {
  if (listener == nullptr) return;
  (void)WithObject<Listener>(listener, Kind::kListener, "listener",
                             [&](Engine& e, Listener& l) {
                               e.Bury(l.id());
                               return Ok();
                             });
}

stow_status stow_udp_bind(stow_session* session, const char* address,
                          uint16_t port, const stow_udp_callbacks* callbacks,
                          stow_udp** out_udp) {
  if (out_udp == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_udp is required"));
  }
  if (!StructSizeOk(callbacks)) {
    return Finish(Fail(STOW_ERR_BAD_STRUCT_SIZE,
                       "callbacks->struct_size is not sizeof(stow_udp_callbacks)"));
  }
  *out_udp = nullptr;
  const stow_udp_callbacks cb = CopyCallbacks(callbacks);
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (!s.connected()) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session has no address yet");
        }
        auto ip = LocalIp(&s, address);
        if (!ip.ok()) return Fail(STOW_ERR_BAD_ADDRESS, std::string(ip.status().message()));
        auto udp = std::make_unique<Udp>(&e, e.NewId(Kind::kUdp), cb);
        Result r = udp->Bind(SocketAddress(*ip, port));
        if (r.status != STOW_OK) return r;
        *out_udp = AddChild<stow_udp>(e, s, std::move(udp));
        return Ok();
      });
}

stow_status stow_udp_send_to(stow_udp* udp, const char* address, uint16_t port,
                             const uint8_t* data, size_t data_len) {
  if (address == nullptr || (data == nullptr && data_len > 0) || port == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "address, a port (1-65535) and data are required"));
  }
  auto ip = IpAddress::Parse(address);
  if (!ip.ok()) {
    return Finish(Fail(STOW_ERR_BAD_ADDRESS,
                       absl::StrCat("not an IP address: ", address)));
  }
  return WithObject<Udp>(udp, Kind::kUdp, "udp", [&](Engine&, Udp& u) {
    return u.SendTo(SocketAddress(*ip, port), data, data_len);
  });
}

stow_status stow_udp_local_port(stow_udp* udp, uint16_t* out_port) {
  if (out_port == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_port is NULL"));
  }
  return WithObject<Udp>(udp, Kind::kUdp, "udp",
                         [&](Engine&, Udp& u) { return u.LocalPort(out_port); });
}

void stow_udp_destroy(stow_udp* udp) {
  if (udp == nullptr) return;
  (void)WithObject<Udp>(udp, Kind::kUdp, "udp", [&](Engine& e, Udp& u) {
    e.Bury(u.id());
    return Ok();
  });
}

stow_status stow_ping(stow_session* session, const char* address,
                      uint32_t timeout_ms, stow_ping_fn fn, void* context) {
  if (address == nullptr || fn == nullptr || timeout_ms == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "address, a timeout and fn are required"));
  }
  auto ip = IpAddress::Parse(address);
  if (!ip.ok()) {
    return Finish(Fail(STOW_ERR_BAD_ADDRESS,
                       absl::StrCat("not an IP address: ", address)));
  }
  return WithObject<Session>(session, Kind::kSession, "session",
                             [&](Engine&, Session& s) {
                               return s.Ping(*ip, timeout_ms, fn, context);
                             });
}

stow_status stow_resolve(stow_session* session, const char* name,
                         int32_t family, stow_resolve_fn fn, void* context) {
  if (name == nullptr || fn == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "name and fn are required"));
  }
  if (family != STOW_FAMILY_ANY && family != STOW_FAMILY_IPV4 &&
      family != STOW_FAMILY_IPV6) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "unknown family"));
  }
  const std::string n(name);
  return WithObject<Session>(session, Kind::kSession, "session",
                             [&](Engine&, Session& s) {
                               return s.Resolve(n, family, fn, context);
                             });
}


stow_status stow_proxy_start(stow_session* session, const char* listen_address,
                             const char* username, const char* password,
                             stow_proxy** out_proxy) {
  if (out_proxy == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_proxy is NULL"));
  }
  *out_proxy = nullptr;
  if ((username == nullptr) != (password == nullptr)) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "give both username and password, or neither"));
  }
  auto listen = HostAddress(listen_address);
  if (!listen.ok()) {
    return Finish(Fail(STOW_ERR_BAD_ADDRESS,
                       std::string(listen.status().message())));
  }
  stow::proxy::ProxyServerOptions options;
  options.listen = *listen;
  if (username != nullptr) {
    options.username = username;
    options.password = password;
  }
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (s.dialer() == nullptr) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session is not connected");
        }
        auto server = stow::proxy::ProxyServer::Start(e.loop(), s.dialer(),
                                                      options);
        if (!server.ok()) return FromStatus(server.status());
        *out_proxy = AddService<stow_proxy>(e, s, Kind::kProxy, *std::move(server));
        return Ok();
      });
}

stow_status stow_proxy_port(stow_proxy* proxy, uint16_t* out_port) {
  if (out_port == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_port is NULL"));
  }
  return WithObject<Service>(proxy, Kind::kProxy, "proxy",
                             [&](Engine&, Service& p) { return p.Port(out_port); });
}

void stow_proxy_destroy(stow_proxy* proxy) {
  if (proxy == nullptr) return;
  (void)WithObject<Service>(proxy, Kind::kProxy, "proxy",
                            [&](Engine& e, Service& p) {
                              e.Bury(p.id());
                              return Ok();
                            });
}

stow_status stow_forward_local(stow_session* session,
                               const char* listen_address,
                               const char* target_host, uint16_t target_port,
                               stow_forward** out_forward) {
  if (out_forward == nullptr || target_host == nullptr || target_port == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "target_host, a target_port and out_forward are "
                       "required"));
  }
  *out_forward = nullptr;
  auto listen = HostAddress(listen_address);
  if (!listen.ok()) {
    return Finish(Fail(STOW_ERR_BAD_ADDRESS,
                       std::string(listen.status().message())));
  }
  const std::string host(target_host);
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (s.dialer() == nullptr) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session is not connected");
        }
        auto forward = stow::proxy::LocalForward::Start(
            e.loop(), s.dialer(), *listen, host, target_port);
        if (!forward.ok()) return FromStatus(forward.status());
        *out_forward = AddService<stow_forward>(e, s, Kind::kForward, *std::move(forward));
        return Ok();
      });
}

stow_status stow_forward_remote(stow_session* session, uint16_t tunnel_port,
                                const char* host_address,
                                stow_forward** out_forward) {
  if (out_forward == nullptr || host_address == nullptr || tunnel_port == 0) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "a tunnel_port, host_address and out_forward are "
                       "required"));
  }
  *out_forward = nullptr;
  auto host = SocketAddress::Parse(host_address);
  if (!host.ok()) {
    return Finish(Fail(STOW_ERR_BAD_ADDRESS,
                       std::string(host.status().message())));
  }
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (!s.connected()) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session has no address yet");
        }
        auto forward = stow::proxy::RemoteForward::Start(
            e.stack(), e.loop(),
            SocketAddress(IpAddress::Any(IpAddress::Family::kV6), tunnel_port),
            *host);
        if (!forward.ok()) return FromStatus(forward.status());
        *out_forward = AddService<stow_forward>(e, s, Kind::kForward, *std::move(forward));
        return Ok();
      });
}

stow_status stow_forward_port(stow_forward* forward, uint16_t* out_port) {
  if (out_port == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT, "out_port is NULL"));
  }
  return WithObject<Service>(forward, Kind::kForward, "forward",
                             [&](Engine&, Service& f) { return f.Port(out_port); });
}

void stow_forward_destroy(stow_forward* forward) {
  if (forward == nullptr) return;
  (void)WithObject<Service>(forward, Kind::kForward, "forward",
                            [&](Engine& e, Service& f) {
                              e.Bury(f.id());
                              return Ok();
                            });
}

stow_status stow_bridge_connect(stow_session* session, const char* host,
                                uint16_t port, stow_bridge_fn on_end,
                                void* context, int* out_fd) {
  if (host == nullptr || port == 0 || out_fd == nullptr) {
    return Finish(Fail(STOW_ERR_INVALID_ARGUMENT,
                       "host, a port (1-65535) and out_fd are required"));
  }
  *out_fd = -1;
  const std::string h(host);
  return WithObject<Session>(
      session, Kind::kSession, "session", [&](Engine& e, Session& s) {
        if (s.dialer() == nullptr) {
          return Fail(STOW_ERR_NOT_CONNECTED, "the session is not connected");
        }
        auto bridge = std::make_unique<Bridge>(&e, e.NewId(Kind::kBridge),
                                               s.id(), on_end, context);
        Result r = bridge->Dial(s.dialer(), h, port, out_fd);
        if (r.status != STOW_OK) return r;
        AddChild<void>(e, s, std::move(bridge));
        return Ok();
      });
}

}  // extern "C"
