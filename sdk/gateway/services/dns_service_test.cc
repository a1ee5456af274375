// DNS service tests: one stack with one interface on a LoopbackLink hosts
// the server and its clients (UDP endpoints, TCP connections), driven by a
// fake clock. Responses are checked with sdk/dns's response parser and, for
// what it does not expose (flags, exact bytes), byte by byte.
#include "sdk/gateway/services/dns_service.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/udp.h"
#include "sdk/dns/message.h"
#include "sdk/event/manual_loop.h"
#include "sdk/gateway/services/services.h"

namespace stow::gateway {
namespace {

using dns::RecordType;
using netstack::Stack;
using netstack::TcpConnection;
using netstack::UdpEndpoint;
using netstack::testing::LoopbackLink;
using Bytes = std::vector<uint8_t>;

const IpAddress kV4 = IpAddress::V4(10, 99, 0, 1);
const IpAddress kV6 = *IpAddress::Parse("fd99::1");

Bytes Query(uint16_t id, const std::string& name, RecordType type) {
  absl::StatusOr<Bytes> q = dns::BuildQuery(id, name, type);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *q : Bytes();
}

// A raw query: header (ID 0x1234, RD, the given counts) and `rest`.
Bytes RawQuery(const Bytes& rest, uint16_t flags = 0x0100, uint16_t qd = 1,
               uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
  Bytes q = {0x12,
             0x34,
             static_cast<uint8_t>(flags >> 8),
             static_cast<uint8_t>(flags),
             static_cast<uint8_t>(qd >> 8),
             static_cast<uint8_t>(qd),
             static_cast<uint8_t>(an >> 8),
             static_cast<uint8_t>(an),
             static_cast<uint8_t>(ns >> 8),
             static_cast<uint8_t>(ns),
             static_cast<uint8_t>(ar >> 8),
             static_cast<uint8_t>(ar)};
  q.insert(q.end(), rest.begin(), rest.end());
  return q;
}

// "www.test" IN A as question bytes.
Bytes WwwQuestion(uint16_t type = 1) {
  Bytes q = {3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0, 0,
             static_cast<uint8_t>(type), 0, 1};
  return q;
}

uint16_t Flags(const Bytes& m) {
  return static_cast<uint16_t>(m[2] << 8 | m[3]);
}
int Rcode(const Bytes& m) { return m[3] & 0x0F; }
bool Aa(const Bytes& m) { return (m[2] & 0x04) != 0; }
bool Tc(const Bytes& m) { return (m[2] & 0x02) != 0; }
uint16_t Count(const Bytes& m, int index) {
  return static_cast<uint16_t>(m[4 + 2 * index] << 8 | m[5 + 2 * index]);
}

std::vector<IpAddress> Addresses(const dns::Response& r) {
  std::vector<IpAddress> out;
  for (const dns::AddressRecord& a : r.addresses) out.push_back(a.address);
  return out;
}

Bytes Framed(const Bytes& m) {
  Bytes out = {static_cast<uint8_t>(m.size() >> 8),
               static_cast<uint8_t>(m.size())};
  out.insert(out.end(), m.begin(), m.end());
  return out;
}

struct UdpCollector : UdpEndpoint::Delegate {
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    got.emplace_back(payload.begin(), payload.end());
    senders.push_back(from);
  }
  std::vector<Bytes> got;
  std::vector<SocketAddress> senders;
};

// A DNS-over-TCP client: writes what it is given, splits what it reads
// into length-prefixed messages.
class TcpClient : public TcpConnection::Delegate {
 public:
  void OnReadable() override {
    uint8_t buf[4096];
    while (size_t n = conn->Read(absl::MakeSpan(buf))) {
      in.insert(in.end(), buf, buf + n);
    }
    while (in.size() >= 2 && in.size() >= 2u + (in[0] << 8 | in[1])) {
      const size_t len = in[0] << 8 | in[1];
      replies.emplace_back(in.begin() + 2, in.begin() + 2 + len);
      in.erase(in.begin(), in.begin() + 2 + len);
    }
    if (conn->peer_closed()) eof = true;
  }
  void OnError(absl::Status status) override { error = std::move(status); }
  void Send(const Bytes& bytes) {
    absl::StatusOr<size_t> n = conn->Write(bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, bytes.size());
  }

