#include "sdk/event/udp_socket.h"

#include <uv.h>

#include <cerrno>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "sdk/event/uv_util.h"

namespace stow::event {
namespace {

// libuv reads into 64 KiB slices, enough for any UDP payload; with
// recvmmsg() it fills one slice per datagram, up to this many per call.
constexpr size_t kSliceSize = 64 * 1024;
constexpr size_t kSlicesPerRead = 8;

absl::Status SetSocketBuffer(int fd, int force_option, int option, int bytes) {
  if (bytes == 0) return absl::OkStatus();
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof(bytes)) == 0) {
    return absl::OkStatus();
  }
  if (setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof(bytes)) == 0) {
    return absl::OkStatus();
  }
  return internal::UvError(uv_translate_sys_error(errno),
                           absl::StrCat("setting a socket buffer to ", bytes));
}

}  // namespace

UdpSocket::UdpSocket(UvLoop* loop, Delegate* delegate)
    : delegate_(delegate), udp_(new uv_udp_t) {
  // AF_UNSPEC: the socket itself is created by Bind(), for the address's
  // family. RECVMMSG lets libuv read several datagrams per system call.
  uv_udp_init_ex(loop->uv_loop(), udp_, AF_UNSPEC | UV_UDP_RECVMMSG);
  internal::SetOwner(udp_, this);
}

UdpSocket::~UdpSocket() { CloseHandle(); }

void UdpSocket::CloseHandle() {
  if (udp_ == nullptr) return;
  // Stops libuv from handing out the rest of a recvmmsg() batch.
  uv_udp_recv_stop(udp_);
  internal::CloseAndDelete(udp_);
  udp_ = nullptr;
}

absl::Status UdpSocket::Bind(const SocketAddress& address) {
  if (bound_) return absl::FailedPreconditionError("UDP socket already bound");
  sockaddr_storage sa;
  address.ToSockaddr(&sa);
  if (int err = uv_udp_bind(udp_, reinterpret_cast<sockaddr*>(&sa), 0)) {
    return internal::BindError(err, address);
  }
  bound_ = true;
  receive_buffer_size_ =
      uv_udp_using_recvmmsg(udp_) ? kSliceSize * kSlicesPerRead : kSliceSize;
  receive_buffer_.reset(new uint8_t[receive_buffer_size_]);
  int err = uv_udp_recv_start(
      udp_,
      [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* self = static_cast<UdpSocket*>(internal::OwnerOf(handle));
        *buf = uv_buf_init(reinterpret_cast<char*>(self->receive_buffer_.get()),
                           self->receive_buffer_size_);
      },
      [](uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
         const sockaddr* from, unsigned) {
        // No sender means no datagram: the socket had nothing more to read,
        // or a recvmmsg() batch ended (UV_UDP_MMSG_FREE; the buffer is ours
        // to keep). Read errors on an unconnected UDP socket are transient
        // and nothing the owner could act on.
        if (nread < 0 || from == nullptr) return;
        auto* self = static_cast<UdpSocket*>(internal::OwnerOf(handle));
        self->OnReceive(absl::MakeConstSpan(
                            reinterpret_cast<const uint8_t*>(buf->base),
                            static_cast<size_t>(nread)),
                        from);
      });
  if (err != 0) return internal::UvError(err, "starting to receive");
  return absl::OkStatus();
}

void UdpSocket::OnReceive(absl::Span<const uint8_t> data,
                          const sockaddr* from) {
  absl::StatusOr<SocketAddress> sender = SocketAddress::FromSockaddr(from);
  if (!sender.ok()) return;  // Not IPv4 or IPv6: not ours.
  ++counters_.datagrams_received;
  counters_.bytes_received += data.size();
  delegate_->OnDatagram(data, *sender);
}

absl::StatusOr<SocketAddress> UdpSocket::LocalAddress() const {
  sockaddr_storage sa;
  int len = sizeof(sa);
  if (int err = uv_udp_getsockname(udp_, reinterpret_cast<sockaddr*>(&sa),
                                   &len)) {
    return internal::UvError(err, "getting the local address");
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa));
}

absl::Status UdpSocket::SetBufferSizes(int receive_bytes, int send_bytes) {
  uv_os_fd_t fd;
  if (!bound_ || uv_fileno(reinterpret_cast<uv_handle_t*>(udp_), &fd) != 0) {
    return absl::FailedPreconditionError(
        "SetBufferSizes() before Bind(): there is no socket yet");
  }
  absl::Status status =
      SetSocketBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, receive_bytes);
  if (!status.ok()) return status;
  return SetSocketBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_bytes);
}

absl::Status UdpSocket::SendTo(
    absl::Span<const absl::Span<const uint8_t>> fragments,
    const SocketAddress& to) {
  if (!bound_) return absl::FailedPreconditionError("SendTo() before Bind()");
  absl::InlinedVector<uv_buf_t, 8> bufs;
  for (absl::Span<const uint8_t> fragment : fragments) {
    // libuv's buffers are mutable for reads; a send only reads them.
    bufs.push_back(uv_buf_init(
        const_cast<char*>(reinterpret_cast<const char*>(fragment.data())),
        fragment.size()));
  }
  if (bufs.empty()) bufs.push_back(uv_buf_init(nullptr, 0));  // Empty datagram.
  sockaddr_storage sa;
  to.ToSockaddr(&sa);
  int sent = uv_udp_try_send(udp_, bufs.data(), bufs.size(),
                             reinterpret_cast<sockaddr*>(&sa));
  if (sent == UV_EAGAIN || sent == UV_ENOBUFS) {
    ++counters_.send_drops;
    return absl::UnavailableError(absl::StrCat(
        "UDP socket buffer full, datagram to ", to.ToString(), " dropped"));
  }
  if (sent < 0) {
    return internal::UvError(sent, absl::StrCat("sending to ", to.ToString()));
  }
  ++counters_.datagrams_sent;
  counters_.bytes_sent += sent;
  return absl::OkStatus();
}

}  // namespace stow::event
