// Resolver tests: a tiny DNS server on the same netstack (lwIP is one stack
// per process), every datagram and TCP segment crossing a LoopbackLink, on a
// fake clock.
#include "sdk/dns/resolver.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/udp.h"
#include "sdk/dns/message.h"
#include "sdk/dns/tcp_framing.h"
#include "sdk/event/manual_loop.h"

namespace stow::dns {
namespace {

using ::stow::netstack::testing::LoopbackLink;

const IpAddress kV4 = IpAddress::V4(10, 0, 0, 1);
const IpAddress kV6 = *IpAddress::Parse("fd00::1");

// The question of a query: name (as sent) and type.
struct Question {
  uint16_t id = 0;
  std::string name;
  uint16_t type = 0;
};

Question ParseQuestion(absl::Span<const uint8_t> q) {
  Question out;
  if (q.size() < 12) return out;
  out.id = static_cast<uint16_t>(q[0] << 8 | q[1]);
  size_t pos = 12;
  while (pos < q.size() && q[pos] != 0) {
    if (!out.name.empty()) out.name.push_back('.');
    out.name.append(reinterpret_cast<const char*>(&q[pos + 1]), q[pos]);
    pos += 1 + q[pos];
  }
  if (pos + 3 <= q.size()) {
    out.type = static_cast<uint16_t>(q[pos + 1] << 8 | q[pos + 2]);
  }
  return out;
}

// How the fake server's TCP side behaves once it has read a query.
enum class TcpMode {
  kAnswer,            // The answer, written in three pieces.
  kCloseEarly,        // Closes without a byte.
  kShortLength,       // A length prefix of 5 and 5 bytes.
  kPartialThenClose,  // The length and part of the answer, then FIN.
  kWrongId,           // An answer with another ID.
  kSilent,            // Nothing.
};

// A DNS server on one address, UDP and TCP port 53: answers from a table,
// or misbehaves as told.
class FakeServer : public netstack::UdpEndpoint::Delegate,
                   public netstack::TcpListener::Delegate {
 public:
  FakeServer(netstack::Stack* stack, const IpAddress& ip)
      : endpoint_(
            *netstack::UdpEndpoint::Bind(stack, SocketAddress(ip, 53), this)),
        // For forgeries from the right address but the wrong port.
        other_port_(*netstack::UdpEndpoint::Bind(stack, SocketAddress(ip, 5353),
                                                 this)),
        listener_(*netstack::TcpListener::Listen(stack, SocketAddress(ip, 53),
                                                 this)) {}

  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    std::vector<uint8_t> query(payload.begin(), payload.end());
    ++queries;
    asked.push_back(ParseQuestion(query).name);
    if (drop > 0) {
      --drop;
      return;
    }
    if (silent) return;
    last_client = from;
    if (before_answer) before_answer(query, from);
    Send(Answer(query, truncate_udp), from);
  }

  // The answer to `query` from the table (records of the asked type with
  // their TTL, NXDOMAIN for unknown names, a SOA in negative answers when
  // soa_minimum is set), or `rcode`; with `truncated`, TC and no records.
  std::vector<uint8_t> Answer(const std::vector<uint8_t>& query,
                              bool truncated) {
    const Question q = ParseQuestion(query);
    if (rcode != Rcode::kNoError || servfail_names.count(q.name) > 0) {
      return BuildTestResponse(
          query, rcode != Rcode::kNoError ? rcode : Rcode::kServFail, {});
    }
    if (truncated) return BuildTestResponse(query, Rcode::kNoError, {}, true);
    std::vector<TestRecord> authority;
    if (soa_minimum >= 0) {
      const uint32_t minimum = static_cast<uint32_t>(soa_minimum);
      authority.push_back({"test", static_cast<uint16_t>(RecordType::kSoa),
                           soa_ttl, SoaRdataForTest(minimum)});
    }
    auto it = table.find(q.name);
    if (it == table.end()) {
      return BuildTestResponse(query, Rcode::kNxDomain, {}, false, authority);
    }
    std::vector<TestRecord> answers;
    const uint32_t record_ttl = ttl.count(q.name) ? ttl[q.name] : 60;
    for (const IpAddress& ip : it->second) {
      if ((q.type == 1) == ip.is_v4()) {
        answers.push_back(
            {q.name, q.type, record_ttl,
             std::vector<uint8_t>(ip.bytes().begin(), ip.bytes().end())});
      }
    }
    if (!answers.empty()) authority.clear();
    return BuildTestResponse(query, Rcode::kNoError, answers, false,
                             authority);
  }

  void Send(const std::vector<uint8_t>& bytes, const SocketAddress& to) {
    ASSERT_TRUE(endpoint_->SendTo(bytes, to).ok());
  }
  void SendFromOtherPort(const std::vector<uint8_t>& bytes,
                         const SocketAddress& to) {
    ASSERT_TRUE(other_port_->SendTo(bytes, to).ok());
  }

  // TCP: connections are refused from now on.
  void StopListening() { listener_.reset(); }

  void OnAccept(std::unique_ptr<netstack::TcpConnection> connection) override {
    sessions_.push_back(std::make_unique<Session>(this, std::move(connection)));
  }

