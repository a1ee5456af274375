// A host UDP socket on a UvLoop.
#ifndef STOWAWAY_SDK_EVENT_UDP_SOCKET_H_
#define STOWAWAY_SDK_EVENT_UDP_SOCKET_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/handle_owner.h"
#include "sdk/event/uv_loop.h"

struct uv_udp_s;

namespace stow::event {

// A UDP socket (uv_udp_t). Sends are synchronous and never queue: a full
// socket buffer drops the datagram, as the network would. Receiving starts
// at Bind() and lasts until destruction, which closes the socket; no
// callback runs after that.
//
// Threading: loop thread only, construction and destruction included.
// Ownership: the creator owns the socket; the loop and the delegate must
// outlive it.
class UdpSocket : private internal::HandleOwner {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // A datagram arrived from `from`. `data` is valid only during the call.
    virtual void OnDatagram(absl::Span<const uint8_t> data,
                            const SocketAddress& from) = 0;
  };

  struct Counters {
    uint64_t datagrams_sent = 0;
    uint64_t bytes_sent = 0;
    uint64_t datagrams_received = 0;
    uint64_t bytes_received = 0;
    // Datagrams SendTo() dropped because the socket buffer was full.
    uint64_t send_drops = 0;
  };

  UdpSocket(UvLoop* loop, Delegate* delegate);
  ~UdpSocket();

  // Binds to `address` (port 0 picks a free port) and starts receiving.
  // kAlreadyExists, naming the address, when it is in use;
  // kFailedPrecondition when already bound.
  absl::Status Bind(const SocketAddress& address);

  // The bound address, with the actual port.
  absl::StatusOr<SocketAddress> LocalAddress() const;

  // Sets SO_RCVBUF and SO_SNDBUF (a size of 0 leaves that buffer alone).
  // Tries the SO_*BUFFORCE variants first, which exceed the system maximum
  // but need CAP_NET_ADMIN. After Bind().
  absl::Status SetBufferSizes(int receive_bytes, int send_bytes);

  // Sends the concatenation of `fragments` as one datagram to `to`, now.
  // kUnavailable, counted in send_drops, when the socket buffer is full;
  // kFailedPrecondition before Bind().
  absl::Status SendTo(absl::Span<const absl::Span<const uint8_t>> fragments,
                      const SocketAddress& to);

  const Counters& counters() const { return counters_; }

 private:
  void CloseHandle() override;
  void OnReceive(absl::Span<const uint8_t> data, const sockaddr* from);

  Delegate* const delegate_;  // Not owned.
  uv_udp_s* udp_;  // Freed by libuv's close callback; null once closed.
  bool bound_ = false;
  // One buffer for every receive: libuv hands it back before asking again.
  std::unique_ptr<uint8_t[]> receive_buffer_;
  size_t receive_buffer_size_ = 0;
  Counters counters_;
};

}  // namespace stow::event

#endif  // STOWAWAY_SDK_EVENT_UDP_SOCKET_H_
