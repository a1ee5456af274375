#include "sdk/proxy/test_env.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/base/byte_pattern.h"

namespace stow::proxy::testing {

using event::testing::kTimeout;
using event::testing::Notification;

// ---- FakeResolver ----

FakeResolver::FakeResolver(event::Loop* loop)
    : loop_(loop), timer_(loop->NewTimer([this] { Answer(); })) {}

FakeResolver::~FakeResolver() = default;

absl::StatusOr<uint64_t> FakeResolver::Resolve(absl::string_view name,
                                               Callback callback) {
  if (name.empty()) return absl::InvalidArgumentError("empty name");
  queries_++;
  const uint64_t id = next_id_++;
  pending_[id] = {std::string(name), std::move(callback)};
  timer_->Start(absl::ZeroDuration());
  return id;
}

void FakeResolver::Answer() {
  std::map<uint64_t, std::pair<std::string, Callback>> batch;
  batch.swap(pending_);
  for (auto& [id, entry] : batch) {
    auto it = names_.find(entry.first);
    if (it == names_.end()) {
      entry.second(absl::NotFoundError(absl::StrCat("no such name ", entry.first)));
    } else {
      entry.second(it->second);
    }
  }
}

// ---- DuplexServer ----

void DuplexServer::OnAccept(std::unique_ptr<netstack::TcpConnection> conn) {
  auto duplex =
      std::make_unique<netstack::testing::Duplex>(send_total_, seed_);
  duplex->Attach(conn.get());
  conns.push_back(std::move(conn));
  duplexes.push_back(std::move(duplex));
}

// ---- HttpEchoServer ----

class HttpEchoServer::Peer : public netstack::TcpConnection::Delegate {
 public:
  Peer(HttpEchoServer* server, std::unique_ptr<netstack::TcpConnection> conn)
      : server_(server), conn_(std::move(conn)) {
    conn_->set_delegate(this);
  }
  void OnReadable() override {
    uint8_t buf[4096];
    size_t n;
    while ((n = conn_->Read(absl::MakeSpan(buf))) > 0) {
      if (!answered_) head_.append(reinterpret_cast<char*>(buf), n);
    }
    if (!answered_ && head_.find("\r\n\r\n") != std::string::npos) {
      answered_ = true;
      head_.resize(head_.find("\r\n\r\n") + 4);
      server_->heads.push_back(head_);
      std::string response =
          absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       "Content-Length: ",
                       head_.size(), "\r\nConnection: close\r\n\r\n", head_);
      (void)conn_->Write(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(response.data()), response.size()));
      (void)conn_->Shutdown();
    }
  }
  void OnError(absl::Status) override {}

 private:
  HttpEchoServer* const server_;
  std::unique_ptr<netstack::TcpConnection> conn_;
  std::string head_;
  bool answered_ = false;
};

HttpEchoServer::HttpEchoServer() = default;
HttpEchoServer::~HttpEchoServer() = default;

void HttpEchoServer::OnAccept(std::unique_ptr<netstack::TcpConnection> conn) {
  peers_.push_back(std::make_unique<Peer>(this, std::move(conn)));
}

// ---- ProxyTestBase ----

class ProxyTestBase::Waiter {
 public:
  Waiter(event::Loop* loop, std::function<bool()> predicate)
      : predicate_(std::move(predicate)),
        timer_(loop->NewTimer([this] { Check(); })) {
    Check();
  }
  Notification met;

 private:
  void Check() {
    if (predicate_()) {
      met.Notify();
      return;
    }
    timer_->Start(absl::Milliseconds(1));
  }
  std::function<bool()> predicate_;
  std::unique_ptr<event::Timer> timer_;
};

ProxyTestBase::ProxyTestBase() = default;
ProxyTestBase::~ProxyTestBase() = default;

void ProxyTestBase::SetUp() {
  absl::StatusOr<std::unique_ptr<event::UvLoop>> loop = event::UvLoop::Start();
  ASSERT_TRUE(loop.ok()) << loop.status();
  loop_ = std::move(*loop);
  absl::Status status;
  Run([&] {
    absl::StatusOr<std::unique_ptr<netstack::Stack>> stack =
        netstack::Stack::Create(loop_.get());
    if (!stack.ok()) {
      status = stack.status();
      return;
    }
    stack_ = std::move(*stack);
    link_ = std::make_unique<netstack::testing::LoopbackLink>(loop_.get(), 1500);
    netstack::InterfaceConfig config;
    config.ipv4 = kVirtual4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = kVirtual6;
    absl::StatusOr<std::unique_ptr<netstack::Interface>> iface =
        stack_->AddInterface(link_.get(), config);
    if (!iface.ok()) {
      status = iface.status();
      return;
    }
    iface_ = std::move(*iface);
    resolver_ = std::make_unique<FakeResolver>(loop_.get());
    dialer_ = std::make_unique<NetstackDialer>(stack_.get(), resolver_.get());
  });
  ASSERT_TRUE(status.ok()) << status;
}