  std::map<std::string, std::vector<IpAddress>> table;
  std::map<std::string, uint32_t> ttl;  // Per name; 60 s otherwise.
  std::set<std::string> servfail_names;
  int soa_minimum = -1;  // >= 0: negative answers carry a SOA.
  uint32_t soa_ttl = 3600;
  int drop = 0;
  bool silent = false;
  bool truncate_udp = false;
  TcpMode tcp_mode = TcpMode::kAnswer;
  Rcode rcode = Rcode::kNoError;
  std::function<void(const std::vector<uint8_t>&, const SocketAddress&)>
      before_answer;
  int queries = 0;                 // Over UDP.
  int tcp_queries = 0;             // Over TCP.
  std::vector<std::string> asked;  // Question names over UDP, in order.
  SocketAddress last_client;

 private:
  // One accepted connection: reads a framed query, then acts per tcp_mode.
  class Session : public netstack::TcpConnection::Delegate {
   public:
    Session(FakeServer* server,
            std::unique_ptr<netstack::TcpConnection> connection)
        : server_(server), conn_(std::move(connection)) {
      conn_->set_delegate(this);
    }
    void OnReadable() override {
      uint8_t buffer[512];
      size_t n;
      while ((n = conn_->Read(absl::MakeSpan(buffer))) > 0) {
        reader_.Feed(absl::MakeConstSpan(buffer, n));
      }
      if (reader_.state() == TcpMessageReader::State::kComplete && !handled_) {
        handled_ = true;
        server_->OnTcpQuery(*this, std::vector<uint8_t>(
                                       reader_.message().begin(),
                                       reader_.message().end()));
      }
      if (conn_->peer_closed()) conn_->Close();
    }
    void OnError(absl::Status) override {}
    void Write(absl::Span<const uint8_t> bytes) {
      absl::StatusOr<size_t> n = conn_->Write(bytes);
      ASSERT_TRUE(n.ok()) << n.status();
      ASSERT_EQ(*n, bytes.size());
    }
    void Close() { conn_->Close(); }

   private:
    FakeServer* const server_;
    std::unique_ptr<netstack::TcpConnection> conn_;
    TcpMessageReader reader_;
    bool handled_ = false;
  };

  void OnTcpQuery(Session& session, std::vector<uint8_t> query) {
    ++tcp_queries;
    std::vector<uint8_t> answer = Answer(query, false);
    if (tcp_mode == TcpMode::kWrongId) answer[1] ^= 1;
    const std::vector<uint8_t> framed = *FrameTcpMessage(answer);
    const absl::Span<const uint8_t> bytes(framed);
    switch (tcp_mode) {
      case TcpMode::kAnswer:
        // Three segments: the prefix split, then the rest.
        session.Write(bytes.first(1));
        session.Write(bytes.subspan(1, 1));
        session.Write(bytes.subspan(2));
        return;
      case TcpMode::kWrongId:
        session.Write(bytes);
        return;
      case TcpMode::kCloseEarly:
        session.Close();
        return;
      case TcpMode::kShortLength: {
        const std::vector<uint8_t> short_frame = {0, 5, 1, 2, 3, 4, 5};
        session.Write(short_frame);
        return;
      }
      case TcpMode::kPartialThenClose:
        session.Write(bytes.first(12));
        session.Close();
        return;
      case TcpMode::kSilent:
        return;
    }
  }

  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
  std::unique_ptr<netstack::UdpEndpoint> other_port_;
  std::unique_ptr<netstack::TcpListener> listener_;
  std::vector<std::unique_ptr<Session>> sessions_;
};

// Records the one callback of a request.
struct Result {
  Resolver::Callback Callback() {
    return [this](absl::StatusOr<std::vector<IpAddress>> r) {
      ++calls;
      value = std::move(r);
    };
  }
  int calls = 0;
  absl::StatusOr<std::vector<IpAddress>> value = absl::UnknownError("unset");
};

// An IPv4/UDP packet with a zero (absent) UDP checksum.
std::vector<uint8_t> Ipv4Udp(const SocketAddress& from, const SocketAddress& to,
                             const std::vector<uint8_t>& payload) {
  const size_t total = 20 + 8 + payload.size();
  std::vector<uint8_t> p = {0x45,
                            0,
                            static_cast<uint8_t>(total >> 8),
                            static_cast<uint8_t>(total),
                            0,
                            1,
                            0,
                            0,
                            64,
                            17,
                            0,
                            0};
  p.insert(p.end(), from.ip().bytes().begin(), from.ip().bytes().end());
  p.insert(p.end(), to.ip().bytes().begin(), to.ip().bytes().end());
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  const size_t udp_len = 8 + payload.size();
  for (uint8_t b :
       {static_cast<uint8_t>(from.port() >> 8),
        static_cast<uint8_t>(from.port()), static_cast<uint8_t>(to.port() >> 8),
        static_cast<uint8_t>(to.port()), static_cast<uint8_t>(udp_len >> 8),
        static_cast<uint8_t>(udp_len), uint8_t{0}, uint8_t{0}}) {
    p.push_back(b);
  }
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<netstack::Stack>> stack =
        netstack::Stack::Create(&loop_);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    link_ = std::make_unique<LoopbackLink>(&loop_, 1500);
    netstack::InterfaceConfig config;
    config.ipv4 = kV4;
    config.ipv4_prefix_len = 24;
    config.ipv6 = kV6;
    absl::StatusOr<std::unique_ptr<netstack::Interface>> iface =
        stack_->AddInterface(link_.get(), config);
    ASSERT_TRUE(iface.ok()) << iface.status();
    iface_ = std::move(*iface);
    server4_ = std::make_unique<FakeServer>(stack_.get(), kV4);
    server6_ = std::make_unique<FakeServer>(stack_.get(), kV6);
    for (FakeServer* s : {server4_.get(), server6_.get()}) {
      s->table["www.test"] = {IpAddress::V4(10, 1, 2, 3),
                              *IpAddress::Parse("fd00::1:2:3")};
      s->table["v4only.test"] = {IpAddress::V4(10, 4, 4, 4)};
    }
  }

