// Process signals (SIGINT, SIGTERM, ...) delivered as callbacks on a UvLoop.
#ifndef STOWAWAY_SDK_EVENT_SIGNAL_WATCHER_H_
#define STOWAWAY_SDK_EVENT_SIGNAL_WATCHER_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_loop.h"

struct uv_signal_s;

namespace stow::event {

// Runs a callback on the loop thread each time the process receives
// `signum` (uv_signal_t: the signal is caught for as long as the watcher
// lives, then its previous disposition returns). For programs such as the
// gateway that stop cleanly on SIGINT/SIGTERM.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator owns the watcher; the loop must outlive it.
class SignalWatcher : private internal::HandleOwner {
 public:
  using Callback = absl::AnyInvocable<void(int signum)>;

  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Create(
      UvLoop* loop, int signum, Callback callback);
  ~SignalWatcher();

 private:
  SignalWatcher(uv_signal_s* signal, Callback callback);
  void CloseHandle() override;

  uv_signal_s* signal_;  // Freed by libuv's close callback; null once closed.
  Callback callback_;
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_SIGNAL_WATCHER_H_
