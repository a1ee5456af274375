#include "sdk/proxy/fd_bridge.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/proxy/host_stream.h"

namespace stow::proxy {

FdBridge::FdBridge(event::UvLoop* loop, EndCallback on_end)
    : loop_(loop),
      on_end_(std::move(on_end)),
      notifier_(loop->NewTimer([this] {
        if (on_end_) {
          EndCallback callback = std::move(on_end_);
          on_end_ = nullptr;
          callback(end_status_);
        }
      })) {}

absl::Status FdBridge::CreatePair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    const int err = errno;
    const std::string message =
        absl::StrCat("socketpair() failed: ", strerror(err));
    return err == EMFILE || err == ENFILE || err == ENOMEM
               ? absl::ResourceExhaustedError(message)
               : absl::InternalError(message);
  }
  absl::StatusOr<std::unique_ptr<event::StreamFd>> stream =
      event::StreamFd::Adopt(loop_, fds[0]);
  if (!stream.ok()) {
    close(fds[1]);
    return stream.status();
  }
  stream_ = std::move(*stream);
  app_fd_ = fds[1];
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FdBridge>> FdBridge::Dial(
    event::UvLoop* loop, Dialer* dialer, const std::string& host,
    uint16_t port, EndCallback on_end) {
  std::unique_ptr<FdBridge> bridge(new FdBridge(loop, std::move(on_end)));
  absl::Status status = bridge->CreatePair();
  if (!status.ok()) return status;
  bridge->dialer_ = dialer;
  bridge->dialing_ = true;
  FdBridge* raw = bridge.get();
  bridge->dial_id_ = dialer->Dial(
      host, port, [raw](Dialer::Result result) { raw->OnDialed(std::move(result)); });
  return bridge;
}

absl::StatusOr<std::unique_ptr<FdBridge>> FdBridge::Wrap(
    event::UvLoop* loop, std::unique_ptr<netstack::TcpConnection> connection,
    EndCallback on_end) {
  std::unique_ptr<FdBridge> bridge(new FdBridge(loop, std::move(on_end)));
  absl::Status status = bridge->CreatePair();
  if (!status.ok()) return status;
  bridge->StartRelay(std::move(connection));
  return bridge;
}

FdBridge::~FdBridge() {
  notifier_.reset();
  if (dialing_) dialer_->Cancel(dial_id_);
  relay_.reset();  // Resets the tunnel connection if still open.
  stream_.reset();
}

FdBridge::Counters FdBridge::counters() const {
  Counters c;
  if (relay_ != nullptr) {
    c.bytes_to_tunnel = relay_->counters().bytes_to_tunnel;
    c.bytes_to_app = relay_->counters().bytes_to_host;
  }
  return c;
}

void FdBridge::OnDialed(Dialer::Result result) {
  dialing_ = false;
  if (result.connection == nullptr) {
    stream_.reset();  // The app reads EOF.
    Finish(result.status);
    return;
  }
  StartRelay(std::move(result.connection));
}

void FdBridge::StartRelay(std::unique_ptr<netstack::TcpConnection> connection) {
  relay_ = std::make_unique<Relay>(
      std::move(connection), RelayOptions(), [this](RelayEnd end) {
        switch (end) {
          case RelayEnd::kClosed:
            Finish(absl::OkStatus());
            break;
          case RelayEnd::kTunnelError:
            Finish(absl::AbortedError("the tunnel connection was reset"));
            break;
          default:
            Finish(absl::UnavailableError(
                "the app's descriptor failed or was closed with bytes "
                "still arriving"));
        }
      });
  relay_->Start(WrapStreamFd(std::move(stream_)));
}

void FdBridge::Finish(absl::Status status) {
  if (ended_) return;
  ended_ = true;
  end_status_ = std::move(status);
  notifier_->Start(absl::ZeroDuration());
}

}  // namespace stow::proxy