  void TearDown() override {
    resolver_.reset();
    server4_.reset();
    server6_.reset();
    loop_.RunUntilIdle();
    // Connections closed gracefully may linger in TIME_WAIT.
    stack_->AbortOrphanedConnections();
    loop_.RunUntilIdle();
    iface_.reset();
    loop_.RunUntilIdle();
    netstack::StackResources left = stack_->Resources();
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    stack_.reset();
    link_.reset();
  }

  Resolver& MakeResolver(std::vector<IpAddress> servers = {kV4},
                         ResolverOptions options = {}) {
    resolver_ = std::make_unique<Resolver>(stack_.get(), std::move(servers),
                                           std::move(options));
    return *resolver_;
  }

  // Runs the fake clock in 10 ms steps until `done` or `limit` passes.
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(60)) {
    const absl::Duration end = loop_.Now() + limit;
    while (true) {
      loop_.RunUntilIdle();
      if (done()) return true;
      if (loop_.Now() >= end) return false;
      loop_.AdvanceBy(absl::Milliseconds(10));
    }
  }

  void ResolveAndWait(Resolver& resolver, const std::string& name,
                      AddressFamily family, Result& result) {
    absl::StatusOr<Resolver::RequestId> id =
        resolver.Resolve(name, family, result.Callback());
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(result.calls, 0);  // Never from inside Resolve().
    ASSERT_TRUE(RunUntil([&] { return result.calls > 0; }));
    loop_.RunUntilIdle();
    EXPECT_EQ(result.calls, 1);
    EXPECT_EQ(resolver.pending_requests(), 0u);
  }

  event::ManualLoop loop_;
  std::unique_ptr<netstack::Stack> stack_;
  std::unique_ptr<LoopbackLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<FakeServer> server4_;
  std::unique_ptr<FakeServer> server6_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, ResolvesIpv4) {
  Resolver& resolver = MakeResolver();
  Result result;
  ResolveAndWait(resolver, "WWW.test.", AddressFamily::kV4, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(*result.value, std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3)});
  EXPECT_EQ(server4_->queries, 1);
  EXPECT_NE(server4_->last_client.port(), 0);
  EXPECT_EQ(resolver.counters().queries_sent, 1u);
  EXPECT_EQ(resolver.counters().responses, 1u);
  EXPECT_EQ(resolver.counters().resolved, 1u);
  EXPECT_EQ(resolver.counters().retransmissions, 0u);
  EXPECT_EQ(loop_.Now(), absl::ZeroDuration());  // No timer was needed.
}

TEST_F(ResolverTest, ResolvesBothFamiliesOverAnIpv6Server) {
  Resolver& resolver = MakeResolver({kV6});
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kBoth, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(*result.value,
            (std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3),
                                    *IpAddress::Parse("fd00::1:2:3")}));
  EXPECT_EQ(server6_->queries, 2);
  EXPECT_EQ(server4_->queries, 0);
}

TEST_F(ResolverTest, OneFamilyIsEnoughAndNoDataIsNotFound) {
  Resolver& resolver = MakeResolver();
  Result both;
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kBoth, both);
  ASSERT_TRUE(both.value.ok()) << both.value.status();
  EXPECT_EQ(*both.value, std::vector<IpAddress>{IpAddress::V4(10, 4, 4, 4)});
  Result v6;
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kV6, v6);
  EXPECT_EQ(v6.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v6.value.status().message(), "no IPv6 addresses for v4only.test");
}

TEST_F(ResolverTest, NxDomain) {
  Resolver& resolver = MakeResolver();
  Result result;
  ResolveAndWait(resolver, "nope.test", AddressFamily::kBoth, result);
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.value.status().message(), "no such name: nope.test");
  EXPECT_EQ(resolver.counters().failed, 1u);
}

TEST_F(ResolverTest, RetriesAfterADroppedQuery) {
  Resolver& resolver = MakeResolver();
  server4_->drop = 1;
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(*result.value, std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3)});
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(resolver.counters().timeouts, 1u);
  EXPECT_EQ(resolver.counters().retransmissions, 1u);
  EXPECT_EQ(resolver.counters().queries_sent, 2u);
  // The retry went out after the first timeout (1 s), not before.
  EXPECT_GE(loop_.Now(), absl::Seconds(1));
  EXPECT_LT(loop_.Now(), absl::Seconds(2));
}

