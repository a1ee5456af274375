// Test environment for sdk/proxy: a netstack with one interface on a
// LoopbackLink (10.99.0.1/24, fd99::1) running on a real UvLoop, servers on
// that netstack (bulk duplex, HTTP echo, UDP echo), a fake name resolver,
// and blocking host-socket helpers for the test's thread (127.0.0.1 only).
#ifndef STOWAWAY_SDK_PROXY_TEST_ENV_H_
#define STOWAWAY_SDK_PROXY_TEST_ENV_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/testing/transfer.h"
#include "netstack/udp.h"
#include "sdk/crypto/sha256.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/dialer.h"

namespace stow::proxy::testing {

inline const IpAddress kVirtual4 = IpAddress::V4(10, 99, 0, 1);
inline const IpAddress kVirtual6 = *IpAddress::Parse("fd99::1");
inline const IpAddress kLoopback = IpAddress::V4(127, 0, 0, 1);

// Names to addresses; anything else is kNotFound ("no such name"). Answers
// on a later loop turn. Loop thread only.
class FakeResolver : public NameResolver {
 public:
  explicit FakeResolver(event::Loop* loop);
  ~FakeResolver() override;
  void Add(const std::string& name, std::vector<IpAddress> addresses) {
    names_[name] = std::move(addresses);
  }
  absl::StatusOr<uint64_t> Resolve(absl::string_view name,
                                   Callback callback) override;
  void Cancel(uint64_t id) override { pending_.erase(id); }
  int queries() const { return queries_; }

 private:
  void Answer();
  event::Loop* const loop_;
  std::map<std::string, std::vector<IpAddress>> names_;
  std::map<uint64_t, std::pair<std::string, Callback>> pending_;
  uint64_t next_id_ = 1;
  int queries_ = 0;
  std::unique_ptr<event::Timer> timer_;
};

// Accepts on a netstack port; every connection gets a Duplex that sends
// `send_total` pattern bytes (seed `seed`) and hashes what it receives.
class DuplexServer : public netstack::TcpListener::Delegate {
 public:
  DuplexServer(uint64_t send_total, uint64_t seed)
      : send_total_(send_total), seed_(seed) {}
  void OnAccept(std::unique_ptr<netstack::TcpConnection> conn) override;
  std::unique_ptr<netstack::TcpListener> listener;
  std::vector<std::unique_ptr<netstack::TcpConnection>> conns;
  std::vector<std::unique_ptr<netstack::testing::Duplex>> duplexes;

 private:
  const uint64_t send_total_;
  const uint64_t seed_;
};

// A tiny HTTP server on the netstack: reads a request head, answers 200
// with the head it received as the body, then closes.
class HttpEchoServer : public netstack::TcpListener::Delegate {
 public:
  HttpEchoServer();
  ~HttpEchoServer() override;
  void OnAccept(std::unique_ptr<netstack::TcpConnection> conn) override;
  std::unique_ptr<netstack::TcpListener> listener;
  std::vector<std::string> heads;  // Heads received, in order.

 private:
  class Peer;
  std::vector<std::unique_ptr<Peer>> peers_;
};

// Echoes every datagram back to its sender.
class UdpEchoServer : public netstack::UdpEndpoint::Delegate {
 public:
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    received++;
    (void)endpoint->SendTo(payload, from);
  }
  std::unique_ptr<netstack::UdpEndpoint> endpoint;
  int received = 0;
};

// The fixture: loop, stack, interface, resolver and a NetstackDialer.
class ProxyTestBase : public ::testing::Test {
 protected:
  ProxyTestBase();
  ~ProxyTestBase() override;
  void SetUp() override;
  void TearDown() override;
  // Runs `task` on the loop thread and waits for it.
  void Run(absl::AnyInvocable<void() &&> task);
  // Waits until `predicate` (run on the loop every millisecond) holds.
  bool Await(std::function<bool()> predicate,
             absl::Duration timeout = event::testing::kTimeout);
  // Extra teardown on the loop thread, before the stack goes.
  virtual void TearDownOnLoop() {}

  DuplexServer* StartDuplexServer(uint16_t port, uint64_t send_total,
                                  uint64_t seed, bool v6 = false);
  HttpEchoServer* StartHttpEchoServer(uint16_t port);
  UdpEchoServer* StartUdpEchoServer(uint16_t port);

  std::unique_ptr<event::UvLoop> loop_;
  // Loop thread only:
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<netstack::testing::LoopbackLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<FakeResolver> resolver_;
  std::unique_ptr<NetstackDialer> dialer_;
  std::vector<std::unique_ptr<DuplexServer>> duplex_servers_;
  std::vector<std::unique_ptr<HttpEchoServer>> http_servers_;
  std::vector<std::unique_ptr<UdpEchoServer>> udp_servers_;

 private:
  class Waiter;
  std::vector<std::unique_ptr<Waiter>> waiters_;
};

// ---- Blocking host-socket helpers (test thread) ----

// A blocking TCP connection to `to` with 20 s send/receive timeouts; -1 on
// failure.
int ConnectTcp(const SocketAddress& to);
bool WriteAll(int fd, absl::Span<const uint8_t> data);
bool WriteAll(int fd, const std::string& text);
// Reads exactly `n` bytes; fewer on EOF, error or timeout.
std::string ReadExactly(int fd, size_t n);
// Reads until EOF (or error/timeout); `*eof` says which.
std::string ReadToEof(int fd, bool* eof = nullptr);
// Reads until "\r\n\r\n" and returns the head including it.
std::string ReadHttpHead(int fd);

struct TransferResult {
  uint64_t received = 0;
  crypto::Sha256::Digest digest{};
  bool eof = false;
};
// Writes `send_total` pattern bytes (seed `seed`) from a second thread and
// then shutdown(SHUT_WR), while reading and hashing until EOF.
TransferResult Transfer(int fd, uint64_t send_total, uint64_t seed);

}  // namespace stow::proxy::testing

#endif  // STOWAWAY_SDK_PROXY_TEST_ENV_H_
