#include "sdk/gateway/services/port_forward.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/gateway/services/http_request.h"

namespace stow::gateway {
namespace {

using netstack::TcpConnection;

constexpr size_t kIoChunk = 64 * 1024;
constexpr absl::string_view kExample = "10.99.0.1:8080=127.0.0.1:8000";

absl::Status SideError(absl::string_view what, absl::string_view text,
                       absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", text, "\": ", problem));
}

// "IPv4:port" or "[IPv6]:port".
absl::StatusOr<SocketAddress> ParseSide(absl::string_view what,
                                        absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is empty; expected IPv4:PORT or [IPv6]:PORT"));
  }
  absl::string_view host;
  absl::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    bracketed = true;
    size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return SideError(what, text, "missing ']' after the IPv6 address");
    }
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      return SideError(what, text, "has no port; expected [IPv6]:PORT");
    }
    if (rest.front() != ':') {
      return SideError(what, text, "expected ':' and a port after ']'");
    }
    port_text = rest.substr(1);
  } else {
    size_t colon = text.find(':');
    if (colon == absl::string_view::npos) {
      return SideError(what, text, "has no port; expected IPv4:PORT");
    }
    if (text.find(':', colon + 1) != absl::string_view::npos) {
      return SideError(
          what, text,
          "IPv6 addresses need brackets, e.g. [fd99::1]:8080");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  absl::optional<uint64_t> port = ParseDecimal(port_text);
  if (!port.has_value() || *port == 0 || *port > 65535) {
    return SideError(what, text,
                     absl::StrCat("port \"", port_text,
                                  "\" is not a number in 1..65535"));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
  if (!ip.ok()) {
    return SideError(what, text,
                     absl::StrCat("\"", host, "\" is not an ",
                                  bracketed ? "IPv6" : "IPv4",
                                  " address (host names are not resolved)"));
  }
  if (bracketed && ip->is_v4()) {
    return SideError(what, text, "IPv4 addresses are written without brackets");
  }
  if (!bracketed && ip->is_v6()) {
    return SideError(what, text, "IPv6 addresses need brackets");
  }
  return SocketAddress(*ip, static_cast<uint16_t>(*port));
}

}  // namespace

std::string ForwardSpec::ToString() const {
  return absl::StrCat(virtual_address.ToString(), "=",
                      host_address.ToString());
}

absl::StatusOr<ForwardSpec> ParseForwardSpec(absl::string_view text) {
  size_t eq = text.find('=');
  if (eq == absl::string_view::npos ||
      text.find('=', eq + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward spec \"", text,
        "\" needs exactly one '=' between the virtual address and the host "
        "address, e.g. ",
        kExample));
  }
  absl::StatusOr<SocketAddress> virtual_address =
      ParseSide("virtual address", text.substr(0, eq));
  if (!virtual_address.ok()) return virtual_address.status();
  absl::StatusOr<SocketAddress> host_address =
      ParseSide("host address", text.substr(eq + 1));
  if (!host_address.ok()) return host_address.status();
  if (host_address->ip().IsUnspecified()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host address \"", text.substr(eq + 1),
                     "\" is unspecified; name a host address such as "
                     "127.0.0.1"));
  }
  return ForwardSpec{*virtual_address, *host_address};
}

// ---- Relay ----

// One virtual connection and its host socket. Ends exactly once (End());
// the owner deletes it on a later loop turn. Loop thread only.
class PortForward::Relay {
 public:
  Relay(PortForward* owner, std::unique_ptr<TcpConnection> conn)
      : owner_(owner), virtual_(std::move(conn)), virtual_side_(this),
        host_side_(this) {
    virtual_->set_delegate(&virtual_side_);
  }

  void Start() {
    host_ = std::make_unique<event::TcpSocket>(owner_->loop_, &host_side_);
    // OnWritable() when the queue has drained completely: see PumpToHost().
    host_->SetWriteWatermarks(0, 0);
    absl::Status status = host_->Connect(owner_->spec_.host_address);
    if (!status.ok()) {
      owner_->counters_.connect_failures++;
      virtual_->Abort();
      End(/*error=*/true);
    }
  }

  // Owner teardown.
  void AbortNow() {
    if (done_) return;
    done_ = true;
    virtual_->Abort();
    host_.reset();
    owner_->counters_.active--;
    owner_->counters_.closed++;
  }

