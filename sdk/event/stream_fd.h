// A byte stream over a descriptor the caller hands over (one end of a
// socketpair, a pipe) on a UvLoop.
#ifndef STOWAWAY_SDK_EVENT_STREAM_FD_H_
#define STOWAWAY_SDK_EVENT_STREAM_FD_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_loop.h"

struct uv_pipe_s;

namespace stow::event {

// A connected stream descriptor (uv_pipe_t over uv_pipe_open), typically one
// end of socketpair(AF_UNIX, SOCK_STREAM). Adopt() takes ownership of the
// descriptor: it is switched to non-blocking mode and closed when the
// StreamFd is destroyed. Reading, writing, watermarks, half-close and
// flow control behave as in TcpSocket (see tcp_socket.h); there is no
// connect step. A write to a peer that closed its end fails with
// kUnavailable (EPIPE; the loop thread blocks SIGPIPE).
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator owns the object; the loop and the delegate must
// outlive it.
class StreamFd : private internal::HandleOwner {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Bytes arrived; `data` is valid only during the call.
    virtual void OnData(absl::Span<const uint8_t> data) = 0;
    // The peer shut down its sending side (or closed its end).
    virtual void OnEof() = 0;
    // QueuedBytes() dropped to the low watermark after exceeding the high.
    virtual void OnWritable() = 0;
    // Reading or writing failed. Terminal: no callback follows.
    virtual void OnError(absl::Status status) = 0;
  };

  static constexpr size_t kDefaultLowWatermark = 64 * 1024;
  static constexpr size_t kDefaultHighWatermark = 512 * 1024;

  // Takes `fd` (owned from now on, also on failure, when it is closed).
  // kInvalidArgument if libuv cannot use it as a stream. Reading starts once
  // a delegate is set.
  static absl::StatusOr<std::unique_ptr<StreamFd>> Adopt(UvLoop* loop, int fd);
  ~StreamFd();
  StreamFd(const StreamFd&) = delete;
  StreamFd& operator=(const StreamFd&) = delete;

  void SetDelegate(Delegate* delegate);
  // Copies `data` for sending after anything queued before.
  // kFailedPrecondition after ShutdownWrite() or a failure.
  absl::Status Write(absl::Span<const uint8_t> data);
  size_t QueuedBytes() const;
  void SetWriteWatermarks(size_t low, size_t high);
  void SetReading(bool reading);
  // shutdown(SHUT_WR) once the queued bytes are written.
  absl::Status ShutdownWrite();
  // Closes the descriptor now, dropping queued bytes. No callback follows;
  // the object may then only be destroyed.
  void Close();

 private:
  explicit StreamFd(uv_pipe_s* pipe);
  void CloseHandle() override;
  void UpdateReading();
  void OnRead(ptrdiff_t nread);
  void OnWriteDone(int status);
  void Fail(absl::Status status);

  Delegate* delegate_ = nullptr;  // Not owned.
  uv_pipe_s* pipe_;  // Freed by libuv's close callback; null once closed.
  bool failed_ = false;
  bool want_reading_ = true;
  bool eof_ = false;
  bool write_shut_ = false;
  bool above_high_watermark_ = false;
  size_t low_watermark_ = kDefaultLowWatermark;
  size_t high_watermark_ = kDefaultHighWatermark;
  std::unique_ptr<uint8_t[]> read_buffer_;
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_STREAM_FD_H_
