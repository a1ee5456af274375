#include "sdk/event/uv_loop.h"

#include <pthread.h>
#include <signal.h>
#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_util.h"

namespace stow::event {

// A Timer over uv_timer_t. Loop thread only; owned by its creator.
class UvTimer : public Timer, private internal::HandleOwner {
 public:
  UvTimer(UvLoop* loop, absl::AnyInvocable<void()> callback)
      : loop_(loop), callback_(std::move(callback)), timer_(new uv_timer_t) {
    uv_timer_init(loop->uv_loop(), timer_);
    internal::SetOwner(timer_, this);
  }
  ~UvTimer() override { CloseHandle(); }

  void Start(absl::Duration delay) override {
    uint64_t ms = delay <= absl::ZeroDuration()
                      ? 0
                      : absl::ToInt64Milliseconds(
                            absl::Ceil(delay, absl::Milliseconds(1)));
    // libuv 1.44 runs a timer armed for "now" from inside a timer callback
    // in the same pass over due timers, so a zero-delay timer re-armed by its
    // own callback would starve the loop. One millisecond defers it to the
    // next turn.
    if (ms == 0 && loop_->in_timer_callback_) ms = 1;
    uv_timer_start(
        timer_,
        [](uv_timer_t* handle) {
          auto* self = static_cast<UvTimer*>(internal::OwnerOf(handle));
          UvLoop* loop = self->loop_;  // The callback may destroy the timer.
          loop->in_timer_callback_ = true;
          self->callback_();
          loop->in_timer_callback_ = false;
        },
        ms, 0);
  }

  void Stop() override { uv_timer_stop(timer_); }

  bool IsArmed() const override {
    return uv_is_active(reinterpret_cast<const uv_handle_t*>(timer_));
  }

 private:
  void CloseHandle() override {
    if (timer_ == nullptr) return;
    internal::CloseAndDelete(timer_);
    timer_ = nullptr;
  }

  UvLoop* const loop_;  // Not owned.
  absl::AnyInvocable<void()> callback_;
  uv_timer_t* timer_;  // Freed by libuv's close callback; null once closed.
};

namespace {

uv_handle_t* AsHandle(void* handle) {
  return static_cast<uv_handle_t*>(handle);
}

// Signals RunSync()'s caller when the task it wraps is destroyed, whether it
// ran or was dropped by a loop that is shutting down.
struct SyncState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // Guarded by mu.
  bool ran = false;   // Guarded by mu.
};

class SyncSignal {
 public:
  explicit SyncSignal(std::shared_ptr<SyncState> state)
      : state_(std::move(state)) {}
  SyncSignal(SyncSignal&&) = default;
  ~SyncSignal() {
    if (state_ == nullptr) return;  // Moved from.
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->done = true;
    state_->ran = ran_;
    state_->cv.notify_all();
  }
  void set_ran() { ran_ = true; }

 private:
  std::shared_ptr<SyncState> state_;
  bool ran_ = false;
};

}  // namespace

UvLoop::UvLoop()
    : origin_ns_(uv_hrtime()),
      loop_(std::make_unique<uv_loop_t>()),
      wakeup_(std::make_unique<uv_async_t>()) {}

absl::StatusOr<std::unique_ptr<UvLoop>> UvLoop::Start() {
  std::unique_ptr<UvLoop> loop(new UvLoop());
  if (int err = uv_loop_init(loop->loop_.get()); err != 0) {
    loop->loop_.reset();  // Nothing to close; the destructor sees no loop.
    return internal::UvError(err, "creating the libuv loop");
  }
  uv_async_init(loop->loop_.get(), loop->wakeup_.get(), [](uv_async_t* async) {
    static_cast<UvLoop*>(async->data)->RunQueuedTasks();
  });
  loop->wakeup_->data = loop.get();
  loop->thread_ = std::thread([raw = loop.get()] { raw->Run(); });
  // The loop thread reads loop_thread_id_ only from tasks and callbacks,
  // which can start only once this pointer is returned (Post() orders them).
  loop->loop_thread_id_ = loop->thread_.get_id();
  return loop;
}

UvLoop::~UvLoop() {
  if (loop_ == nullptr) return;  // uv_loop_init() failed.
  Shutdown().IgnoreError();      // Shutdown() logged any leak.
}

absl::Duration UvLoop::Now() const {
  return absl::Nanoseconds(uv_hrtime() - origin_ns_);
}

void UvLoop::Post(Task task) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) {
    // On the loop thread the task may own the very object whose callback is
    // posting it (deferred deletion), so it is destroyed later, after that
    // callback returns; elsewhere here, outside the lock, since destructors
    // may Post().
    if (IsLoopThread()) {
      dropped_.push_back(std::move(task));
    } else {
      lock.unlock();
      task = nullptr;
    }
    return;
  }
  // One wake-up per batch: the loop thread empties the queue when it wakes.
  // Sent under the lock so that it never races the handle's closing.
  if (queue_.empty()) uv_async_send(wakeup_.get());
  queue_.push_back(std::move(task));
}

bool UvLoop::IsLoopThread() const {
  return std::this_thread::get_id() == loop_thread_id_;
}

