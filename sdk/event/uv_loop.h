// The production event loop: libuv on a thread of its own.
#ifndef STOWAWAY_SDK_EVENT_UV_LOOP_H_
#define STOWAWAY_SDK_EVENT_UV_LOOP_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sdk/event/loop.h"

// libuv's types, opaque here: only sdk/event's .cc files include uv.h.
struct uv_loop_s;
struct uv_async_s;
struct uv_handle_s;

namespace stow::event {

// A Loop backed by libuv, running on a thread it starts: the network thread.
// Timers come from NewTimer(); sockets and fd watchers (UdpSocket,
// TcpSocket, TcpListener, FdWatcher) are constructed with a UvLoop*.
//
// Threading: Post(), Now() and IsLoopThread() on any thread; RunSync() and
// Shutdown() on any thread but the loop thread; everything else, including
// creating and destroying timers, sockets and watchers, on the loop thread.
//
// Ownership: the creator owns the loop. Owners of timers, sockets and
// watchers destroy them (on the loop thread) before shutting the loop down;
// Shutdown() reports and force-closes the ones still open after a grace
// period, and after that destroying them is the only thing left to do.
class UvLoop : public Loop {
 public:
  static constexpr absl::Duration kDefaultShutdownGrace = absl::Seconds(5);

  // Creates a libuv loop and starts the thread that runs it.
  static absl::StatusOr<std::unique_ptr<UvLoop>> Start();

  // Shutdown(), then frees the loop. Aborts on the loop thread.
  ~UvLoop() override;

  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  // Loop:
  absl::Duration Now() const override;
  // Queued tasks run in batches, one batch per wake-up of the loop: tasks
  // posted by a running task run in a later batch, after pending I/O. After
  // Shutdown() began, `task` is destroyed without running: inside Post() on
  // other threads; on the loop thread once the current task or callback
  // returns, so that deferred deletion still deletes objects outside their
  // own callbacks.
  void Post(Task task) override;
  bool IsLoopThread() const override;
  std::unique_ptr<Timer> NewTimer(absl::AnyInvocable<void()> callback) override;

  // Runs `task` on the loop thread and returns once it ran. For setup and
  // tests. FailedPrecondition on the loop thread (it would wait for itself)
  // and after Shutdown() began (the task is destroyed without running).
  absl::Status RunSync(Task task);

  // Stops the loop and joins its thread: refuses further posts, runs the
  // tasks already queued, then waits up to `grace` for the owners of open
  // handles to close them. Handles still open after that are reported in
  // the returned FailedPrecondition (with their libuv type names, also
  // logged to stderr) and force-closed. OK when nothing leaked. Later calls
  // return the first call's result. Aborts on the loop thread, which cannot
  // join itself.
  absl::Status Shutdown(absl::Duration grace = kDefaultShutdownGrace);

  // Handles opened through this loop (timers, sockets, watchers) that their
  // owners have not closed yet. Loop thread.
  int LiveHandles() const;

  // The libuv loop, for sdk/event's handle wrappers. Loop thread.
  uv_loop_s* uv_loop() const { return loop_.get(); }

 private:
  friend class UvTimer;

  UvLoop();
  void Run();
  void RunQueuedTasks();
  void DestroyDroppedTasks();
  absl::Status CloseHandles(absl::Duration grace);
  std::vector<uv_handle_s*> OpenUserHandles() const;

  // Origin of Now(), in uv_hrtime() nanoseconds.
  const uint64_t origin_ns_;
  std::unique_ptr<uv_loop_s> loop_;
  // Wakes the loop thread for posted tasks and for Shutdown().
  std::unique_ptr<uv_async_s> wakeup_;
  std::thread thread_;
  // Set once by Start() before the loop pointer is handed to anyone.
  std::thread::id loop_thread_id_;
  // True while a timer callback runs: see UvTimer::Start().
  bool in_timer_callback_ = false;

  // std::mutex rather than absl::Mutex: Debian's absl is built without
  // ThreadSanitizer annotations, so TSan would not see the happens-before
  // edge that Post() gives every task's captures.
  std::mutex mu_;
  std::vector<Task> queue_;  // Guarded by mu_.
  bool closed_ = false;      // Guarded by mu_.
  absl::Duration grace_;     // Guarded by mu_.
  // Posted on the loop thread after shutdown began; never run.
  std::vector<Task> dropped_;  // Guarded by mu_.

  // Serializes Shutdown() callers.
  std::mutex shutdown_mu_;
  // Written by the loop thread as it finishes; read after joining it.
  absl::Status shutdown_status_;
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_UV_LOOP_H_
