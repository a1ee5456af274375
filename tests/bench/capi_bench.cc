// C API benchmark, written against the public header only (plus the helper
// that starts our gateway as a child process). Prints one JSON line per
// figure ({"name","value","unit"}); not a pass/fail test.
//
// Memory: this process's RSS (VmRSS of /proc/self/status) with a connected
// session, then with 1000 idle tunnelled TCP connections to the gateway's
// echo service (each connected and one byte echoed, so fully established):
//   capi_rss_idle_session_kib        VmRSS, session connected, idle
//   capi_rss_1000_connections_kib    VmRSS with the 1000 connections open
//   capi_vmhwm_1000_connections_kib  VmHWM (peak RSS) at that point
//   capi_memory_per_idle_connection_bytes   (difference) / 1000
//   gateway_rss_idle_session_kib, gateway_rss_1000_connections_kib,
//   gateway_memory_per_idle_connection_bytes   the same for the gateway
//                                    process (its lwIP side of the sockets)
// Request/response: 1 KiB request, 1 KiB echoed response, closed loop per
// connection, driven by the callbacks on the network thread; a latency runs
// from the stow_tcp_write of the request to the stow_tcp_read that completes
// the response:
//   capi_rr_1conn_rps, capi_rr_1conn_p50_us, capi_rr_1conn_p99_us
//   capi_rr_64conn_rps, capi_rr_64conn_p50_us, capi_rr_64conn_p99_us
// Each run warms up for 0.5 s after every connection is up, then measures
// for 5 s (the one-connection run also stops after 20000 requests).
//
//   capi_bench
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "sdk/include/stowaway/stowaway.h"
#include "tests/integration/peer_process.h"

namespace {

using Clock = std::chrono::steady_clock;
using stow::testing::PeerProcess;
using stow::testing::RunfilePath;

constexpr char kPsk[] = "capi-bench-psk-0123456789";
constexpr char kEchoHost[] = "10.99.0.1";
constexpr uint16_t kEchoPort = 7;
constexpr int kIdleConnections = 1000;
constexpr size_t kMessageBytes = 1024;
constexpr auto kWarmup = std::chrono::milliseconds(500);
constexpr auto kMeasure = std::chrono::seconds(5);
constexpr auto kTimeout = std::chrono::seconds(30);

void Emit(const std::string& name, double value, const std::string& unit) {
  std::printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n",
              name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

void Skip(const std::string& name, const std::string& unit,
          const std::string& why) {
  std::printf("{\"name\":\"%s\",\"value\":null,\"unit\":\"%s\","
              "\"skipped\":\"%s\"}\n",
              name.c_str(), unit.c_str(), why.c_str());
  std::fflush(stdout);
}

// A flag set on the network thread and waited for on the main thread.
class Event {
 public:
  void Set() {
    std::lock_guard<std::mutex> lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool Wait(Clock::duration timeout = kTimeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// One field ("VmRSS", "VmHWM") of /proc/<pid>/status in KiB; -1 if absent.
long StatusKib(const std::string& pid, const std::string& field) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size() + 1, field + ":") == 0) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

// The pid of our child process running `comm` (PeerProcess does not expose
// it): the /proc entry whose parent is this process. "" if none.
std::string ChildPid(const std::string& comm) {
  const std::string self = std::to_string(getpid());
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return "";
  std::string found;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string pid = e->d_name;
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)),
                     std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const size_t open = text.find('(');
    const size_t close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 1));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == self && text.substr(open + 1, close - open - 1) == comm) {
      found = pid;
      break;
    }
  }
  closedir(dir);
  return found;
}

std::string ProfileJson(const std::string& gateway) {
  return "{\"name\": \"capi-bench\", \"gateway\": \"" + gateway +
         "\",\n \"local_id\": \"email:bench@stowaway.test\",\n"
         " \"remote_id\": \"fqdn:gw.stowaway.test\",\n"
         " \"auth\": {\"psk\": \"" +
         kPsk + "\"}}";
}

