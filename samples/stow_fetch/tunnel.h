// What every stow-* sample does first, over the public C API only: read a
// JSON profile, start an engine and a session, wait until the tunnel is up
// (or say clearly why not), and later wait for SIGINT/SIGTERM or the end of
// standard input. Header-only so that a sample stays one readable file plus
// this one; copy both into an app as a starting point.
#ifndef STOWAWAY_SAMPLES_STOW_FETCH_TUNNEL_H_
#define STOWAWAY_SAMPLES_STOW_FETCH_TUNNEL_H_

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "sdk/include/stowaway/stowaway.h"

namespace stow_samples {

// Exit codes shared by the samples (documented in each --help).
enum ExitCode {
  kExitOk = 0,
  kExitUsage = 1,        // Bad command line.
  kExitProfile = 2,      // Profile unreadable or invalid.
  kExitTunnel = 3,       // Gateway unreachable, authentication failed.
  kExitName = 4,         // NXDOMAIN / DNS failure.
  kExitConnect = 5,      // Refused, reset, unreachable target.
  kExitHttp = 6,         // HTTP status >= 400 (stow-fetch).
  kExitTimeout = 7,      // Nothing happened for --timeout seconds.
  kExitProtocol = 8,     // Malformed response, local I/O error.
  kExitInternal = 9,
};

// The exit code for a status from a terminal callback.
// Command-line helpers shared by the samples (no flags library: the samples
// depend on the C API only).
// Matches argv[*i] as --name=V, -name=V, --name V or -name V (consuming the
// next argument in the last two forms); a one-letter name matches -xV,
// -x=V and -x V instead.
inline bool FlagValue(int argc, char** argv, int* i, const std::string& name,
                      std::string* out) {
  const std::string a = argv[*i];
  const bool letter = name.size() == 1;
  for (const std::string& p : {"-" + name, "--" + name}) {
    if (letter && p[1] == '-') break;
    if (a.rfind(p + "=", 0) == 0) {
      *out = a.substr(p.size() + 1);
      return true;
    }
    if (a == p && *i + 1 < argc) {
      *out = argv[++*i];
      return true;
    }
    if (letter && a.size() > 2 && a.rfind(p, 0) == 0) {
      *out = a.substr(2);
      return true;
    }
  }
  return false;
}

// "--timeout" values: whole seconds in 0..86400.
inline bool ParseSeconds(const std::string& text, int* out) {
  char* end = nullptr;
  const long t = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || t < 0 || t > 86400) return false;
  *out = static_cast<int>(t);
  return true;
}

inline int ExitCodeFor(stow_status status) {
  switch (status) {
    case STOW_OK:
      return kExitOk;
    case STOW_ERR_NAME_NOT_FOUND:
    case STOW_ERR_DNS_FAILED:
    case STOW_ERR_BAD_NAME:
      return kExitName;
    case STOW_ERR_CONNECTION_REFUSED:
    case STOW_ERR_CONNECTION_RESET:
    case STOW_ERR_UNREACHABLE:
      return kExitConnect;
    case STOW_ERR_TIMED_OUT:
      return kExitTimeout;
    case STOW_ERR_GATEWAY_UNREACHABLE:
    case STOW_ERR_AUTH_FAILED:
    case STOW_ERR_NO_PROPOSAL:
    case STOW_ERR_NOT_CONNECTED:
    case STOW_ERR_ABORTED:
      return kExitTunnel;
    case STOW_ERR_BAD_PROFILE:
      return kExitProfile;
    default:
      return kExitInternal;
  }
}

// "STOW_ERR_NAME_NOT_FOUND (the name does not exist...): details".
inline std::string Describe(stow_status status, const std::string& details) {
  std::string s = std::string(stow_status_name(status)) + " (" +
                  stow_status_string(status) + ")";
  if (!details.empty()) s += ": " + details;
  return s;
}

namespace internal {
// Written by signal handlers and callbacks to wake Tunnel::WaitForStop.
inline int& WakeFd() {
  static int fd = -1;
  return fd;
}
inline volatile sig_atomic_t& LastSignal() {
  static volatile sig_atomic_t sig = 0;
  return sig;
}
inline void OnSignal(int sig) {
  LastSignal() = sig;
  const int saved = errno;
  const char b = 's';
  if (WakeFd() >= 0) (void)!write(WakeFd(), &b, 1);
  errno = saved;
}
}  // namespace internal

// One engine and one session. Not copyable; one per process (the engine is).
class Tunnel {
 public:
  Tunnel() = default;
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;
  ~Tunnel() { Close(); }

