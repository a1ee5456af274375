// stow-forward: ssh-style port forwards through a Stowaway tunnel, written
// against the public C API only (sdk/include/stowaway/stowaway.h).
//
//   stow-forward --profile=FILE -L [LISTEN:]PORT:HOST:HOSTPORT ...
//                               -R TUNNELPORT:HOSTADDR:HOSTPORT ...
//
// -L listens on the host and relays each connection through the tunnel
// (stow_forward_local); -R listens on the tunnel's virtual address and
// relays each connection to a host socket (stow_forward_remote).
#include <signal.h>
#include <string.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "samples/stow_fetch/tunnel.h"
#include "sdk/include/stowaway/stowaway.h"

namespace {

using namespace stow_samples;  // NOLINT: a program's own helpers.

constexpr char kProg[] = "stow-forward";

constexpr char kUsage[] =
    "stow-forward: ssh-style port forwards through a Stowaway tunnel.\n"
    "\n"
    "usage: stow-forward --profile=FILE [-L [LISTEN:]PORT:HOST:HOSTPORT]...\n"
    "                    [-R TUNNELPORT:HOSTADDR:HOSTPORT]... [--timeout=S]\n"
    "                    [--stop_on_stdin_eof] [--verbose]\n"
    "\n"
    "  -L [LISTEN:]PORT:HOST:HOSTPORT\n"
    "        listen on LISTEN:PORT on this machine (LISTEN defaults to\n"
    "        127.0.0.1; PORT 0: any free port) and relay each connection\n"
    "        through the tunnel to HOST:HOSTPORT (HOST: an address, or a\n"
    "        name resolved by the tunnel's DNS). IPv6 in brackets: [::1].\n"
    "  -R TUNNELPORT:HOSTADDR:HOSTPORT\n"
    "        listen on TUNNELPORT of the tunnel's virtual address and relay\n"
    "        each connection to HOSTADDR:HOSTPORT on this machine.\n"
    "  --profile=FILE       the tunnel's JSON profile\n"
    "  --timeout=S          give up when the tunnel is not up after S\n"
    "                       seconds (default 30; 0: wait forever)\n"
    "  --stop_on_stdin_eof  also stop when standard input ends\n"
    "  --verbose            log the engine's lines on stderr\n"
    "  --help               this text\n"
    "\n"
    "Both options may repeat. Prints one line on stdout once every forward\n"
    "listens: \"READY\" followed by the listening address:port of each -L\n"
    "(in order) and then of each -R (virtual address:port); SIGINT or\n"
    "SIGTERM stops it cleanly.\n"
    "\n"
    "example: stow-forward --profile=p.json -L 8080:files.stowaway.test:80\n"
    "         curl http://127.0.0.1:8080/\n"
    "\n"
    "exit status: 0 stopped cleanly; 1 usage; 2 bad profile; 3 tunnel not\n"
    "up or lost; 5 a forward cannot listen.\n";

struct Local {
  std::string spec;
  std::string listen;  // "addr:port" on the host.
  std::string host;    // Through the tunnel.
  uint16_t port = 0;
};

struct Remote {
  std::string spec;
  uint16_t tunnel_port = 0;
  std::string host_address;  // "addr:port" on the host.
};

struct Options {
  std::string profile;
  std::vector<Local> locals;
  std::vector<Remote> remotes;
  int timeout_s = 30;
  bool stop_on_stdin_eof = false;
  bool verbose = false;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n(see stow-forward --help)\n", kProg,
               message.c_str());
  return kExitUsage;
}

