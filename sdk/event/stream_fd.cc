#include "sdk/event/stream_fd.h"

#include <uv.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/event/uv_util.h"

namespace stow::event {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

uv_stream_t* AsStream(uv_pipe_t* pipe) {
  return reinterpret_cast<uv_stream_t*>(pipe);
}

struct WriteRequest {
  explicit WriteRequest(absl::Span<const uint8_t> data)
      : bytes(new char[data.size()]) {
    std::copy(data.begin(), data.end(), bytes.get());
    req.data = this;
  }
  uv_write_t req;
  std::unique_ptr<char[]> bytes;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StreamFd>> StreamFd::Adopt(UvLoop* loop,
                                                          int fd) {
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(loop->uv_loop(), pipe, /*ipc=*/0);
  int err = uv_pipe_open(pipe, fd);
  if (err != 0) {
    // libuv did not take the descriptor: close it here, as promised.
    ::close(fd);
    pipe->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(pipe),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    absl::Status status = internal::UvError(
        err, absl::StrCat("adopting descriptor ", fd));
    return absl::InvalidArgumentError(status.message());
  }
  return std::unique_ptr<StreamFd>(new StreamFd(pipe));
}

StreamFd::StreamFd(uv_pipe_s* pipe) : pipe_(pipe) {
  internal::SetOwner(pipe_, this);
}

StreamFd::~StreamFd() { CloseHandle(); }

void StreamFd::CloseHandle() {
  if (pipe_ == nullptr) return;
  internal::CloseAndDelete(pipe_);  // Closes the descriptor too.
  pipe_ = nullptr;
}

void StreamFd::Close() { CloseHandle(); }

void StreamFd::SetDelegate(Delegate* delegate) {
  delegate_ = delegate;
  UpdateReading();
}

absl::Status StreamFd::Write(absl::Span<const uint8_t> data) {
  if (pipe_ == nullptr || failed_ || write_shut_) {
    return absl::FailedPreconditionError(
        "Write() on a stream that is closed, failed or shut down for "
        "writing");
  }
  if (data.empty()) return absl::OkStatus();
  uv_buf_t buf = uv_buf_init(
      const_cast<char*>(reinterpret_cast<const char*>(data.data())),
      data.size());
  int written = uv_try_write(AsStream(pipe_), &buf, 1);
  if (written < 0) written = 0;
  if (static_cast<size_t>(written) == data.size()) return absl::OkStatus();
  auto request = std::make_unique<WriteRequest>(data.subspan(written));
  buf = uv_buf_init(request->bytes.get(), data.size() - written);
  int err = uv_write(&request->req, AsStream(pipe_), &buf, 1,
                     [](uv_write_t* req, int status) {
                       uv_stream_t* stream = req->handle;
                       delete static_cast<WriteRequest*>(req->data);
                       if (internal::HandleOwner* owner =
                               internal::OwnerOf(stream)) {
                         static_cast<StreamFd*>(owner)->OnWriteDone(status);
                       }
                     });
  if (err != 0) return internal::UvError(err, "writing");
  request.release();  // Deleted by the write callback.
  if (QueuedBytes() > high_watermark_) above_high_watermark_ = true;
  return absl::OkStatus();
}

void StreamFd::OnWriteDone(int status) {
  if (status < 0) {
    Fail(internal::UvError(status, "writing"));
    return;
  }
  if (above_high_watermark_ && QueuedBytes() <= low_watermark_) {
    above_high_watermark_ = false;
    if (delegate_ != nullptr) delegate_->OnWritable();
  }
}

size_t StreamFd::QueuedBytes() const {
  if (pipe_ == nullptr) return 0;
  return uv_stream_get_write_queue_size(
      reinterpret_cast<const uv_stream_t*>(pipe_));
}

void StreamFd::SetWriteWatermarks(size_t low, size_t high) {
  low_watermark_ = low;
  high_watermark_ = high;
}

void StreamFd::SetReading(bool reading) {
  want_reading_ = reading;
  UpdateReading();
}

void StreamFd::UpdateReading() {
  if (pipe_ == nullptr) return;
  if (!want_reading_ || delegate_ == nullptr || failed_ || eof_) {
    uv_read_stop(AsStream(pipe_));
    return;
  }
  uv_read_start(
      AsStream(pipe_),
      [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* self = static_cast<StreamFd*>(internal::OwnerOf(handle));
        if (self->read_buffer_ == nullptr) {
          self->read_buffer_.reset(new uint8_t[kReadBufferSize]);
        }
        *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.get()),
                           kReadBufferSize);
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
        static_cast<StreamFd*>(internal::OwnerOf(stream))->OnRead(nread);
      });
}

void StreamFd::OnRead(ptrdiff_t nread) {
  if (nread > 0) {
    delegate_->OnData(absl::MakeConstSpan(read_buffer_.get(),
                                          static_cast<size_t>(nread)));
  } else if (nread == UV_EOF) {
    eof_ = true;
    uv_read_stop(AsStream(pipe_));
    delegate_->OnEof();
  } else if (nread < 0) {
    Fail(internal::UvError(static_cast<int>(nread), "reading"));
  }
}

absl::Status StreamFd::ShutdownWrite() {
  if (pipe_ == nullptr || failed_ || write_shut_) {
    return absl::FailedPreconditionError(
        "ShutdownWrite() on a stream that is closed, failed or already shut "
        "down for writing");
  }
  auto* req = new uv_shutdown_t;
  int err = uv_shutdown(req, AsStream(pipe_), [](uv_shutdown_t* req,
                                                 int status) {
    uv_stream_t* stream = req->handle;
    delete req;
    internal::HandleOwner* owner = internal::OwnerOf(stream);
    // The peer closing its end first is not an error for a half-close.
    if (owner == nullptr || status == 0 || status == UV_ENOTCONN ||
        status == UV_EPIPE) {
      return;
    }
    static_cast<StreamFd*>(owner)->Fail(
        internal::UvError(status, "shutting down the write side"));
  });
  if (err != 0) {
    delete req;
    return internal::UvError(err, "shutting down the write side");
  }
  write_shut_ = true;
  return absl::OkStatus();
}

void StreamFd::Fail(absl::Status status) {
  if (failed_) return;
  failed_ = true;
  UpdateReading();
  if (delegate_ != nullptr) delegate_->OnError(std::move(status));
}

}  // namespace stow::event