TEST_F(ResolverTest, ForgedRepliesAreIgnoredAndCounted) {
  Resolver& resolver = MakeResolver();
  // Before each answer: a forgery from the server's address but another
  // port, one from the right port with another ID, one from another
  // address (injected on the link), and a malformed one. All claim
  // 6.6.6.6.
  server4_->before_answer = [&](const std::vector<uint8_t>& query,
                                const SocketAddress& client) {
    std::vector<uint8_t> forged = BuildTestResponse(
        query, Rcode::kNoError, {{"www.test", 1, 60, {6, 6, 6, 6}}});
    server4_->SendFromOtherPort(forged, client);
    std::vector<uint8_t> wrong_id = forged;
    wrong_id[1] ^= 1;
    server4_->Send(wrong_id, client);
    link_->Inject(Ipv4Udp(SocketAddress(IpAddress::V4(10, 0, 0, 99), 53),
                          SocketAddress(kV4, client.port()), forged));
    std::vector<uint8_t> malformed = forged;
    malformed.push_back(0);  // Trailing byte.
    server4_->Send(malformed, client);
    std::vector<uint8_t> other_question =
        *BuildQuery(static_cast<uint16_t>(query[0] << 8 | query[1]),
                    "evil.test", RecordType::kA);
    server4_->Send(BuildTestResponse(other_question, Rcode::kNoError,
                                     {{"evil.test", 1, 60, {6, 6, 6, 6}}}),
                   client);
  };
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(*result.value, std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3)});
  EXPECT_EQ(resolver.counters().stray_replies, 3u);
  EXPECT_EQ(resolver.counters().malformed_replies, 1u);
  EXPECT_EQ(resolver.counters().mismatched_replies, 1u);
  EXPECT_EQ(resolver.counters().responses, 1u);
}

TEST_F(ResolverTest, SilentServersGiveDeadlineExceeded) {
  Resolver& resolver = MakeResolver({kV4, kV6});
  server4_->silent = true;
  server6_->silent = true;
  Result result;
  absl::StatusOr<Resolver::RequestId> id =
      resolver.Resolve("www.test", AddressFamily::kV4, result.Callback());
  ASSERT_TRUE(id.ok());
  // 1 + 2 + 4 seconds per server, two servers.
  loop_.AdvanceBy(absl::Seconds(14) - absl::Milliseconds(1));
  EXPECT_EQ(result.calls, 0);
  EXPECT_EQ(server4_->queries, 3);
  EXPECT_EQ(server6_->queries, 3);
  loop_.AdvanceBy(absl::Milliseconds(1));
  loop_.RunUntilIdle();
  ASSERT_EQ(result.calls, 1);
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(result.value.status().message().find("after 3 tries"),
            absl::string_view::npos)
      << result.value.status();
  EXPECT_EQ(resolver.counters().queries_sent, 6u);
  EXPECT_EQ(resolver.counters().timeouts, 6u);
  EXPECT_EQ(resolver.counters().retransmissions, 4u);
}

TEST_F(ResolverTest, ServfailMovesToTheNextServer) {
  Resolver& resolver = MakeResolver({kV4, kV6});
  server4_->rcode = Rcode::kServFail;
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(server4_->queries, 1);
  EXPECT_EQ(server6_->queries, 1);
  EXPECT_EQ(loop_.Now(), absl::ZeroDuration());
}

TEST_F(ResolverTest, EveryServerFailingGivesTheServersError) {
  Resolver& resolver = MakeResolver({kV4, kV6});
  server4_->rcode = Rcode::kServFail;
  server6_->silent = true;
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kUnavailable)
      << result.value.status();
  server4_->rcode = Rcode::kRefused;
  Result refused;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, refused);
  EXPECT_EQ(refused.value.status().code(), absl::StatusCode::kPermissionDenied)
      << refused.value.status();
}

TEST_F(ResolverTest, LiteralsResolveToThemselvesWithoutAQuery) {
  Resolver& resolver = MakeResolver();
  Result v4, v6;
  ResolveAndWait(resolver, "192.0.2.7", AddressFamily::kBoth, v4);
  ResolveAndWait(resolver, "2001:db8::7", AddressFamily::kV4, v6);
  EXPECT_EQ(*v4.value, std::vector<IpAddress>{IpAddress::V4(192, 0, 2, 7)});
  EXPECT_EQ(*v6.value,
            std::vector<IpAddress>{*IpAddress::Parse("2001:db8::7")});
  EXPECT_EQ(server4_->queries, 0);
  EXPECT_EQ(resolver.counters().queries_sent, 0u);
  EXPECT_EQ(resolver.counters().literals, 2u);
}