stow_tcp_callbacks TcpCallbacks(void* context) {
  stow_tcp_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = context;
  return cb;
}

// ---- Memory: idle connections ----

// Counts connections that connected and echoed their byte; all on the
// network thread until `all` is set.
struct IdleGroup {
  int target = 0;
  int echoed = 0;
  int failed = 0;
  Event all;
  void Count(bool ok) {
    (ok ? echoed : failed)++;
    if (echoed + failed == target) all.Set();
  }
};

// One idle connection: sends one byte once connected, reads it back, then
// stays open. Kept small: its size is part of the measured difference.
struct IdleConn {
  IdleGroup* group;  // Not owned.
  stow_tcp* tcp = nullptr;
  bool counted = false;

  void Finish(bool ok) {
    if (counted) return;
    counted = true;
    group->Count(ok);
  }
  static void OnConnected(void* c, stow_tcp* t) {
    const uint8_t byte = 0x42;
    size_t n = 0;
    if (stow_tcp_write(t, &byte, 1, &n) != STOW_OK || n != 1) {
      static_cast<IdleConn*>(c)->Finish(false);
    }
  }
  static void OnReadable(void* c, stow_tcp* t) {
    uint8_t byte = 0;
    size_t n = 0;
    const stow_status s = stow_tcp_read(t, &byte, 1, &n);
    if (s == STOW_ERR_WOULD_BLOCK) return;
    static_cast<IdleConn*>(c)->Finish(s == STOW_OK && n == 1 && byte == 0x42);
  }
  static void OnClosed(void* c, stow_tcp*, const stow_error*) {
    static_cast<IdleConn*>(c)->Finish(false);
  }
};

struct MemoryResult {
  long idle_kib = -1;
  long loaded_kib = -1;
  long hwm_kib = -1;
  long gateway_idle_kib = -1;
  long gateway_loaded_kib = -1;
};

// Opens kIdleConnections idle connections, measures, destroys them.
bool MeasureIdleConnections(stow_session* session, const std::string& gw_pid,
                            MemoryResult* out) {
  out->idle_kib = StatusKib("self", "VmRSS");
  if (!gw_pid.empty()) out->gateway_idle_kib = StatusKib(gw_pid, "VmRSS");

  IdleGroup group;
  group.target = kIdleConnections;
  std::vector<IdleConn> conns(kIdleConnections);
  bool ok = true;
  for (IdleConn& conn : conns) {
    conn.group = &group;
    stow_tcp_callbacks cb = TcpCallbacks(&conn);
    cb.on_connected = &IdleConn::OnConnected;
    cb.on_readable = &IdleConn::OnReadable;
    cb.on_closed = &IdleConn::OnClosed;
    if (stow_tcp_connect(session, kEchoHost, kEchoPort, &cb, &conn.tcp) !=
        STOW_OK) {
      std::fprintf(stderr, "capi_bench: stow_tcp_connect: %s\n",
                   stow_last_error_message());
      ok = false;
      break;
    }
  }
  if (ok && !group.all.Wait(std::chrono::seconds(60))) {
    std::fprintf(stderr, "capi_bench: idle connections not all echoed\n");
    ok = false;
  }
  if (ok && group.failed > 0) {
    std::fprintf(stderr, "capi_bench: %d of %d idle connections failed\n",
                 group.failed, kIdleConnections);
    ok = false;
  }
  if (ok) {
    out->loaded_kib = StatusKib("self", "VmRSS");
    out->hwm_kib = StatusKib("self", "VmHWM");
    if (!gw_pid.empty()) out->gateway_loaded_kib = StatusKib(gw_pid, "VmRSS");
  }
  for (IdleConn& conn : conns) stow_tcp_destroy(conn.tcp);
  return ok;
}

// ---- Request/response ----

struct RrConn;

