// Resolver tests: a tiny DNS server on the same netstack (lwIP is one stack
// per process), every datagram crossing a LoopbackLink, on a fake clock.
#include "sdk/dns/resolver.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/udp.h"
#include "sdk/dns/message.h"
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

// A DNS server on one address: answers from a table, or misbehaves as told.
class FakeServer : public netstack::UdpEndpoint::Delegate {
 public:
  FakeServer(netstack::Stack* stack, const IpAddress& ip)
      : endpoint_(
            *netstack::UdpEndpoint::Bind(stack, SocketAddress(ip, 53), this)),
        // For forgeries from the right address but the wrong port.
        other_port_(*netstack::UdpEndpoint::Bind(stack, SocketAddress(ip, 5353),
                                                 this)) {}

  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    std::vector<uint8_t> query(payload.begin(), payload.end());
    ++queries;
    if (drop > 0) {
      --drop;
      return;
    }
    if (silent) return;
    const Question q = ParseQuestion(query);
    last_client = from;
    if (before_answer) before_answer(query, from);
    if (rcode != Rcode::kNoError) {
      Send(BuildTestResponse(query, rcode, {}), from);
      return;
    }
    std::vector<TestRecord> answers;
    auto it = table.find(q.name);
    if (it != table.end()) {
      for (const IpAddress& ip : it->second) {
        if ((q.type == 1) == ip.is_v4()) {
          answers.push_back(
              {q.name, q.type, 60,
               std::vector<uint8_t>(ip.bytes().begin(), ip.bytes().end())});
        }
      }
      Send(BuildTestResponse(query, Rcode::kNoError, answers), from);
    } else {
      Send(BuildTestResponse(query, Rcode::kNxDomain, {}), from);
    }
  }

  void Send(const std::vector<uint8_t>& bytes, const SocketAddress& to) {
    ASSERT_TRUE(endpoint_->SendTo(bytes, to).ok());
  }
  void SendFromOtherPort(const std::vector<uint8_t>& bytes,
                         const SocketAddress& to) {
    ASSERT_TRUE(other_port_->SendTo(bytes, to).ok());
  }

  std::map<std::string, std::vector<IpAddress>> table;
  int drop = 0;
  bool silent = false;
  Rcode rcode = Rcode::kNoError;
  std::function<void(const std::vector<uint8_t>&, const SocketAddress&)>
      before_answer;
  int queries = 0;
  SocketAddress last_client;

 private:
  std::unique_ptr<netstack::UdpEndpoint> endpoint_;
  std::unique_ptr<netstack::UdpEndpoint> other_port_;
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
    iface_.reset();
    loop_.RunUntilIdle();
    netstack::StackResources left = stack_->Resources();
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    stack_.reset();
    link_.reset();
  }

  Resolver& MakeResolver(std::vector<IpAddress> servers = {kV4}) {
    resolver_ = std::make_unique<Resolver>(stack_.get(), std::move(servers));
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
  EXPECT_EQ(result.value.status().message(), "no such name nope.test");
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

TEST_F(ResolverTest, TruncatedAnswerIsAnError) {
  Resolver& resolver = MakeResolver();
  server4_->silent = true;
  server4_->before_answer = nullptr;
  Result result;
  ASSERT_TRUE(
      resolver.Resolve("www.test", AddressFamily::kV4, result.Callback()).ok());
  // Answer by hand with TC set.
  server4_->silent = false;
  server4_->drop = 0;
  server4_->before_answer = [&](const std::vector<uint8_t>& query,
                                const SocketAddress& client) {
    server4_->Send(BuildTestResponse(query, Rcode::kNoError, {}, true), client);
  };
  server4_->rcode = Rcode::kNotImp;  // Never reached: TC is seen first.
  ASSERT_TRUE(RunUntil([&] { return result.calls > 0; }));
  EXPECT_EQ(result.value.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(result.value.status().message().find("truncated"),
            absl::string_view::npos)
      << result.value.status();
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

}  // namespace
}  // namespace stow::dns