void ProxyTestBase::TearDown() {
  netstack::StackResources left;
  int live = -1;
  Run([&] {
    TearDownOnLoop();
    waiters_.clear();
    dialer_.reset();
    resolver_.reset();
    duplex_servers_.clear();
    http_servers_.clear();
    udp_servers_.clear();
    iface_.reset();
    stack_->AbortOrphanedConnections();
    left = stack_->Resources();
    stack_.reset();
    link_.reset();
  });
  // Deferred deletions (graveyards) run on the next turns.
  Run([&] { live = loop_->LiveHandles(); });
  EXPECT_TRUE(left.IsEmpty()) << left.ToString();
  EXPECT_EQ(live, 0);
  EXPECT_TRUE(loop_->Shutdown().ok());
}

void ProxyTestBase::Run(absl::AnyInvocable<void() &&> task) {
  ASSERT_TRUE(loop_->RunSync(std::move(task)).ok());
}

bool ProxyTestBase::Await(std::function<bool()> predicate,
                          absl::Duration timeout) {
  Waiter* waiter = nullptr;
  Run([&] {
    waiters_.push_back(std::make_unique<Waiter>(loop_.get(), std::move(predicate)));
    waiter = waiters_.back().get();
  });
  return waiter->met.WaitForNotificationWithTimeout(timeout);
}

DuplexServer* ProxyTestBase::StartDuplexServer(uint16_t port,
                                               uint64_t send_total,
                                               uint64_t seed, bool v6) {
  DuplexServer* raw = nullptr;
  Run([&] {
    auto server = std::make_unique<DuplexServer>(send_total, seed);
    auto listener = netstack::TcpListener::Listen(
        stack_.get(), SocketAddress(v6 ? kVirtual6 : kVirtual4, port),
        server.get());
    ASSERT_TRUE(listener.ok()) << listener.status();
    server->listener = std::move(*listener);
    raw = server.get();
    duplex_servers_.push_back(std::move(server));
  });
  return raw;
}

HttpEchoServer* ProxyTestBase::StartHttpEchoServer(uint16_t port) {
  HttpEchoServer* raw = nullptr;
  Run([&] {
    auto server = std::make_unique<HttpEchoServer>();
    auto listener = netstack::TcpListener::Listen(
        stack_.get(), SocketAddress(kVirtual4, port), server.get());
    ASSERT_TRUE(listener.ok()) << listener.status();
    server->listener = std::move(*listener);
    raw = server.get();
    http_servers_.push_back(std::move(server));
  });
  return raw;
}

UdpEchoServer* ProxyTestBase::StartUdpEchoServer(uint16_t port) {
  UdpEchoServer* raw = nullptr;
  Run([&] {
    auto server = std::make_unique<UdpEchoServer>();
    auto endpoint = netstack::UdpEndpoint::Bind(
        stack_.get(), SocketAddress(kVirtual4, port), server.get());
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    server->endpoint = std::move(*endpoint);
    raw = server.get();
    udp_servers_.push_back(std::move(server));
  });
  return raw;
}

// ---- Host-socket helpers ----

int ConnectTcp(const SocketAddress& to) {
  sockaddr_storage sa;
  to.ToSockaddr(&sa);
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const socklen_t len = sa.ss_family == AF_INET ? sizeof(sockaddr_in)
                                                : sizeof(sockaddr_in6);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, absl::Span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool WriteAll(int fd, const std::string& text) {
  return WriteAll(fd, absl::MakeConstSpan(
                          reinterpret_cast<const uint8_t*>(text.data()),
                          text.size()));
}

std::string ReadExactly(int fd, size_t n) {
  std::string out;
  char buf[4096];
  while (out.size() < n) {
    ssize_t r = read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

std::string ReadToEof(int fd, bool* eof) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (eof != nullptr) *eof = (r == 0);
      break;
    }
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

std::string ReadHttpHead(int fd) {
  std::string out;
  char c;
  while (out.size() < 65536 && out.find("\r\n\r\n") == std::string::npos) {
    ssize_t r = read(fd, &c, 1);
    if (r <= 0) break;
    out.push_back(c);
  }
  return out;
}

TransferResult Transfer(int fd, uint64_t send_total, uint64_t seed) {
  std::thread writer([fd, send_total, seed] {
    BytePattern pattern(seed);
    std::vector<uint8_t> chunk(256 * 1024);
    uint64_t left = send_total;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      pattern.Fill(absl::MakeSpan(chunk.data(), n));
      if (!WriteAll(fd, absl::MakeConstSpan(chunk.data(), n))) break;
      left -= n;
    }
    shutdown(fd, SHUT_WR);
  });
  TransferResult result;
  crypto::Sha256 hash;
  std::vector<uint8_t> buf(256 * 1024);
  for (;;) {
    ssize_t r = read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      result.eof = (r == 0);
      break;
    }
    hash.Update(absl::MakeConstSpan(buf.data(), static_cast<size_t>(r)));
    result.received += static_cast<uint64_t>(r);
  }
  writer.join();
  result.digest = hash.Finish();
  return result;
}

}  // namespace stow::proxy::testing