// The figures of one run. Written on the network thread until `done`.
struct RrRun {
  int connections = 0;
  int connected = 0;
  int finished = 0;
  int failed = 0;
  size_t max_requests = 0;  // 0: no limit
  Clock::time_point start;  // measuring begins
  Clock::time_point end;    // measuring ends
  std::vector<double> latencies_us;
  std::vector<RrConn*> conns;  // Not owned.
  Event done;
};

// One closed-loop client: writes a 1 KiB request, reads the 1 KiB echo,
// records the latency and writes the next request, all in its callbacks.
struct RrConn {
  RrRun* run;  // Not owned.
  // Written by stow_tcp_connect on the main thread; destroyed there.
  stow_tcp* handle = nullptr;
  // The same handle as the callbacks see it, on the network thread: set in
  // on_connected, before the loops start (the main thread may still be
  // storing `handle` of the last connection then).
  stow_tcp* tcp = nullptr;
  uint8_t request[kMessageBytes];
  uint8_t response[kMessageBytes];
  size_t sent = 0;
  size_t received = 0;
  uint32_t sequence = 0;
  bool finished = false;
  Clock::time_point t0;

  void Finish(bool ok) {
    if (finished) return;
    finished = true;
    if (!ok) run->failed++;
    if (++run->finished == run->connections) run->done.Set();
  }

  void SendRequest() {
    ++sequence;
    std::memcpy(request, &sequence, sizeof(sequence));
    sent = 0;
    received = 0;
    t0 = Clock::now();
    Pump();
  }
  void Pump() {
    while (sent < kMessageBytes) {
      size_t n = 0;
      const stow_status s =
          stow_tcp_write(tcp, request + sent, kMessageBytes - sent, &n);
      if (s == STOW_ERR_WOULD_BLOCK) return;  // on_writable follows
      if (s != STOW_OK) return Finish(false);
      sent += n;
    }
  }
  void Drain() {
    while (!finished) {
      size_t n = 0;
      const stow_status s = stow_tcp_read(tcp, response + received,
                                          kMessageBytes - received, &n);
      if (s == STOW_ERR_WOULD_BLOCK) return;
      if (s != STOW_OK) return Finish(false);
      received += n;
      if (received < kMessageBytes) continue;
      const Clock::time_point now = Clock::now();
      if (std::memcmp(request, response, kMessageBytes) != 0) {
        std::fprintf(stderr, "capi_bench: echo differs\n");
        return Finish(false);
      }
      if (now >= run->end) return Finish(true);
      if (now >= run->start) {
        run->latencies_us.push_back(
            std::chrono::duration<double, std::micro>(now - t0).count());
        if (run->max_requests != 0 &&
            run->latencies_us.size() >= run->max_requests) {
          // Enough: this run ends now for every connection.
          run->end = now;
          return Finish(true);
        }
      }
      SendRequest();
    }
  }

  static void OnConnected(void* c, stow_tcp* t) {
    static_cast<RrConn*>(c)->tcp = t;
    RrRun* run = static_cast<RrConn*>(c)->run;
    if (++run->connected < run->connections) return;
    // Everyone is up: start every loop together.
    run->start = Clock::now() + kWarmup;
    run->end = run->start + kMeasure;
    for (RrConn* conn : run->conns) conn->SendRequest();
  }
  static void OnReadable(void* c, stow_tcp*) {
    static_cast<RrConn*>(c)->Drain();
  }
  static void OnWritable(void* c, stow_tcp*) {
    auto* self = static_cast<RrConn*>(c);
    if (!self->finished) self->Pump();
  }
  static void OnClosed(void* c, stow_tcp*, const stow_error* e) {
    std::fprintf(stderr, "capi_bench: connection closed: %s\n", e->message);
    static_cast<RrConn*>(c)->Finish(false);
  }
};

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(
      sorted.size() - 1, static_cast<size_t>(p / 100.0 * sorted.size()));
  return sorted[index];
}

