// Readiness notifications for a file descriptor the SDK does not own (a TUN
// device, say) on a UvLoop.
#ifndef STOWAWAY_SDK_EVENT_FD_WATCHER_H_
#define STOWAWAY_SDK_EVENT_FD_WATCHER_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_loop.h"

struct uv_poll_s;

namespace stow::event {

// Watches a file descriptor for readability and writability (uv_poll_t,
// level-triggered: the callback repeats while the condition holds). The
// descriptor is switched to non-blocking mode and never closed here; it must
// stay open until the watcher is destroyed, which stops watching. No
// callback runs after that.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator owns the watcher; the loop must outlive it.
class FdWatcher : private internal::HandleOwner {
 public:
  using Callback = absl::AnyInvocable<void(bool readable, bool writable)>;

  // kInvalidArgument if `fd` cannot be polled (a regular file, a closed fd).
  static absl::StatusOr<std::unique_ptr<FdWatcher>> Create(UvLoop* loop,
                                                           int fd);
  ~FdWatcher();

  // Watches for the conditions asked for, replacing earlier ones and the
  // earlier callback. On an error condition the callback reports every
  // watched condition, so that the owner's next read or write reports the
  // error, and watching stops.
  absl::Status Start(bool readable, bool writable, Callback callback);

  // Stops watching; a no-op when not watching.
  void Stop();

 private:
  explicit FdWatcher(uv_poll_s* poll);
  void CloseHandle() override;
  void OnEvents(int status, int events);

  uv_poll_s* poll_;  // Freed by libuv's close callback; null once closed.
  int watched_events_ = 0;
  Callback callback_;
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_FD_WATCHER_H_
