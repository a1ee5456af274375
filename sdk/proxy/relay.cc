#include "sdk/proxy/relay.h"

#include <utility>

namespace stow::proxy {
namespace {

constexpr size_t kIoChunk = 64 * 1024;

// Tunnel -> host reads: one buffer per loop thread, used only inside one
// call.
absl::Span<uint8_t> Scratch() {
  thread_local std::vector<uint8_t> scratch(kIoChunk);
  return absl::MakeSpan(scratch);
}

}  // namespace

// The delegate interfaces share method names, so each side has an adapter.
class Relay::TunnelSide : public netstack::TcpConnection::Delegate {
 public:
  explicit TunnelSide(Relay* relay) : relay_(relay) {}
  void OnReadable() override { relay_->PumpToHost(); }
  void OnWritable() override { relay_->PumpToTunnel(); }
  void OnError(absl::Status) override { relay_->OnTunnelError(); }

 private:
  Relay* const relay_;
};

class Relay::HostSide : public HostStream::Delegate {
 public:
  explicit HostSide(Relay* relay) : relay_(relay) {}
  void OnData(absl::Span<const uint8_t> data) override {
    relay_->OnHostData(data);
  }
  void OnEof() override { relay_->OnHostEof(); }
  void OnWritable() override { relay_->PumpToHost(); }
  void OnError(absl::Status) override { relay_->OnHostError(); }

 private:
  Relay* const relay_;
};

// Owns the host socket while it connects.
class Relay::Connector : public event::TcpSocket::Delegate {
 public:
  Connector(Relay* relay, event::UvLoop* loop)
      : relay_(relay), socket(std::make_unique<event::TcpSocket>(loop, this)) {}
  void OnConnected(absl::Status status) override {
    relay_->OnHostConnected(std::move(status));
  }
  void OnData(absl::Span<const uint8_t>) override {}
  void OnEof() override {}
  void OnWritable() override {}
  void OnError(absl::Status) override {}

