// Runs a child process with pipes for its standard input and output, for
// tests and benchmarks that need a second netstack (lwIP is one per process).
#ifndef STOWAWAY_TESTS_INTEGRATION_PEER_PROCESS_H_
#define STOWAWAY_TESTS_INTEGRATION_PEER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stow::testing {

class PeerProcess {
 public:
  // Starts `argv` and waits up to `timeout` for a line starting with
  // "READY "; its remainder is returned by ready_line().
  static absl::StatusOr<std::unique_ptr<PeerProcess>> Start(
      const std::vector<std::string>& argv,
      absl::Duration timeout = absl::Seconds(30));
  // Closes the child's input (its signal to stop), waits up to 10 s for it
  // to exit, then kills it.
  ~PeerProcess();

  const std::string& ready_line() const { return ready_; }
  // Stops the child as the destructor does and returns its exit status.
  int Stop();

 private:
  PeerProcess() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string ready_;
  bool stopped_ = false;
  int exit_status_ = -1;
};

// Path of a binary built next to the running test (Bazel runfiles).
std::string RunfilePath(const std::string& workspace_relative);

}  // namespace stow::testing

#endif  // STOWAWAY_TESTS_INTEGRATION_PEER_PROCESS_H_
