// The host side of a relay: a connected byte stream on the host (a TCP
// socket, or one end of a socketpair), behind one small interface so that
// the relay is written once.
#ifndef STOWAWAY_SDK_PROXY_HOST_STREAM_H_
#define STOWAWAY_SDK_PROXY_HOST_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "sdk/event/stream_fd.h"
#include "sdk/event/tcp_socket.h"

namespace stow::proxy {

// A connected host stream. Semantics are those of event::TcpSocket (see
// tcp_socket.h): Write() copies and queues without limit, watermarks arm
// OnWritable(), SetReading() is flow control, ShutdownWrite() half-closes,
// Reset() drops everything (a TCP RST where the stream has one).
// Threading: loop thread only. The delegate must outlive the stream.
class HostStream {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    virtual void OnData(absl::Span<const uint8_t> data) = 0;
    virtual void OnEof() = 0;
    virtual void OnWritable() = 0;
    virtual void OnError(absl::Status status) = 0;
  };

  virtual ~HostStream() = default;
  virtual void SetDelegate(Delegate* delegate) = 0;
  virtual absl::Status Write(absl::Span<const uint8_t> data) = 0;
  virtual size_t QueuedBytes() const = 0;
  virtual void SetWriteWatermarks(size_t low, size_t high) = 0;
  virtual void SetReading(bool reading) = 0;
  virtual absl::Status ShutdownWrite() = 0;
  virtual void Reset() = 0;
};

// Wraps a connected TCP socket (accepted, or after OnConnected(OK)).
std::unique_ptr<HostStream> WrapTcpSocket(
    std::unique_ptr<event::TcpSocket> socket);
// Wraps an adopted descriptor.
std::unique_ptr<HostStream> WrapStreamFd(std::unique_ptr<event::StreamFd> fd);

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_HOST_STREAM_H_