  // Installs the SIGINT/SIGTERM handlers (before any thread starts, so the
  // wake-up pipe exists when a signal comes).
  void InstallSignalHandlers() {
    int fds[2];
    if (pipe(fds) == 0) {
      fcntl(fds[0], F_SETFL, O_NONBLOCK);
      fcntl(fds[1], F_SETFL, O_NONBLOCK);
      fcntl(fds[0], F_SETFD, FD_CLOEXEC);
      fcntl(fds[1], F_SETFD, FD_CLOEXEC);
      wake_read_ = fds[0];
      internal::WakeFd() = fds[1];
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = internal::OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
  }

  // Reads `profile_path`, creates the engine and session and waits up to
  // `timeout_s` seconds for STOW_SESSION_CONNECTED. On failure prints
  // "<prog>: <why>" on stderr and returns the exit code; kExitOk when up.
  int Open(const char* prog, const std::string& profile_path, int timeout_s,
           bool verbose) {
    prog_ = prog;
    verbose_ = verbose;
    std::ifstream in(profile_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot read profile %s: %s\n", prog,
                   profile_path.c_str(), strerror(errno));
      return kExitProfile;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string json = text.str();

    stow_status s = stow_engine_create(&engine_);
    if (s != STOW_OK) {
      std::fprintf(stderr, "%s: cannot start the engine: %s\n", prog,
                   Describe(s, stow_last_error_message()).c_str());
      return kExitInternal;
    }
    if (verbose) {
      stow_engine_set_log(engine_, STOW_LOG_DEBUG, &Tunnel::OnLog, this);
    }
    stow_session_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.struct_size = sizeof(cb);
    cb.context = this;
    cb.on_event = &Tunnel::OnEvent;
    cb.on_closed = &Tunnel::OnClosed;
    s = stow_session_create(engine_, json.data(), json.size(), &cb,
                            &session_);
    if (s != STOW_OK) {
      // The message names the field and the line of the profile.
      std::fprintf(stderr, "%s: bad profile %s: %s\n", prog,
                   profile_path.c_str(), stow_last_error_message());
      return kExitProfile;
    }
    s = stow_session_start(session_);
    if (s != STOW_OK) {
      std::fprintf(stderr, "%s: cannot start the session: %s\n", prog,
                   Describe(s, stow_last_error_message()).c_str());
      return kExitInternal;
    }
    std::unique_lock<std::mutex> lock(mu_);
    const bool done = cv_.wait_for(
        lock, std::chrono::seconds(timeout_s > 0 ? timeout_s : 1 << 30),
        [this] { return connected_ || closed_; });
    if (connected_) return kExitOk;
    if (closed_) {
      std::fprintf(stderr, "%s: the tunnel failed: %s\n", prog,
                   Describe(closed_status_, closed_message_).c_str());
      return ExitCodeFor(closed_status_);
    }
    (void)done;
    std::fprintf(stderr,
                 "%s: gateway unreachable: no tunnel after %d s%s%s\n", prog,
                 timeout_s, last_reason_.empty() ? "" : "; last: ",
                 last_reason_.c_str());
    return kExitTunnel;
  }

  stow_session* session() const { return session_; }

  // The session's virtual IPv4 address ("" if none).
  std::string Address() const {
    char buf[64];
    if (stow_session_address(session_, STOW_FAMILY_IPV4, buf, sizeof(buf)) !=
        STOW_OK) {
      return "";
    }
    return buf;
  }

  // Blocks until SIGINT/SIGTERM, the end of standard input (when
  // `watch_stdin`), or the session's end; returns which.
  std::string WaitForStop(bool watch_stdin) {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return "session closed: " + closed_message_;
      }
      if (internal::LastSignal() != 0) {
        return internal::LastSignal() == SIGINT ? "SIGINT" : "SIGTERM";
      }
      struct pollfd fds[2];
      int n = 0;
      fds[n++] = {wake_read_, POLLIN, 0};
      if (watch_stdin) fds[n++] = {STDIN_FILENO, POLLIN, 0};
      if (poll(fds, n, -1) < 0 && errno != EINTR) return "poll failed";
      if (fds[0].revents != 0) {
        char buf[64];
        while (read(wake_read_, buf, sizeof(buf)) > 0) {
        }
      }
      if (watch_stdin && fds[1].revents != 0) {
        char buf[256];
        const ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
          return "end of input";
        }
      }
    }
  }

  // Destroys the session and the engine (idempotent).
  void Close() {
    if (session_ != nullptr) stow_session_destroy(session_);
    session_ = nullptr;
    if (engine_ != nullptr) stow_engine_destroy(engine_);
    engine_ = nullptr;
  }

 private:
  static void OnLog(void* ctx, int32_t level, const char* message) {
    static const char* const kLevels[] = {"E", "W", "I", "D"};
    std::fprintf(stderr, "%s: [%s] %s\n", static_cast<Tunnel*>(ctx)->prog_,
                 kLevels[level & 3], message);
  }
  static void OnEvent(void* ctx, stow_session*, const stow_session_event* e) {
    auto* self = static_cast<Tunnel*>(ctx);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->last_reason_ = e->reason;
    if (self->verbose_ || (self->connected_ && e->state != STOW_SESSION_CONNECTED)) {
      std::fprintf(stderr, "%s: session %s: %s\n", self->prog_,
                   StateName(e->state), e->reason);
    }
    if (e->state == STOW_SESSION_CONNECTED) self->connected_ = true;
    self->cv_.notify_all();
  }
  static void OnClosed(void* ctx, stow_session*, const stow_error* e) {
    auto* self = static_cast<Tunnel*>(ctx);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->closed_ = true;
      self->closed_status_ = e->status;
      self->closed_message_ = e->message;
      self->cv_.notify_all();
    }
    const char b = 'c';
    if (internal::WakeFd() >= 0) (void)!write(internal::WakeFd(), &b, 1);
  }
  static const char* StateName(int32_t state) {
    switch (state) {
      case STOW_SESSION_IDLE: return "idle";
      case STOW_SESSION_CONNECTING: return "connecting";
      case STOW_SESSION_CONNECTED: return "connected";
      case STOW_SESSION_RECONNECTING: return "reconnecting";
      case STOW_SESSION_CLOSED: return "closed";
    }
    return "?";
  }

  const char* prog_ = "stow";
  bool verbose_ = false;
  stow_engine* engine_ = nullptr;
  stow_session* session_ = nullptr;
  int wake_read_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false;
  bool closed_ = false;
  stow_status closed_status_ = STOW_OK;
  std::string closed_message_;
  std::string last_reason_;
};

}  // namespace stow_samples

#endif  // STOWAWAY_SAMPLES_STOW_FETCH_TUNNEL_H_
