// The SDK against a real gateway (tests/interop/strongswan.sh and
// ocserv.sh run it in the harness's client namespace): connects with an IKE
// or a TLS profile (by its "transport"), then checks what an app would do
// through the tunnel. Prints one line per check, "PASS name: detail" or
// "FAIL name: detail", and figures as JSON lines ({"name", "value",
// "unit"}); exits 1 if any check failed.
//
//   interop_client --profile=p.json --lan=10.200.2.2
//       [--file=/10M.bin --file_sha=HEX] [--iperf_s=10] [--soak_s=0]
//       [--idle_s=0] [--kick_cmd='occtl ...']
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "samples/common/http_get.h"
#include "sdk/crypto/random.h"
#include "sdk/crypto/sha256.h"
#include "sdk/dns/resolver.h"
#include "sdk/engine/ike_session.h"
#include "sdk/engine/tls_session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/ike_profile.h"
#include "sdk/tunnel/ipsec/json_fields.h"
#include "sdk/tunnel/tls/tls_profile.h"
#include "tests/interop/iperf3_client.h"

ABSL_FLAG(std::string, profile, "", "IKE or TLS profile (JSON)");
ABSL_FLAG(std::string, lan, "10.200.2.2", "the LAN host behind the gateway");
ABSL_FLAG(std::string, name, "psk", "label for figures");
ABSL_FLAG(int, http_port, 8080, "the LAN host's HTTP port");
ABSL_FLAG(std::string, index_text, "ssw-harness OK",
          "text the HTTP index must contain");
ABSL_FLAG(std::string, file, "/10M.bin", "the file to fetch over HTTP");
ABSL_FLAG(std::string, file_sha, "", "its SHA-256 (hex); empty skips");
ABSL_FLAG(bool, udp_echo, true, "check UDP echo (port 7) on the LAN host");
ABSL_FLAG(std::string, kick_cmd, "",
          "a command that makes the gateway end the session; the client "
          "must reconnect and fetch the index again (empty: skip)");
ABSL_FLAG(std::string, figure_prefix, "ike", "prefix of the connect figure");
ABSL_FLAG(std::string, dns_name, "www.ssw.test",
          "name to resolve (empty: skip)");
ABSL_FLAG(int, iperf_s, 10, "seconds of iperf3 each way (0: skip)");
ABSL_FLAG(int, soak_s, 0,
          "keep echo transfers running at least this long, and until a "
          "CHILD and an IKE rekey happened (0: skip)");
ABSL_FLAG(int, idle_s, 0,
          "then stay idle until the gateway's liveness check was answered "
          "(at most this long; 0: skip)");