  std::unique_ptr<TcpConnection> conn;
  Bytes in;
  std::vector<Bytes> replies;
  bool eof = false;
  absl::Status error;
};

std::vector<DnsRecord> TestRecords() {
  std::vector<DnsRecord> records = {
      {"www.test", IpAddress::V4(10, 1, 2, 3)},
      {"www.test", IpAddress::V4(10, 1, 2, 4)},
      {"www.test", *IpAddress::Parse("fd00::5")},
      {"v4only.test", IpAddress::V4(10, 1, 2, 5)},
      {"v6only.test.", *IpAddress::Parse("fd00::6")},
      {"host.deep.zone.test", IpAddress::V4(10, 1, 2, 7)},
  };
  for (int i = 0; i < 40; ++i) {
    records.push_back({"many.test", IpAddress::V4(10, 2, 0, i + 1)});
  }
  return records;
}

class DnsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Stack>> stack = Stack::Create(&loop_);
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
    DnsServiceConfig dns;
    dns.addresses = {kV4, kV6};
    dns.records = TestRecords();
    dns.ttl = 300;
    StartDns(dns);
  }

  void TearDown() override {
    dns_.reset();
    services_.reset();
    loop_.RunUntilIdle();
    iface_.reset();
    stack_->AbortOrphanedConnections();
    loop_.RunUntilIdle();
    netstack::StackResources left = stack_->Resources();
    EXPECT_TRUE(left.IsEmpty()) << left.ToString();
    stack_.reset();
    link_.reset();
  }

  void StartDns(const DnsServiceConfig& config) {
    dns_.reset();
    absl::StatusOr<std::unique_ptr<DnsService>> dns =
        DnsService::Start(stack_.get(), config);
    ASSERT_TRUE(dns.ok()) << dns.status();
    dns_ = std::move(*dns);
  }

  bool RunUntil(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(30)) {
    const absl::Duration end = loop_.Now() + limit;
    while (true) {
      loop_.RunUntilIdle();
      if (done()) return true;
      if (loop_.Now() >= end) return false;
      loop_.AdvanceBy(absl::Milliseconds(2));
    }
  }

  // Sends one datagram to port 53 of `server` and returns the reply (empty
  // when none came within a second).
  Bytes AskUdp(const Bytes& query, const IpAddress& server = kV4) {
    UdpCollector collector;
    absl::StatusOr<std::unique_ptr<UdpEndpoint>> client = UdpEndpoint::Bind(
        stack_.get(), SocketAddress(server, 0), &collector);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return {};
    EXPECT_TRUE((*client)->SendTo(query, SocketAddress(server, 53)).ok());
    if (!RunUntil([&] { return !collector.got.empty(); }, absl::Seconds(1))) {
      return {};
    }
    EXPECT_EQ(collector.got.size(), 1u);
    EXPECT_EQ(collector.senders[0], SocketAddress(server, 53));
    return collector.got[0];
  }

  std::unique_ptr<TcpClient> ConnectTcp(const IpAddress& server = kV4) {
    auto client = std::make_unique<TcpClient>();
    absl::StatusOr<std::unique_ptr<TcpConnection>> conn =
        TcpConnection::Connect(stack_.get(), SocketAddress(server, 53),
                               client.get());
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (conn.ok()) client->conn = std::move(*conn);
    return client;
  }

  const DnsCounters& counters() { return dns_->counters(); }

  event::ManualLoop loop_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<LoopbackLink> link_;
  std::unique_ptr<netstack::Interface> iface_;
  std::unique_ptr<DnsService> dns_;
  std::unique_ptr<Services> services_;
};

TEST_F(DnsServiceTest, AnswersARecordsOverUdp) {
  for (const IpAddress& server : {kV4, kV6}) {
    const Bytes reply = AskUdp(Query(7, "www.test", RecordType::kA), server);
    ASSERT_GE(reply.size(), 12u);
    absl::StatusOr<dns::Response> r =
        dns::ParseResponse(reply, 7, "www.test", RecordType::kA);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(Addresses(*r), (std::vector<IpAddress>{
                                 IpAddress::V4(10, 1, 2, 3),
                                 IpAddress::V4(10, 1, 2, 4)}));
    EXPECT_EQ(r->addresses[0].ttl, 300u);
    // QR, AA and RD (copied), no RA, NOERROR.
    EXPECT_EQ(Flags(reply), 0x8500);
    // Header 12, question 14, two records of 16.
    EXPECT_EQ(reply.size(), 12u + 14 + 2 * 16);
  }
  EXPECT_EQ(counters().udp_queries, 2u);
  EXPECT_EQ(counters().answers, 2u);
}

