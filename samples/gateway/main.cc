// The Stowaway gateway: an IKEv2 responder and ESP in UDP from clients into
// a user-space netstack that hosts the built-in services and port forwards.
// Needs no root.
//
//   gateway --ike --psk=SECRET [--listen=127.0.0.1:4500]
//           [--ike_listen=127.0.0.1:500] [--pool=10.99.100.0/24]
//           [--pool6=fd99::100:0/112] [--dns=10.99.0.1]
//   gateway --client=client.json [--listen=127.0.0.1:4500]
//           [--forward=10.99.0.1:8080=127.0.0.1:8000,...]
//   gateway ... [--dns_record=app.test=10.99.0.80,app.test=fd99::80,...]
//           [--dns_ttl=60]
//   gateway --write_profile=client.json [--profile_gateway=127.0.0.1:4500]
//   gateway ... --tls_listen=127.0.0.1:4443 --tls_cert=cert.pem
//           --tls_key=key.pem --tls_users=users.txt [--tls_user=alice:pw]
//           [--tls_pool=10.99.101.0/24] [--tls_default_domain=vpn.test]
//           [--dtls [--dtls_listen=127.0.0.1:4443]]
//   gateway --hash_password=alice [--hash_groups=users,ops]
//           [--hash_iterations=100000]  < password
//
// With --tls_listen the gateway also serves the AnyConnect protocol
// (ocserv-compatible; openconnect --protocol=anyconnect logs in with a user
// and password from --tls_users / --tls_user). With --dtls it also offers
// the DTLS data channel (PSK-NEGOTIATE, as ocserv) on UDP, by default on the
// TLS address and port. --hash_password reads a
// password from the first line of standard input and prints the user file
// line for it (user:groups:$pbkdf2-sha256$ITERATIONS$SALT$HASH).
//
// Manually keyed clients (--client) and IKE clients can be served together.
// With --dns_record the gateway also runs an authoritative DNS server (UDP
// and TCP port 53 on its virtual addresses; sdk/gateway/services/
// dns_service.h) for those A/AAAA records plus gateway.stowaway.test -> its
// own virtual addresses, and, unless --dns says otherwise, pushes its
// virtual IPv4 address to IKE clients as their DNS server.
// Prints "READY <address>" on stdout once serving; logs one line per client
// event on stderr; SIGINT or SIGTERM (or, with --stop_on_stdin_eof, the end
// of its input) stops it cleanly.
#include <unistd.h>

#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "netstack/stack.h"
#include "sdk/crypto/random.h"
#include "sdk/event/fd_watcher.h"
#include "sdk/event/signal_watcher.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/gateway.h"
#include "sdk/gateway/services/dns_service.h"
#include "sdk/gateway/tls/password_file.h"
#include "sdk/tunnel/ipsec/profile.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:4500",
          "UDP address for ESP in UDP (port 0: any free port)");
ABSL_FLAG(std::vector<std::string>, client, {},
          "client profile files (JSON, as the clients use them)");
ABSL_FLAG(std::vector<std::string>, forward, {},
          "port forwards VIRTUAL=HOST, e.g. 10.99.0.1:8080=127.0.0.1:8000");
ABSL_FLAG(std::string, ipv4, "10.99.0.1/16", "the gateway's virtual IPv4");
ABSL_FLAG(std::string, ipv6, "fd99::1",
          "the gateway's virtual IPv6 (/64), empty for none");
ABSL_FLAG(bool, ike, false, "enable the IKEv2 responder (needs --psk)");
ABSL_FLAG(std::string, ike_listen, "",
          "also take plain IKE (no NAT-T marker) on this UDP address, e.g. "
          "0.0.0.0:500; empty: none");
ABSL_FLAG(std::string, psk, "", "IKE pre-shared key");
ABSL_FLAG(std::string, psk_file, "",
          "file holding the IKE pre-shared key (trailing whitespace dropped)");
ABSL_FLAG(std::string, id, "fqdn:gw.stowaway.test",
          "the gateway's IKE identity: fqdn:NAME, email:ADDR, ipv4:IP, "
          "ipv6:IP or keyid:HEX");
ABSL_FLAG(std::string, cert, "",
          "gateway certificate (PEM); not supported yet");
ABSL_FLAG(std::string, key, "", "gateway private key (PEM); not supported yet");
ABSL_FLAG(std::string, ca, "",
          "CA for client certificates (PEM); not supported yet");