  std::list<std::unique_ptr<Relay>>::iterator position;

 private:
  // The two delegate interfaces share method names, so each side has its
  // own adapter.
  class VirtualSide : public TcpConnection::Delegate {
   public:
    explicit VirtualSide(Relay* relay) : relay_(relay) {}
    void OnReadable() override { relay_->PumpToHost(); }
    void OnWritable() override { relay_->PumpToVirtual(); }
    void OnError(absl::Status) override { relay_->OnVirtualError(); }

   private:
    Relay* const relay_;
  };

  class HostSide : public event::TcpSocket::Delegate {
   public:
    explicit HostSide(Relay* relay) : relay_(relay) {}
    void OnConnected(absl::Status status) override {
      relay_->OnHostConnected(std::move(status));
    }
    void OnData(absl::Span<const uint8_t> data) override {
      relay_->OnHostData(data);
    }
    void OnEof() override { relay_->OnHostEof(); }
    void OnWritable() override { relay_->PumpToHost(); }
    void OnError(absl::Status) override { relay_->OnHostError(); }

   private:
    Relay* const relay_;
  };

  void OnHostConnected(absl::Status status) {
    if (done_) return;
    if (!status.ok()) {
      owner_->counters_.connect_failures++;
      virtual_->Abort();
      End(/*error=*/true);
      return;
    }
    host_connected_ = true;
    PumpToHost();
  }

  // Virtual -> host: reads while the host queue is below the limit. The
  // watermarks (0, 0) make every Write() that leaves bytes queued arm
  // OnWritable() for when the queue is empty again, so the relay also
  // learns when the last bytes before its FIN have left.
  void PumpToHost() {
    if (done_ || !host_connected_) return;
    while (!host_write_shut_ &&
           host_->QueuedBytes() < owner_->options_.host_queue_limit) {
      const size_t n = virtual_->Read(absl::MakeSpan(owner_->scratch_));
      if (n == 0) break;
      if (!host_->Write(absl::MakeConstSpan(owner_->scratch_.data(), n)).ok()) {
        Fail();
        return;
      }
      owner_->counters_.bytes_to_host += n;
    }
    if (!host_write_shut_ && virtual_->peer_closed() &&
        virtual_->readable_bytes() == 0) {
      host_write_shut_ = true;
      if (!host_->ShutdownWrite().ok()) {
        Fail();
        return;
      }
    }
    MaybeFinish();
  }

  // Host -> virtual: what the stack does not take now waits in pending_,
  // and the host socket stops reading until it has gone.
  void OnHostData(absl::Span<const uint8_t> data) {
    if (done_) return;
    if (pending_begin_ < pending_.size()) {
      // Already blocked (libuv may finish a read batch after SetReading).
      pending_.insert(pending_.end(), data.begin(), data.end());
      host_->SetReading(false);
      return;
    }
    absl::StatusOr<size_t> n = virtual_->Write(data);
    if (!n.ok()) {
      Fail();
      return;
    }
    owner_->counters_.bytes_to_virtual += *n;
    if (*n < data.size()) {
      pending_.assign(data.begin() + *n, data.end());
      pending_begin_ = 0;
      host_->SetReading(false);
    }
  }

  void PumpToVirtual() {
    if (done_) return;
    if (pending_begin_ < pending_.size()) {
      absl::StatusOr<size_t> n = virtual_->Write(absl::MakeConstSpan(
          pending_.data() + pending_begin_, pending_.size() - pending_begin_));
      if (!n.ok()) {
        Fail();
        return;
      }
      owner_->counters_.bytes_to_virtual += *n;
      pending_begin_ += *n;
      if (pending_begin_ < pending_.size()) return;  // OnWritable() again.
      pending_.clear();
      pending_begin_ = 0;
      if (!host_eof_) host_->SetReading(true);
    }
    if (host_eof_ && !virtual_shut_) {
      virtual_shut_ = true;
      if (!virtual_->Shutdown().ok()) {
        Fail();
        return;
      }
    }
    MaybeFinish();
  }

  void OnHostEof() {
    if (done_) return;
    host_eof_ = true;
    PumpToVirtual();
  }

  void MaybeFinish() {
    if (done_ || !host_write_shut_ || host_->QueuedBytes() > 0 ||
        !virtual_shut_) {
      return;
    }
    // Both directions delivered their FIN after all their bytes; every
    // virtual byte was read, so this close is graceful.
    virtual_->Close();
    End(/*error=*/false);
  }

