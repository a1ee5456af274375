// stow-proxy: a local SOCKS5 + HTTP proxy into a Stowaway tunnel, written
// against the public C API only (sdk/include/stowaway/stowaway.h).
//
//   stow-proxy --profile=FILE [--listen=127.0.0.1:1080] [--user=U --password=P]
//
// Point any existing client at it: curl --socks5-hostname 127.0.0.1:1080,
// curl --proxy http://127.0.0.1:1080, a browser, a media player. Names are
// resolved through the tunnel's DNS servers (SOCKS5 with host names, HTTP).
#include <signal.h>
#include <string.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "samples/stow_fetch/tunnel.h"
#include "sdk/include/stowaway/stowaway.h"

namespace {

using namespace stow_samples;  // NOLINT: a program's own helpers.

constexpr char kProg[] = "stow-proxy";

constexpr char kUsage[] =
    "stow-proxy: a local SOCKS5 and HTTP proxy into a Stowaway tunnel.\n"
    "\n"
    "usage: stow-proxy --profile=FILE [--listen=127.0.0.1:1080]\n"
    "                  [--user=U --password=P] [--timeout=S]\n"
    "                  [--stop_on_stdin_eof] [--verbose]\n"
    "\n"
    "  --profile=FILE       the tunnel's JSON profile\n"
    "  --listen=ADDR:PORT   where to serve (default 127.0.0.1:1080; port 0:\n"
    "                       any free port). Keep it on loopback: the\n"
    "                       credentials are the only access control.\n"
    "  --user, --password   require SOCKS5 username/password (RFC 1929) and\n"
    "                       HTTP Proxy-Authorization: Basic (both or neither)\n"
    "  --timeout=S          give up when the tunnel is not up after S\n"
    "                       seconds (default 30; 0: wait forever)\n"
    "  --stop_on_stdin_eof  also stop when standard input ends\n"
    "  --verbose            log the engine's lines on stderr\n"
    "  --help               this text\n"
    "\n"
    "One port speaks both protocols (told apart by the first byte): SOCKS5\n"
    "CONNECT and UDP ASSOCIATE, HTTP CONNECT and absolute-URI requests.\n"
    "Prints \"READY 127.0.0.1:PORT\" on stdout once serving; SIGINT or\n"
    "SIGTERM stops it cleanly.\n"
    "\n"
    "usage examples:\n"
    "  curl --socks5-hostname 127.0.0.1:1080 http://files.stowaway.test/\n"
    "  curl --proxy http://127.0.0.1:1080 http://files.stowaway.test/\n"
    "\n"
    "exit status: 0 stopped cleanly; 1 usage; 2 bad profile; 3 tunnel not\n"
    "up or lost; 5 cannot listen.\n";

struct Options {
  std::string profile;
  std::string listen = "127.0.0.1:1080";
  std::string user;
  std::string password;
  bool have_user = false;
  bool have_password = false;
  int timeout_s = 30;
  bool stop_on_stdin_eof = false;
  bool verbose = false;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n(see stow-proxy --help)\n", kProg,
               message.c_str());
  return kExitUsage;
}

int ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name, std::string* out) {
      return FlagValue(argc, argv, &i, name, out);
    };
    std::string v;
    if (a == "--help" || a == "-h" || a == "-help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (value("profile", &v)) {
      o->profile = v;
    } else if (value("listen", &v)) {
      o->listen = v;
    } else if (value("user", &v)) {
      o->user = v;
      o->have_user = true;
    } else if (value("password", &v)) {
      o->password = v;
      o->have_password = true;
    } else if (value("timeout", &v)) {
      if (!ParseSeconds(v, &o->timeout_s)) {
        return UsageError("--timeout: not a number of seconds: " + v);
      }
    } else if (a == "--stop_on_stdin_eof" || a == "-stop_on_stdin_eof") {
      o->stop_on_stdin_eof = true;
    } else if (a == "--verbose" || a == "-v") {
      o->verbose = true;
    } else {
      return UsageError("unknown argument " + a);
    }
  }
  if (o->profile.empty()) return UsageError("--profile=FILE is required");
  if (o->have_user != o->have_password) {
    return UsageError("--user and --password go together");
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const int parsed = ParseArgs(argc, argv, &options);
  if (parsed >= 0) return parsed;

  Tunnel tunnel;
  tunnel.InstallSignalHandlers();
  int rc = tunnel.Open(kProg, options.profile, options.timeout_s,
                       options.verbose);
  if (rc != kExitOk) return rc;

  stow_proxy* proxy = nullptr;
  stow_status s = stow_proxy_start(
      tunnel.session(), options.listen.c_str(),
      options.have_user ? options.user.c_str() : nullptr,
      options.have_user ? options.password.c_str() : nullptr, &proxy);
  if (s != STOW_OK) {
    std::fprintf(stderr, "%s: cannot serve on %s: %s\n", kProg,
                 options.listen.c_str(),
                 Describe(s, stow_last_error_message()).c_str());
    return s == STOW_ERR_INVALID_ARGUMENT || s == STOW_ERR_BAD_ADDRESS
               ? kExitUsage
               : kExitConnect;
  }
  uint16_t port = 0;
  stow_proxy_port(proxy, &port);
  // The host part as given; the port as bound (it may have been 0).
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("READY %s:%u\n", host.c_str(), port);
  std::fflush(stdout);
  std::fprintf(stderr,
               "%s: serving SOCKS5 and HTTP on %s:%u through the tunnel "
               "(virtual address %s)\n",
               kProg, host.c_str(), port, tunnel.Address().c_str());

  const std::string why = tunnel.WaitForStop(options.stop_on_stdin_eof);
  std::fprintf(stderr, "%s: stopping (%s)\n", kProg, why.c_str());
  stow_proxy_destroy(proxy);
  tunnel.Close();
  return why.rfind("session closed", 0) == 0 ? kExitTunnel : kExitOk;
}
