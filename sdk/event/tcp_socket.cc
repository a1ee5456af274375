#include "sdk/event/tcp_socket.h"

#include <uv.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/event/uv_util.h"

namespace stow::event {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

uv_stream_t* AsStream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}

// Bytes Write() could not hand to the kernel at once, kept until libuv has
// written them.
struct WriteRequest {
  explicit WriteRequest(absl::Span<const uint8_t> data)
      : bytes(new char[data.size()]) {
    std::copy(data.begin(), data.end(), bytes.get());
    req.data = this;
  }
  uv_write_t req;
  std::unique_ptr<char[]> bytes;
};

using GetNameFn = int (*)(const uv_tcp_t*, sockaddr*, int*);

absl::StatusOr<SocketAddress> GetName(const uv_tcp_t* tcp, GetNameFn get_name,
                                      absl::string_view what) {
  sockaddr_storage sa;
  int len = sizeof(sa);
  if (int err = get_name(tcp, reinterpret_cast<sockaddr*>(&sa), &len)) {
    return internal::UvError(err, absl::StrCat("getting the ", what));
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa));
}

}  // namespace

TcpSocket::TcpSocket(UvLoop* loop, Delegate* delegate)
    : delegate_(delegate), tcp_(new uv_tcp_t) {
  uv_tcp_init(loop->uv_loop(), tcp_);
  // Recorded in the handle and applied when the socket is created.
  uv_tcp_nodelay(tcp_, 1);
  internal::SetOwner(tcp_, this);
}

TcpSocket::~TcpSocket() { CloseHandle(); }

void TcpSocket::CloseHandle() {
  if (tcp_ == nullptr) return;
  internal::CloseAndDelete(tcp_);
  tcp_ = nullptr;
}

void TcpSocket::Reset() {
  if (tcp_ == nullptr) return;
  uv_tcp_t* tcp = tcp_;
  tcp_ = nullptr;
  reinterpret_cast<uv_handle_t*>(tcp)->data = nullptr;
  // libuv refuses a reset once shutdown() was called (UV_EINVAL): then a
  // normal close is all that is left.
  if (uv_tcp_close_reset(tcp, [](uv_handle_t* closed) {
        delete reinterpret_cast<uv_tcp_t*>(closed);
      }) != 0) {
    internal::CloseAndDelete(tcp);
  }
}

void TcpSocket::SetDelegate(Delegate* delegate) {
  delegate_ = delegate;
  UpdateReading();
}

absl::Status TcpSocket::Connect(const SocketAddress& peer) {
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("Connect() on a used TCP socket");
  }
  sockaddr_storage sa;
  peer.ToSockaddr(&sa);
  auto* req = new uv_connect_t;
  int err = uv_tcp_connect(
      req, tcp_, reinterpret_cast<sockaddr*>(&sa),
      [](uv_connect_t* req, int status) {
        uv_stream_t* stream = req->handle;
        delete req;
        if (internal::HandleOwner* owner = internal::OwnerOf(stream)) {
          static_cast<TcpSocket*>(owner)->OnConnect(status);
        }
      });
  if (err != 0) {
    delete req;
    return internal::UvError(err,
                             absl::StrCat("connecting to ", peer.ToString()));
  }
  state_ = State::kConnecting;
  connect_peer_ = peer;
  return absl::OkStatus();
}

void TcpSocket::OnConnect(int status) {
  if (status < 0) {
    state_ = State::kFailed;
    delegate_->OnConnected(internal::UvError(
        status, absl::StrCat("connecting to ", connect_peer_.ToString())));
    return;
  }
  state_ = State::kConnected;
  UpdateReading();
  delegate_->OnConnected(absl::OkStatus());
}

absl::Status TcpSocket::Write(absl::Span<const uint8_t> data) {
  if (state_ == State::kNew || state_ == State::kFailed || write_shut_) {
    return absl::FailedPreconditionError(
        "Write() on a TCP socket that is not connected, failed or shut down "
        "for writing");
  }
  if (data.empty()) return absl::OkStatus();
  // Whatever the kernel takes now is not copied. uv_try_write() refuses
  // while connecting or with writes queued, which keeps the bytes in order.
  uv_buf_t buf = uv_buf_init(
      const_cast<char*>(reinterpret_cast<const char*>(data.data())),
      data.size());
  int written = uv_try_write(AsStream(tcp_), &buf, 1);
  // On an error other than "would block", the uv_write() below meets it too
  // and reports it through OnError().
  if (written < 0) written = 0;
  if (static_cast<size_t>(written) == data.size()) return absl::OkStatus();

  auto request = std::make_unique<WriteRequest>(data.subspan(written));
  buf = uv_buf_init(request->bytes.get(), data.size() - written);
  int err = uv_write(&request->req, AsStream(tcp_), &buf, 1,
                     [](uv_write_t* req, int status) {
                       uv_stream_t* stream = req->handle;
                       delete static_cast<WriteRequest*>(req->data);
                       if (internal::HandleOwner* owner =
                               internal::OwnerOf(stream)) {
                         static_cast<TcpSocket*>(owner)->OnWriteDone(status);
                       }
                     });
  if (err != 0) return internal::UvError(err, "writing");
  request.release();  // Deleted by the write callback.
  if (QueuedBytes() > high_watermark_) above_high_watermark_ = true;
  return absl::OkStatus();
}