  // The virtual client reset (or the stack aborted) its connection: reset
  // the host side too.
  void OnVirtualError() {
    if (done_) return;
    if (host_ != nullptr) host_->Reset();
    host_.reset();
    End(/*error=*/true);
  }

  // The host connection failed: reset the virtual one.
  void OnHostError() {
    if (done_) return;
    virtual_->Abort();
    End(/*error=*/true);
  }

  void Fail() {
    virtual_->Abort();
    End(/*error=*/true);
  }

  void End(bool error) {
    if (done_) return;
    done_ = true;
    PortForwardCounters& c = owner_->counters_;
    c.active--;
    c.closed++;
    if (error) c.errors++;
    owner_->Retire(this);
  }

  PortForward* const owner_;  // Not owned.
  std::unique_ptr<TcpConnection> virtual_;
  VirtualSide virtual_side_;
  HostSide host_side_;
  std::unique_ptr<event::TcpSocket> host_;
  bool host_connected_ = false;
  bool host_write_shut_ = false;  // FIN queued towards the host.
  bool host_eof_ = false;         // The host sent FIN.
  bool virtual_shut_ = false;     // FIN queued towards the virtual client.
  bool done_ = false;
  // Host bytes the stack did not take yet.
  std::vector<uint8_t> pending_;
  size_t pending_begin_ = 0;
};

class PortForward::Acceptor : public netstack::TcpListener::Delegate {
 public:
  explicit Acceptor(PortForward* owner) : owner_(owner) {}
  void OnAccept(std::unique_ptr<TcpConnection> connection) override {
    owner_->Accept(std::move(connection));
  }
  std::unique_ptr<netstack::TcpListener> listener;

 private:
  PortForward* const owner_;  // Not owned.
};

// ---- PortForward ----

PortForward::PortForward(netstack::Stack* stack, event::UvLoop* loop,
                         const ForwardSpec& spec,
                         const PortForwardOptions& options)
    : stack_(stack),
      loop_(loop),
      spec_(spec),
      options_(options),
      scratch_(kIoChunk),
      reaper_(loop->NewTimer([this] { Reap(); })) {}

absl::StatusOr<std::unique_ptr<PortForward>> PortForward::Start(
    netstack::Stack* stack, event::UvLoop* loop, const ForwardSpec& spec,
    const PortForwardOptions& options) {
  if (stack->loop() != loop) {
    return absl::InvalidArgumentError(
        "the port forward's loop must be the one its stack runs on");
  }
  if (spec.host_address.ip().IsUnspecified() ||
      spec.host_address.port() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot forward to ", spec.host_address.ToString()));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  std::unique_ptr<PortForward> forward(
      new PortForward(stack, loop, spec, options));
  forward->acceptor_ = std::make_unique<Acceptor>(forward.get());
  absl::StatusOr<std::unique_ptr<netstack::TcpListener>> listener =
      netstack::TcpListener::Listen(stack, spec.virtual_address,
                                    forward->acceptor_.get());
  if (!listener.ok()) return listener.status();
  forward->acceptor_->listener = std::move(*listener);
  return forward;
}

PortForward::~PortForward() {
  acceptor_.reset();
  for (std::unique_ptr<Relay>& relay : relays_) relay->AbortNow();
  relays_.clear();
  retired_.clear();
  reaper_.reset();
}

SocketAddress PortForward::listen_address() const {
  return acceptor_->listener->local_address();
}

void PortForward::Accept(std::unique_ptr<TcpConnection> conn) {
  if (relays_.size() >= options_.max_connections) {
    conn->Abort();
    counters_.rejected++;
    return;
  }
  counters_.accepted++;
  counters_.active++;
  auto relay = std::make_unique<Relay>(this, std::move(conn));
  Relay* raw = relay.get();
  relays_.push_back(std::move(relay));
  raw->position = std::prev(relays_.end());
  raw->Start();
}

void PortForward::Retire(Relay* relay) {
  retired_.push_back(std::move(*relay->position));
  relays_.erase(relay->position);
  reaper_->Start(absl::ZeroDuration());
}

void PortForward::Reap() {
  std::vector<std::unique_ptr<Relay>> batch;
  batch.swap(retired_);
}

}  // namespace stow::gateway