ABSL_FLAG(std::string, ike_proposals, "",
          "IKE algorithms in strongSwan syntax, e.g. "
          "aes256gcm16-prfsha256-x25519 (empty: the defaults)");
ABSL_FLAG(std::string, esp_proposals, "",
          "ESP algorithms, e.g. aes256gcm16-x25519-none (empty: defaults)");
ABSL_FLAG(absl::Duration, dpd_delay, absl::Seconds(30),
          "liveness check after this long without a message (0: off)");
ABSL_FLAG(absl::Duration, child_rekey, absl::Hours(1),
          "CHILD SA rekey period (0: off)");
ABSL_FLAG(absl::Duration, ike_rekey, absl::Hours(4),
          "IKE SA rekey period (0: off)");
ABSL_FLAG(int, cookie_threshold, 10,
          "half-open IKE SAs from which COOKIEs are required (0: never)");
ABSL_FLAG(int, max_half_open, 1000,
          "half-open IKE SAs beyond which new ones are dropped");
ABSL_FLAG(std::string, pool, "10.99.100.0/24",
          "IPv4 addresses for IKE clients (inside --ipv4's prefix; empty: "
          "none)");
ABSL_FLAG(std::string, pool6, "",
          "IPv6 addresses for IKE clients, e.g. fd99::100:0/112 (empty: none)");
ABSL_FLAG(std::vector<std::string>, dns, {},
          "DNS servers pushed to IKE clients, e.g. 10.99.0.1 (default: the "
          "gateway's virtual IPv4 when --dns_record is given, else none)");
ABSL_FLAG(std::vector<std::string>, dns_record, {},
          "records NAME=ADDRESS (A for IPv4, AAAA for IPv6; a name may "
          "repeat) served by the gateway's DNS server on port 53 of its "
          "virtual addresses, e.g. app.test=10.99.0.80; empty: no DNS server");
ABSL_FLAG(int, dns_ttl, 60, "TTL of the DNS server's records, in seconds");
ABSL_FLAG(int, max_connections, 512,
          "TCP connections the built-in services keep at once (more are "
          "reset)");
ABSL_FLAG(bool, stop_on_stdin_eof, false,
          "also stop when standard input ends (for tests)");
ABSL_FLAG(std::string, tls_listen, "",
          "TCP address for the AnyConnect (TLS) server, e.g. 127.0.0.1:4443; "
          "empty: none");
ABSL_FLAG(std::string, tls_cert, "", "TLS server certificate chain (PEM)");
ABSL_FLAG(std::string, tls_key, "", "TLS server private key (PEM)");
ABSL_FLAG(std::string, tls_users, "",
          "TLS user file: user:groups:$pbkdf2-sha256$ITER$SALT$HASH lines "
          "(make them with --hash_password)");
ABSL_FLAG(std::vector<std::string>, tls_user, {},
          "TLS users as user:password (hashed at startup; for tests and "
          "demos)");
ABSL_FLAG(std::string, tls_pool, "10.99.101.0/24",
          "IPv4 addresses for TLS clients (inside --ipv4's prefix, apart from "
          "--pool)");
ABSL_FLAG(std::string, tls_pool6, "",
          "IPv6 addresses for TLS clients, e.g. fd99::101:0/112 (empty: none)");
ABSL_FLAG(std::string, tls_default_domain, "",
          "X-CSTP-Default-Domain pushed to TLS clients (empty: none)");
ABSL_FLAG(bool, dtls, false,
          "offer the DTLS data channel (PSK-NEGOTIATE) to TLS clients");
ABSL_FLAG(std::string, dtls_listen, "",
          "UDP address for DTLS (empty: --tls_listen's address and port)");
ABSL_FLAG(absl::Duration, tls_dpd, absl::Seconds(30),
          "X-CSTP-DPD pushed to TLS clients (0: off)");
ABSL_FLAG(absl::Duration, tls_keepalive, absl::Seconds(20),
          "X-CSTP-Keepalive pushed to TLS clients (0: off)");
ABSL_FLAG(absl::Duration, tls_cookie_lifetime, absl::Minutes(5),
          "how long a TLS session and its address outlive a dropped "
          "connection");
ABSL_FLAG(absl::Duration, tls_idle_timeout, absl::ZeroDuration(),
          "close a TLS tunnel after this long without a frame (0: 3 x "
          "max(dpd, keepalive), at least 30s)");
ABSL_FLAG(std::string, hash_password, "",
          "print the TLS user file line for this user, the password read "
          "from standard input; exit");
ABSL_FLAG(std::vector<std::string>, hash_groups, {},
          "with --hash_password: the user's groups");
