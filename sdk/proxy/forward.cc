#include "sdk/proxy/forward.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::proxy {

// ---- RemoteForward ----

class RemoteForward::Acceptor : public netstack::TcpListener::Delegate {
 public:
  explicit Acceptor(RemoteForward* owner) : owner_(owner) {}
  void OnAccept(std::unique_ptr<netstack::TcpConnection> connection) override {
    owner_->Accept(std::move(connection));
  }
  std::unique_ptr<netstack::TcpListener> listener;

 private:
  RemoteForward* const owner_;  // Not owned.
};

RemoteForward::RemoteForward(event::UvLoop* loop,
                             const SocketAddress& host_address,
                             const ForwardOptions& options)
    : loop_(loop),
      host_address_(host_address),
      options_(options),
      graveyard_(loop) {}

absl::StatusOr<std::unique_ptr<RemoteForward>> RemoteForward::Start(
    netstack::Stack* stack, event::UvLoop* loop,
    const SocketAddress& virtual_address, const SocketAddress& host_address,
    const ForwardOptions& options) {
  if (stack->loop() != loop) {
    return absl::InvalidArgumentError(
        "the port forward's loop must be the one its stack runs on");
  }
  if (host_address.ip().IsUnspecified() || host_address.port() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot forward to ", host_address.ToString()));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  std::unique_ptr<RemoteForward> forward(
      new RemoteForward(loop, host_address, options));
  forward->acceptor_ = std::make_unique<Acceptor>(forward.get());
  absl::StatusOr<std::unique_ptr<netstack::TcpListener>> listener =
      netstack::TcpListener::Listen(stack, virtual_address,
                                    forward->acceptor_.get());
  if (!listener.ok()) return listener.status();
  forward->acceptor_->listener = std::move(*listener);
  return forward;
}

RemoteForward::~RemoteForward() {
  acceptor_.reset();
  for (std::unique_ptr<Relay>& relay : relays_) {
    relay->Abort();
    counters_.active--;
    counters_.closed++;
  }
  relays_.clear();
}

SocketAddress RemoteForward::listen_address() const {
  return acceptor_->listener->local_address();
}

ForwardCounters RemoteForward::counters() const {
  ForwardCounters c = counters_;
  c.bytes_to_host = bytes_.bytes_to_host;
  c.bytes_to_tunnel = bytes_.bytes_to_tunnel;
  return c;
}

void RemoteForward::Accept(std::unique_ptr<netstack::TcpConnection> conn) {
  if (relays_.size() >= options_.max_connections) {
    conn->Abort();
    counters_.rejected++;
    return;
  }
  counters_.accepted++;
  counters_.active++;
  RelayOptions relay_options;
  relay_options.host_queue_limit = options_.host_queue_limit;
  relay_options.aggregate = &bytes_;
  relays_.push_back(nullptr);
  auto it = std::prev(relays_.end());
  *it = std::make_unique<Relay>(std::move(conn), relay_options,
                                [this, it](RelayEnd end) { OnEnd(it, end); });
  (*it)->ConnectHost(loop_, host_address_);
}

void RemoteForward::OnEnd(std::list<std::unique_ptr<Relay>>::iterator it,
                          RelayEnd end) {
  counters_.active--;
  counters_.closed++;
  if (end == RelayEnd::kConnectFailed) counters_.connect_failures++;
  if (end != RelayEnd::kClosed) counters_.errors++;
  graveyard_.Bury(std::move(*it));
  relays_.erase(it);
}

// ---- LocalForward ----

// A host connection: dialling, then relaying.
struct LocalForward::Entry {
  std::list<std::unique_ptr<Entry>>::iterator position;
  std::unique_ptr<event::TcpSocket> socket;  // While dialling.
  Dialer::DialId dial_id = 0;
  bool dialling = false;
  std::unique_ptr<Relay> relay;
};

