// Host TCP connections and listeners on a UvLoop.
#ifndef STOWAWAY_SDK_EVENT_TCP_SOCKET_H_
#define STOWAWAY_SDK_EVENT_TCP_SOCKET_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_loop.h"

struct uv_tcp_s;

namespace stow::event {

class TcpListener;

// A TCP connection (uv_tcp_t, TCP_NODELAY), either connected with Connect()
// or handed out by a TcpListener. Writes are copied and queued without
// limit; the owner keeps memory bounded with the watermarks: stop writing
// when QueuedBytes() exceeds the high one and resume at OnWritable().
// Destroying the socket closes it; no callback runs after that.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator (or the OnAccept() receiver) owns the socket; the
// loop and the delegate must outlive it.
class TcpSocket : private internal::HandleOwner {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Connect() finished. An error is terminal (kUnavailable when the peer
    // refused or was unreachable) and the only callback of the connection.
    virtual void OnConnected(absl::Status status) = 0;
    // Bytes arrived; `data` is valid only during the call.
    virtual void OnData(absl::Span<const uint8_t> data) = 0;
    // The peer shut down its sending side: no more OnData(). Writing may go
    // on.
    virtual void OnEof() = 0;
    // QueuedBytes() dropped to the low watermark after exceeding the high.
    virtual void OnWritable() = 0;
    // The connection failed (reset, write error). Terminal: no callback
    // follows.
    virtual void OnError(absl::Status status) = 0;
  };

  static constexpr size_t kDefaultLowWatermark = 64 * 1024;
  static constexpr size_t kDefaultHighWatermark = 512 * 1024;

  // `delegate` may be null only until SetDelegate().
  TcpSocket(UvLoop* loop, Delegate* delegate);
  ~TcpSocket();

  // Sets the delegate. A socket from TcpListener has none and starts reading
  // when it gets one.
  void SetDelegate(Delegate* delegate);

  // Starts connecting to `peer`; the result arrives in OnConnected(). A
  // failure returned here means no callback. kFailedPrecondition unless the
  // socket is new.
  absl::Status Connect(const SocketAddress& peer);

  // Copies `data` for sending, after anything queued before. Allowed while
  // connecting. kFailedPrecondition before Connect(), after ShutdownWrite()
  // and after the connection failed.
  absl::Status Write(absl::Span<const uint8_t> data);

  // Bytes accepted by Write() that the kernel has not taken yet.
  size_t QueuedBytes() const;

  // Where OnWritable() triggers; `low` <= `high`.
  void SetWriteWatermarks(size_t low, size_t high);

  // Pauses (false) or resumes (true, the default) reading: flow control
  // towards the peer. No OnData() arrives while paused.
  void SetReading(bool reading);

  // Sends FIN once the queued bytes are written; later Write()s fail.
  // kFailedPrecondition unless connecting or connected and not shut down.
  absl::Status ShutdownWrite();

  // Closes the socket with a reset (RST, SO_LINGER 0) instead of FIN:
  // queued bytes are dropped and the peer sees ECONNRESET. No callback
  // follows; the object may then only be destroyed. A socket that never
  // connected, or whose write side was shut down, is closed normally.
  void Reset();

  absl::StatusOr<SocketAddress> LocalAddress() const;
  absl::StatusOr<SocketAddress> PeerAddress() const;

 private:
  friend class TcpListener;
  enum class State { kNew, kConnecting, kConnected, kFailed };

  void CloseHandle() override;
  // Starts or stops libuv reading to match what the owner wants and what
  // the connection allows.
  void UpdateReading();
  void OnConnect(int status);
  void OnRead(ptrdiff_t nread);
  void OnWriteDone(int status);
  // Enters kFailed and reports `status` through OnError(), once.
  void Fail(absl::Status status);

  Delegate* delegate_;  // Not owned.
  uv_tcp_s* tcp_;  // Freed by libuv's close callback; null once closed.
  State state_ = State::kNew;
  SocketAddress connect_peer_;  // For OnConnected()'s error message.
  bool want_reading_ = true;
  bool eof_ = false;
  bool write_shut_ = false;
  bool above_high_watermark_ = false;
  size_t low_watermark_ = kDefaultLowWatermark;
  size_t high_watermark_ = kDefaultHighWatermark;
  // One buffer for every read: libuv hands it back before asking again.
  std::unique_ptr<uint8_t[]> read_buffer_;
};

// A listening TCP socket. Destroying it stops listening; no callback runs
// after that.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator owns the listener; the loop and the delegate must
// outlive it.
class TcpListener : private internal::HandleOwner {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // A connection arrived. It has no delegate yet and starts reading when
    // SetDelegate() gives it one.
    virtual void OnAccept(std::unique_ptr<TcpSocket> socket) = 0;
  };

  TcpListener(UvLoop* loop, Delegate* delegate);
  ~TcpListener();

  // Binds to `address` (port 0 picks a free port) and listens.
  // kAlreadyExists, naming the address, when it is in use.
  absl::Status Listen(const SocketAddress& address, int backlog);

  // Closes the socket with a reset (RST, SO_LINGER 0) instead of FIN:
  // queued bytes are dropped and the peer sees ECONNRESET. No callback
  // follows; the object may then only be destroyed. A socket that never
  // connected, or whose write side was shut down, is closed normally.
  void Reset();

  absl::StatusOr<SocketAddress> LocalAddress() const;

 private:
  void CloseHandle() override;
  void OnConnection();

  UvLoop* const loop_;        // Not owned.
  Delegate* const delegate_;  // Not owned.
  uv_tcp_s* tcp_;  // Freed by libuv's close callback; null once closed.
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_TCP_SOCKET_H_