ABSL_FLAG(int, hash_iterations, 100000,
          "with --hash_password: PBKDF2 iterations");
ABSL_FLAG(std::string, write_profile, "",
          "write a new client profile with random keys to this file, exit");
ABSL_FLAG(std::string, profile_gateway, "127.0.0.1:4500",
          "with --write_profile: the gateway address clients use");
ABSL_FLAG(std::string, profile_ipv4, "10.99.0.2",
          "with --write_profile: the client's virtual IPv4");
ABSL_FLAG(std::string, profile_ipv6, "fd99::2",
          "with --write_profile: the client's virtual IPv6 (empty: none)");
ABSL_FLAG(std::string, profile_algorithm, "aes128gcm16",
          "with --write_profile: aes128gcm16, aes256gcm16, chacha20poly1305");

namespace {

using namespace stow;  // NOLINT: a program's one file.

void Log(const std::string& line) {
  std::fprintf(stderr, "%s gateway: %s\n",
               absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone())
                   .c_str(),
               line.c_str());
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "gateway: %s\n", message.c_str());
  return 1;
}

std::vector<uint8_t> RandomKey(size_t size) {
  std::vector<uint8_t> key(size);
  crypto::RandomBytes(absl::MakeSpan(key));
  return key;
}

uint32_t RandomSpi() {
  uint32_t spi = 0;
  while (spi < 256) {
    uint8_t b[4];
    crypto::RandomBytes(absl::MakeSpan(b));
    spi = (uint32_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
  }
  return spi;
}

int WriteProfile(const std::string& path) {
  // Built as JSON text and read back through the parser, so every check a
  // loaded profile gets applies here too.
  std::string ipv6 = absl::GetFlag(FLAGS_profile_ipv6);
  std::string algorithm = absl::GetFlag(FLAGS_profile_algorithm);
  auto probe = ipsec::ParseEspProfile(absl::StrCat(
      R"({"gateway":")", absl::GetFlag(FLAGS_profile_gateway),
      R"(","ipv4":")", absl::GetFlag(FLAGS_profile_ipv4), R"(",)",
      ipv6.empty() ? "" : absl::StrCat(R"("ipv6":")", ipv6, R"(",)"),
      R"("esp":{"algorithm":")", algorithm,
      R"(","i2r":{"spi":256,"key":""},"r2i":{"spi":257,"key":""}}})"));
  // The probe fails on the empty keys (after everything else is checked);
  // any other failure is the user's input.
  if (!probe.ok() &&
      probe.status().message().find("esp.i2r.key") == std::string::npos) {
    return Fail(std::string(probe.status().message()));
  }
  ipsec::EspProfile profile;
  profile.name = "demo";
  profile.gateway = *SocketAddress::Parse(absl::GetFlag(FLAGS_profile_gateway));
  profile.ipv4 = *IpAddress::Parse(absl::GetFlag(FLAGS_profile_ipv4));
  if (!ipv6.empty()) profile.ipv6 = *IpAddress::Parse(ipv6);
  for (esp::Algorithm t : esp::kAlgorithms) {
    if (esp::AlgorithmName(t) == algorithm) profile.keys.transform = t;
  }
  const size_t key_size = esp::KeyMaterialSize(profile.keys.transform);
  profile.keys.i2r = {RandomSpi(), RandomKey(key_size)};
  do {
    profile.keys.r2i = {RandomSpi(), RandomKey(key_size)};
  } while (profile.keys.r2i.spi == profile.keys.i2r.spi);
  std::ofstream out(path, std::ios::trunc);
  out << ipsec::EspProfileToJson(profile);
  out.close();
  if (!out) return Fail(absl::StrCat(path, ": cannot write"));
  return 0;
}

// --hash_password: one line of standard input (without its line end) is
// the password.
int HashPassword(const std::string& user) {
  std::string password;
  int ch;
  while ((ch = std::getchar()) != EOF && ch != '\n') {
    password.push_back(static_cast<char>(ch));
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) return Fail("--hash_password: no password on stdin");
  const int iterations = absl::GetFlag(FLAGS_hash_iterations);
  if (iterations < 1) return Fail("--hash_iterations: must be positive");
  auto line = gateway::tls::HashPasswordLine(
      user, absl::GetFlag(FLAGS_hash_groups), password,
      static_cast<uint32_t>(iterations));
  if (!line.ok()) {
    return Fail(absl::StrCat("--hash_password: ", line.status().message()));
  }
  std::printf("%s\n", line->c_str());
  return 0;
}

