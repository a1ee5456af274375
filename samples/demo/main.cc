// The Stowaway demo: opens an ESP session to a gateway from a profile, then
// through the tunnel fetches the gateway's status page, downloads a stream
// from /bytes and checks its SHA-256, pings the gateway, and prints the
// tunnel's counters. tools/demo.sh starts a gateway and runs this.
//
//   demo --profile=client.json [--server=10.99.0.1] [--mib=100]
//   demo --ike_profile=ike.json [--server=10.99.0.1] [--mib=100]
//   demo --tls_profile=tls.json [--server=10.99.0.1] [--mib=100]
//
// --profile uses manual ESP keys; --ike_profile negotiates them with IKEv2
// (sdk/tunnel/ipsec/ike_profile.h); --tls_profile logs in to an
// AnyConnect-compatible gateway over TLS (sdk/tunnel/tls/tls_profile.h).
// The last two wait for the gateway to assign the virtual address before
// the first request.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "netstack/udp.h"
#include "samples/common/http_get.h"
#include "sdk/crypto/sha256.h"
#include "sdk/engine/esp_session.h"
#include "sdk/engine/ike_session.h"
#include "sdk/engine/tls_session.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/services/pattern.h"
#include "sdk/tunnel/ipsec/ike_profile.h"
#include "sdk/tunnel/tls/tls_profile.h"
#include "sdk/tunnel/ipsec/profile.h"

ABSL_FLAG(std::string, profile, "",
          "the client profile with manual ESP keys (JSON)");
ABSL_FLAG(std::string, ike_profile, "",
          "an IKEv2 client profile (JSON), instead of --profile");
ABSL_FLAG(std::string, tls_profile, "",
          "an AnyConnect-compatible TLS profile (sdk/tunnel/tls/tls_profile.h)");
ABSL_FLAG(std::string, gateway, "",
          "the gateway's UDP address, overriding the profile's");
ABSL_FLAG(std::string, server, "10.99.0.1",
          "the gateway's virtual address (its built-in services)");
ABSL_FLAG(int, mib, 100, "MiB to download from /bytes");
ABSL_FLAG(int, timeout_s, 30, "seconds without progress before giving up");

namespace {

using namespace stow;  // NOLINT: a program's one file.

// A one-shot result handed from the loop thread to main.
class Done {
 public:
  void Set(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  // False on timeout.
  bool WaitFor(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [this] { return done_; });
  }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "\ndemo: FAILED: %s\n", message.c_str());
  return 1;
}

