#include "sdk/event/signal_watcher.h"

#include <uv.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/event/uv_util.h"

namespace stow::event {

absl::StatusOr<std::unique_ptr<SignalWatcher>> SignalWatcher::Create(
    UvLoop* loop, int signum, Callback callback) {
  auto* signal = new uv_signal_t;
  if (int err = uv_signal_init(loop->uv_loop(), signal)) {
    delete signal;  // Not registered with the loop: nothing to close.
    return internal::UvError(err, "creating a signal watcher");
  }
  std::unique_ptr<SignalWatcher> watcher(
      new SignalWatcher(signal, std::move(callback)));
  int err = uv_signal_start(
      signal,
      [](uv_signal_t* handle, int signum) {
        auto* self = static_cast<SignalWatcher*>(internal::OwnerOf(handle));
        self->callback_(signum);
      },
      signum);
  if (err != 0) {
    return internal::UvError(err, absl::StrCat("watching signal ", signum));
  }
  return watcher;
}

SignalWatcher::SignalWatcher(uv_signal_s* signal, Callback callback)
    : signal_(signal), callback_(std::move(callback)) {
  internal::SetOwner(signal_, this);
}

SignalWatcher::~SignalWatcher() { CloseHandle(); }

void SignalWatcher::CloseHandle() {
  if (signal_ == nullptr) return;
  internal::CloseAndDelete(signal_);
  signal_ = nullptr;
}

}  // namespace stow::event