class LocalForward::Acceptor : public event::TcpListener::Delegate {
 public:
  Acceptor(LocalForward* owner, event::UvLoop* loop)
      : owner_(owner), listener(loop, this) {}
  void OnAccept(std::unique_ptr<event::TcpSocket> socket) override {
    owner_->Accept(std::move(socket));
  }

 private:
  LocalForward* const owner_;  // Not owned.

 public:
  event::TcpListener listener;
};

LocalForward::LocalForward(event::UvLoop* loop, Dialer* dialer,
                           const std::string& host, uint16_t port,
                           const ForwardOptions& options)
    : loop_(loop),
      dialer_(dialer),
      host_(host),
      port_(port),
      options_(options),
      graveyard_(loop) {}

absl::StatusOr<std::unique_ptr<LocalForward>> LocalForward::Start(
    event::UvLoop* loop, Dialer* dialer, const SocketAddress& listen,
    const std::string& host, uint16_t port, const ForwardOptions& options) {
  if (host.empty() || port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot forward to \"", host, "\" port ", port));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  std::unique_ptr<LocalForward> forward(
      new LocalForward(loop, dialer, host, port, options));
  forward->acceptor_ = std::make_unique<Acceptor>(forward.get(), loop);
  absl::Status status = forward->acceptor_->listener.Listen(listen, 128);
  if (!status.ok()) return status;
  absl::StatusOr<SocketAddress> local = forward->acceptor_->listener.LocalAddress();
  if (!local.ok()) return local.status();
  forward->listen_address_ = *local;
  return forward;
}

LocalForward::~LocalForward() {
  acceptor_.reset();
  for (std::unique_ptr<Entry>& entry : entries_) {
    if (entry->dialling) dialer_->Cancel(entry->dial_id);
    if (entry->socket != nullptr) entry->socket->Reset();
    if (entry->relay != nullptr) entry->relay->Abort();
    counters_.active--;
    counters_.closed++;
  }
  entries_.clear();
}

ForwardCounters LocalForward::counters() const {
  ForwardCounters c = counters_;
  c.bytes_to_host = bytes_.bytes_to_host;
  c.bytes_to_tunnel = bytes_.bytes_to_tunnel;
  return c;
}

void LocalForward::Accept(std::unique_ptr<event::TcpSocket> socket) {
  if (entries_.size() >= options_.max_connections) {
    socket->Reset();
    counters_.rejected++;
    return;
  }
  counters_.accepted++;
  counters_.active++;
  entries_.push_back(std::make_unique<Entry>());
  Entry* entry = entries_.back().get();
  entry->position = std::prev(entries_.end());
  // No delegate while dialling: the socket does not read, so the client's
  // bytes wait in the kernel.
  entry->socket = std::move(socket);
  entry->dialling = true;
  entry->dial_id = dialer_->Dial(host_, port_, [this, entry](
                                                   Dialer::Result result) {
    OnDialed(entry, std::move(result));
  });
}

void LocalForward::OnDialed(Entry* entry, Dialer::Result result) {
  entry->dialling = false;
  if (result.connection == nullptr) {
    counters_.connect_failures++;
    entry->socket->Reset();
    Remove(entry, /*error=*/true);
    return;
  }
  RelayOptions relay_options;
  relay_options.host_queue_limit = options_.host_queue_limit;
  relay_options.aggregate = &bytes_;
  entry->relay = std::make_unique<Relay>(
      std::move(result.connection), relay_options, [this, entry](RelayEnd end) {
        Remove(entry, end != RelayEnd::kClosed);
      });
  entry->relay->Start(WrapTcpSocket(std::move(entry->socket)));
}

void LocalForward::Remove(Entry* entry, bool error) {
  counters_.active--;
  counters_.closed++;
  if (error) counters_.errors++;
  auto position = entry->position;
  graveyard_.Bury(std::move(*position));
  entries_.erase(position);
}

}  // namespace stow::proxy