TEST_F(ResolverTest, BadNamesAndNoServersFailNow) {
  Resolver& resolver = MakeResolver({});
  Result result;
  EXPECT_EQ(resolver.Resolve("a..b", AddressFamily::kV4, result.Callback())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resolver.Resolve("www.test", AddressFamily::kV4, result.Callback())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  loop_.AdvanceBy(absl::Seconds(10));
  EXPECT_EQ(result.calls, 0);
}

TEST_F(ResolverTest, CancelAndDestroyRunNoCallback) {
  Resolver& resolver = MakeResolver();
  server4_->silent = true;
  Result cancelled, literal, destroyed;
  absl::StatusOr<Resolver::RequestId> a =
      resolver.Resolve("www.test", AddressFamily::kBoth, cancelled.Callback());
  absl::StatusOr<Resolver::RequestId> b =
      resolver.Resolve("10.0.0.5", AddressFamily::kV4, literal.Callback());
  ASSERT_TRUE(a.ok() && b.ok());
  resolver.Cancel(*a);
  resolver.Cancel(*b);
  ASSERT_TRUE(
      resolver.Resolve("www.test", AddressFamily::kV4, destroyed.Callback())
          .ok());
  loop_.AdvanceBy(absl::Milliseconds(500));
  EXPECT_EQ(resolver.pending_requests(), 1u);
  // The cancelled request sent its A and AAAA queries, the other one its A
  // query; none retried.
  EXPECT_EQ(server4_->queries, 3);
  resolver_.reset();
  loop_.AdvanceBy(absl::Seconds(30));
  EXPECT_EQ(cancelled.calls + literal.calls + destroyed.calls, 0);
  EXPECT_EQ(server4_->queries, 3);  // No retries after the end.
}

TEST_F(ResolverTest, CallbackMayResolveAgain) {
  Resolver& resolver = MakeResolver();
  Result second;
  int first_calls = 0;
  ASSERT_TRUE(resolver
                  .Resolve("www.test", AddressFamily::kV4,
                           [&](absl::StatusOr<std::vector<IpAddress>> r) {
                             ++first_calls;
                             EXPECT_TRUE(r.ok());
                             EXPECT_TRUE(resolver
                                             .Resolve("v4only.test",
                                                      AddressFamily::kV4,
                                                      second.Callback())
                                             .ok());
                           })
                  .ok());
  ASSERT_TRUE(RunUntil([&] { return second.calls > 0; }));
  EXPECT_EQ(first_calls, 1);
  ASSERT_TRUE(second.value.ok());
  EXPECT_EQ(*second.value, std::vector<IpAddress>{IpAddress::V4(10, 4, 4, 4)});
}

// --- TCP fallback -----------------------------------------------------------

TEST_F(ResolverTest, TruncatedAnswerIsAskedAgainOverTcp) {
  Resolver& resolver = MakeResolver();
  server4_->truncate_udp = true;  // UDP answers carry TC and no records.
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kBoth, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(*result.value,
            (std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3),
                                    *IpAddress::Parse("fd00::1:2:3")}));
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(server4_->tcp_queries, 2);
  const ResolverCounters& c = resolver.counters();
  EXPECT_EQ(c.truncated, 2u);
  EXPECT_EQ(c.tcp_queries, 2u);
  EXPECT_EQ(c.tcp_failures, 0u);
  EXPECT_EQ(c.responses, 2u);
  EXPECT_EQ(c.resolved, 1u);
  // Each TCP answer came in three segments, the length prefix split.
  EXPECT_LT(loop_.Now(), absl::Seconds(1));  // No timer was needed.
}

TEST_F(ResolverTest, TcpFailureMovesToTheNextServer) {
  struct Case {
    const char* what;
    TcpMode mode;
    bool refuse;
    uint64_t malformed;
    uint64_t mismatched;
  };
  const Case cases[] = {
      {"close early", TcpMode::kCloseEarly, false, 0, 0},
      {"short length", TcpMode::kShortLength, false, 1, 0},
      {"partial", TcpMode::kPartialThenClose, false, 0, 0},
      {"wrong id", TcpMode::kWrongId, false, 0, 1},
      {"refused", TcpMode::kAnswer, true, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    server4_.reset();
    server4_ = std::make_unique<FakeServer>(stack_.get(), kV4);
    server4_->table["www.test"] = {IpAddress::V4(10, 1, 2, 3)};
    server4_->truncate_udp = true;
    server4_->tcp_mode = c.mode;
    if (c.refuse) server4_->StopListening();
    server6_->queries = 0;
    Resolver& resolver = MakeResolver({kV4, kV6});
    const absl::Duration start = loop_.Now();
    Result result;
    ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
    ASSERT_TRUE(result.value.ok()) << result.value.status();
    EXPECT_EQ(*result.value,
              std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3)});
    EXPECT_EQ(server4_->tcp_queries, c.refuse ? 0 : 1);
    EXPECT_EQ(server6_->queries, 1);
    EXPECT_EQ(resolver.counters().tcp_queries, 1u);
    EXPECT_EQ(resolver.counters().tcp_failures, 1u);
    EXPECT_EQ(resolver.counters().malformed_replies, c.malformed);
    EXPECT_EQ(resolver.counters().mismatched_replies, c.mismatched);
    // Failed at once, not by the TCP timeout.
    EXPECT_LT(loop_.Now() - start, absl::Seconds(1));
    resolver_.reset();
    loop_.RunUntilIdle();
  }
}