TEST_F(DnsServiceTest, AnswersAaaaRecords) {
  const Bytes reply = AskUdp(Query(8, "www.test", RecordType::kAaaa), kV6);
  absl::StatusOr<dns::Response> r =
      dns::ParseResponse(reply, 8, "www.test", RecordType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Addresses(*r),
            (std::vector<IpAddress>{*IpAddress::Parse("fd00::5")}));
  // The name given with a trailing dot in the table.
  const Bytes v6only = AskUdp(Query(9, "v6only.test", RecordType::kAaaa));
  r = dns::ParseResponse(v6only, 9, "v6only.test", RecordType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Addresses(*r),
            (std::vector<IpAddress>{*IpAddress::Parse("fd00::6")}));
}

TEST_F(DnsServiceTest, AnyReturnsBothFamilies) {
  const Bytes reply = AskUdp(RawQuery(WwwQuestion(255)));
  ASSERT_GE(reply.size(), 12u);
  EXPECT_EQ(Rcode(reply), 0);
  EXPECT_EQ(Count(reply, 1), 3u);
  EXPECT_EQ(reply.size(), 12u + 14 + 2 * 16 + 28);
}

TEST_F(DnsServiceTest, KnownNameOtherTypeIsNoData) {
  const Bytes reply = AskUdp(Query(10, "v4only.test", RecordType::kAaaa));
  absl::StatusOr<dns::Response> r =
      dns::ParseResponse(reply, 10, "v4only.test", RecordType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->addresses.empty());
  EXPECT_TRUE(Aa(reply));
  EXPECT_EQ(Count(reply, 1), 0u);
  // A type the table never has (MX, 15).
  const Bytes mx = AskUdp(RawQuery(WwwQuestion(15)));
  ASSERT_GE(mx.size(), 12u);
  EXPECT_EQ(Rcode(mx), 0);
  EXPECT_EQ(Count(mx, 0), 1u);
  EXPECT_EQ(Count(mx, 1), 0u);
  // An empty non-terminal exists: NODATA, not NXDOMAIN (RFC 8020).
  const Bytes ent = AskUdp(Query(11, "zone.test", RecordType::kA));
  r = dns::ParseResponse(ent, 11, "zone.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->addresses.empty());
  EXPECT_EQ(counters().nodata, 3u);
}

TEST_F(DnsServiceTest, UnknownNameIsNxDomainWithAa) {
  const Bytes reply = AskUdp(Query(12, "nothere.test", RecordType::kA));
  ASSERT_GE(reply.size(), 12u);
  EXPECT_EQ(dns::ParseResponse(reply, 12, "nothere.test", RecordType::kA)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<dns::Response> r =
      dns::ParseAnswer(reply, 12, "nothere.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rcode, dns::Rcode::kNxDomain);
  EXPECT_FALSE(r->negative_ttl.has_value());  // No SOA.
  EXPECT_TRUE(Aa(reply));
  EXPECT_EQ(Flags(reply), 0x8503);
  // A child of a record's owner does not exist either.
  const Bytes child = AskUdp(Query(13, "x.www.test", RecordType::kA));
  ASSERT_GE(child.size(), 12u);
  EXPECT_EQ(Rcode(child), 3);
  EXPECT_EQ(counters().nxdomain, 2u);
}

TEST_F(DnsServiceTest, NamesMatchCaseInsensitivelyAndTheQuestionIsEchoed) {
  const Bytes query = Query(14, "WwW.TeSt.", RecordType::kA);
  const Bytes reply = AskUdp(query);
  absl::StatusOr<dns::Response> r =
      dns::ParseResponse(reply, 14, "www.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->addresses.size(), 2u);
  // The question comes back byte for byte, case kept (0x20 randomization).
  ASSERT_GE(reply.size(), query.size());
  EXPECT_EQ(Bytes(reply.begin() + 12, reply.begin() + query.size()),
            Bytes(query.begin() + 12, query.end()));
}

TEST_F(DnsServiceTest, LongUdpAnswerIsTruncatedAndTcpCarriesIt) {
  const Bytes query = Query(15, "many.test", RecordType::kA);
  const Bytes reply = AskUdp(query);
  absl::StatusOr<dns::Response> r =
      dns::ParseAnswer(reply, 15, "many.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->truncated);
  EXPECT_TRUE(Tc(reply));
  EXPECT_TRUE(Aa(reply));
  EXPECT_EQ(Count(reply, 1), 0u);
  // Header and question only.
  EXPECT_EQ(reply.size(), query.size());
  EXPECT_EQ(counters().truncated, 1u);

  std::unique_ptr<TcpClient> client = ConnectTcp(kV6);
  client->Send(Framed(query));
  ASSERT_TRUE(RunUntil([&] { return !client->replies.empty(); }));
  const Bytes& full = client->replies[0];
  EXPECT_FALSE(Tc(full));
  r = dns::ParseResponse(full, 15, "many.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->addresses.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(r->addresses[i].address, IpAddress::V4(10, 2, 0, i + 1));
  }
  EXPECT_EQ(full.size(), 12u + 15 + 40 * 16);
  EXPECT_GT(full.size(), kMaxDnsUdpReply);
  EXPECT_EQ(counters().truncated, 1u);
  EXPECT_EQ(counters().tcp_queries, 1u);
}

TEST_F(DnsServiceTest, SeveralQueriesOnOneTcpConnection) {
  std::unique_ptr<TcpClient> client = ConnectTcp();
  // Two pipelined in one write, answered in order.
  Bytes both = Framed(Query(21, "www.test", RecordType::kA));
  const Bytes second = Framed(Query(22, "nothere.test", RecordType::kAaaa));
  both.insert(both.end(), second.begin(), second.end());
  client->Send(both);
  ASSERT_TRUE(RunUntil([&] { return client->replies.size() == 2; }));
  ASSERT_TRUE(
      dns::ParseResponse(client->replies[0], 21, "www.test", RecordType::kA)
          .ok());
  absl::StatusOr<dns::Response> r = dns::ParseAnswer(
      client->replies[1], 22, "nothere.test", RecordType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rcode, dns::Rcode::kNxDomain);
  // A third one trickling in a byte at a time, prefix split included.
  const Bytes third = Framed(Query(23, "www.test", RecordType::kAaaa));
  for (uint8_t b : third) {
    client->Send({b});
    loop_.RunUntilIdle();
  }
  ASSERT_TRUE(RunUntil([&] { return client->replies.size() == 3; }));
  EXPECT_TRUE(
      dns::ParseResponse(client->replies[2], 23, "www.test", RecordType::kAaaa)
          .ok());
  EXPECT_EQ(counters().tcp_accepted, 1u);
  EXPECT_EQ(counters().tcp_queries, 3u);
  // The client's FIN ends the connection cleanly.
  ASSERT_TRUE(client->conn->Shutdown().ok());
  ASSERT_TRUE(RunUntil([&] { return client->eof; }));
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 0; }));
  EXPECT_EQ(counters().tcp_closed, 1u);
  EXPECT_EQ(counters().tcp_errors, 0u);
  EXPECT_EQ(counters().tcp_active, 0u);
}

TEST_F(DnsServiceTest, BadQuestionIsFormErr) {
  const Bytes bad_questions[] = {
      // A compression pointer as the name.
      {0xC0, 0x0C, 0, 1, 0, 1},
      // A label running past the end.
      {3, 'w', 'w'},
      // A name without QTYPE/QCLASS.
      {3, 'w', 'w', 'w', 0},
      // A 64-byte label (0x40: an extended label type).
      [] {
        Bytes q = {64};
        q.resize(65, 'a');
        q.insert(q.end(), {0, 0, 1, 0, 1});
        return q;
      }(),
      // Trailing bytes without additional records.
      [] {
        Bytes q = WwwQuestion();
        q.push_back(0);
        return q;
      }(),
  };
  for (const Bytes& question : bad_questions) {
    const Bytes reply = AskUdp(RawQuery(question));
    ASSERT_EQ(reply.size(), 12u);
    EXPECT_EQ(reply[0], 0x12);
    EXPECT_EQ(reply[1], 0x34);
    EXPECT_EQ(Flags(reply), 0x8101);  // QR, RD copied, FORMERR.
    EXPECT_EQ(Count(reply, 0), 0u);
  }
  // Two questions, and an answer record in a query.
  EXPECT_EQ(Rcode(AskUdp(RawQuery(WwwQuestion(), 0x0100, 2))), 1);
  EXPECT_EQ(Rcode(AskUdp(RawQuery(WwwQuestion(), 0x0100, 1, 1))), 1);
  EXPECT_EQ(Rcode(AskUdp(RawQuery({}, 0x0100, 0))), 1);
  EXPECT_EQ(counters().formerr, 8u);
  // An additional record (EDNS OPT) is skipped: answered as usual.
  Bytes edns = WwwQuestion();
  edns.insert(edns.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0});
  const Bytes reply = AskUdp(RawQuery(edns, 0x0100, 1, 0, 0, 1));
  ASSERT_GE(reply.size(), 12u);
  EXPECT_EQ(Rcode(reply), 0);
  EXPECT_EQ(Count(reply, 1), 2u);
  EXPECT_EQ(Count(reply, 3), 0u);  // No OPT back.
}

TEST_F(DnsServiceTest, OtherOpcodesClassesAndMetaTypes) {
  // STATUS (opcode 2): NOTIMP, opcode echoed, header only.
  Bytes reply = AskUdp(RawQuery(WwwQuestion(), 0x1100));
  ASSERT_EQ(reply.size(), 12u);
  EXPECT_EQ(Flags(reply), 0x9104);
  // Class CH: REFUSED with the question.
  Bytes ch = WwwQuestion();
  ch.back() = 3;
  reply = AskUdp(RawQuery(ch));
  ASSERT_EQ(reply.size(), 12u + ch.size());
  EXPECT_EQ(Rcode(reply), 5);
  // AXFR: NOTIMP.
  reply = AskUdp(RawQuery(WwwQuestion(252)));
  ASSERT_GE(reply.size(), 12u);
  EXPECT_EQ(Rcode(reply), 4);
  EXPECT_EQ(counters().notimp, 2u);
  EXPECT_EQ(counters().refused, 1u);
}

TEST_F(DnsServiceTest, GarbageIsDroppedAndCounted) {
  UdpCollector collector;
  std::unique_ptr<UdpEndpoint> client =
      *UdpEndpoint::Bind(stack_.get(), SocketAddress(kV4, 0), &collector);
  const SocketAddress server(kV4, 53);
  const Bytes garbage = {0xde, 0xad, 0xbe, 0xef, 0x00};
  ASSERT_TRUE(client->SendTo(garbage, server).ok());
  ASSERT_TRUE(client->SendTo(Bytes(), server).ok());
  // A response (QR set) is never answered.
  ASSERT_TRUE(client->SendTo(RawQuery(WwwQuestion(), 0x8100), server).ok());
  ASSERT_TRUE(
      client->SendTo(Query(31, "www.test", RecordType::kA), server).ok());
  ASSERT_TRUE(RunUntil([&] { return !collector.got.empty(); }));
  RunUntil([] { return false; }, absl::Milliseconds(200));
  // Only the last one was answered.
  ASSERT_EQ(collector.got.size(), 1u);
  EXPECT_TRUE(
      dns::ParseResponse(collector.got[0], 31, "www.test", RecordType::kA)
          .ok());
  EXPECT_EQ(counters().udp_queries, 4u);
  EXPECT_EQ(counters().dropped, 3u);
  EXPECT_EQ(counters().answers, 1u);

  // Over TCP a length below a header closes the connection (reset).
  std::unique_ptr<TcpClient> tcp = ConnectTcp();
  tcp->Send({0x00, 0x05, 1, 2, 3, 4, 5});
  ASSERT_TRUE(RunUntil([&] { return !tcp->error.ok(); }));
  EXPECT_EQ(tcp->error.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 0; }));
  EXPECT_EQ(counters().dropped, 4u);
  EXPECT_EQ(counters().tcp_errors, 1u);
}