// Runs `connections` closed loops at once and emits capi_rr_<label>_*.
bool RequestResponse(stow_session* session, int connections,
                     size_t max_requests, const std::string& label) {
  const std::string prefix = "capi_rr_" + label;
  RrRun run;
  run.connections = connections;
  run.max_requests = max_requests;
  run.latencies_us.reserve(400000);
  std::vector<std::unique_ptr<RrConn>> conns;
  for (int i = 0; i < connections; ++i) {
    conns.push_back(std::make_unique<RrConn>());
    conns.back()->run = &run;
    for (size_t b = 0; b < kMessageBytes; ++b) {
      conns.back()->request[b] = static_cast<uint8_t>(i * 31 + b);
    }
    run.conns.push_back(conns.back().get());
  }
  bool ok = true;
  for (auto& conn : conns) {
    stow_tcp_callbacks cb = TcpCallbacks(conn.get());
    cb.on_connected = &RrConn::OnConnected;
    cb.on_readable = &RrConn::OnReadable;
    cb.on_writable = &RrConn::OnWritable;
    cb.on_closed = &RrConn::OnClosed;
    if (stow_tcp_connect(session, kEchoHost, kEchoPort, &cb, &conn->handle) !=
        STOW_OK) {
      std::fprintf(stderr, "capi_bench: stow_tcp_connect: %s\n",
                   stow_last_error_message());
      ok = false;
      break;
    }
  }
  if (ok && !run.done.Wait(kTimeout)) {
    std::fprintf(stderr, "capi_bench: %s did not finish\n", prefix.c_str());
    ok = false;
  }
  for (auto& conn : conns) stow_tcp_destroy(conn->handle);
  if (ok && (run.failed > 0 || run.latencies_us.empty())) {
    std::fprintf(stderr, "capi_bench: %s: %d connections failed\n",
                 prefix.c_str(), run.failed);
    ok = false;
  }
  if (!ok) {
    Skip(prefix + "_rps", "requests/s", "failed");
    Skip(prefix + "_p50_us", "us", "failed");
    Skip(prefix + "_p99_us", "us", "failed");
    return false;
  }
  // `end` moved to the last completion if max_requests ended the run.
  const double seconds =
      std::chrono::duration<double>(run.end - run.start).count();
  std::sort(run.latencies_us.begin(), run.latencies_us.end());
  // The shape of the distribution, for whoever reads the log.
  std::fprintf(stderr,
               "capi_bench: %s: %zu requests in %.2f s; latency us: min %.1f "
               "p10 %.1f p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
               prefix.c_str(), run.latencies_us.size(), seconds,
               run.latencies_us.front(), Percentile(run.latencies_us, 10),
               Percentile(run.latencies_us, 50),
               Percentile(run.latencies_us, 90),
               Percentile(run.latencies_us, 99),
               Percentile(run.latencies_us, 99.9), run.latencies_us.back());
  Emit(prefix + "_rps", run.latencies_us.size() / seconds, "requests/s");
  Emit(prefix + "_p50_us", Percentile(run.latencies_us, 50), "us");
  Emit(prefix + "_p99_us", Percentile(run.latencies_us, 99), "us");
  return true;
}

// ---- Session ----

struct SessionLog {
  Event connected;
  static void OnEvent(void* c, stow_session*, const stow_session_event* e) {
    if (e->state == STOW_SESSION_CONNECTED) {
      static_cast<SessionLog*>(c)->connected.Set();
    }
  }
};

