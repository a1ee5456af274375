#include "tests/integration/tun_testbed.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "netstack/testing/transfer.h"
#include "tests/integration/run_on_loop.h"

extern char** environ;

namespace stow::testing {

const IpAddress TunTestbed::kKernelV4 = IpAddress::V4(10, 201, 0, 1);
const IpAddress TunTestbed::kStackV4 = IpAddress::V4(10, 201, 0, 2);
const IpAddress TunTestbed::kKernelV6 = *IpAddress::Parse("fd01::1");
const IpAddress TunTestbed::kStackV6 = *IpAddress::Parse("fd01::2");

std::string TunUnavailableReason() {
  if (geteuid() != 0) {
    return "needs root (network namespaces and a TUN device)";
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    return "/dev/net/tun is not available";
  }
  if (RunCommand({"ip", "-V"}) != 0) return "iproute2 ('ip') is not installed";
  return "";
}

int RunCommand(const std::vector<std::string>& argv, bool quiet) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Quiet: only the exit status matters.
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
                                   O_WRONLY, 0);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null",
                                     O_WRONLY, 0);
  }
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(),
                        environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::thread TunTestbed::InNamespace(std::function<void()> fn) {
  std::string path = "/var/run/netns/" + netns_;
  return std::thread([path, fn = std::move(fn)] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "setns %s: %s\n", path.c_str(),
                   std::strerror(errno));
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    fn();
  });
}

int TunTestbed::Exec(const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns_};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full);
}

absl::StatusOr<std::unique_ptr<TunTestbed>> TunTestbed::Create(
    event::UvLoop* loop, const std::string& tag, int mtu) {
  std::string reason = TunUnavailableReason();
  if (!reason.empty()) return absl::PermissionDeniedError(reason);
  std::unique_ptr<TunTestbed> bed(new TunTestbed(loop));
  std::string name = absl::StrCat("stow-", tag, "-", getpid());
  RunCommand({"ip", "netns", "del", name}, /*quiet=*/true);  // A leftover.
  if (RunCommand({"ip", "netns", "add", name}) != 0) {
    return absl::UnavailableError("ip netns add " + name + " failed");
  }
  bed->netns_ = name;
  absl::StatusOr<int> fd = absl::UnknownError("not run");
  bed->InNamespace([&] { fd = netstack::OpenTunDevice("stow0"); }).join();
  if (!fd.ok()) return fd.status();
  const std::string ns = name;
  const std::vector<std::vector<std::string>> setup = {
      {"ip", "-n", ns, "link", "set", "lo", "up"},
      {"ip", "-n", ns, "link", "set", "stow0", "mtu", std::to_string(mtu),
       "up"},
      {"ip", "-n", ns, "addr", "add", kKernelV4.ToString() + "/24", "dev",
       "stow0"},
      {"ip", "-n", ns, "-6", "addr", "add", kKernelV6.ToString() + "/64",
       "dev", "stow0", "nodad"},
  };
  for (const auto& cmd : setup) {
    if (RunCommand(cmd) != 0) {
      close(*fd);
      return absl::UnavailableError("failed: ip -n " + ns + " " + cmd[3]);
    }
  }
  absl::Status status;
  RunOnLoop(loop, [&] {
    absl::StatusOr<std::unique_ptr<netstack::Stack>> stack =
        netstack::Stack::Create(loop);
    if (!stack.ok()) {
      status = stack.status();
      close(*fd);
      return;
    }
    bed->stack_ = std::move(*stack);
    absl::StatusOr<std::unique_ptr<netstack::TunLink>> link =
        netstack::TunLink::Create(loop, *fd, mtu);
    if (!link.ok()) {
      status = link.status();
      return;
    }
    bed->link_ = std::move(*link);
    netstack::InterfaceConfig config;
    config.ipv4 = kStackV4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = kStackV6;
    config.default_route = true;
    absl::StatusOr<std::unique_ptr<netstack::Interface>> iface =
        bed->stack_->AddInterface(bed->link_.get(), config);
    if (!iface.ok()) {
      status = iface.status();
      return;
    }
    bed->iface_ = std::move(*iface);
  });
  if (!status.ok()) return status;
  return bed;
}

TunTestbed::~TunTestbed() {
  RunOnLoop(loop_, [this] {
    iface_.reset();
    link_.reset();
    stack_.reset();
  });
  if (!netns_.empty()) RunCommand({"ip", "netns", "del", netns_});
}

namespace {

void SetTimeouts(int fd) {
  struct timeval tv = {20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

int KernelListen(const IpAddress& addr, uint16_t port) {
  sockaddr_storage ss;
  socklen_t len = SocketAddress(addr, port).ToSockaddr(&ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  SetTimeouts(fd);  // SO_RCVTIMEO bounds accept() too.
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int KernelAccept(int listen_fd) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) SetTimeouts(fd);
  return fd;
}

int KernelConnect(const IpAddress& addr, uint16_t port) {
  sockaddr_storage ss;
  socklen_t len = SocketAddress(addr, port).ToSockaddr(&ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  SetTimeouts(fd);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

DuplexResult KernelDuplex(int fd, uint64_t bytes, uint64_t seed) {
  DuplexResult result;
  bool send_ok = false;
  std::thread writer([&] {
    netstack::testing::PatternStream pattern(seed);
    std::vector<uint8_t> chunk(256 * 1024);
    uint64_t sent = 0;
    while (sent < bytes) {
      size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk.size(), bytes - sent));
      pattern.Fill(absl::MakeSpan(chunk.data(), n));
      size_t off = 0;
      while (off < n) {
        ssize_t w = send(fd, chunk.data() + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += static_cast<size_t>(w);
      }
      sent += n;
    }
    shutdown(fd, SHUT_WR);
    send_ok = true;
  });
  crypto::Sha256 hash;
  std::vector<uint8_t> buf(256 * 1024);
  bool eof = false;
  while (true) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) eof = true;
    if (n <= 0) break;
    hash.Update(absl::MakeConstSpan(buf.data(), static_cast<size_t>(n)));
    result.received += static_cast<uint64_t>(n);
  }
  writer.join();
  close(fd);
  result.digest = hash.Finish();
  result.ok = eof && send_ok;
  return result;
}

}  // namespace stow::testing