TEST_F(DnsServiceTest, IdleTcpConnectionsAreClosed) {
  std::unique_ptr<TcpClient> quiet = ConnectTcp();
  std::unique_ptr<TcpClient> partial = ConnectTcp(kV6);
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 2; }));
  partial->Send({0x00, 0x20, 0x12});
  ASSERT_TRUE(RunUntil([&] { return quiet->eof && !partial->error.ok(); },
                       absl::Seconds(20)));
  EXPECT_TRUE(quiet->error.ok()) << quiet->error;
  EXPECT_EQ(partial->error.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 0; }));
  EXPECT_EQ(counters().tcp_idle_timeouts, 2u);
  EXPECT_EQ(counters().tcp_errors, 1u);
}

TEST_F(DnsServiceTest, ConnectionsBeyondTheLimitAreReset) {
  DnsServiceConfig config;
  config.addresses = {kV4};
  config.records = TestRecords();
  config.max_connections = 1;
  StartDns(config);
  std::unique_ptr<TcpClient> a = ConnectTcp();
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 1; }));
  std::unique_ptr<TcpClient> b = ConnectTcp();
  ASSERT_TRUE(RunUntil([&] { return !b->error.ok(); }));
  EXPECT_EQ(counters().tcp_rejected, 1u);
  EXPECT_TRUE(a->error.ok());
}

