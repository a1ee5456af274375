// ProxyServer end to end: SOCKS5 and HTTP clients written here, on blocking
// host sockets (127.0.0.1), through the proxy into a netstack on a
// LoopbackLink, where servers answer.
#include "sdk/proxy/proxy_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/proxy/socks5.h"
#include "sdk/proxy/test_env.h"

namespace stow::proxy {
namespace {

using netstack::testing::PatternDigest;
using namespace ::stow::proxy::testing;  // NOLINT

std::string Str(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::string SocksAddress(const SocketAddress& address) {
  std::string out;
  out.push_back(address.ip().is_v4() ? 0x01 : 0x04);
  for (uint8_t b : address.ip().bytes()) out.push_back(static_cast<char>(b));
  out.push_back(static_cast<char>(address.port() >> 8));
  out.push_back(static_cast<char>(address.port() & 0xFF));
  return out;
}

std::string SocksName(const std::string& name, uint16_t port) {
  std::string out;
  out.push_back(0x03);
  out.push_back(static_cast<char>(name.size()));
  out += name;
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xFF));
  return out;
}

class ProxyServerTest : public ProxyTestBase {
 protected:
  void TearDownOnLoop() override { server_.reset(); }

  void StartProxy(ProxyServerOptions options = {}) {
    absl::Status status;
    Run([&] {
      auto server = ProxyServer::Start(loop_.get(), dialer_.get(), options);
      status = server.status();
      if (server.ok()) server_ = std::move(*server);
    });
    ASSERT_TRUE(status.ok()) << status;
    Run([&] { address_ = server_->listen_address(); });
  }

  ProxyServerCounters Counters() {
    ProxyServerCounters c;
    Run([&] { c = server_->counters(); });
    return c;
  }

  // Greeting (no auth) and a request; returns the fd after reading the
  // 2-byte method choice and the reply's first 4 bytes into `*reply_head`.
  int SocksRequest(uint8_t command, const std::string& address,
                   std::string* reply) {
    int fd = ConnectTcp(address_);
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(WriteAll(fd, Str({5, 1, 0})));
    EXPECT_EQ(ReadExactly(fd, 2), Str({5, 0}));
    EXPECT_TRUE(WriteAll(fd, Str({5, command, 0}) + address));
    *reply = ReadExactly(fd, 4);
    if (reply->size() == 4) {
      const size_t rest = (*reply)[3] == 0x01 ? 6 : (*reply)[3] == 0x04 ? 18 : 0;
      *reply += ReadExactly(fd, rest);
    }
    return fd;
  }

  // The server's side of the only connection it accepted.
  void ExpectServerReceived(DuplexServer* server, uint64_t size,
                            uint64_t seed) {
    ASSERT_TRUE(Await([&] {
      return !server->duplexes.empty() &&
             server->duplexes[0]->receiver().eof();
    }));
    Run([&] {
      EXPECT_EQ(server->duplexes[0]->receiver().received(), size);
      EXPECT_EQ(server->duplexes[0]->receiver().digest(),
                PatternDigest(size, seed));
    });
  }

  std::unique_ptr<ProxyServer> server_;  // Loop thread.
  SocketAddress address_;
};

constexpr uint64_t kBig = 4 << 20;

TEST_F(ProxyServerTest, SocksConnectIpv4MultiMebibyteBothWays) {
  DuplexServer* target = StartDuplexServer(9000, kBig, 2);
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect,
                        SocksAddress(SocketAddress(kVirtual4, 9000)), &reply);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply.substr(0, 4), Str({5, 0, 0, 1}));
  TransferResult result = Transfer(fd, kBig, 1);
  close(fd);
  EXPECT_TRUE(result.eof);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 2));
  ExpectServerReceived(target, kBig, 1);
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 0; }));
  ProxyServerCounters c = Counters();
  EXPECT_EQ(c.socks_requests, 1u);
  EXPECT_EQ(c.relays_started, 1u);
  EXPECT_EQ(c.relays_closed, 1u);
  EXPECT_EQ(c.relay_errors, 0u);
  EXPECT_EQ(c.bytes_to_tunnel, kBig);
  EXPECT_EQ(c.bytes_to_host, kBig);
}