TEST_F(ResolverTest, SilentTcpServerTimesOut) {
  ResolverOptions options;
  options.tcp_timeout = absl::Seconds(3);
  Resolver& resolver = MakeResolver({kV4, kV6}, options);
  server4_->truncate_udp = true;
  server4_->tcp_mode = TcpMode::kSilent;
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  ASSERT_TRUE(result.value.ok()) << result.value.status();
  EXPECT_EQ(server4_->tcp_queries, 1);
  EXPECT_EQ(server6_->queries, 1);
  EXPECT_EQ(resolver.counters().tcp_failures, 1u);
  EXPECT_GE(loop_.Now(), absl::Seconds(3));
  EXPECT_LT(loop_.Now(), absl::Seconds(4));
}

TEST_F(ResolverTest, TcpFailingEverywhereGivesTheTcpError) {
  Resolver& resolver = MakeResolver();
  server4_->truncate_udp = true;
  server4_->tcp_mode = TcpMode::kPartialThenClose;
  Result result;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, result);
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kUnavailable)
      << result.value.status();
  // The answer: 12-byte header, 14-byte question, 24-byte A record.
  EXPECT_EQ(std::string(result.value.status().message()),
            "DNS over TCP to 10.0.0.1:53 for www.test: DNS server closed the "
            "TCP connection after 10 of 50 bytes of the answer");
}

// --- Cache ------------------------------------------------------------------

TEST_F(ResolverTest, CachedAnswerSendsNoQueryUntilItsTtlEnds) {
  Resolver& resolver = MakeResolver();
  server4_->ttl["www.test"] = 60;
  Result first;
  ResolveAndWait(resolver, "www.test", AddressFamily::kBoth, first);
  ASSERT_TRUE(first.value.ok()) << first.value.status();
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(resolver.cache_size(), 2u);  // A and AAAA.

  loop_.AdvanceBy(absl::Seconds(59));
  Result second;  // Still called back on a later turn (checked inside).
  ResolveAndWait(resolver, "WWW.test.", AddressFamily::kBoth, second);
  ASSERT_TRUE(second.value.ok()) << second.value.status();
  EXPECT_EQ(*second.value, *first.value);
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(resolver.counters().cache_hits, 2u);
  EXPECT_EQ(resolver.counters().cache_misses, 2u);

  loop_.AdvanceBy(absl::Seconds(1));  // 60 s: expired.
  Result third;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, third);
  ASSERT_TRUE(third.value.ok()) << third.value.status();
  EXPECT_EQ(server4_->queries, 3);
  EXPECT_EQ(resolver.counters().cache_misses, 3u);
}

TEST_F(ResolverTest, TtlsAreClampedToTheOptions) {
  // Longer than max_ttl: kept for max_ttl.
  ResolverOptions capped;
  capped.max_ttl = absl::Seconds(10);
  server4_->ttl["www.test"] = 600;
  Resolver& resolver = MakeResolver({kV4}, capped);
  Result r1, r2, r3;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r1);
  loop_.AdvanceBy(absl::Seconds(9));
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r2);
  EXPECT_EQ(server4_->queries, 1);
  loop_.AdvanceBy(absl::Seconds(1));
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r3);
  EXPECT_EQ(server4_->queries, 2);

  // A TTL of 0 is not cached by default, and kept for min_ttl otherwise.
  server4_->ttl["v4only.test"] = 0;
  Result z1, z2;
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kV4, z1);
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kV4, z2);
  EXPECT_EQ(server4_->queries, 4);
  ResolverOptions floored;
  floored.min_ttl = absl::Seconds(120);
  Resolver& floored_resolver = MakeResolver({kV4}, floored);
  Result f1, f2, f3;
  ResolveAndWait(floored_resolver, "v4only.test", AddressFamily::kV4, f1);
  loop_.AdvanceBy(absl::Seconds(119));
  ResolveAndWait(floored_resolver, "v4only.test", AddressFamily::kV4, f2);
  EXPECT_EQ(server4_->queries, 5);
  loop_.AdvanceBy(absl::Seconds(1));
  ResolveAndWait(floored_resolver, "v4only.test", AddressFamily::kV4, f3);
  EXPECT_EQ(server4_->queries, 6);
  ASSERT_TRUE(f3.value.ok()) << f3.value.status();
}