TEST_F(DnsServiceTest, DestroyingResetsConnections) {
  std::unique_ptr<TcpClient> client = ConnectTcp();
  client->Send({0x00, 0x20});
  ASSERT_TRUE(RunUntil([&] { return dns_->live_connections() == 1; }));
  dns_.reset();
  ASSERT_TRUE(RunUntil([&] { return !client->error.ok(); }));
  client.reset();
  loop_.RunUntilIdle();
  netstack::StackResources left = stack_->Resources();
  EXPECT_TRUE(left.IsEmpty()) << left.ToString();
}

TEST_F(DnsServiceTest, ServicesServeTheGatewayName) {
  dns_.reset();
  ServicesConfig config;
  config.addresses = {kV4, kV6};
  config.dns_records = {{"app.test", IpAddress::V4(10, 99, 0, 80)}};
  config.dns_ttl = 5;
  absl::StatusOr<std::unique_ptr<Services>> services =
      Services::Start(stack_.get(), config);
  ASSERT_TRUE(services.ok()) << services.status();
  services_ = std::move(*services);
  ASSERT_NE(services_->dns(), nullptr);

  absl::StatusOr<dns::Response> r = dns::ParseResponse(
      AskUdp(Query(41, kGatewayDnsName, RecordType::kA)), 41, kGatewayDnsName,
      RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Addresses(*r), std::vector<IpAddress>{kV4});
  EXPECT_EQ(r->addresses[0].ttl, 5u);
  r = dns::ParseResponse(
      AskUdp(Query(42, "Gateway.Stowaway.Test", RecordType::kAaaa), kV6), 42,
      kGatewayDnsName, RecordType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Addresses(*r), std::vector<IpAddress>{kV6});
  r = dns::ParseResponse(AskUdp(Query(43, "app.test", RecordType::kA)), 43,
                         "app.test", RecordType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Addresses(*r),
            std::vector<IpAddress>{IpAddress::V4(10, 99, 0, 80)});
  // Counted with the other services.
  EXPECT_EQ(services_->counters().dns.answers, 3u);
  EXPECT_NE(FormatCounters(services_->counters()).find("dns.answers 3\n"),
            std::string::npos);

  // Without records, no DNS.
  services_.reset();
  ServicesConfig plain;
  plain.addresses = {kV4};
  services = Services::Start(stack_.get(), plain);
  ASSERT_TRUE(services.ok()) << services.status();
  services_ = std::move(*services);
  EXPECT_EQ(services_->dns(), nullptr);
  EXPECT_TRUE(AskUdp(Query(44, kGatewayDnsName, RecordType::kA)).empty());
}