// Splits on ':' outside brackets; brackets are kept.
std::vector<std::string> SplitSpec(const std::string& spec) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : spec) {
    if (c == '[') depth++;
    if (c == ']') depth--;
    if (c == ':' && depth == 0) {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

bool ParsePort(const std::string& text, bool allow_zero, uint16_t* out) {
  char* end = nullptr;
  const long p = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || p < (allow_zero ? 0 : 1) || p > 65535) {
    return false;
  }
  *out = static_cast<uint16_t>(p);
  return true;
}

std::string Unbracket(const std::string& s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

std::string WithPort(const std::string& address, uint16_t port) {
  const std::string a = Unbracket(address);
  return a.find(':') != std::string::npos
             ? "[" + a + "]:" + std::to_string(port)
             : a + ":" + std::to_string(port);
}

bool ParseLocal(const std::string& spec, Local* out, std::string* error) {
  std::vector<std::string> p = SplitSpec(spec);
  if (p.size() == 3) p.insert(p.begin(), "127.0.0.1");
  uint16_t listen_port = 0;
  if (p.size() != 4 || p[0].empty() || p[2].empty() ||
      !ParsePort(p[1], true, &listen_port) ||
      !ParsePort(p[3], false, &out->port)) {
    *error = "-L " + spec + ": expected [LISTEN:]PORT:HOST:HOSTPORT";
    return false;
  }
  out->spec = spec;
  out->listen = WithPort(p[0], listen_port);
  out->host = Unbracket(p[2]);
  return true;
}

bool ParseRemote(const std::string& spec, Remote* out, std::string* error) {
  std::vector<std::string> p = SplitSpec(spec);
  uint16_t host_port = 0;
  if (p.size() != 3 || p[1].empty() ||
      !ParsePort(p[0], false, &out->tunnel_port) ||
      !ParsePort(p[2], false, &host_port)) {
    *error = "-R " + spec + ": expected TUNNELPORT:HOSTADDR:HOSTPORT";
    return false;
  }
  out->spec = spec;
  out->host_address = WithPort(p[1], host_port);
  return true;
}

int ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    // -L SPEC, -LSPEC, -L=SPEC; likewise -R and --name=V / --name V.
    auto value = [&](const std::string& name, std::string* out) {
      return FlagValue(argc, argv, &i, name, out);
    };
    std::string v;
    std::string error;
    if (a == "--help" || a == "-h" || a == "-help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (value("profile", &v)) {
      o->profile = v;
    } else if (value("L", &v)) {
      Local l;
      if (!ParseLocal(v, &l, &error)) return UsageError(error);
      o->locals.push_back(l);
    } else if (value("R", &v)) {
      Remote r;
      if (!ParseRemote(v, &r, &error)) return UsageError(error);
      o->remotes.push_back(r);
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
  if (o->locals.empty() && o->remotes.empty()) {
    return UsageError("no forwards: give at least one -L or -R");
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

  std::vector<stow_forward*> forwards;
  auto cleanup = [&] {
    for (stow_forward* f : forwards) stow_forward_destroy(f);
    forwards.clear();
    tunnel.Close();
  };
  std::string ready = "READY";
  for (const Local& l : options.locals) {
    stow_forward* f = nullptr;
    stow_status s = stow_forward_local(tunnel.session(), l.listen.c_str(),
                                       l.host.c_str(), l.port, &f);
    if (s != STOW_OK) {
      std::fprintf(stderr, "%s: -L %s: %s\n", kProg, l.spec.c_str(),
                   Describe(s, stow_last_error_message()).c_str());
      cleanup();
      return s == STOW_ERR_BAD_ADDRESS || s == STOW_ERR_BAD_NAME ? kExitUsage
                                                                 : kExitConnect;
    }
    forwards.push_back(f);
    uint16_t port = 0;
    stow_forward_port(f, &port);
    const std::string host = l.listen.substr(0, l.listen.rfind(':'));
    ready += " " + host + ":" + std::to_string(port);
    std::fprintf(stderr, "%s: %s:%u -> (tunnel) %s:%u\n", kProg, host.c_str(),
                 port, l.host.c_str(), l.port);
  }
  const std::string virtual_address = tunnel.Address();
  for (const Remote& r : options.remotes) {
    stow_forward* f = nullptr;
    stow_status s = stow_forward_remote(tunnel.session(), r.tunnel_port,
                                        r.host_address.c_str(), &f);
    if (s != STOW_OK) {
      std::fprintf(stderr, "%s: -R %s: %s\n", kProg, r.spec.c_str(),
                   Describe(s, stow_last_error_message()).c_str());
      cleanup();
      return s == STOW_ERR_BAD_ADDRESS ? kExitUsage : kExitConnect;
    }
    forwards.push_back(f);
    uint16_t port = 0;
    stow_forward_port(f, &port);
    ready += " " + virtual_address + ":" + std::to_string(port);
    std::fprintf(stderr, "%s: (tunnel) %s:%u -> %s\n", kProg,
                 virtual_address.c_str(), port, r.host_address.c_str());
  }
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);

  const std::string why = tunnel.WaitForStop(options.stop_on_stdin_eof);
  std::fprintf(stderr, "%s: stopping (%s)\n", kProg, why.c_str());
  cleanup();
  return why.rfind("session closed", 0) == 0 ? kExitTunnel : kExitOk;
}