TEST_F(ResolverTest, NegativeAnswersAreCached) {
  Resolver& resolver = MakeResolver();
  // NXDOMAIN without a SOA: negative_ttl (30 s).
  Result n1, n2, n3;
  ResolveAndWait(resolver, "nope.test", AddressFamily::kV4, n1);
  loop_.AdvanceBy(absl::Seconds(29));
  ResolveAndWait(resolver, "nope.test", AddressFamily::kV4, n2);
  EXPECT_EQ(server4_->queries, 1);
  EXPECT_EQ(n2.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(n2.value.status().message(), "no such name: nope.test");
  loop_.AdvanceBy(absl::Seconds(1));
  ResolveAndWait(resolver, "nope.test", AddressFamily::kV4, n3);
  EXPECT_EQ(server4_->queries, 2);

  // NODATA is cached too.
  Result d1, d2;
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kV6, d1);
  ResolveAndWait(resolver, "v4only.test", AddressFamily::kV6, d2);
  EXPECT_EQ(server4_->queries, 3);
  EXPECT_EQ(d2.value.status().message(), "no IPv6 addresses for v4only.test");

  // With a SOA (RFC 2308): min(SOA TTL, MINIMUM).
  server4_->soa_minimum = 5;
  server4_->soa_ttl = 3600;
  Result s1, s2, s3;
  ResolveAndWait(resolver, "soa.test", AddressFamily::kV4, s1);
  loop_.AdvanceBy(absl::Seconds(4));
  ResolveAndWait(resolver, "soa.test", AddressFamily::kV4, s2);
  EXPECT_EQ(server4_->queries, 4);
  loop_.AdvanceBy(absl::Seconds(1));
  ResolveAndWait(resolver, "soa.test", AddressFamily::kV4, s3);
  EXPECT_EQ(server4_->queries, 5);
  server4_->soa_minimum = 300;
  server4_->soa_ttl = 7;
  Result t1, t2, t3;
  ResolveAndWait(resolver, "soa2.test", AddressFamily::kV4, t1);
  loop_.AdvanceBy(absl::Seconds(6));
  ResolveAndWait(resolver, "soa2.test", AddressFamily::kV4, t2);
  EXPECT_EQ(server4_->queries, 6);
  loop_.AdvanceBy(absl::Seconds(1));
  ResolveAndWait(resolver, "soa2.test", AddressFamily::kV4, t3);
  EXPECT_EQ(server4_->queries, 7);
}

TEST_F(ResolverTest, ZeroNegativeTtlDisablesNegativeCaching) {
  ResolverOptions options;
  options.negative_ttl = absl::ZeroDuration();
  Resolver& resolver = MakeResolver({kV4}, options);
  server4_->soa_minimum = 300;  // Even with a SOA.
  Result n1, n2, p1, p2;
  ResolveAndWait(resolver, "nope.test", AddressFamily::kV4, n1);
  ResolveAndWait(resolver, "nope.test", AddressFamily::kV4, n2);
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(n2.value.status().code(), absl::StatusCode::kNotFound);
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, p1);
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, p2);
  EXPECT_EQ(server4_->queries, 3);  // Positive answers still are.
}

TEST_F(ResolverTest, CacheIsBoundedLeastRecentlyUsedFirst) {
  ResolverOptions options;
  options.cache_entries = 2;
  Resolver& resolver = MakeResolver({kV4}, options);
  for (const char* name : {"a.test", "b.test", "c.test"}) {
    server4_->table[name] = {IpAddress::V4(10, 9, 9, 9)};
  }
  auto resolve = [&](const char* name) {
    Result r;
    ResolveAndWait(resolver, name, AddressFamily::kV4, r);
    EXPECT_TRUE(r.value.ok()) << r.value.status();
  };
  resolve("a.test");
  resolve("b.test");
  resolve("a.test");  // Hit: a is now the most recent.
  EXPECT_EQ(server4_->queries, 2);
  resolve("c.test");  // Evicts b.
  EXPECT_EQ(resolver.cache_size(), 2u);
  EXPECT_EQ(server4_->queries, 3);
  resolve("a.test");
  resolve("c.test");
  EXPECT_EQ(server4_->queries, 3);
  resolve("b.test");  // Asked again.
  EXPECT_EQ(server4_->queries, 4);
  EXPECT_EQ(resolver.counters().cache_hits, 3u);
}

TEST_F(ResolverTest, ClearCacheAndSetServersEmptyTheCache) {
  Resolver& resolver = MakeResolver();
  Result r1, r2, r3, r4;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r1);
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r2);
  EXPECT_EQ(server4_->queries, 1);
  resolver.ClearCache();
  EXPECT_EQ(resolver.cache_size(), 0u);
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r3);
  EXPECT_EQ(server4_->queries, 2);
  resolver.SetServers({kV6});
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r4);
  EXPECT_EQ(server6_->queries, 1);
  ASSERT_TRUE(r4.value.ok()) << r4.value.status();
}

TEST_F(ResolverTest, ZeroEntriesDisableTheCache) {
  ResolverOptions options;
  options.cache_entries = 0;
  Resolver& resolver = MakeResolver({kV4}, options);
  Result r1, r2;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r1);
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, r2);
  EXPECT_EQ(server4_->queries, 2);
  EXPECT_EQ(resolver.counters().cache_hits + resolver.counters().cache_misses,
            0u);
}

// --- Search domains ---------------------------------------------------------

ResolverOptions SearchOptions(int ndots = 1) {
  ResolverOptions options;
  options.search_domains = {"corp.test", "test"};
  options.ndots = ndots;
  return options;
}

TEST_F(ResolverTest, ShortNamesTrySearchDomainsFirst) {
  Resolver& resolver = MakeResolver({kV4}, SearchOptions());
  Result found;
  ResolveAndWait(resolver, "www", AddressFamily::kV4, found);
  ASSERT_TRUE(found.value.ok()) << found.value.status();
  EXPECT_EQ(*found.value, std::vector<IpAddress>{IpAddress::V4(10, 1, 2, 3)});
  EXPECT_EQ(server4_->asked,
            (std::vector<std::string>{"www.corp.test", "www.test"}));

  server4_->asked.clear();
  Result missing;
  ResolveAndWait(resolver, "nohost", AddressFamily::kV4, missing);
  EXPECT_EQ(server4_->asked, (std::vector<std::string>{
                                 "nohost.corp.test", "nohost.test", "nohost"}));
  EXPECT_EQ(missing.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.value.status().message(), "no such name: nohost");

  // Again from the cache: the NXDOMAIN and the address both.
  server4_->asked.clear();
  Result again;
  ResolveAndWait(resolver, "www", AddressFamily::kV4, again);
  ASSERT_TRUE(again.value.ok()) << again.value.status();
  EXPECT_TRUE(server4_->asked.empty());
}