int Main() {
  auto peer = PeerProcess::Start(
      {RunfilePath("samples/gateway/gateway"), "--listen=127.0.0.1:0", "--ike",
       std::string("--psk=") + kPsk, "--max_connections=2000",
       "--stop_on_stdin_eof"});
  if (!peer.ok()) {
    std::fprintf(stderr, "capi_bench: gateway: %s\n",
                 peer.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<PeerProcess> gateway = *std::move(peer);
  const std::string gw_pid = ChildPid("gateway");

  stow_engine* engine = nullptr;
  if (stow_engine_create(&engine) != STOW_OK) {
    std::fprintf(stderr, "capi_bench: engine: %s\n", stow_last_error_message());
    return 1;
  }
  SessionLog log;
  stow_session_callbacks scb{};
  scb.struct_size = sizeof(scb);
  scb.context = &log;
  scb.on_event = &SessionLog::OnEvent;
  const std::string json = ProfileJson(gateway->ready_line());
  stow_session* session = nullptr;
  if (stow_session_create(engine, json.data(), json.size(), &scb, &session) !=
          STOW_OK ||
      stow_session_start(session) != STOW_OK || !log.connected.Wait()) {
    std::fprintf(stderr, "capi_bench: session did not connect: %s\n",
                 stow_last_error_message());
    stow_session_destroy(session);
    stow_engine_destroy(engine);
    return 1;
  }

  bool ok = true;
  // Warm up: one connection and one exchange, so that code and first pool
  // pages touched by any connection are in the baseline, not the
  // per-connection figure.
  {
    IdleGroup warm;
    warm.target = 1;
    IdleConn conn;
    conn.group = &warm;
    stow_tcp_callbacks cb = TcpCallbacks(&conn);
    cb.on_connected = &IdleConn::OnConnected;
    cb.on_readable = &IdleConn::OnReadable;
    cb.on_closed = &IdleConn::OnClosed;
    if (stow_tcp_connect(session, kEchoHost, kEchoPort, &cb, &conn.tcp) !=
            STOW_OK ||
        !warm.all.Wait() || warm.failed > 0) {
      std::fprintf(stderr, "capi_bench: warm-up connection failed\n");
      ok = false;
    }
    stow_tcp_destroy(conn.tcp);
  }

  MemoryResult mem;
  if (ok && MeasureIdleConnections(session, gw_pid, &mem)) {
    Emit("capi_rss_idle_session_kib", mem.idle_kib, "KiB");
    Emit("capi_rss_1000_connections_kib", mem.loaded_kib, "KiB");
    Emit("capi_vmhwm_1000_connections_kib", mem.hwm_kib, "KiB");
    Emit("capi_memory_per_idle_connection_bytes",
         (mem.loaded_kib - mem.idle_kib) * 1024.0 / kIdleConnections, "bytes");
    if (mem.gateway_idle_kib >= 0 && mem.gateway_loaded_kib >= 0) {
      Emit("gateway_rss_idle_session_kib", mem.gateway_idle_kib, "KiB");
      Emit("gateway_rss_1000_connections_kib", mem.gateway_loaded_kib, "KiB");
      Emit("gateway_memory_per_idle_connection_bytes",
           (mem.gateway_loaded_kib - mem.gateway_idle_kib) * 1024.0 /
               kIdleConnections,
           "bytes");
    } else {
      Skip("gateway_memory_per_idle_connection_bytes", "bytes",
           "gateway pid not found");
    }
  } else {
    ok = false;
    for (const char* name :
         {"capi_rss_idle_session_kib", "capi_rss_1000_connections_kib",
          "capi_vmhwm_1000_connections_kib"}) {
      Skip(name, "KiB", "failed");
    }
    Skip("capi_memory_per_idle_connection_bytes", "bytes", "failed");
  }

  ok = RequestResponse(session, 1, 20000, "1conn") && ok;
  ok = RequestResponse(session, 64, 0, "64conn") && ok;

  stow_session_destroy(session);
  stow_engine_destroy(engine);
  if (gateway->Stop() != 0) {
    std::fprintf(stderr, "capi_bench: gateway exited with an error\n");
    ok = false;
  }
  return ok ? 0 : 1;
}

}  // namespace

int main() { return Main(); }
