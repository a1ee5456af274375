// A netstack in its own process, reached over the plain UDP link, hosting
// TestServices. Prints "READY <udp port>" once serving; stops cleanly when
// its standard input closes (its parent is done or gone) or on SIGTERM.
//
//   netstack_peer --peer=127.0.0.1:PORT [--ipv4=10.77.0.2] [--ipv6=fd77::2]
//                 [--loss=PCT] [--duplicate=PCT] [--reorder=PCT]
//                 [--delay_ms=N] [--seed=N] [--mtu=1500]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "netstack/links/udp_link.h"
#include "netstack/stack.h"
#include "sdk/event/uv_loop.h"
#include "tests/integration/run_on_loop.h"
#include "tests/integration/services.h"

namespace stow {
namespace {

using testing::RunOnLoop;

int Fail(const std::string& msg) {
  std::fprintf(stderr, "netstack_peer: %s\n", msg.c_str());
  return 2;
}

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"peer", ""},       {"ipv4", "10.77.0.2"}, {"ipv6", "fd77::2"},
      {"loss", "0"},      {"duplicate", "0"},    {"reorder", "0"},
      {"delay_ms", "0"},  {"seed", "2"},         {"mtu", "1500"}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos ||
        !flags.count(arg.substr(2, eq - 2))) {
      return Fail(absl::StrCat("unknown argument ", arg));
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  absl::StatusOr<SocketAddress> peer = SocketAddress::Parse(flags["peer"]);
  absl::StatusOr<IpAddress> ipv4 = IpAddress::Parse(flags["ipv4"]);
  absl::StatusOr<IpAddress> ipv6 = IpAddress::Parse(flags["ipv6"]);
  netstack::Impairment imp;
  int delay_ms = 0, mtu = 0;
  if (!peer.ok()) return Fail(std::string(peer.status().message()));
  if (!ipv4.ok() || !ipv6.ok()) return Fail("bad --ipv4/--ipv6");
  if (!absl::SimpleAtod(flags["loss"], &imp.loss_percent) ||
      !absl::SimpleAtod(flags["duplicate"], &imp.duplicate_percent) ||
      !absl::SimpleAtod(flags["reorder"], &imp.reorder_percent) ||
      !absl::SimpleAtoi(flags["delay_ms"], &delay_ms) ||
      !absl::SimpleAtoi(flags["seed"], &imp.seed) ||
      !absl::SimpleAtoi(flags["mtu"], &mtu)) {
    return Fail("bad numeric flag");
  }
  imp.delay = absl::Milliseconds(delay_ms);

  std::unique_ptr<event::UvLoop> loop = *event::UvLoop::Start();
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<netstack::UdpLink> link;
  std::unique_ptr<netstack::Interface> iface;
  std::unique_ptr<testing::TestServices> services;
  absl::Status status;
  RunOnLoop(loop.get(), [&] {
    absl::StatusOr<std::unique_ptr<netstack::Stack>> s =
        netstack::Stack::Create(loop.get());
    if (!s.ok()) {
      status = s.status();
      return;
    }
    stack = std::move(*s);
    absl::StatusOr<std::unique_ptr<netstack::UdpLink>> l =
        netstack::UdpLink::Create(loop.get(), *SocketAddress::Parse("127.0.0.1:0"),
                                  mtu, imp);
    if (!l.ok()) {
      status = l.status();
      return;
    }
    link = std::move(*l);
    link->set_peer(*peer);
    netstack::InterfaceConfig config;
    config.ipv4 = *ipv4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = *ipv6;
    config.default_route = true;
    absl::StatusOr<std::unique_ptr<netstack::Interface>> i =
        stack->AddInterface(link.get(), config);
    if (!i.ok()) {
      status = i.status();
      return;
    }
    iface = std::move(*i);
    services = std::make_unique<testing::TestServices>(stack.get());
    status = services->Start(*ipv4);
    if (status.ok()) status = services->Start(*ipv6);
  });
  if (!status.ok()) return Fail(status.ToString());
  uint16_t port = 0;
  RunOnLoop(loop.get(), [&] { port = link->local_address().port(); });
  std::printf("READY %u\n", port);
  std::fflush(stdout);

  // Serve until the parent closes our standard input.
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  RunOnLoop(loop.get(), [&] {
    services.reset();
    iface.reset();
    stack.reset();
    link.reset();
  });
  // Non-zero exit if a libuv handle was left open: the parent checks it.
  absl::Status shutdown = loop->Shutdown();
  if (!shutdown.ok()) return Fail(shutdown.ToString());
  return 0;
}

}  // namespace
}  // namespace stow

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return stow::Main(argc, argv);
}