TEST_F(ProxyServerTest, SocksConnectIpv6) {
  DuplexServer* target = StartDuplexServer(9001, 100000, 4, /*v6=*/true);
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect,
                        SocksAddress(SocketAddress(kVirtual6, 9001)), &reply);
  ASSERT_GE(reply.size(), 4u);
  EXPECT_EQ(reply[1], 0);
  EXPECT_EQ(reply[3], 0x04);  // Bound address is the IPv6 one.
  TransferResult result = Transfer(fd, 70000, 3);
  close(fd);
  EXPECT_EQ(result.digest, PatternDigest(100000, 4));
  ExpectServerReceived(target, 70000, 3);
}

TEST_F(ProxyServerTest, SocksConnectByDomainNameWithHalfCloses) {
  // Half-close client -> tunnel: the client finishes sending 1000 bytes
  // long before the server's 4 MiB have arrived.
  DuplexServer* target = StartDuplexServer(9002, kBig, 6);
  Run([&] { resolver_->Add("svc.test", {kVirtual6, kVirtual4}); });
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect, SocksName("svc.test", 9002),
                        &reply);
  ASSERT_EQ(reply.size(), 10u);  // IPv4 tried first.
  EXPECT_EQ(reply[1], 0);
  TransferResult result = Transfer(fd, 1000, 5);
  close(fd);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 6));
  ExpectServerReceived(target, 1000, 5);
}

TEST_F(ProxyServerTest, HalfCloseFromTheTunnelSide) {
  // The server sends nothing and FINs at once; the client keeps sending.
  DuplexServer* target = StartDuplexServer(9003, 0, 1);
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect,
                        SocksAddress(SocketAddress(kVirtual4, 9003)), &reply);
  ASSERT_EQ(reply.size(), 10u);
  TransferResult result = Transfer(fd, kBig, 8);
  close(fd);
  EXPECT_TRUE(result.eof);
  EXPECT_EQ(result.received, 0u);
  ExpectServerReceived(target, kBig, 8);
}

TEST_F(ProxyServerTest, SocksUnknownNameIsHostUnreachable) {
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect, SocksName("nope.test", 80),
                        &reply);
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], 0x04);
  bool eof = false;
  ReadToEof(fd, &eof);
  EXPECT_TRUE(eof);
  close(fd);
  EXPECT_EQ(Counters().dial_failures, 1u);
}

TEST_F(ProxyServerTest, SocksRefusedPort) {
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandConnect,
                        SocksAddress(SocketAddress(kVirtual4, 9999)), &reply);
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], 0x05);
  close(fd);
}

TEST_F(ProxyServerTest, SocksUnsupportedCommandAndAddressType) {
  StartProxy();
  std::string reply;
  int fd = SocksRequest(socks5::kCommandBind,
                        SocksAddress(SocketAddress(kVirtual4, 80)), &reply);
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], 0x07);
  bool eof = false;
  ReadToEof(fd, &eof);
  EXPECT_TRUE(eof);
  close(fd);

  fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0})));
  EXPECT_EQ(ReadExactly(fd, 2), Str({5, 0}));
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0, 9, 1, 2, 3, 4, 0, 80})));
  reply = ReadExactly(fd, 2);
  EXPECT_EQ(reply, Str({5, 8}));
  close(fd);
  ProxyServerCounters c = Counters();
  EXPECT_EQ(c.unsupported, 1u);
  EXPECT_EQ(c.malformed, 1u);
}