// Set from the loop thread, awaited by main.
class StopSignal {
 public:
  void Stop(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) why_ = why;
    stopped_ = true;
    cv_.notify_all();
  }
  std::string Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stopped_; });
    return why_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::string why_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The Stowaway gateway: IKEv2 and ESP in UDP into a user-space netstack "
      "with built-in services.\n  gateway --ike --psk=SECRET "
      "[--listen=127.0.0.1:4500] [--ike_listen=127.0.0.1:500]\n"
      "  gateway --client=client.json [--listen=127.0.0.1:4500]\n"
      "  gateway ... --dns_record=app.test=10.99.0.80[,NAME=ADDR...] "
      "[--dns_ttl=60]\n"
      "  gateway --write_profile=client.json");
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_write_profile).empty()) {
    return WriteProfile(absl::GetFlag(FLAGS_write_profile));
  }
  if (!absl::GetFlag(FLAGS_hash_password).empty()) {
    return HashPassword(absl::GetFlag(FLAGS_hash_password));
  }
  auto config = gateway::GatewayConfigFromFlags(
      absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_client),
      absl::GetFlag(FLAGS_forward), absl::GetFlag(FLAGS_ipv4),
      absl::GetFlag(FLAGS_ipv6));
  if (!config.ok()) return Fail(std::string(config.status().message()));
  gateway::IkeFlags ike;
  ike.ike = absl::GetFlag(FLAGS_ike);
  ike.ike_listen = absl::GetFlag(FLAGS_ike_listen);
  ike.psk = absl::GetFlag(FLAGS_psk);
  ike.psk_file = absl::GetFlag(FLAGS_psk_file);
  ike.id = absl::GetFlag(FLAGS_id);
  ike.cert = absl::GetFlag(FLAGS_cert);
  ike.key = absl::GetFlag(FLAGS_key);
  ike.ca = absl::GetFlag(FLAGS_ca);
  ike.ike_proposals = absl::GetFlag(FLAGS_ike_proposals);
  ike.esp_proposals = absl::GetFlag(FLAGS_esp_proposals);
  ike.dpd_delay = absl::GetFlag(FLAGS_dpd_delay);
  ike.child_rekey = absl::GetFlag(FLAGS_child_rekey);
  ike.ike_rekey = absl::GetFlag(FLAGS_ike_rekey);
  ike.cookie_threshold = absl::GetFlag(FLAGS_cookie_threshold);
  ike.max_half_open = absl::GetFlag(FLAGS_max_half_open);
  ike.pool = absl::GetFlag(FLAGS_pool);
  ike.pool6 = absl::GetFlag(FLAGS_pool6);
  ike.dns = absl::GetFlag(FLAGS_dns);
  if (absl::Status s = gateway::ApplyIkeFlags(ike, &*config); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  auto dns_records =
      gateway::ParseDnsRecords(absl::GetFlag(FLAGS_dns_record));
  if (!dns_records.ok()) {
    return Fail(absl::StrCat("--dns_record: ", dns_records.status().message()));
  }
  const int dns_ttl = absl::GetFlag(FLAGS_dns_ttl);
  if (dns_ttl < 0) return Fail("--dns_ttl: must not be negative");
  config->services.dns_records = *dns_records;
  config->services.dns_ttl = static_cast<uint32_t>(dns_ttl);
  const int max_connections = absl::GetFlag(FLAGS_max_connections);
  if (max_connections < 1) return Fail("--max_connections: must be at least 1");
  config->services.max_connections = static_cast<size_t>(max_connections);
  // Our own DNS server is the clients' default one.
  if (!dns_records->empty() && config->ike.dns.empty()) {
    config->ike.dns.push_back(config->ipv4);
  }
  gateway::TlsFlags tls;
  tls.tls_listen = absl::GetFlag(FLAGS_tls_listen);
  tls.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  tls.tls_key = absl::GetFlag(FLAGS_tls_key);
  tls.tls_users = absl::GetFlag(FLAGS_tls_users);
  tls.tls_user = absl::GetFlag(FLAGS_tls_user);
  tls.tls_pool = absl::GetFlag(FLAGS_tls_pool);
  tls.tls_pool6 = absl::GetFlag(FLAGS_tls_pool6);
  tls.tls_default_domain = absl::GetFlag(FLAGS_tls_default_domain);
  tls.dtls = absl::GetFlag(FLAGS_dtls);
  tls.dtls_listen = absl::GetFlag(FLAGS_dtls_listen);
  tls.tls_dpd = absl::GetFlag(FLAGS_tls_dpd);
  tls.tls_keepalive = absl::GetFlag(FLAGS_tls_keepalive);
  tls.tls_cookie_lifetime = absl::GetFlag(FLAGS_tls_cookie_lifetime);
  tls.tls_idle_timeout = absl::GetFlag(FLAGS_tls_idle_timeout);
  if (absl::Status s = gateway::ApplyTlsFlags(tls, &*config); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (config->clients.empty() && !ike.ike && !config->tls.enabled) {
    Log("no --client profiles and no --ike: nobody can connect yet");
  }
  config->log = Log;

  auto loop = event::UvLoop::Start();
  if (!loop.ok()) return Fail(loop.status().ToString());
  StopSignal stop;
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<gateway::Gateway> gw;
  std::vector<std::unique_ptr<event::SignalWatcher>> signals;
  std::unique_ptr<event::FdWatcher> stdin_watcher;
  absl::Status started;
  absl::Status ran = (*loop)->RunSync([&] {
    auto s = netstack::Stack::Create(loop->get());
    if (!s.ok()) {
      started = s.status();
      return;
    }
    stack = *std::move(s);
    auto g = gateway::Gateway::Start(loop->get(), stack.get(),
                                     *std::move(config));
    if (!g.ok()) {
      started = g.status();
      return;
    }
    gw = *std::move(g);
    for (int signum : {SIGINT, SIGTERM}) {
      auto w = event::SignalWatcher::Create(
          loop->get(), signum, [&stop](int sig) {
            stop.Stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
          });
      if (!w.ok()) {
        started = w.status();
        return;
      }
      signals.push_back(*std::move(w));
    }
    if (absl::GetFlag(FLAGS_stop_on_stdin_eof)) {
      auto w = event::FdWatcher::Create(loop->get(), STDIN_FILENO);
      if (!w.ok()) {
        started = w.status();
        return;
      }
      stdin_watcher = *std::move(w);
      started = stdin_watcher->Start(true, false, [&stop](bool, bool) {
        char buf[256];
        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          stop.Stop("end of input");
        }
      });
    }
  });
  if (ran.ok() && started.ok()) {
    Log(absl::StrCat("listening on ", gw->local_address().ToString(),
                     ike.ike ? " (ESP in UDP, IKE)" : " (ESP in UDP)",
                     gw->ike_address()
                         ? absl::StrCat(" and ", gw->ike_address()->ToString(),
                                        " (IKE)")
                         : "",
                     ", virtual address ",
                     absl::GetFlag(FLAGS_ipv4),
                     absl::GetFlag(FLAGS_ipv6).empty()
                         ? ""
                         : absl::StrCat(", ", absl::GetFlag(FLAGS_ipv6)),
                     ", ", absl::GetFlag(FLAGS_client).size(),
                     " client profile(s)",
                     dns_records->empty()
                         ? ""
                         : absl::StrCat(", DNS on port 53 with ",
                                        dns_records->size(), " record(s) and ",
                                        gateway::kGatewayDnsName),
                     gw->tls_address()
                         ? absl::StrCat(", TLS (AnyConnect) on ",
                                        gw->tls_address()->ToString(),
                                        " pool ", tls.tls_pool,
                                        gw->dtls_address()
                                            ? absl::StrCat(
                                                  ", DTLS on UDP ",
                                                  gw->dtls_address()
                                                      ->ToString())
                                            : "")
                         : "",
                     ike.ike ? absl::StrCat(", IKE pool ",
                                            ike.pool.empty() ? "-" : ike.pool,
                                            ike.pool6.empty()
                                                ? ""
                                                : absl::StrCat(" ", ike.pool6))
                             : ""));
    std::printf("READY %s\n", gw->local_address().ToString().c_str());
    std::fflush(stdout);
    Log(absl::StrCat("stopping (", stop.Wait(), ")"));
  }
  absl::Status torn = (*loop)->RunSync([&] {
    stdin_watcher.reset();
    signals.clear();
    gw.reset();
    stack.reset();
  });
  absl::Status shut = (*loop)->Shutdown();
  if (!ran.ok()) return Fail(ran.ToString());
  if (!started.ok()) return Fail(std::string(started.message()));
  if (!torn.ok() || !shut.ok()) {
    return Fail(absl::StrCat("unclean shutdown: ", torn.ToString(), " ",
                             shut.ToString()));
  }
  Log("stopped");
  return 0;
}