TEST_F(DnsServiceTest, StartErrorsAndRecordParsing) {
  DnsServiceConfig config;
  config.records = TestRecords();
  EXPECT_EQ(DnsService::Start(stack_.get(), config).status().code(),
            absl::StatusCode::kInvalidArgument);
  config.addresses = {kV4};
  // The fixture's service holds port 53.
  absl::StatusOr<std::unique_ptr<DnsService>> clash =
      DnsService::Start(stack_.get(), config);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists);
  config.port = 5353;
  config.records.push_back({"bad..name", kV4});
  EXPECT_EQ(DnsService::Start(stack_.get(), config).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::vector<DnsRecord>> parsed =
      ParseDnsRecords({"a.test=10.0.0.1", "A.Test.=fd00::1", "b=1.2.3.4"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].name, "a.test");
  EXPECT_EQ((*parsed)[1].name, "a.test");
  EXPECT_EQ((*parsed)[1].address, *IpAddress::Parse("fd00::1"));
  for (const char* bad : {"a.test", "a.test=", "=10.0.0.1", "a.test=x",
                          "a.test=0.0.0.0", "a b=10.0.0.1"}) {
    absl::StatusOr<std::vector<DnsRecord>> r = ParseDnsRecords({bad});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos)
        << r.status();
  }
}

}  // namespace
}  // namespace stow::gateway