TEST_F(ProxyServerTest, SocksUsernamePassword) {
  DuplexServer* target = StartDuplexServer(9004, 1000, 9);
  ProxyServerOptions options;
  options.username = "alice";
  options.password = "s3cret";
  StartProxy(options);
  // Only "no authentication" offered: 0xFF.
  int fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0})));
  EXPECT_EQ(ReadExactly(fd, 2), Str({5, 0xFF}));
  bool eof = false;
  ReadToEof(fd, &eof);
  EXPECT_TRUE(eof);
  close(fd);
  // Wrong password: status 0x01, then closed.
  fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, Str({5, 2, 0, 2})));
  EXPECT_EQ(ReadExactly(fd, 2), Str({5, 2}));
  ASSERT_TRUE(WriteAll(fd, Str({1, 5}) + "alice" + Str({5}) + "wrong"));
  EXPECT_EQ(ReadExactly(fd, 2), Str({1, 1}));
  ReadToEof(fd, &eof);
  EXPECT_TRUE(eof);
  close(fd);
  // Right password: connected.
  fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 2})));
  EXPECT_EQ(ReadExactly(fd, 2), Str({5, 2}));
  ASSERT_TRUE(WriteAll(fd, Str({1, 5}) + "alice" + Str({6}) + "s3cret"));
  EXPECT_EQ(ReadExactly(fd, 2), Str({1, 0}));
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0}) +
                               SocksAddress(SocketAddress(kVirtual4, 9004))));
  std::string reply = ReadExactly(fd, 10);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], 0);
  TransferResult result = Transfer(fd, 500, 10);
  close(fd);
  EXPECT_EQ(result.digest, PatternDigest(1000, 9));
  ExpectServerReceived(target, 500, 10);
  EXPECT_EQ(Counters().auth_failures, 2u);
}

TEST_F(ProxyServerTest, SocksPartialRequestTimesOut) {
  ProxyServerOptions options;
  options.handshake_timeout = absl::Milliseconds(200);
  StartProxy(options);
  int fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0})));
  EXPECT_EQ(ReadExactly(fd, 2), Str({5, 0}));
  ASSERT_TRUE(WriteAll(fd, Str({5, 1, 0, 1, 10})));  // Cut short.
  bool eof = false;
  ReadToEof(fd, &eof);
  EXPECT_TRUE(eof);
  close(fd);
  EXPECT_EQ(Counters().handshake_timeouts, 1u);
}

TEST_F(ProxyServerTest, SocksUdpAssociateRoundTrip) {
  UdpEchoServer* echo = StartUdpEchoServer(7);
  Run([&] { resolver_->Add("echo.test", {kVirtual4}); });
  StartProxy();
  // The client's UDP socket, bound first so its port goes into the request.
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(udp, 0);
  sockaddr_storage sa;
  SocketAddress(kLoopback, 0).ToSockaddr(&sa);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof(sockaddr_in)), 0);
  timeval tv{10, 0};
  setsockopt(udp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  socklen_t len = sizeof(sa);
  getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &len);
  SocketAddress udp_local =
      *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa));

  std::string reply;
  int fd = SocksRequest(socks5::kCommandUdpAssociate, SocksAddress(udp_local),
                        &reply);
  ASSERT_EQ(reply.size(), 10u);
  ASSERT_EQ(reply[1], 0);
  const uint8_t* r = reinterpret_cast<const uint8_t*>(reply.data());
  SocketAddress relay(IpAddress::V4(r[4], r[5], r[6], r[7]),
                      static_cast<uint16_t>((r[8] << 8) | r[9]));
  relay.ToSockaddr(&sa);

  auto send_datagram = [&](const std::string& datagram) {
    ASSERT_EQ(sendto(udp, datagram.data(), datagram.size(), 0,
                     reinterpret_cast<sockaddr*>(&sa), sizeof(sockaddr_in)),
              static_cast<ssize_t>(datagram.size()));
  };
  // A fragment is dropped; then one by address and one by name echo back.
  send_datagram(Str({0, 0, 1}) + SocksAddress(SocketAddress(kVirtual4, 7)) +
                "fragment");
  send_datagram(Str({0, 0, 0}) + SocksAddress(SocketAddress(kVirtual4, 7)) +
                "hello");
  send_datagram(Str({0, 0, 0}) + SocksName("echo.test", 7) + "by name");
  for (const char* payload : {"hello", "by name"}) {
    char buf[2048];
    ssize_t n = recv(udp, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    std::string got(buf, static_cast<size_t>(n));
    EXPECT_EQ(got, Str({0, 0, 0}) + SocksAddress(SocketAddress(kVirtual4, 7)) +
                       payload);
  }
  ProxyServerCounters c = Counters();
  EXPECT_EQ(c.udp_associations, 1u);
  EXPECT_EQ(c.udp_dropped_fragmented, 1u);
  EXPECT_EQ(c.udp_to_tunnel, 2u);
  EXPECT_EQ(c.udp_to_client, 2u);
  Run([&] { EXPECT_EQ(echo->received, 2); });
  // Closing the control connection ends the association.
  close(fd);
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 0; }));
  close(udp);
}

