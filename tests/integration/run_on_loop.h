// Runs work on a UvLoop's thread from test and tool threads.
#ifndef STOWAWAY_TESTS_INTEGRATION_RUN_ON_LOOP_H_
#define STOWAWAY_TESTS_INTEGRATION_RUN_ON_LOOP_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "sdk/event/uv_loop.h"

namespace stow::testing {

// Runs `task` on the loop thread and waits for it. RunSync fails only when
// misused (on the loop thread, or after Shutdown): a bug in the caller, so
// this aborts with the reason rather than carrying on.
inline void RunOnLoop(event::UvLoop* loop, event::Loop::Task task) {
  absl::Status status = loop->RunSync(std::move(task));
  if (!status.ok()) {
    std::fprintf(stderr, "RunSync: %s\n", status.ToString().c_str());
    std::abort();
  }
}

}  // namespace stow::testing

#endif  // STOWAWAY_TESTS_INTEGRATION_RUN_ON_LOOP_H_
