#include "sdk/proxy/host_stream.h"

#include <utility>

namespace stow::proxy {
namespace {

// Both event types have the same shape; one template adapts either.
template <typename Stream, typename StreamDelegate>
class Adapter : public HostStream, private StreamDelegate {
 public:
  explicit Adapter(std::unique_ptr<Stream> stream)
      : stream_(std::move(stream)) {}
  ~Adapter() override = default;

  void SetDelegate(Delegate* delegate) override {
    delegate_ = delegate;
    stream_->SetDelegate(delegate == nullptr ? nullptr : this);
  }
  absl::Status Write(absl::Span<const uint8_t> data) override {
    return stream_->Write(data);
  }
  size_t QueuedBytes() const override { return stream_->QueuedBytes(); }
  void SetWriteWatermarks(size_t low, size_t high) override {
    stream_->SetWriteWatermarks(low, high);
  }
  void SetReading(bool reading) override { stream_->SetReading(reading); }
  absl::Status ShutdownWrite() override { return stream_->ShutdownWrite(); }
  void Reset() override;

 private:
  void OnData(absl::Span<const uint8_t> data) override {
    delegate_->OnData(data);
  }
  void OnEof() override { delegate_->OnEof(); }
  void OnWritable() override { delegate_->OnWritable(); }
  void OnError(absl::Status status) override {
    delegate_->OnError(std::move(status));
  }

  std::unique_ptr<Stream> stream_;
  Delegate* delegate_ = nullptr;  // Not owned.
};

// TcpSocket's delegate also has OnConnected(); the stream is connected.
class TcpDelegate : public event::TcpSocket::Delegate {
 public:
  void OnConnected(absl::Status) override {}
};

template <>
void Adapter<event::TcpSocket, TcpDelegate>::Reset() {
  stream_->Reset();
}
template <>
void Adapter<event::StreamFd, event::StreamFd::Delegate>::Reset() {
  stream_->Close();
}

}  // namespace

std::unique_ptr<HostStream> WrapTcpSocket(
    std::unique_ptr<event::TcpSocket> socket) {
  return std::make_unique<Adapter<event::TcpSocket, TcpDelegate>>(
      std::move(socket));
}

std::unique_ptr<HostStream> WrapStreamFd(std::unique_ptr<event::StreamFd> fd) {
  return std::make_unique<Adapter<event::StreamFd, event::StreamFd::Delegate>>(
      std::move(fd));
}

}  // namespace stow::proxy