std::unique_ptr<Timer> UvLoop::NewTimer(absl::AnyInvocable<void()> callback) {
  return std::make_unique<UvTimer>(this, std::move(callback));
}

absl::Status UvLoop::RunSync(Task task) {
  if (IsLoopThread()) {
    return absl::FailedPreconditionError(
        "UvLoop::RunSync() on the loop thread would wait for itself");
  }
  auto state = std::make_shared<SyncState>();
  Post([task = std::move(task), signal = SyncSignal(state)]() mutable {
    std::move(task)();
    signal.set_ran();
  });
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->done; });
  if (!state->ran) {
    return absl::FailedPreconditionError(
        "UvLoop::RunSync() after Shutdown(): the task was dropped");
  }
  return absl::OkStatus();
}

absl::Status UvLoop::Shutdown(absl::Duration grace) {
  if (IsLoopThread()) {
    std::fprintf(stderr,
                 "stow::event::UvLoop: Shutdown() or destruction on the loop "
                 "thread, which cannot join itself\n");
    std::abort();
  }
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  if (!thread_.joinable()) return shutdown_status_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    grace_ = grace;
    uv_async_send(wakeup_.get());
  }
  thread_.join();
  return shutdown_status_;
}

int UvLoop::LiveHandles() const {
  return static_cast<int>(OpenUserHandles().size());
}

void UvLoop::Run() {
  // A write to a socket whose peer is gone raises SIGPIPE, which by default
  // kills the process. Blocked on this thread, it stays pending here instead
  // and the write fails with EPIPE.
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);

  uv_run(loop_.get(), UV_RUN_DEFAULT);  // Until RunQueuedTasks() sees closed_.
  DestroyDroppedTasks();
  absl::Duration grace;
  {
    std::lock_guard<std::mutex> lock(mu_);
    grace = grace_;
  }
  shutdown_status_ = CloseHandles(grace);
}

void UvLoop::RunQueuedTasks() {
  std::vector<Task> batch;
  bool closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
    closed = closed_;
  }
  for (Task& task : batch) std::move(task)();
  // When closed_ was already set at the swap, nothing can have been queued
  // since: every task Shutdown() found has run.
  if (closed) uv_stop(loop_.get());
}

void UvLoop::DestroyDroppedTasks() {
  for (;;) {
    std::vector<Task> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (dropped_.empty()) return;
      dropped.swap(dropped_);
    }
    // Destroyed here, outside the lock: destructors may Post() again.
  }
}

absl::Status UvLoop::CloseHandles(absl::Duration grace) {
  uv_close(AsHandle(wakeup_.get()), nullptr);

  // Owners can still close handles from callbacks (a timer firing, a peer
  // closing a connection); give them `grace` to do so.
  if (LiveHandles() > 0) {
    uv_timer_t deadline;
    uv_timer_init(loop_.get(), &deadline);
    deadline.data = this;  // The loop's own handle, not an owner's.
    uv_timer_start(
        &deadline, [](uv_timer_t*) {},
        absl::ToInt64Milliseconds(absl::Ceil(grace, absl::Milliseconds(1))),
        0);
    // A one-shot timer turns inactive when it fires.
    while (LiveHandles() > 0 && uv_is_active(AsHandle(&deadline))) {
      uv_run(loop_.get(), UV_RUN_ONCE);
      DestroyDroppedTasks();
    }
    uv_close(AsHandle(&deadline), nullptr);
    uv_run(loop_.get(), UV_RUN_NOWAIT);  // Finishes closing it while in scope.
  }

  absl::Status status;
  std::vector<uv_handle_t*> leaked = OpenUserHandles();
  if (!leaked.empty()) {
    status = absl::FailedPreconditionError(absl::StrCat(
        leaked.size(), " handle(s) still open ", absl::FormatDuration(grace),
        " into shutdown, force-closed: ",
        absl::StrJoin(leaked, ", ", [](std::string* out, uv_handle_t* h) {
          absl::StrAppend(out, uv_handle_type_name(h->type));
        })));
    std::fprintf(stderr, "stow::event::UvLoop: %s\n",
                 std::string(status.message()).c_str());
    for (uv_handle_t* h : leaked) internal::OwnerOf(h)->CloseHandle();
  }
  uv_run(loop_.get(), UV_RUN_DEFAULT);  // Until every close callback ran.
  if (int err = uv_loop_close(loop_.get()); err != 0) {
    // Every handle is closed by now, so this is a bug in sdk/event; freeing
    // memory libuv still points into would be worse than stopping here.
    std::fprintf(stderr, "stow::event::UvLoop: uv_loop_close: %s\n",
                 uv_strerror(err));
    std::abort();
  }
  return status;
}

std::vector<uv_handle_t*> UvLoop::OpenUserHandles() const {
  struct Walk {
    const void* loop;
    std::vector<uv_handle_t*> open;
  } walk{this, {}};
  uv_walk(
      loop_.get(),
      [](uv_handle_t* h, void* arg) {
        auto* walk = static_cast<Walk*>(arg);
        // The loop's own handles (wake-up, shutdown deadline) point at it.
        if (h->data != walk->loop && !uv_is_closing(h)) walk->open.push_back(h);
      },
      &walk);
  return std::move(walk.open);
}

}  // namespace stow::event
