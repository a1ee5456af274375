#include "tests/integration/peer_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace stow::testing {

std::string RunfilePath(const std::string& workspace_relative) {
  const char* dir = std::getenv("TEST_SRCDIR");
  if (dir != nullptr) {
    return absl::StrCat(dir, "/stowaway/", workspace_relative);
  }
  // Outside `bazel test` (benchmarks run from bazel-bin): beside /proc/self.
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    std::string path(self);
    std::string runfiles = path + ".runfiles/stowaway/" + workspace_relative;
    if (access(runfiles.c_str(), X_OK) == 0) return runfiles;
  }
  return workspace_relative;
}

absl::StatusOr<std::unique_ptr<PeerProcess>> PeerProcess::Start(
    const std::vector<std::string>& argv, absl::Duration timeout) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::unique_ptr<PeerProcess> p(new PeerProcess());
  int rc = posix_spawn(&p->pid_, args[0], &actions, nullptr, args.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  p->stdin_fd_ = in[1];
  p->stdout_fd_ = out[0];
  if (rc != 0) {
    p->pid_ = -1;
    return absl::InternalError(
        absl::StrCat("spawn ", argv[0], ": ", std::strerror(rc)));
  }
  // Read lines until READY, with a deadline.
  const absl::Time deadline = absl::Now() + timeout;
  std::string buffer;
  while (true) {
    size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line.rfind("READY ", 0) == 0) {
        p->ready_ = line.substr(6);
        return p;
      }
      continue;
    }
    int ms = static_cast<int>(
        absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(argv[0], " did not become ready"));
    }
    struct pollfd pfd = {p->stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, ms) <= 0) continue;
    char chunk[512];
    ssize_t n = read(p->stdout_fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat(argv[0], " exited before becoming ready"));
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

int PeerProcess::Stop() {
  if (stopped_ || pid_ < 0) return exit_status_;
  stopped_ = true;
  close(stdin_fd_);
  // A pidfd becomes readable when the child exits.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    if (poll(&pfd, 1, 10000) <= 0) kill(pid_, SIGKILL);
    close(pidfd);
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  close(stdout_fd_);
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

PeerProcess::~PeerProcess() { Stop(); }

}  // namespace stow::testing
