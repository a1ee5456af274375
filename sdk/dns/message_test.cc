#include "sdk/dns/message.h"

#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace stow::dns {
namespace {

constexpr uint16_t kA = 1;
constexpr uint16_t kCname = 5;
constexpr uint16_t kAaaa = 28;

std::vector<uint8_t> Query(uint16_t id, const std::string& name,
                           RecordType type = RecordType::kA) {
  absl::StatusOr<std::vector<uint8_t>> q = BuildQuery(id, name, type);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *q : std::vector<uint8_t>();
}

std::vector<uint8_t> V6(uint8_t last) {
  std::vector<uint8_t> v(16, 0);
  v[0] = 0xfd;
  v[15] = last;
  return v;
}

TEST(NormalizeNameTest, AcceptsAndCanonicalizes) {
  EXPECT_EQ(*NormalizeName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(*NormalizeName("a"), "a");
  EXPECT_EQ(*NormalizeName("_sip._udp.x-y.example"), "_sip._udp.x-y.example");
  const std::string label63(63, 'a');
  EXPECT_TRUE(NormalizeName(label63 + ".com").ok());
  // 253 characters: four labels of 63 and one of 1 (63*4+3 dots... = 255),
  // so build exactly 253.
  std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(NormalizeName(name).ok());
  EXPECT_TRUE(NormalizeName(name + ".").ok());
}

TEST(NormalizeNameTest, Refuses) {
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string("a..b"),
        std::string(".a"), std::string("a.b.."), std::string(64, 'a'),
        std::string("a b"), std::string("a/b"), std::string("ü.example"),
        std::string(63, 'a') + "." + std::string(63, 'b') + "." +
            std::string(63, 'c') + "." + std::string(62, 'd')}) {
    absl::StatusOr<std::string> n = NormalizeName(bad);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(BuildQueryTest, ExactBytes) {
  // RFC 1035 4.1: ID, flags with RD only, QDCOUNT 1, then the question.
  const std::vector<uint8_t> want = {
      0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      3,    'w',  'w',  'w',  1,    'x',  0,    0x00, 0x1C, 0x00, 0x01};
  EXPECT_EQ(Query(0xABCD, "www.x.", RecordType::kAaaa), want);
  EXPECT_EQ(BuildQuery(1, "a..b", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*PeekId(want), 0xABCD);
  EXPECT_FALSE(PeekId(absl::MakeConstSpan(want).first(11)).has_value());
}

TEST(ParseResponseTest, ARoundTrip) {
  std::vector<uint8_t> q = Query(7, "www.example.com");
  std::vector<uint8_t> r =
      BuildTestResponse(q, Rcode::kNoError,
                        {{"www.example.com", kA, 300, {10, 0, 0, 1}},
                         {"www.example.com", kA, 0x80000001u, {10, 0, 0, 2}}});
  absl::StatusOr<Response> p =
      ParseResponse(r, 7, "www.example.com", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->id, 7);
  EXPECT_EQ(p->canonical_name, "www.example.com");
  ASSERT_EQ(p->addresses.size(), 2u);
  EXPECT_EQ(p->addresses[0].address, IpAddress::V4(10, 0, 0, 1));
  EXPECT_EQ(p->addresses[0].ttl, 300u);
  EXPECT_EQ(p->addresses[1].address, IpAddress::V4(10, 0, 0, 2));
  EXPECT_EQ(p->addresses[1].ttl, 0u);  // RFC 2181 section 8.
}

TEST(ParseResponseTest, AaaaRoundTripIgnoresOtherTypes) {
  std::vector<uint8_t> q = Query(9, "v6.test", RecordType::kAaaa);
  std::vector<uint8_t> r = BuildTestResponse(
      q, Rcode::kNoError,
      {{"v6.test", kA, 30, {10, 0, 0, 1}}, {"v6.test", kAaaa, 30, V6(1)}});
  absl::StatusOr<Response> p =
      ParseResponse(r, 9, "v6.test", RecordType::kAaaa);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->addresses.size(), 1u);
  EXPECT_EQ(p->addresses[0].address, *IpAddress::Parse("fd00::1"));
}

TEST(ParseResponseTest, QuestionComparedCaseInsensitively) {
  std::vector<uint8_t> q = Query(1, "WwW.ExAmPlE.cOm");
  std::vector<uint8_t> r = BuildTestResponse(
      q, Rcode::kNoError, {{"WWW.example.COM", kA, 1, {1, 2, 3, 4}}});
  absl::StatusOr<Response> p =
      ParseResponse(r, 1, "www.example.com.", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->addresses.size(), 1u);
}

TEST(ParseResponseTest, NoDataIsOkAndEmpty) {
  std::vector<uint8_t> r =
      BuildTestResponse(Query(1, "x.test"), Rcode::kNoError, {});
  absl::StatusOr<Response> p = ParseResponse(r, 1, "x.test", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->addresses.empty());
}

TEST(ParseResponseTest, WrongIdNameTypeOrQuery) {
  std::vector<uint8_t> q = Query(100, "www.x");
  std::vector<uint8_t> r =
      BuildTestResponse(q, Rcode::kNoError, {{"www.x", kA, 1, {1, 2, 3, 4}}});
  EXPECT_EQ(ParseResponse(r, 101, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseResponse(r, 100, "www.y", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseResponse(r, 100, "ww.x", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseResponse(r, 100, "www.x", RecordType::kAaaa).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The query itself (QR clear) is not a response.
  EXPECT_EQ(ParseResponse(q, 100, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Class CH in the question.
  std::vector<uint8_t> ch = r;
  ch[q.size() - 1] = 3;
  EXPECT_EQ(ParseResponse(ch, 100, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Opcode STATUS.
  std::vector<uint8_t> op = r;
  op[2] |= 2 << 3;
  EXPECT_EQ(ParseResponse(op, 100, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Two questions.
  std::vector<uint8_t> two = r;
  two[5] = 2;
  EXPECT_EQ(ParseResponse(two, 100, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseResponseTest, RcodesMapped) {
  std::vector<uint8_t> q = Query(5, "www.x");
  struct Case {
    Rcode rcode;
    absl::StatusCode code;
  };
  for (const Case& c :
       {Case{Rcode::kNxDomain, absl::StatusCode::kNotFound},
        Case{Rcode::kServFail, absl::StatusCode::kUnavailable},
        Case{Rcode::kRefused, absl::StatusCode::kPermissionDenied},
        Case{Rcode::kFormErr, absl::StatusCode::kInternal},
        Case{Rcode::kNotImp, absl::StatusCode::kUnimplemented},
        Case{static_cast<Rcode>(9), absl::StatusCode::kUnknown}}) {
    std::vector<uint8_t> r = BuildTestResponse(q, c.rcode, {});
    EXPECT_EQ(ParseResponse(r, 5, "www.x", RecordType::kA).status().code(),
              c.code)
        << static_cast<int>(c.rcode);
  }
  std::vector<uint8_t> nx = BuildTestResponse(q, Rcode::kNxDomain, {});
  EXPECT_EQ(ParseResponse(nx, 5, "WWW.X", RecordType::kA).status().message(),
            "no such name www.x");
}

TEST(ParseResponseTest, TruncatedIsAnError) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> r = BuildTestResponse(q, Rcode::kNoError, {}, true);
  absl::Status s = ParseResponse(r, 5, "www.x", RecordType::kA).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("truncated"), absl::string_view::npos) << s;
  // Even with a record cut in half after the question.
  r = BuildTestResponse(q, Rcode::kNoError, {{"www.x", kA, 1, {1, 2, 3, 4}}},
                        true);
  r.resize(r.size() - 3);
  EXPECT_EQ(ParseResponse(r, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ParseResponseTest, BadRdataLengths) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> q6 = Query(5, "www.x", RecordType::kAaaa);
  for (const auto& [query, type, rdata] :
       {std::make_tuple(q, kA, std::vector<uint8_t>{1, 2, 3}),
        std::make_tuple(q, kA, std::vector<uint8_t>{1, 2, 3, 4, 5}),
        std::make_tuple(q6, kAaaa, std::vector<uint8_t>{1, 2, 3, 4}),
        std::make_tuple(q6, kAaaa, std::vector<uint8_t>(17, 1))}) {
    std::vector<uint8_t> r =
        BuildTestResponse(query, Rcode::kNoError, {{"www.x", type, 1, rdata}});
    RecordType want = type == kA ? RecordType::kA : RecordType::kAaaa;
    EXPECT_EQ(ParseResponse(r, 5, "www.x", want).status().code(),
              absl::StatusCode::kInvalidArgument)
        << rdata.size();
  }
  // RDLENGTH claiming more than the message holds.
  std::vector<uint8_t> r =
      BuildTestResponse(q, Rcode::kNoError, {{"www.x", kA, 1, {1, 2, 3, 4}}});
  r[r.size() - 5] = 5;
  EXPECT_EQ(ParseResponse(r, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Trailing bytes after the last record.
  r[r.size() - 5] = 4;
  r.push_back(0);
  EXPECT_EQ(ParseResponse(r, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseResponseTest, CnameChainFollowed) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> r = BuildTestResponse(
      q, Rcode::kNoError,
      {{"www.x", kCname, 100, EncodeNameForTest("A.cdn.y")},
       // Not on the chain: ignored.
       {"other.x", kA, 100, {9, 9, 9, 9}},
       {"a.cdn.y", kCname, 50, EncodeNameForTest("edge.z")},
       {"EDGE.z", kA, 70, {1, 1, 1, 1}},
       {"edge.z", kA, 20, {1, 1, 1, 2}},
       // The question's own name has no A record (it is an alias).
       {"www.x", kA, 100, {8, 8, 8, 8}}});
  absl::StatusOr<Response> p = ParseResponse(r, 5, "www.x", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->canonical_name, "edge.z");
  ASSERT_EQ(p->addresses.size(), 2u);
  EXPECT_EQ(p->addresses[0].address, IpAddress::V4(1, 1, 1, 1));
  EXPECT_EQ(p->addresses[0].ttl, 50u);  // min(100, 50, 70)
  EXPECT_EQ(p->addresses[1].address, IpAddress::V4(1, 1, 1, 2));
  EXPECT_EQ(p->addresses[1].ttl, 20u);
}

TEST(ParseResponseTest, CnameLoopsAndLongChainsRefused) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> loop =
      BuildTestResponse(q, Rcode::kNoError,
                        {{"www.x", kCname, 1, EncodeNameForTest("b.x")},
                         {"b.x", kCname, 1, EncodeNameForTest("www.x")}});
  EXPECT_EQ(ParseResponse(loop, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<TestRecord> chain;
  std::string owner = "www.x";
  for (int i = 0; i <= kMaxCnameChain; ++i) {
    std::string next = "c" + std::to_string(i) + ".x";
    chain.push_back({owner, kCname, 1, EncodeNameForTest(next)});
    owner = next;
  }
  chain.push_back({owner, kA, 1, {1, 2, 3, 4}});
  std::vector<uint8_t> longer = BuildTestResponse(q, Rcode::kNoError, chain);
  EXPECT_EQ(ParseResponse(longer, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  chain.erase(chain.begin());  // kMaxCnameChain hops from c0.x: fine.
  std::vector<uint8_t> q0 = Query(5, "c0.x");
  std::vector<uint8_t> ok = BuildTestResponse(q0, Rcode::kNoError, chain);
  absl::StatusOr<Response> p = ParseResponse(ok, 5, "c0.x", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->addresses.size(), 1u);
}

// Answer whose owner is the given raw bytes (for compression tests).
std::vector<uint8_t> WithRawOwner(const std::vector<uint8_t>& query,
                                  const std::vector<uint8_t>& owner) {
  std::vector<uint8_t> r = BuildTestResponse(query, Rcode::kNoError, {});
  r[7] = 1;  // ANCOUNT
  r.insert(r.end(), owner.begin(), owner.end());
  for (uint8_t b : {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3}) r.push_back(b);
  return r;
}

TEST(ParseResponseTest, CompressionPointers) {
  std::vector<uint8_t> q = Query(5, "www.x");  // Question name at 12.
  // Owner: pointer to the question's name.
  absl::StatusOr<Response> p =
      ParseResponse(WithRawOwner(q, {0xC0, 12}), 5, "www.x", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->addresses.size(), 1u);
  EXPECT_EQ(p->addresses[0].address, IpAddress::V4(10, 1, 2, 3));
  // Owner: a label, then a pointer to "x" inside the question.
  p = ParseResponse(WithRawOwner(q, {3, 'W', 'W', 'W', 0xC0, 16}), 5, "www.x",
                    RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->addresses.size(), 1u);
  const size_t owner_at = q.size();
  // A pointer to itself, a forward pointer, a pointer past the end, a
  // two-pointer loop, the reserved label types.
  for (const std::vector<uint8_t>& owner :
       {std::vector<uint8_t>{0xC0, static_cast<uint8_t>(owner_at)},
        std::vector<uint8_t>{0xC0, static_cast<uint8_t>(owner_at + 2), 0},
        std::vector<uint8_t>{0xC3, 0xFF},
        std::vector<uint8_t>{1, 'a', 0xC0, static_cast<uint8_t>(owner_at + 4),
                             0xC0, static_cast<uint8_t>(owner_at + 2)},
        std::vector<uint8_t>{0x40, 0}, std::vector<uint8_t>{0x80, 0}}) {
    EXPECT_EQ(ParseResponse(WithRawOwner(q, owner), 5, "www.x", RecordType::kA)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseResponseTest, NameLongerThan255OctetsViaPointersRefused) {
  std::vector<uint8_t> q = Query(5, "www.x");
  // Five 63-byte labels in a TXT record's RDATA, each followed by a
  // pointer to the previous one (backwards, so no loop): 5*64+1 octets.
  size_t prev = 0;
  std::vector<uint8_t> msg = BuildTestResponse(q, Rcode::kNoError, {});
  msg[7] = 2;  // Two answers: a TXT carrying the names, then an A.
  const size_t txt_rdata_at = msg.size() + 2 + 10;  // Owner C0 0C + fixed.
  std::vector<uint8_t> rdata;
  for (int i = 0; i < 5; ++i) {
    const size_t at = txt_rdata_at + rdata.size();
    rdata.push_back(63);
    rdata.insert(rdata.end(), 63, 'a');
    if (i == 0) {
      rdata.push_back(0);
    } else {
      rdata.push_back(static_cast<uint8_t>(0xC0 | prev >> 8));
      rdata.push_back(static_cast<uint8_t>(prev));
    }
    prev = at;
  }
  for (uint8_t b : {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 1}) msg.push_back(b);
  msg.push_back(static_cast<uint8_t>(rdata.size() >> 8));
  msg.push_back(static_cast<uint8_t>(rdata.size()));
  msg.insert(msg.end(), rdata.begin(), rdata.end());
  std::vector<uint8_t> a = {static_cast<uint8_t>(0xC0 | prev >> 8),
                            static_cast<uint8_t>(prev)};
  for (uint8_t b : {0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4}) a.push_back(b);
  msg.insert(msg.end(), a.begin(), a.end());
  EXPECT_EQ(ParseResponse(msg, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Pointing at the third label instead: 3*64+1 octets fit.
  std::vector<uint8_t> three = msg;
  const size_t third = txt_rdata_at + 65 + 66;
  three[three.size() - 16] = static_cast<uint8_t>(0xC0 | third >> 8);
  three[three.size() - 15] = static_cast<uint8_t>(third);
  absl::StatusOr<Response> p = ParseResponse(three, 5, "www.x", RecordType::kA);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->addresses.empty());  // Owner is not www.x.
}

TEST(ParseResponseTest, EveryTruncationRefused) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> r =
      BuildTestResponse(q, Rcode::kNoError,
                        {{"www.x", kCname, 100, {3, 'c', 'd', 'n', 0xC0, 16}},
                         {"cdn.x", kA, 70, {1, 1, 1, 1}}});
  ASSERT_TRUE(ParseResponse(r, 5, "www.x", RecordType::kA).ok());
  for (size_t n = 0; n < r.size(); ++n) {
    absl::Span<const uint8_t> prefix = absl::MakeConstSpan(r).first(n);
    absl::StatusOr<Response> p =
        ParseResponse(prefix, 5, "www.x", RecordType::kA);
    EXPECT_FALSE(p.ok()) << n;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
}

TEST(ParseAnswerTest, TruncatedIsAFlagAfterTheQuestionIsChecked) {
  std::vector<uint8_t> q = Query(5, "www.x");
  std::vector<uint8_t> r = BuildTestResponse(
      q, Rcode::kNoError, {{"www.x", kA, 1, {1, 2, 3, 4}}}, true);
  r.resize(r.size() - 3);  // Records of a truncated answer are not read.
  absl::StatusOr<Response> a = ParseAnswer(r, 5, "www.x", RecordType::kA);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->truncated);
  EXPECT_TRUE(a->addresses.empty());
  // The ID and question still have to match.
  EXPECT_EQ(ParseAnswer(r, 6, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseAnswer(r, 5, "www.y", RecordType::kA).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Not truncated: the flag is clear.
  std::vector<uint8_t> full = BuildTestResponse(
      q, Rcode::kNoError, {{"www.x", kA, 1, {1, 2, 3, 4}}});
  EXPECT_FALSE(ParseAnswer(full, 5, "www.x", RecordType::kA)->truncated);
}

TEST(ParseAnswerTest, NxDomainIsAResponseWithItsNegativeTtl) {
  std::vector<uint8_t> q = Query(5, "a.b.example");
  constexpr uint16_t kSoa = 6;
  // RFC 2308 section 5: min(SOA TTL, MINIMUM).
  std::vector<uint8_t> r = BuildTestResponse(
      q, Rcode::kNxDomain, {}, false,
      {{"example", kSoa, 3600, SoaRdataForTest(300)}});
  absl::StatusOr<Response> a = ParseAnswer(r, 5, "a.b.example", RecordType::kA);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->rcode, Rcode::kNxDomain);
  EXPECT_TRUE(a->addresses.empty());
  EXPECT_EQ(a->negative_ttl, absl::optional<uint32_t>(300));
  // ParseResponse still reports it as kNotFound.
  EXPECT_EQ(ParseResponse(r, 5, "a.b.example", RecordType::kA).status().code(),
            absl::StatusCode::kNotFound);

  r = BuildTestResponse(q, Rcode::kNxDomain, {}, false,
                        {{"b.example", kSoa, 20, SoaRdataForTest(300)}});
  EXPECT_EQ(ParseAnswer(r, 5, "a.b.example", RecordType::kA)->negative_ttl,
            absl::optional<uint32_t>(20));
  // The root's SOA counts; another zone's does not; none: nullopt.
  r = BuildTestResponse(q, Rcode::kNxDomain, {}, false,
                        {{"", kSoa, 50, SoaRdataForTest(40)}});
  EXPECT_EQ(ParseAnswer(r, 5, "a.b.example", RecordType::kA)->negative_ttl,
            absl::optional<uint32_t>(40));
  for (const char* zone : {"other", "xample", "c.a.b.example"}) {
    r = BuildTestResponse(q, Rcode::kNxDomain, {}, false,
                          {{zone, kSoa, 50, SoaRdataForTest(40)}});
    EXPECT_EQ(ParseAnswer(r, 5, "a.b.example", RecordType::kA)->negative_ttl,
              absl::nullopt)
        << zone;
  }
  r = BuildTestResponse(q, Rcode::kNxDomain, {});
  EXPECT_EQ(ParseAnswer(r, 5, "a.b.example", RecordType::kA)->negative_ttl,
            absl::nullopt);
}

TEST(ParseAnswerTest, NoDataCarriesTheNegativeTtl) {
  std::vector<uint8_t> q = Query(5, "www.x", RecordType::kAaaa);
  constexpr uint16_t kSoa = 6;
  std::vector<uint8_t> r =
      BuildTestResponse(q, Rcode::kNoError, {{"www.x", kA, 60, {1, 2, 3, 4}}},
                        false, {{"x", kSoa, 900, SoaRdataForTest(60)}});
  absl::StatusOr<Response> a = ParseAnswer(r, 5, "www.x", RecordType::kAaaa);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->rcode, Rcode::kNoError);
  EXPECT_TRUE(a->addresses.empty());
  EXPECT_EQ(a->negative_ttl, absl::optional<uint32_t>(60));
  // A MINIMUM with the top bit set counts as 0.
  r = BuildTestResponse(q, Rcode::kNoError, {}, false,
                        {{"x", kSoa, 900, SoaRdataForTest(0x80000001u)}});
  EXPECT_EQ(ParseAnswer(r, 5, "www.x", RecordType::kAaaa)->negative_ttl,
            absl::optional<uint32_t>(0));
}

TEST(ParseAnswerTest, MalformedSoaRefused) {
  std::vector<uint8_t> q = Query(5, "www.x");
  constexpr uint16_t kSoa = 6;
  std::vector<uint8_t> soa = SoaRdataForTest(60);
  for (size_t cut : {size_t{1}, size_t{4}, soa.size() - 1}) {
    std::vector<uint8_t> rdata(soa.begin(), soa.begin() + cut);
    std::vector<uint8_t> r = BuildTestResponse(q, Rcode::kNxDomain, {}, false,
                                               {{"x", kSoa, 60, rdata}});
    EXPECT_EQ(ParseAnswer(r, 5, "www.x", RecordType::kA).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cut;
  }
  std::vector<uint8_t> longer = soa;
  longer.push_back(0);
  std::vector<uint8_t> r = BuildTestResponse(q, Rcode::kNxDomain, {}, false,
                                             {{"x", kSoa, 60, longer}});
  EXPECT_EQ(ParseAnswer(r, 5, "www.x", RecordType::kA).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stow::dns