struct PingResult : netstack::Pinger::Delegate {
  void OnEchoReply(const IpAddress&, uint16_t, absl::Duration rtt) override {
    rtts.push_back(rtt);
    if (on_reply) on_reply();
  }
  std::vector<absl::Duration> rtts;
  std::function<void()> on_reply;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The Stowaway demo: demo --profile=client.json | "
      "--ike_profile=ike.json | --tls_profile=tls.json [--server=10.99.0.1]");
  absl::ParseCommandLine(argc, argv);
  const bool tls = !absl::GetFlag(FLAGS_tls_profile).empty();
  // "ike": a negotiated session (IKEv2 or TLS), as opposed to manual keys.
  const bool ike = !absl::GetFlag(FLAGS_ike_profile).empty() || tls;
  if (int(!absl::GetFlag(FLAGS_profile).empty()) +
          int(!absl::GetFlag(FLAGS_ike_profile).empty()) + int(tls) !=
      1) {
    return Fail(
        "exactly one of --profile, --ike_profile and --tls_profile is "
        "required");
  }
  absl::StatusOr<tunnel::tls::TlsProfile> tls_profile =
      absl::InvalidArgumentError("unused");
  if (tls) {
    tls_profile = tunnel::tls::LoadTlsProfile(absl::GetFlag(FLAGS_tls_profile));
    if (!tls_profile.ok()) {
      return Fail(std::string(tls_profile.status().message()));
    }
  }
  absl::StatusOr<ipsec::EspProfile> profile =
      absl::InvalidArgumentError("unused");
  absl::StatusOr<ipsec::IkeProfile> ike_profile =
      absl::InvalidArgumentError("unused");
  if (ike && !tls) {
    ike_profile = ipsec::LoadIkeProfile(absl::GetFlag(FLAGS_ike_profile));
    if (!ike_profile.ok()) {
      return Fail(std::string(ike_profile.status().message()));
    }
  } else if (!tls) {
    profile = ipsec::LoadEspProfile(absl::GetFlag(FLAGS_profile));
    if (!profile.ok()) return Fail(std::string(profile.status().message()));
  }
  if (!absl::GetFlag(FLAGS_gateway).empty()) {
    auto gw = SocketAddress::Parse(absl::GetFlag(FLAGS_gateway));
    if (!gw.ok() || gw->port() == 0) {
      return Fail("--gateway: not an address:port");
    }
    if (tls) {
      tls_profile->address = *gw;
    } else if (ike) {
      // The same rule as the profile's: port 500 floats to 4500.
      ike_profile->gateway = *gw;
      ike_profile->gateway_nat_t =
          gw->port() == ipsec::kIkePort ? SocketAddress(gw->ip(), 4500) : *gw;
      ike_profile->ike.force_nat_t = gw->port() != ipsec::kIkePort;
    } else {
      profile->gateway = *gw;
    }
  }
  auto server_ip = IpAddress::Parse(absl::GetFlag(FLAGS_server));
  if (!server_ip.ok()) return Fail("--server: not an IP address");
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  if (absl::GetFlag(FLAGS_mib) <= 0) return Fail("--mib must be positive");
  const uint64_t total = static_cast<uint64_t>(absl::GetFlag(FLAGS_mib)) << 20;
  const bool tty = ::isatty(STDOUT_FILENO);

  auto loop = event::UvLoop::Start();
  if (!loop.ok()) return Fail(loop.status().ToString());
  event::UvLoop* l = loop->get();
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<engine::EspSession> session;
  // The negotiated session, IKEv2 or TLS; ike_raw is the IKE one.
  std::unique_ptr<engine::Session> ike_session;
  engine::IkeSession* ike_raw = nullptr;
  Done connected;  // IKE: the first kConnected, or a terminal event.
  std::unique_ptr<samples::HttpGet> get;
  std::unique_ptr<netstack::Pinger> pinger;
  PingResult ping;
  int rc = 0;

  auto run = [&](auto&& body) {
    absl::Status s = l->RunSync(std::forward<decltype(body)>(body));
    if (!s.ok()) std::fprintf(stderr, "demo: loop: %s\n", s.ToString().c_str());
  };

  // 1. The session.
  absl::Status started;
  run([&] {
    auto s = netstack::Stack::Create(l);
    if (!s.ok()) {
      started = s.status();
      return;
    }
    stack = *std::move(s);
    if (ike) {
      auto on_event = [&connected](const engine::SessionEvent& e) {
            std::fprintf(stderr, "demo: session %s %s\n",
                         engine::SessionEventKindName(e.kind),
                         e.detail.c_str());
            switch (e.kind) {
              case engine::SessionEvent::Kind::kConnected:
                connected.Set(absl::OkStatus());
                break;
              case engine::SessionEvent::Kind::kAuthFailed:
              case engine::SessionEvent::Kind::kNoProposalChosen:
              case engine::SessionEvent::Kind::kDisconnected:
                connected.Set(absl::UnavailableError(absl::StrCat(
                    engine::SessionEventKindName(e.kind), ": ", e.detail)));
                break;
              default:
                break;
            }
          };
      if (tls) {
        auto session_or =
            engine::TlsSession::Start(l, stack.get(), *tls_profile, on_event);
        if (!session_or.ok()) {
          started = session_or.status();
          return;
        }
        ike_session = *std::move(session_or);
        return;
      }
      auto session_or =
          engine::IkeSession::Start(l, stack.get(), *ike_profile, on_event);
      if (!session_or.ok()) {
        started = session_or.status();
        return;
      }
      ike_raw = session_or->get();
      ike_session = *std::move(session_or);
      return;
    }
    auto session_or = engine::EspSession::Start(
        l, stack.get(), *profile, [](const tunnel::TunnelEvent& e) {
          std::fprintf(stderr, "demo: tunnel event %s %s\n",
                       tunnel::TunnelEventKindName(e.kind), e.detail.c_str());
        });
    if (!session_or.ok()) {
      started = session_or.status();
      return;
    }
    session = *std::move(session_or);
  });
  auto finish = [&](int code) {
    run([&] {
      get.reset();
      pinger.reset();
      if (ike_session != nullptr) ike_session->Close("demo finished");
      ike_session.reset();
      session.reset();
      stack.reset();
    });
    absl::Status shut = l->Shutdown();
    if (!shut.ok()) {
      std::fprintf(stderr, "demo: unclean shutdown: %s\n",
                   shut.ToString().c_str());
      if (code == 0) code = 1;
    }
    return code;
  };
  if (!started.ok()) return finish(Fail(started.ToString()));
  if (ike) {
    if (!connected.WaitFor(timeout)) {
      return finish(Fail("the session did not connect in time"));
    }
    if (!connected.status().ok()) {
      return finish(Fail(connected.status().ToString()));
    }
    std::string line;
    run([&] {
      std::string dns;
      for (const IpAddress& ip : ike_session->dns_servers()) {
        absl::StrAppend(&dns, dns.empty() ? "" : ", ", ip.ToString());
      }
      if (tls) {
        line = absl::StrCat(
            "== AnyConnect-compatible session to ", tls_profile->url, " (",
            tls_profile->address.ToString(), ") over TLS",
            tls_profile->dtls ? " (DTLS asked)" : "", ", virtual address ",
            ike_session->ipv4() ? ike_session->ipv4()->ToString() : "-",
            ", DNS ", dns.empty() ? "-" : dns);
        return;
      }
      const ike::IkeSa* sa = ike_raw->tunnel()->ike_sa();
      line = absl::StrCat(
          "== IKEv2 session to ", ike_profile->gateway.ToString(),
          " over UDP from ",
          ike_raw->tunnel()->local_address().ToString(),
          ", virtual address ",
          ike_session->ipv4() ? ike_session->ipv4()->ToString() : "-",
          ike_session->ipv6()
              ? absl::StrCat(", ", ike_session->ipv6()->ToString())
              : "",
          ", DNS ", dns.empty() ? "-" : dns, ", ",
          sa != nullptr ? sa->Describe() : "");
    });
    std::printf("%s\n", line.c_str());
  } else {
    std::printf(
        "== ESP session to %s over UDP from %s, virtual address %s%s\n",
        profile->gateway.ToString().c_str(),
        session->tunnel()->local_address().ToString().c_str(),
        profile->ipv4 ? profile->ipv4->ToString().c_str() : "-",
        profile->ipv6 ? absl::StrCat(", ", profile->ipv6->ToString()).c_str()
                      : "");
  }

  // 2. The status page.
  const SocketAddress http(*server_ip, 80);
  {
    Done done;
    std::string page;
    int status = 0;
    run([&] {
      samples::HttpGet::Callbacks cb;
      cb.on_head = [&](const samples::HttpResponseHead& h) {
        status = h.status;
      };
      cb.on_body = [&](absl::Span<const uint8_t> b) {
        page.append(reinterpret_cast<const char*>(b.data()), b.size());
      };
      cb.on_done = [&](absl::Status s) { done.Set(std::move(s)); };
      auto g = samples::HttpGet::Start(stack.get(), http, "/", std::move(cb));
      if (!g.ok()) return done.Set(g.status());
      get = *std::move(g);
    });
    if (!done.WaitFor(timeout)) {
      return finish(Fail("no status page from the gateway in time"));
    }
    if (!done.status().ok() || status != 200) {
      return finish(Fail(absl::StrCat("status page: ", done.status().ToString(),
                                      " HTTP ", status)));
    }
    std::printf("\n== GET http://%s/ (through the tunnel)\n%s\n",
                http.ToString().c_str(), page.c_str());
  }

  // 3. The download.
  {
    Done done;
    std::atomic<uint64_t> received{0};
    crypto::Sha256 hash;
    const uint64_t seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
    const std::string path = absl::StrCat("/bytes?n=", total, "&seed=", seed);
    std::printf("== GET http://%s%s\n", http.ToString().c_str(), path.c_str());
    const absl::Time start = absl::Now();
    run([&] {
      samples::HttpGet::Callbacks cb;
      cb.on_body = [&](absl::Span<const uint8_t> b) {
        hash.Update(b);
        received.fetch_add(b.size(), std::memory_order_relaxed);
      };
      cb.on_done = [&](absl::Status s) { done.Set(std::move(s)); };
      auto g = samples::HttpGet::Start(stack.get(), http, path, std::move(cb));
      if (!g.ok()) return done.Set(g.status());
      get = *std::move(g);
    });
    uint64_t last = 0;
    absl::Time last_progress = absl::Now();
    int last_decile = -1;
    while (!done.WaitFor(absl::Milliseconds(250))) {
      const uint64_t now_bytes = received.load(std::memory_order_relaxed);
      if (now_bytes != last) {
        last = now_bytes;
        last_progress = absl::Now();
      } else if (absl::Now() - last_progress > timeout) {
        return finish(Fail("the download made no progress"));
      }
      const double secs = absl::ToDoubleSeconds(absl::Now() - start);
      const int decile = static_cast<int>(10 * now_bytes / total);
      if (tty || decile != last_decile) {
        std::printf("%s  %6.1f / %.1f MiB  %7.1f Mbit/s%s", tty ? "\r" : "",
                    now_bytes / 1048576.0, total / 1048576.0,
                    now_bytes * 8 / secs / 1e6, tty ? "" : "\n");
        std::fflush(stdout);
        last_decile = decile;
      }
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    if (!done.status().ok()) {
      return finish(Fail(absl::StrCat("download: ", done.status().ToString())));
    }
    crypto::Sha256::Digest digest;
    run([&] { digest = hash.Finish(); });
    const bool match = digest == gateway::BytePatternDigest(total, seed);
    std::printf("%s  %.1f MiB in %.2f s: %.1f Mbit/s, SHA-256 %s (%s)\n",
                tty ? "\r" : "", total / 1048576.0, secs,
                total * 8 / secs / 1e6, crypto::Sha256::Hex(digest).c_str(),
                match ? "matches the gateway's stream" : "MISMATCH");
    if (!match) return finish(Fail("the downloaded bytes differ"));
  }

  // 4. ICMP echo through the tunnel.
  {
    Done done;
    constexpr int kPings = 5;
    run([&] {
      auto p = netstack::Pinger::Create(stack.get(), server_ip->family(), &ping);
      if (!p.ok()) return done.Set(p.status());
      pinger = *std::move(p);
      ping.on_reply = [&] {
        if (ping.rtts.size() == kPings) return done.Set(absl::OkStatus());
        (void)pinger->Send(*server_ip, static_cast<uint16_t>(ping.rtts.size() + 1));
      };
      absl::Status s = pinger->Send(*server_ip, 1);
      if (!s.ok()) done.Set(s);
    });
    if (!done.WaitFor(absl::Seconds(10)) || !done.status().ok()) {
      return finish(Fail(absl::StrCat("ping: ", done.status().ToString())));
    }
    absl::Duration min = absl::InfiniteDuration(), sum;
    for (absl::Duration d : ping.rtts) {
      min = std::min(min, d);
      sum += d;
    }
    std::printf("\n== ping %s through the tunnel: %d replies, rtt min %.3f ms, "
                "avg %.3f ms\n",
                server_ip->ToString().c_str(), kPings,
                absl::ToDoubleMilliseconds(min),
                absl::ToDoubleMilliseconds(sum / kPings));
  }

  // 5. Counters.
  tunnel::CounterList counters;
  run([&] {
    counters = ike ? ike_session->Counters() : session->Counters();
  });
  std::printf("\n== tunnel counters\n");
  for (const auto& [name, value] : counters) {
    std::printf("  %-28s %llu\n", name.c_str(),
                static_cast<unsigned long long>(value));
  }
  return finish(rc);
}
