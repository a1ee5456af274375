// A netstack whose peer is the Linux kernel: a network namespace created for
// the test, a TUN device inside it, and the stack's interface on that TUN.
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces).
#ifndef STOWAWAY_TESTS_INTEGRATION_TUN_TESTBED_H_
#define STOWAWAY_TESTS_INTEGRATION_TUN_TESTBED_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netstack/links/tun_link.h"
#include "netstack/stack.h"
#include "sdk/crypto/sha256.h"
#include "sdk/event/uv_loop.h"

namespace stow::testing {

// Why the TUN tests cannot run here, or empty when they can.
std::string TunUnavailableReason();

// Runs argv (no shell); returns the exit status, or -1 if it did not start.
// Standard output is discarded, and standard error too when `quiet`.
int RunCommand(const std::vector<std::string>& argv, bool quiet = false);

class TunTestbed {
 public:
  // Addresses: the kernel's end of the TUN and the netstack's.
  static const IpAddress kKernelV4, kStackV4, kKernelV6, kStackV6;

  // Creates namespace "stow-<tag>-<pid>" with TUN device "stow0", the
  // kernel side configured, and a Stack on `loop` with an interface on it.
  static absl::StatusOr<std::unique_ptr<TunTestbed>> Create(
      event::UvLoop* loop, const std::string& tag, int mtu = 1500);
  // Destroys the netstack side (on the loop) and deletes the namespace.
  ~TunTestbed();

  netstack::Stack* stack() const { return stack_.get(); }
  netstack::Interface* interface() const { return iface_.get(); }
  const std::string& netns() const { return netns_; }

  // Runs `fn` on a new thread that has entered the namespace: sockets it
  // opens are the kernel's end.
  std::thread InNamespace(std::function<void()> fn);
  // Runs a command inside the namespace; returns its exit status.
  int Exec(const std::vector<std::string>& argv);

 private:
  explicit TunTestbed(event::UvLoop* loop) : loop_(loop) {}

  event::UvLoop* const loop_;  // Not owned.
  std::string netns_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<netstack::TunLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
};

// ---- Blocking kernel-side helpers, for threads inside the namespace. ----
// Every socket gets 20 s send/receive timeouts, so nothing hangs forever.

// Listens on addr:port; returns the listening descriptor or -1.
int KernelListen(const IpAddress& addr, uint16_t port);
// Accepts one connection (20 s timeout); -1 on failure.
int KernelAccept(int listen_fd);
// Connects to addr:port; -1 on failure.
int KernelConnect(const IpAddress& addr, uint16_t port);

struct DuplexResult {
  bool ok = false;
  uint64_t received = 0;
  crypto::Sha256::Digest digest{};  // Of the bytes received.
};
// Sends `bytes` of PatternStream(seed) (then SHUT_WR) while hashing what
// arrives until EOF. Closes `fd`.
DuplexResult KernelDuplex(int fd, uint64_t bytes, uint64_t seed);

}  // namespace stow::testing

#endif  // STOWAWAY_TESTS_INTEGRATION_TUN_TESTBED_H_