  Relay* const relay_;
  std::unique_ptr<event::TcpSocket> socket;
};

Relay::Relay(std::unique_ptr<netstack::TcpConnection> tunnel,
             const RelayOptions& options, EndCallback on_end)
    : options_(options),
      on_end_(std::move(on_end)),
      tunnel_(std::move(tunnel)),
      tunnel_side_(std::make_unique<TunnelSide>(this)),
      host_side_(std::make_unique<HostSide>(this)) {
  tunnel_->set_delegate(tunnel_side_.get());
}

Relay::~Relay() {
  if (!done_) Abort();
}

void Relay::Start(std::unique_ptr<HostStream> host,
                  absl::Span<const uint8_t> to_tunnel) {
  if (done_) return;
  host_ = std::move(host);
  // OnWritable() when the queue has drained completely: see PumpToHost().
  host_->SetWriteWatermarks(0, 0);
  host_->SetDelegate(host_side_.get());
  if (!to_tunnel.empty()) {
    pending_.assign(to_tunnel.begin(), to_tunnel.end());
    pending_begin_ = 0;
    host_->SetReading(false);
    PumpToTunnel();
    if (done_) return;
  }
  PumpToHost();
}

void Relay::ConnectHost(event::UvLoop* loop, const SocketAddress& address) {
  connector_ = std::make_unique<Connector>(this, loop);
  absl::Status status = connector_->socket->Connect(address);
  if (!status.ok()) {
    // No callback follows a refused Connect(): end from here. The owner
    // must still defer the deletion, as for any end.
    tunnel_->Abort();
    End(RelayEnd::kConnectFailed);
  }
}

void Relay::OnHostConnected(absl::Status status) {
  if (done_) return;
  if (!status.ok()) {
    tunnel_->Abort();
    End(RelayEnd::kConnectFailed);
    return;
  }
  std::unique_ptr<event::TcpSocket> socket = std::move(connector_->socket);
  // The connector is the caller on the stack: keep it until the relay goes.
  Start(WrapTcpSocket(std::move(socket)));
}

void Relay::Abort() {
  if (done_) return;
  done_ = true;
  tunnel_->Abort();
  if (host_ != nullptr) host_->Reset();
  host_.reset();
  if (connector_ != nullptr && connector_->socket != nullptr) {
    connector_->socket->Reset();
  }
}

void Relay::CountToHost(size_t n) {
  counters_.bytes_to_host += n;
  if (options_.aggregate != nullptr) options_.aggregate->bytes_to_host += n;
}

void Relay::CountToTunnel(size_t n) {
  counters_.bytes_to_tunnel += n;
  if (options_.aggregate != nullptr) options_.aggregate->bytes_to_tunnel += n;
}

// Tunnel -> host: reads while the host queue is below the limit. The
// watermarks (0, 0) make every Write() that leaves bytes queued arm
// OnWritable() for when the queue is empty again, so the relay also learns
// when the last bytes before its FIN have left.
void Relay::PumpToHost() {
  if (done_ || host_ == nullptr) return;
  absl::Span<uint8_t> scratch = Scratch();
  while (!host_write_shut_ && host_->QueuedBytes() < options_.host_queue_limit) {
    const size_t n = tunnel_->Read(scratch);
    if (n == 0) break;
    if (!host_->Write(scratch.first(n)).ok()) {
      Fail(RelayEnd::kWriteFailed);
      return;
    }
    CountToHost(n);
  }
  if (!host_write_shut_ && tunnel_->peer_closed() &&
      tunnel_->readable_bytes() == 0) {
    host_write_shut_ = true;
    if (!host_->ShutdownWrite().ok()) {
      Fail(RelayEnd::kWriteFailed);
      return;
    }
  }
  MaybeFinish();
}

// Host -> tunnel: what the stack does not take now waits in pending_, and
// the host stream stops reading until it has gone.
void Relay::OnHostData(absl::Span<const uint8_t> data) {
  if (done_) return;
  if (pending_begin_ < pending_.size()) {
    // Already blocked (libuv may finish a read batch after SetReading).
    pending_.insert(pending_.end(), data.begin(), data.end());
    host_->SetReading(false);
    return;
  }
  absl::StatusOr<size_t> n = tunnel_->Write(data);
  if (!n.ok()) {
    Fail(RelayEnd::kWriteFailed);
    return;
  }
  CountToTunnel(*n);
  if (*n < data.size()) {
    pending_.assign(data.begin() + *n, data.end());
    pending_begin_ = 0;
    host_->SetReading(false);
  }
}

void Relay::PumpToTunnel() {
  if (done_ || host_ == nullptr) return;
  if (pending_begin_ < pending_.size()) {
    absl::StatusOr<size_t> n = tunnel_->Write(absl::MakeConstSpan(
        pending_.data() + pending_begin_, pending_.size() - pending_begin_));
    if (!n.ok()) {
      Fail(RelayEnd::kWriteFailed);
      return;
    }
    CountToTunnel(*n);
    pending_begin_ += *n;
    if (pending_begin_ < pending_.size()) return;  // OnWritable() again.
    pending_.clear();
    pending_begin_ = 0;
    if (!host_eof_) host_->SetReading(true);
  }
  if (host_eof_ && !tunnel_shut_) {
    tunnel_shut_ = true;
    if (!tunnel_->Shutdown().ok()) {
      Fail(RelayEnd::kWriteFailed);
      return;
    }
  }
  MaybeFinish();
}

void Relay::OnHostEof() {
  if (done_) return;
  host_eof_ = true;
  PumpToTunnel();
}

void Relay::MaybeFinish() {
  if (done_ || !host_write_shut_ || host_->QueuedBytes() > 0) return;
  if (!tunnel_shut_ && !options_.end_after_tunnel_eof) return;
  // Both directions delivered their FIN after all their bytes (or the
  // tunnel's did, in one-request mode): a graceful close.
  tunnel_->Close();
  End(RelayEnd::kClosed);
}

// The tunnel peer reset (or the stack aborted) the connection: reset the
// host side too.
void Relay::OnTunnelError() {
  if (done_) return;
  if (host_ != nullptr) host_->Reset();
  host_.reset();
  if (connector_ != nullptr && connector_->socket != nullptr) {
    connector_->socket->Reset();
  }
  End(RelayEnd::kTunnelError);
}

// The host stream failed: reset the tunnel connection.
void Relay::OnHostError() {
  if (done_) return;
  tunnel_->Abort();
  End(RelayEnd::kHostError);
}

void Relay::Fail(RelayEnd end) {
  tunnel_->Abort();
  if (host_ != nullptr) host_->Reset();
  End(end);
}

void Relay::End(RelayEnd end) {
  if (done_) return;
  done_ = true;
  if (on_end_) {
    EndCallback callback = std::move(on_end_);
    on_end_ = nullptr;
    callback(end);
  }
}

}  // namespace stow::proxy