void TcpSocket::OnWriteDone(int status) {
  if (status < 0) {
    Fail(internal::UvError(status, "writing"));
    return;
  }
  if (above_high_watermark_ && QueuedBytes() <= low_watermark_) {
    above_high_watermark_ = false;
    delegate_->OnWritable();
  }
}

size_t TcpSocket::QueuedBytes() const {
  return uv_stream_get_write_queue_size(
      reinterpret_cast<const uv_stream_t*>(tcp_));
}

void TcpSocket::SetWriteWatermarks(size_t low, size_t high) {
  low_watermark_ = low;
  high_watermark_ = high;
}

void TcpSocket::SetReading(bool reading) {
  want_reading_ = reading;
  UpdateReading();
}

void TcpSocket::UpdateReading() {
  if (!want_reading_ || delegate_ == nullptr || state_ != State::kConnected ||
      eof_) {
    uv_read_stop(AsStream(tcp_));
    return;
  }
  uv_read_start(
      AsStream(tcp_),
      [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* self = static_cast<TcpSocket*>(internal::OwnerOf(handle));
        if (self->read_buffer_ == nullptr) {
          self->read_buffer_.reset(new uint8_t[kReadBufferSize]);
        }
        *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.get()),
                           kReadBufferSize);
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
        static_cast<TcpSocket*>(internal::OwnerOf(stream))->OnRead(nread);
      });
}

void TcpSocket::OnRead(ptrdiff_t nread) {
  if (nread > 0) {
    delegate_->OnData(absl::MakeConstSpan(read_buffer_.get(),
                                          static_cast<size_t>(nread)));
  } else if (nread == UV_EOF) {
    eof_ = true;  // libuv has stopped reading.
    delegate_->OnEof();
  } else if (nread < 0) {
    Fail(internal::UvError(static_cast<int>(nread), "reading"));
  }
  // 0: nothing to read after all.
}

absl::Status TcpSocket::ShutdownWrite() {
  if ((state_ != State::kConnecting && state_ != State::kConnected) ||
      write_shut_) {
    return absl::FailedPreconditionError(
        "ShutdownWrite() on a TCP socket that is not connected, failed or "
        "already shut down for writing");
  }
  auto* req = new uv_shutdown_t;
  int err = uv_shutdown(req, AsStream(tcp_), [](uv_shutdown_t* req, int status) {
    uv_stream_t* stream = req->handle;
    delete req;
    internal::HandleOwner* owner = internal::OwnerOf(stream);
    if (owner == nullptr || status == 0) return;
    static_cast<TcpSocket*>(owner)->Fail(
        internal::UvError(status, "shutting down the write side"));
  });
  if (err != 0) {
    delete req;
    return internal::UvError(err, "shutting down the write side");
  }
  write_shut_ = true;
  return absl::OkStatus();
}

void TcpSocket::Fail(absl::Status status) {
  if (state_ == State::kFailed) return;
  state_ = State::kFailed;
  UpdateReading();
  delegate_->OnError(std::move(status));
}

absl::StatusOr<SocketAddress> TcpSocket::LocalAddress() const {
  return GetName(tcp_, uv_tcp_getsockname, "local address");
}

absl::StatusOr<SocketAddress> TcpSocket::PeerAddress() const {
  return GetName(tcp_, uv_tcp_getpeername, "peer address");
}

TcpListener::TcpListener(UvLoop* loop, Delegate* delegate)
    : loop_(loop), delegate_(delegate), tcp_(new uv_tcp_t) {
  uv_tcp_init(loop->uv_loop(), tcp_);
  internal::SetOwner(tcp_, this);
}

TcpListener::~TcpListener() { CloseHandle(); }

void TcpListener::CloseHandle() {
  if (tcp_ == nullptr) return;
  internal::CloseAndDelete(tcp_);
  tcp_ = nullptr;
}

absl::Status TcpListener::Listen(const SocketAddress& address, int backlog) {
  sockaddr_storage sa;
  address.ToSockaddr(&sa);
  // libuv reports an address in use at uv_listen(), not at uv_tcp_bind().
  int err = uv_tcp_bind(tcp_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (err == 0) {
    err = uv_listen(AsStream(tcp_), backlog, [](uv_stream_t* server, int status) {
      // A failed accept (out of descriptors, say) loses that connection
      // only; libuv keeps listening.
      if (status < 0) return;
      static_cast<TcpListener*>(internal::OwnerOf(server))->OnConnection();
    });
  }
  if (err != 0) return internal::BindError(err, address);
  return absl::OkStatus();
}

void TcpListener::OnConnection() {
  auto socket = std::make_unique<TcpSocket>(loop_, nullptr);
  // Fails only if the connection is gone already; then there is nothing to
  // hand out, and destroying `socket` closes it.
  if (uv_accept(AsStream(tcp_), AsStream(socket->tcp_)) != 0) return;
  socket->state_ = TcpSocket::State::kConnected;
  delegate_->OnAccept(std::move(socket));
}

absl::StatusOr<SocketAddress> TcpListener::LocalAddress() const {
  return GetName(tcp_, uv_tcp_getsockname, "local address");
}

}  // namespace stow::event