TEST_F(ResolverTest, NamesWithNdotsDotsAreAskedAsIsFirst) {
  Resolver& resolver = MakeResolver({kV4}, SearchOptions(/*ndots=*/1));
  Result found;
  ResolveAndWait(resolver, "www.test", AddressFamily::kV4, found);
  ASSERT_TRUE(found.value.ok()) << found.value.status();
  EXPECT_EQ(server4_->asked, std::vector<std::string>{"www.test"});

  server4_->asked.clear();
  Result missing;
  ResolveAndWait(resolver, "host.sub", AddressFamily::kV4, missing);
  EXPECT_EQ(server4_->asked,
            (std::vector<std::string>{"host.sub", "host.sub.corp.test",
                                      "host.sub.test"}));
  EXPECT_EQ(missing.value.status().message(), "no such name: host.sub");

  // With ndots 2, one dot is not enough: the suffixes go first.
  Resolver& two = MakeResolver({kV4}, SearchOptions(/*ndots=*/2));
  server4_->asked.clear();
  Result suffixed;
  ResolveAndWait(two, "www.test", AddressFamily::kV4, suffixed);
  ASSERT_TRUE(suffixed.value.ok()) << suffixed.value.status();
  EXPECT_EQ(server4_->asked,
            (std::vector<std::string>{"www.test.corp.test", "www.test.test",
                                      "www.test"}));
}

TEST_F(ResolverTest, AbsoluteNamesAreNeverSearched) {
  Resolver& resolver = MakeResolver({kV4}, SearchOptions());
  Result missing, found;
  ResolveAndWait(resolver, "www.", AddressFamily::kV4, missing);
  EXPECT_EQ(server4_->asked, std::vector<std::string>{"www"});
  EXPECT_EQ(missing.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.value.status().message(), "no such name: www.");
  server4_->asked.clear();
  ResolveAndWait(resolver, "v4only.test.", AddressFamily::kV4, found);
  ASSERT_TRUE(found.value.ok()) << found.value.status();
  EXPECT_EQ(server4_->asked, std::vector<std::string>{"v4only.test"});
}

TEST_F(ResolverTest, OtherErrorsEndTheSearch) {
  Resolver& resolver = MakeResolver({kV4}, SearchOptions());
  server4_->servfail_names = {"www.corp.test"};
  Result result;
  ResolveAndWait(resolver, "www", AddressFamily::kV4, result);
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kUnavailable)
      << result.value.status();
  EXPECT_EQ(server4_->asked, std::vector<std::string>{"www.corp.test"});
}

TEST_F(ResolverTest, NoDataMovesOnToTheNextCandidate) {
  Resolver& resolver = MakeResolver({kV4}, SearchOptions());
  server4_->table["mail.corp.test"] = {IpAddress::V4(10, 5, 5, 5)};
  server4_->table["mail.test"] = {*IpAddress::Parse("fd00::5")};
  Result v6;
  ResolveAndWait(resolver, "mail", AddressFamily::kV6, v6);
  ASSERT_TRUE(v6.value.ok()) << v6.value.status();
  EXPECT_EQ(*v6.value, std::vector<IpAddress>{*IpAddress::Parse("fd00::5")});
  EXPECT_EQ(server4_->asked,
            (std::vector<std::string>{"mail.corp.test", "mail.test"}));
  // No candidate has AAAA: the first that exists is named.
  Result none;
  ResolveAndWait(resolver, "v4only", AddressFamily::kV6, none);
  EXPECT_EQ(none.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.value.status().message(), "no IPv6 addresses for v4only.test");
}

TEST_F(ResolverTest, SetSearchDomains) {
  Resolver& resolver = MakeResolver();
  EXPECT_TRUE(resolver.search_domains().empty());
  Result plain;
  ResolveAndWait(resolver, "www", AddressFamily::kV4, plain);
  EXPECT_EQ(plain.value.status().message(), "no such name: www");

  absl::Status bad = resolver.SetSearchDomains({"corp.test", "bad..test"});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("bad..test"), absl::string_view::npos) << bad;
  EXPECT_TRUE(resolver.search_domains().empty());

  ASSERT_TRUE(resolver.SetSearchDomains({"Corp.Test."}).ok());
  EXPECT_EQ(resolver.search_domains(), std::vector<std::string>{"corp.test"});
  server4_->table["www.corp.test"] = {IpAddress::V4(10, 7, 7, 7)};
  Result searched;
  ResolveAndWait(resolver, "www", AddressFamily::kV4, searched);
  ASSERT_TRUE(searched.value.ok()) << searched.value.status();
  EXPECT_EQ(*searched.value,
            std::vector<IpAddress>{IpAddress::V4(10, 7, 7, 7)});
}

}  // namespace
}  // namespace stow::dns