namespace {

using namespace stow;  // NOLINT: a program's one file.

int failures = 0;

void Result(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name.c_str(),
              detail.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

void Figure(const std::string& name, double value, const std::string& unit) {
  std::printf("{\"name\": \"%s\", \"value\": %.1f, \"unit\": \"%s\"}\n",
              name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

// A result handed from the loop thread to the main thread.
class Waiter {
 public:
  void Set(absl::Status s, std::string detail = "") {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(s);
    detail_ = std::move(detail);
    cv_.notify_all();
  }
  // False on timeout.
  bool Wait(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(timeout),
                        [&] { return done_; });
  }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::string detail() {
    std::lock_guard<std::mutex> lock(mu_);
    return detail_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
  std::string detail_;
};

uint64_t Counter(const tunnel::CounterList& list, const std::string& name) {
  for (const auto& [k, v] : list)
    if (k == name) return v;
  return 0;
}

std::string Hex(const crypto::Sha256::Digest& d) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

class UdpEcho : public netstack::UdpEndpoint::Delegate {
 public:
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress&) override {
    if (std::vector<uint8_t>(payload.begin(), payload.end()) == sent)
      waiter->Set(absl::OkStatus());
  }
  std::vector<uint8_t> sent;
  Waiter* waiter = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string profile_path = absl::GetFlag(FLAGS_profile);
  auto profile_text = ipsec::json_fields::ReadFile(profile_path);
  if (!profile_text.ok()) {
    std::fprintf(stderr, "%s\n", profile_text.status().ToString().c_str());
    return 2;
  }
  auto transport = tunnel::tls::ProfileTransport(*profile_text);
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<ipsec::IkeProfile> ike_profile =
      absl::UnknownError("not IKE");
  absl::StatusOr<tunnel::tls::TlsProfile> tls_profile =
      absl::UnknownError("not TLS");
  if (*transport == "tls") {
    tls_profile = tunnel::tls::LoadTlsProfile(profile_path);
  } else {
    ike_profile = ipsec::LoadIkeProfile(profile_path);
  }
  if (!ike_profile.ok() && !tls_profile.ok()) {
    std::fprintf(stderr, "%s\n",
                 (*transport == "tls" ? tls_profile.status()
                                      : ike_profile.status())
                     .ToString()
                     .c_str());
    return 2;
  }
  std::atomic<int> connections{0};
  auto lan_ip = IpAddress::Parse(absl::GetFlag(FLAGS_lan));
  if (!lan_ip.ok()) return 2;
  const std::string label = absl::GetFlag(FLAGS_name);
  auto loop_or = event::UvLoop::Start();
  if (!loop_or.ok()) return 2;
  event::UvLoop* loop = loop_or->get();
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<engine::Session> session;
  auto run = [&](auto&& f) { (void)loop->RunSync(std::forward<decltype(f)>(f)); };

  // 1. Connect.
  Waiter connected;
  absl::Time t0 = absl::Now();
  run([&] {
    stack = *netstack::Stack::Create(loop);
    auto on_event = [&](const engine::SessionEvent& e) {
          std::fprintf(stderr, "%s session %s: %s\n",
                       absl::FormatTime("%H:%M:%E3S", absl::Now(),
                                        absl::UTCTimeZone())
                           .c_str(),
                       engine::SessionEventKindName(e.kind), e.detail.c_str());
          using K = engine::SessionEvent::Kind;
          if (e.kind == K::kConnected) {
            connections++;
            connected.Set(absl::OkStatus(), e.detail);
          }
          if (e.kind == K::kAuthFailed || e.kind == K::kNoProposalChosen ||
              e.kind == K::kDisconnected)
            connected.Set(absl::UnavailableError(e.detail));
        };
    if (tls_profile.ok()) {
      auto s = engine::TlsSession::Start(loop, stack.get(), *tls_profile,
                                         on_event);
      if (!s.ok()) {
        connected.Set(s.status());
        return;
      }
      session = *std::move(s);
    } else {
      auto s = engine::IkeSession::Start(loop, stack.get(), *ike_profile,
                                         on_event);
      if (!s.ok()) {
        connected.Set(s.status());
        return;
      }
      session = *std::move(s);
    }
  });
  bool up = connected.Wait(absl::Seconds(30)) && connected.status().ok();
  double connect_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  Result(up, "connect",
         up ? absl::StrCat("in ", static_cast<int>(connect_ms), " ms: ",
                           connected.detail())
            : connected.status().ToString());
  if (!up) return 1;
  Figure(absl::StrCat(absl::GetFlag(FLAGS_figure_prefix), "_connect_ms_", label),
         connect_ms, "ms");
  std::vector<IpAddress> dns;
  run([&] { dns = session->dns_servers(); });

  // 2. HTTP index and the 10 MiB file.
  auto http = [&](const std::string& path, std::string* body,
                  crypto::Sha256::Digest* digest, uint64_t* size) {
    Waiter w;
    std::unique_ptr<samples::HttpGet> get;
    auto hash = std::make_shared<crypto::Sha256>();
    int status = 0;
    run([&] {
      samples::HttpGet::Callbacks cb;
      cb.on_head = [&](const samples::HttpResponseHead& h) { status = h.status; };
      cb.on_body = [&, hash](absl::Span<const uint8_t> b) {
        hash->Update(b);
        if (body != nullptr && body->size() < 4096)
          body->append(reinterpret_cast<const char*>(b.data()), b.size());
      };
      cb.on_done = [&](absl::Status s) { w.Set(std::move(s)); };
      auto g = samples::HttpGet::Start(stack.get(), SocketAddress(*lan_ip, static_cast<uint16_t>(absl::GetFlag(FLAGS_http_port))),
                                       path, std::move(cb));
      if (!g.ok()) {
        w.Set(g.status());
        return;
      }
      get = *std::move(g);
    });
    bool ok = w.Wait(absl::Seconds(60)) && w.status().ok() && status == 200;
    run([&] {
      if (size != nullptr && get) *size = get->body_received();
      get.reset();
    });
    if (digest != nullptr) *digest = hash->Finish();
    return ok;
  };
  std::string index;
  bool ok = http("/", &index, nullptr, nullptr);
  Result(ok && index.find(absl::GetFlag(FLAGS_index_text)) != std::string::npos,
         "http index",
         index.substr(0, 80));
  if (!absl::GetFlag(FLAGS_file_sha).empty()) {
    crypto::Sha256::Digest d{};
    uint64_t size = 0;
    absl::Time start = absl::Now();
    ok = http(absl::GetFlag(FLAGS_file), nullptr, &d, &size);
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    Result(ok && Hex(d) == absl::GetFlag(FLAGS_file_sha),
           absl::StrCat("http ", absl::GetFlag(FLAGS_file), " sha256"),
           absl::StrCat(size, " bytes in ", secs, " s, sha256 ", Hex(d)));
    if (ok && secs > 0) {
      Figure(absl::StrCat("http_get_", label), size * 8 / secs / 1e6,
             "Mbit/s");
    }
  }

  // 3. UDP echo.
  if (absl::GetFlag(FLAGS_udp_echo)) {
    Waiter w;
    UdpEcho echo;
    echo.waiter = &w;
    echo.sent = crypto::RandomVector(1200);
    std::unique_ptr<netstack::UdpEndpoint> ep;
    for (int attempt = 0; attempt < 3; ++attempt) {
      run([&] {
        if (!ep) {
          auto e = netstack::UdpEndpoint::Bind(
              stack.get(), SocketAddress(IpAddress::Any(lan_ip->family()), 0),
              &echo);
          if (e.ok()) ep = *std::move(e);
        }
        if (ep) (void)ep->SendTo(echo.sent, SocketAddress(*lan_ip, 7));
      });
      if (w.Wait(absl::Seconds(2))) break;
    }
    Result(w.status().ok() && w.Wait(absl::ZeroDuration()), "udp echo",
           "1200 bytes echoed intact");
    run([&] { ep.reset(); });
  }

  // 4. DNS through the pushed server.
  if (!absl::GetFlag(FLAGS_dns_name).empty()) {
    Waiter w;
    std::unique_ptr<dns::Resolver> resolver;
    std::string answer;
    run([&] {
      resolver = std::make_unique<dns::Resolver>(stack.get(), dns);
      auto id = resolver->Resolve(
          absl::GetFlag(FLAGS_dns_name), dns::AddressFamily::kV4,
          [&](absl::StatusOr<std::vector<IpAddress>> r) {
            if (!r.ok()) {
              w.Set(r.status());
              return;
            }
            for (const auto& a : *r) absl::StrAppend(&answer, a.ToString(), " ");
            w.Set(absl::OkStatus());
          });
      if (!id.ok()) w.Set(id.status());
    });
    bool done = w.Wait(absl::Seconds(15));
    Result(done && w.status().ok() &&
               answer.find(lan_ip->ToString()) != std::string::npos,
           "dns", absl::StrCat(absl::GetFlag(FLAGS_dns_name), " -> ", answer,
                               "via ", dns.empty() ? "none" : dns[0].ToString(),
                               done ? "" : " (timeout)",
                               w.status().ok() ? "" : w.status().ToString()));
    run([&] { resolver.reset(); });
  }

  // 5. Bulk transfer each way with iperf3.
  if (absl::GetFlag(FLAGS_iperf_s) > 0) {
    for (bool reverse : {false, true}) {
      // iperf3 -s runs one test at a time and refuses connections until it
      // has finished the last one: try again, up to 5 times, 1 s apart.
      absl::StatusOr<interop::Iperf3Result> result =
          absl::UnknownError("no result");
      bool done = false;
      for (int attempt = 0; attempt < 5; ++attempt) {
        Waiter w;
        interop::NetstackTcpConnector connector(stack.get());
        std::unique_ptr<interop::Iperf3Client> client;
        result = absl::UnknownError("no result");
        run([&] {
          interop::Iperf3Options o;
          o.server = SocketAddress(*lan_ip, 5201);
          o.duration = absl::Seconds(absl::GetFlag(FLAGS_iperf_s));
          o.reverse = reverse;
          client =
              std::make_unique<interop::Iperf3Client>(loop, &connector, o);
          absl::Status s =
              client->Start([&](absl::StatusOr<interop::Iperf3Result> r) {
                result = std::move(r);
                w.Set(result.status());
              });
          if (!s.ok()) w.Set(s);
        });
        done = w.Wait(absl::Seconds(absl::GetFlag(FLAGS_iperf_s) + 30));
        run([&] { client.reset(); });
        const std::string error(result.status().message());
        const bool busy = done && !result.ok() &&
                          (error.find("refused") != std::string::npos ||
                           error.find("busy") != std::string::npos);
        if (!busy) break;
        std::fprintf(stderr, "iperf3 server busy (%s); trying again\n",
                     error.c_str());
        Waiter pause;  // Nothing to wait for but the server's own pace.
        pause.Wait(absl::Seconds(1));
      }
      std::string dir = reverse ? "lan_to_sdk" : "sdk_to_lan";
      if (done && result.ok()) {
        Result(result->bytes > 0, absl::StrCat("iperf3 ", dir),
               absl::StrCat(result->bytes, " bytes, ",
                            result->mbits_per_second, " Mbit/s (server: ",
                            result->server_mbits_per_second.value_or(0), ")"));
        Figure(absl::StrCat("tcp_", dir, "_", label),
               result->mbits_per_second, "Mbit/s");
      } else {
        Result(false, absl::StrCat("iperf3 ", dir),
               done ? result.status().ToString() : "timeout");
      }
    }
  }

  // 6. Soak: echo transfers, hash-checked, across rekeys.
  if (absl::GetFlag(FLAGS_soak_s) > 0) {
    absl::Time end = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_soak_s));
    absl::Time limit = end + absl::Seconds(90);
    tunnel::CounterList before, after;
    run([&] { before = session->Counters(); });
    uint64_t transfers = 0, bytes = 0;
    bool intact = true;
    std::string why;
    for (;;) {
      run([&] { after = session->Counters(); });
      bool rekeyed =
          Counter(after, "ike_child_rekeys") > Counter(before, "ike_child_rekeys") &&
          Counter(after, "ike_ike_rekeys") > Counter(before, "ike_ike_rekeys");
      if ((absl::Now() >= end && rekeyed) || absl::Now() >= limit || !intact)
        break;
      const uint64_t size = 16 << 20;
      const uint64_t seed = transfers + 1;
      Waiter w;
      netstack::testing::Duplex duplex(size, seed);
      std::unique_ptr<netstack::TcpConnection> conn;
      run([&] {
        duplex.set_on_finish([&] { w.Set(absl::OkStatus()); });
        auto c = netstack::TcpConnection::Connect(
            stack.get(), SocketAddress(*lan_ip, 7), &duplex);
        if (!c.ok()) {
          w.Set(c.status());
          return;
        }
        conn = *std::move(c);
        duplex.Attach(conn.get());
      });
      bool done = w.Wait(absl::Seconds(60));
      crypto::Sha256::Digest sent{}, got{};
      uint64_t received = 0;
      absl::Status err;
      run([&] {
        sent = duplex.sender().digest();
        got = duplex.receiver().digest();
        received = duplex.receiver().received();
        err = duplex.receiver().error();
        conn.reset();
      });
      if (!done || !w.status().ok() || !err.ok() || received != size ||
          sent != got) {
        intact = false;
        why = absl::StrCat("transfer ", transfers + 1, ": ",
                           done ? "" : "timeout ", w.status().ToString(), " ",
                           err.ToString(), " received ", received, " of ",
                           size);
      }
      ++transfers;
      bytes += received;
    }
    Result(intact, "soak echo intact",
           intact ? absl::StrCat(transfers, " transfers of 16 MiB each way, ",
                                 bytes, " bytes echoed hash-equal")
                  : why);
    Result(Counter(after, "ike_child_rekeys") > Counter(before, "ike_child_rekeys"),
           "child rekey during transfer",
           absl::StrCat(Counter(after, "ike_child_rekeys") -
                            Counter(before, "ike_child_rekeys"),
                        " CHILD rekeys"));
    Result(Counter(after, "ike_ike_rekeys") > Counter(before, "ike_ike_rekeys"),
           "ike rekey during transfer",
           absl::StrCat(Counter(after, "ike_ike_rekeys") -
                            Counter(before, "ike_ike_rekeys"),
                        " IKE rekeys"));
    Result(Counter(after, "esp_rx_auth_failed") == 0,
           "no ESP authentication failures",
           absl::StrCat(Counter(after, "esp_rx_auth_failed")));
  }

  // 7. Idle: the gateway's DPD is answered and the SA stays up.
  if (absl::GetFlag(FLAGS_idle_s) > 0) {
    tunnel::CounterList before, after;
    run([&] { before = session->Counters(); });
    absl::Time limit = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_idle_s));
    bool answered = false;
    while (absl::Now() < limit && !answered) {
      Waiter nap;
      nap.Wait(absl::Milliseconds(500));
      run([&] { after = session->Counters(); });
      answered = Counter(after, "ike_rx_liveness_checks") >
                 Counter(before, "ike_rx_liveness_checks");
    }
    Result(answered, "gateway DPD answered",
           absl::StrCat(Counter(after, "ike_rx_liveness_checks") -
                            Counter(before, "ike_rx_liveness_checks"),
                        " liveness checks from the gateway"));
    std::string index2;
    bool fetched = http("/", &index2, nullptr, nullptr);
    Result(fetched && index2.find(absl::GetFlag(FLAGS_index_text)) !=
                          std::string::npos,
           "http after idle", index2.substr(0, 40));
  }

  // 8. The gateway ends the session: the client comes back by itself.
  if (!absl::GetFlag(FLAGS_kick_cmd).empty()) {
    const int before = connections.load();
    int rc = std::system(absl::GetFlag(FLAGS_kick_cmd).c_str());
    absl::Time limit = absl::Now() + absl::Seconds(60);
    while (connections.load() == before && absl::Now() < limit) {
      Waiter nap;
      nap.Wait(absl::Milliseconds(100));
    }
    Result(rc == 0 && connections.load() > before, "reconnect after kick",
           absl::StrCat("kick command exit ", rc, ", connections ", before,
                        " -> ", connections.load()));
    std::string index3;
    bool fetched = http("/", &index3, nullptr, nullptr);
    Result(fetched && index3.find(absl::GetFlag(FLAGS_index_text)) !=
                          std::string::npos,
           "http after reconnect", index3.substr(0, 40));
    run([&] {
      for (const auto& [k, v] : session->Counters())
        if (k.rfind("session_", 0) == 0)
          std::fprintf(stderr, "  %s %llu\n", k.c_str(),
                       static_cast<unsigned long long>(v));
    });
  }

  // Close: the gateway sees our DELETE / DISCONNECT.
  run([&] { session->Close("test done"); });
  Waiter closed;
  closed.Wait(absl::Milliseconds(300));
  run([&] {
    for (const auto& [k, v] : session->Counters())
      std::fprintf(stderr, "  %s %llu\n", k.c_str(),
                   static_cast<unsigned long long>(v));
    session.reset();
    stack.reset();
  });
  (void)loop->Shutdown();
  std::printf("%s: %d failed\n", label.c_str(), failures);
  return failures == 0 ? 0 : 1;
}
