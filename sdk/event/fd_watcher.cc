#include "sdk/event/fd_watcher.h"

#include <uv.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/event/uv_util.h"

namespace stow::event {

absl::StatusOr<std::unique_ptr<FdWatcher>> FdWatcher::Create(UvLoop* loop,
                                                             int fd) {
  auto* poll = new uv_poll_t;
  if (int err = uv_poll_init(loop->uv_loop(), poll, fd)) {
    delete poll;  // Not registered with the loop: nothing to close.
    return internal::UvError(err, absl::StrCat("watching fd ", fd));
  }
  return std::unique_ptr<FdWatcher>(new FdWatcher(poll));
}

FdWatcher::FdWatcher(uv_poll_s* poll) : poll_(poll) {
  internal::SetOwner(poll_, this);
}

FdWatcher::~FdWatcher() { CloseHandle(); }

void FdWatcher::CloseHandle() {
  if (poll_ == nullptr) return;
  internal::CloseAndDelete(poll_);
  poll_ = nullptr;
}

absl::Status FdWatcher::Start(bool readable, bool writable,
                              Callback callback) {
  watched_events_ = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  callback_ = std::move(callback);
  int err = uv_poll_start(poll_, watched_events_,
                          [](uv_poll_t* poll, int status, int events) {
                            static_cast<FdWatcher*>(internal::OwnerOf(poll))
                                ->OnEvents(status, events);
                          });
  if (err != 0) return internal::UvError(err, "starting an fd watcher");
  return absl::OkStatus();
}

void FdWatcher::Stop() { uv_poll_stop(poll_); }

void FdWatcher::OnEvents(int status, int events) {
  // libuv has stopped the watcher on an error (POLLERR).
  if (status < 0) events = watched_events_;
  // Held outside callback_ while it runs: a Start() from inside it replaces
  // callback_, which must not destroy the running callback.
  Callback callback = std::exchange(callback_, nullptr);
  callback((events & UV_READABLE) != 0, (events & UV_WRITABLE) != 0);
  if (callback_ == nullptr) callback_ = std::move(callback);
}

}  // namespace stow::event