// ---- HTTP ----

TEST_F(ProxyServerTest, HttpConnectMultiMebibyteBothWays) {
  DuplexServer* target = StartDuplexServer(9005, kBig, 12);
  Run([&] { resolver_->Add("bulk.test", {kVirtual4}); });
  StartProxy();
  int fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd, "CONNECT bulk.test:9005 HTTP/1.1\r\n"
                           "Host: bulk.test:9005\r\n\r\n"));
  EXPECT_EQ(ReadHttpHead(fd), "HTTP/1.1 200 Connection established\r\n\r\n");
  TransferResult result = Transfer(fd, kBig, 11);
  close(fd);
  EXPECT_EQ(result.received, kBig);
  EXPECT_EQ(result.digest, PatternDigest(kBig, 12));
  ExpectServerReceived(target, kBig, 11);
  EXPECT_EQ(Counters().http_requests, 1u);
}

TEST_F(ProxyServerTest, HttpAbsoluteUriIsRewritten) {
  HttpEchoServer* web = StartHttpEchoServer(8080);
  Run([&] { resolver_->Add("web.test", {kVirtual4}); });
  StartProxy();
  int fd = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(fd,
                       "GET http://web.test:8080/path/x?q=1 HTTP/1.1\r\n"
                       "Host: web.test:8080\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Connection: keep-alive, X-Private\r\n"
                       "X-Private: secret\r\n"
                       "Accept: */*\r\n\r\n"));
  bool eof = false;
  std::string response = ReadToEof(fd, &eof);
  close(fd);
  EXPECT_TRUE(eof);
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  const std::string body = response.substr(response.find("\r\n\r\n") + 4);
  EXPECT_EQ(body,
            "GET /path/x?q=1 HTTP/1.1\r\n"
            "host: web.test:8080\r\n"
            "accept: */*\r\n"
            "Connection: close\r\n\r\n");
  Run([&] { EXPECT_EQ(web->heads.size(), 1u); });
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 0; }));
  EXPECT_EQ(Counters().relay_errors, 0u);
}

TEST_F(ProxyServerTest, HttpErrors) {
  StartProxy();
  struct Case {
    std::string request;
    std::string status_line;
    std::string body_part;
  };
  const std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", "HTTP/1.1 400 ", ""},
      {"GET /local HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 ", "proxy"},
      {"GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
       "HTTP/1.1 501 ", "CONNECT"},
      {"CONNECT nohost HTTP/1.1\r\nHost: nohost\r\n\r\n", "HTTP/1.1 400 ",
       "host:port"},
      {"CONNECT missing.test:443 HTTP/1.1\r\nHost: missing.test\r\n\r\n",
       "HTTP/1.1 502 ", "missing.test"},
      {"GET http://10.99.0.1:9998/ HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n",
       "HTTP/1.1 502 ", "10.99.0.1"},
      {"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Big: " +
           std::string(70000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 ", ""},
  };
  for (const Case& c : cases) {
    int fd = ConnectTcp(address_);
    ASSERT_GE(fd, 0);
    WriteAll(fd, c.request);
    bool eof = false;
    std::string response = ReadToEof(fd, &eof);
    close(fd);
    EXPECT_TRUE(eof) << c.request.substr(0, 40);
    EXPECT_EQ(response.rfind(c.status_line, 0), 0u)
        << c.request.substr(0, 40) << " -> " << response;
    EXPECT_NE(response.find("Connection: close"), std::string::npos);
    EXPECT_NE(response.find(c.body_part), std::string::npos) << response;
  }
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 0; }));
  ProxyServerCounters c = Counters();
  EXPECT_EQ(c.dial_failures, 2u);
  EXPECT_EQ(c.unsupported, 2u);
}

TEST_F(ProxyServerTest, HttpProxyAuthorization) {
  StartDuplexServer(9006, 10, 1);
  ProxyServerOptions options;
  options.username = "u";
  options.password = "p";
  StartProxy(options);
  int fd = ConnectTcp(address_);
  WriteAll(fd, "CONNECT 10.99.0.1:9006 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string response = ReadToEof(fd);
  close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 407 ", 0), 0u) << response;
  EXPECT_NE(response.find("Proxy-Authenticate: Basic"), std::string::npos);
  fd = ConnectTcp(address_);
  // base64("u:p") = "dTpw".
  WriteAll(fd, "CONNECT 10.99.0.1:9006 HTTP/1.1\r\nHost: x\r\n"
               "Proxy-Authorization: Basic dTpw\r\n\r\n");
  EXPECT_EQ(ReadHttpHead(fd), "HTTP/1.1 200 Connection established\r\n\r\n");
  close(fd);
}

TEST_F(ProxyServerTest, StartErrorsAndMaxConnections) {
  absl::Status half, zero;
  Run([&] {
    ProxyServerOptions options;
    options.username = "only";
    half = ProxyServer::Start(loop_.get(), dialer_.get(), options).status();
    options = ProxyServerOptions();
    options.max_connections = 0;
    zero = ProxyServer::Start(loop_.get(), dialer_.get(), options).status();
  });
  EXPECT_EQ(half.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument);
  ProxyServerOptions options;
  options.max_connections = 1;
  StartProxy(options);
  int first = ConnectTcp(address_);
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 1; }));
  int second = ConnectTcp(address_);
  bool eof = true;
  ReadToEof(second, &eof);
  EXPECT_FALSE(eof);  // Reset.
  close(second);
  close(first);
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 0; }));
  EXPECT_EQ(Counters().rejected, 1u);
}

TEST_F(ProxyServerTest, DestroyingTheServerResetsLiveSessions) {
  // One relay backed up (the client does not read 64 MiB) and one client
  // in the middle of its handshake.
  StartDuplexServer(9007, 64 << 20, 1);
  StartProxy();
  std::string reply;
  int relayed = SocksRequest(socks5::kCommandConnect,
                             SocksAddress(SocketAddress(kVirtual4, 9007)),
                             &reply);
  ASSERT_EQ(reply.size(), 10u);
  ASSERT_TRUE(Await([&] { return server_->counters().bytes_to_host > (1u << 20); }));
  int partial = ConnectTcp(address_);
  ASSERT_TRUE(WriteAll(partial, Str({5, 1})));
  ASSERT_TRUE(Await([&] { return server_->live_sessions() == 2; }));
  Run([&] { server_.reset(); });
  bool eof = true;
  ReadToEof(partial, &eof);
  EXPECT_FALSE(eof);  // Reset.
  close(partial);
  std::string got = ReadToEof(relayed, &eof);
  EXPECT_FALSE(eof);  // Reset after whatever was buffered.
  EXPECT_LT(got.size(), 64u << 20);
  close(relayed);
}

}  // namespace
}  // namespace stow::proxy
