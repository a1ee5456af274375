#include "sdk/tunnel/ipsec/ike/codec/message.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stow {
namespace ike {
namespace {

Bytes Seq(size_t n, uint8_t start = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + i);
  return b;
}

// One of every payload type the codec knows (plus two unknown ones), in an
// order a real IKE_AUTH plaintext could have.
std::vector<Payload> EveryPayload() {
  std::vector<Payload> v;
  SaPayload sa;
  Proposal ike;
  ike.number = 1;
  ike.protocol = ProtocolId::kIke;
  Transform encr{TransformType::kEncr, kEncrAesGcm16, {}};
  encr.SetKeyLength(256);
  ike.transforms = {encr,
                    {TransformType::kPrf, kPrfHmacSha2_256, {}},
                    {TransformType::kDh, kDhCurve25519, {}}};
  Proposal esp;
  esp.number = 2;
  esp.protocol = ProtocolId::kEsp;
  esp.spi = {0xc1, 0xc2, 0xc3, 0xc4};
  Transform chacha{TransformType::kEncr, kEncrChaCha20Poly1305, {}};
  chacha.attributes.push_back({1000, false, {1, 2, 3}});  // a TLV attribute
  esp.transforms = {chacha, {TransformType::kEsn, kEsnNone, {}}};
  sa.proposals = {ike, esp};
  v.push_back(Payload::Sa(sa));
  v.push_back(Payload::Ke({kDhCurve25519, Seq(32, 0x40)}));
  v.push_back(Payload::Idi({IdType::kRfc822Addr,
                            Bytes{'c', '@', 's', 's', 'w', '.', 't'}}));
  v.push_back(Payload::Cert({CertEncoding::kX509Signature, Seq(100)}));
  v.push_back(Payload::CertReq({CertEncoding::kX509Signature, Seq(20, 9)}));
  v.push_back(Payload::Idr({IdType::kFqdn, Bytes{'g', 'w'}}));
  v.push_back(Payload::Auth({AuthMethod::kDigitalSignature, Seq(64, 7)}));
  v.push_back(Payload::Nonce({Seq(32, 0x80)}));
  v.push_back(Payload::Notify({ProtocolId::kEsp, {1, 2, 3, 4},
                               NotifyType::kRekeySa, {}}));
  v.push_back(Payload::Notify(
      {ProtocolId::kNone, {}, NotifyType::kCookie, Seq(24, 0x11)}));
  v.push_back(Payload::Delete({ProtocolId::kEsp, 4, {{1, 1, 1, 1},
                                                     {2, 2, 2, 2}}}));
  v.push_back(Payload::Delete({ProtocolId::kIke, 0, {}}));
  v.push_back(Payload::VendorId({Seq(16, 0xa0)}));
  TrafficSelector v4{0, 0, 65535, IpAddress::V4(10, 200, 100, 1),
                     IpAddress::V4(10, 200, 100, 1)};
  TrafficSelector v6{17, 53, 53, *IpAddress::Parse("fd00::1"),
                     *IpAddress::Parse("fd00::ffff")};
  v.push_back(Payload::Tsi({{v4, v6}}));
  v.push_back(Payload::Tsr({{v4}}));
  ConfigPayload cp;
  cp.cfg_type = CfgType::kReply;
  cp.attributes = {
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Address,
                           IpAddress::V4(10, 200, 100, 7)),
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Netmask,
                           IpAddress::V4(255, 255, 255, 0)),
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Dns,
                           IpAddress::V4(10, 200, 2, 2)),
      ConfigAttribute::Ip6Address(*IpAddress::Parse("fd00::7"), 64),
      ConfigAttribute::Ip6Dns(*IpAddress::Parse("fd00::53")),
      ConfigAttribute::Empty(CfgAttributeType::kInternalIp4Address),
      {static_cast<CfgAttributeType>(28675), {'x', 'y'}},  // held raw
  };
  v.push_back(Payload::Config(cp));
  v.push_back(Payload::Eap({{1, 2, 0, 5, 1}}));
  v.push_back(Payload::Unknown(static_cast<PayloadType>(49), false, Seq(3)));
  v.push_back(Payload::Unknown(static_cast<PayloadType>(200), false, {}));
  return v;
}

Message MakeMessage(std::vector<Payload> payloads) {
  Message m;
  m.header.spi_i = 0x0102030405060708;
  m.header.spi_r = 0x1112131415161718;
  m.header.exchange_type = ExchangeType::kIkeAuth;
  m.header.initiator = true;
  m.header.message_id = 1;
  m.payloads = std::move(payloads);
  return m;
}

Bytes MustSerialize(const Message& m) {
  auto bytes = SerializeMessage(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : Bytes();
}

// Parses `bytes` from an exactly-sized heap copy, so that ASan catches any
// read past the end.
absl::StatusOr<Message> ParseCopy(const Bytes& bytes) {
  Bytes copy(bytes);
  copy.shrink_to_fit();
  return ParseMessage(copy);
}

void SetLength(Bytes& m) {
  const uint32_t n = static_cast<uint32_t>(m.size());
  m[24] = n >> 24;
  m[25] = n >> 16;
  m[26] = n >> 8;
  m[27] = n;
}

// A bare header with the given first payload type, to which payload bytes
// are appended by hand (SetLength() fixes the length).
Bytes RawHeader(uint8_t next) {
  Bytes m = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0,
             next, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
  return m;
}

void ExpectInvalid(const absl::StatusOr<Message>& m, const std::string& what) {
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument)
      << m.status();
  EXPECT_EQ(m.status().message(), what);
}

TEST(IkeMessageTest, EveryPayloadRoundTrips) {
  const Message m = MakeMessage(EveryPayload());
  const Bytes bytes = MustSerialize(m);
  auto parsed = ParseCopy(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->payloads.size(), m.payloads.size());
  for (size_t i = 0; i < m.payloads.size(); ++i) {
    EXPECT_EQ(parsed->payloads[i].type, m.payloads[i].type) << i;
    EXPECT_EQ(parsed->payloads[i].body.index(), m.payloads[i].body.index())
        << i;
    // Each payload alone as well.
    const Bytes one = MustSerialize(MakeMessage({m.payloads[i]}));
    auto back = ParseCopy(one);
    ASSERT_TRUE(back.ok()) << i << ": " << back.status();
    EXPECT_EQ(MustSerialize(*back), one) << i;
  }
  EXPECT_EQ(MustSerialize(*parsed), bytes);
  EXPECT_EQ(parsed->header.length, bytes.size());
  EXPECT_EQ(parsed->header.next_payload, PayloadType::kSa);
  EXPECT_EQ(parsed->header.spi_i, 0x0102030405060708u);
  EXPECT_EQ(parsed->header.spi_r, 0x1112131415161718u);
  EXPECT_TRUE(parsed->header.initiator);
  EXPECT_FALSE(parsed->header.response);

  // Field checks on the parsed structures.
  const auto& sa = absl::get<SaPayload>(parsed->payloads[0].body);
  ASSERT_EQ(sa.proposals.size(), 2u);
  EXPECT_EQ(sa.proposals[0].transforms[0].KeyLength(), 256);
  EXPECT_EQ(sa.proposals[0].transforms[2].id, kDhCurve25519);
  EXPECT_EQ(sa.proposals[1].protocol, ProtocolId::kEsp);
  EXPECT_EQ(sa.proposals[1].number, 2);
  EXPECT_EQ(sa.proposals[1].spi, (Bytes{0xc1, 0xc2, 0xc3, 0xc4}));
  ASSERT_EQ(sa.proposals[1].transforms[0].attributes.size(), 1u);
  EXPECT_FALSE(sa.proposals[1].transforms[0].attributes[0].tv);
  EXPECT_EQ(sa.proposals[1].transforms[0].attributes[0].type, 1000);
  EXPECT_EQ(sa.proposals[1].transforms[0].attributes[0].value,
            (Bytes{1, 2, 3}));
  EXPECT_FALSE(sa.proposals[1].transforms[0].KeyLength().has_value());
  EXPECT_EQ(sa.proposals[1].transforms[1].type, TransformType::kEsn);

  const auto& ts = absl::get<TsPayload>(parsed->payloads[13].body);
  ASSERT_EQ(ts.selectors.size(), 2u);
  EXPECT_EQ(ts.selectors[1].ip_protocol, 17);
  EXPECT_EQ(ts.selectors[1].start_port, 53);
  EXPECT_EQ(ts.selectors[1].end_address, *IpAddress::Parse("fd00::ffff"));
  EXPECT_EQ(ts.selectors[0].start_address, IpAddress::V4(10, 200, 100, 1));

  const auto& cp = absl::get<ConfigPayload>(parsed->payloads[15].body);
  EXPECT_EQ(cp.cfg_type, CfgType::kReply);
  ASSERT_EQ(cp.attributes.size(), 7u);
  EXPECT_EQ(cp.attributes[0].Address(), IpAddress::V4(10, 200, 100, 7));
  EXPECT_EQ(cp.attributes[2].Address(), IpAddress::V4(10, 200, 2, 2));
  EXPECT_EQ(cp.attributes[3].Address(), *IpAddress::Parse("fd00::7"));
  EXPECT_EQ(cp.attributes[3].Ip6PrefixLength(), 64);
  EXPECT_EQ(cp.attributes[4].Address(), *IpAddress::Parse("fd00::53"));
  EXPECT_FALSE(cp.attributes[5].Address().has_value());
  EXPECT_EQ(static_cast<int>(cp.attributes[6].type), 28675);
  EXPECT_EQ(cp.attributes[6].value, (Bytes{'x', 'y'}));

  const auto& del = absl::get<DeletePayload>(parsed->payloads[10].body);
  EXPECT_EQ(del.spis, (std::vector<Bytes>{{1, 1, 1, 1}, {2, 2, 2, 2}}));
  const auto* cookie = parsed->FindNotify(NotifyType::kCookie);
  ASSERT_NE(cookie, nullptr);
  EXPECT_EQ(cookie->data, Seq(24, 0x11));
  const auto* rekey = parsed->FindNotify(NotifyType::kRekeySa);
  ASSERT_NE(rekey, nullptr);
  EXPECT_EQ(rekey->protocol, ProtocolId::kEsp);
  EXPECT_EQ(rekey->spi, (Bytes{1, 2, 3, 4}));
  EXPECT_EQ(absl::get<IdPayload>(parsed->Find(PayloadType::kIdr)->body).data,
            (Bytes{'g', 'w'}));
  EXPECT_EQ(absl::get<UnknownPayload>(parsed->payloads[17].body).data, Seq(3));
  EXPECT_TRUE(parsed->UnsupportedCriticalPayloads().empty());
}

TEST(IkeMessageTest, EmptyMessageIsJustTheHeader) {
  Message m = MakeMessage({});
  m.header.exchange_type = ExchangeType::kInformational;
  m.header.response = true;
  m.header.message_id = 0xdeadbeef;
  const Bytes bytes = MustSerialize(m);
  ASSERT_EQ(bytes.size(), 28u);
  EXPECT_EQ(bytes[16], 0);     // next payload
  EXPECT_EQ(bytes[17], 0x20);  // version 2.0
  EXPECT_EQ(bytes[18], 37);
  EXPECT_EQ(bytes[19], 0x28);  // I | R
  auto parsed = ParseCopy(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->payloads.empty());
  EXPECT_EQ(parsed->header.message_id, 0xdeadbeefu);
  EXPECT_EQ(parsed->header.exchange_type, ExchangeType::kInformational);
}

TEST(IkeMessageTest, PayloadChainRoundTripsWithoutHeader) {
  const std::vector<Payload> payloads = EveryPayload();
  auto chain = SerializePayloadChain(payloads);
  ASSERT_TRUE(chain.ok()) << chain.status();
  auto parsed = ParsePayloadChain(PayloadType::kSa, *chain);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), payloads.size());
  auto again = SerializePayloadChain(*parsed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *chain);
  // An empty chain.
  auto empty = ParsePayloadChain(PayloadType::kNone, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(ParsePayloadChain(PayloadType::kNone, Bytes{0}).ok());
}

TEST(IkeMessageTest, TruncationAtEveryOffsetFails) {
  const Bytes full = MustSerialize(MakeMessage(EveryPayload()));
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + n);
    // As is: the header's length no longer matches (or the header is cut).
    auto a = ParseCopy(cut);
    ASSERT_FALSE(a.ok()) << n;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << n;
    if (n < 28) continue;
    // With the header's length fixed: the payload chain is cut.
    SetLength(cut);
    auto b = ParseCopy(cut);
    ASSERT_FALSE(b.ok()) << n;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
  auto chain = SerializePayloadChain(EveryPayload());
  ASSERT_TRUE(chain.ok());
  for (size_t n = 0; n < chain->size(); ++n) {
    Bytes cut(chain->begin(), chain->begin() + n);
    cut.shrink_to_fit();
    EXPECT_FALSE(ParsePayloadChain(PayloadType::kSa, cut).ok()) << n;
  }
}

TEST(IkeMessageTest, HeaderLengthMustEqualDatagramSize) {
  Bytes bytes = MustSerialize(MakeMessage(EveryPayload()));
  Bytes longer = bytes;
  longer.push_back(0);
  ExpectInvalid(ParseCopy(longer),
                "IKE header: length " + std::to_string(bytes.size()) +
                    " != datagram size " + std::to_string(longer.size()));
  for (int delta : {-1, 1, 1000}) {
    Bytes b = bytes;
    b[27] = static_cast<uint8_t>(b[27] + delta);
    b[26] = static_cast<uint8_t>(b[26] + (delta >> 8));
    EXPECT_FALSE(ParseCopy(b).ok()) << delta;
  }
  Bytes huge = bytes;
  huge[24] = 0x80;
  EXPECT_FALSE(ParseCopy(huge).ok());
  ExpectInvalid(ParseCopy(Bytes(27, 0)), "IKE header: 27 bytes < 28");
}

TEST(IkeMessageTest, EveryGenericPayloadLengthThatLiesFails) {
  const Message m = MakeMessage(EveryPayload());
  const Bytes bytes = MustSerialize(m);
  // Find each generic header's offset by walking the chain.
  std::vector<size_t> offsets;
  for (size_t pos = 28; pos < bytes.size();) {
    offsets.push_back(pos);
    pos += (bytes[pos + 2] << 8) | bytes[pos + 3];
  }
  ASSERT_EQ(offsets.size(), m.payloads.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    const size_t at = offsets[i] + 2;
    const int len = (bytes[at] << 8) | bytes[at + 1];
    for (int lie : {0, 1, 3, len - 1, len + 1, len + 4, 0xffff}) {
      if (lie == len || lie < 0) continue;
      Bytes b = bytes;
      b[at] = static_cast<uint8_t>(lie >> 8);
      b[at + 1] = static_cast<uint8_t>(lie);
      auto parsed = ParseCopy(b);
      EXPECT_FALSE(parsed.ok()) << "payload " << i << " length " << lie;
      if (!parsed.ok()) {
        EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST(IkeMessageTest, MajorVersionAboveTwoIsReportedDistinctly) {
  Message m = MakeMessage({Payload::Nonce({Seq(16)})});
  m.header.major_version = 3;
  m.header.minor_version = 1;
  const Bytes bytes = MustSerialize(m);
  EXPECT_EQ(bytes[17], 0x31);
  auto parsed = ParseCopy(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(IsUnsupportedMajorVersion(parsed.status()));
  EXPECT_EQ(parsed.status().message(),
            "IKE header: unsupported major version 3");
  // The header alone still parses, for the INVALID_MAJOR_VERSION answer.
  auto header = ParseHeader(bytes);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->major_version, 3);
  EXPECT_EQ(header->spi_i, 0x0102030405060708u);
  EXPECT_EQ(header->message_id, 1u);

  m.header.major_version = 1;
  auto v1 = ParseCopy(MustSerialize(m));
  ExpectInvalid(v1, "IKE header: major version 1 (not IKEv2)");
  EXPECT_FALSE(IsUnsupportedMajorVersion(v1.status()));

  // A higher minor version is accepted (RFC 7296 2.5).
  m.header.major_version = 2;
  m.header.minor_version = 7;
  m.header.higher_version = true;
  auto minor = ParseCopy(MustSerialize(m));
  ASSERT_TRUE(minor.ok()) << minor.status();
  EXPECT_EQ(minor->header.minor_version, 7);
  EXPECT_TRUE(minor->header.higher_version);
}

TEST(IkeMessageTest, UnknownCriticalAndNonCriticalPayloads) {
  Message m = MakeMessage({
      Payload::Unknown(static_cast<PayloadType>(200), false, {1, 2}),
      Payload::Nonce({Seq(16)}),
      Payload::Unknown(static_cast<PayloadType>(49), true, {3}),
      Payload::Unknown(static_cast<PayloadType>(1), true, {}),
  });
  Payload critical_known = Payload::Nonce({Seq(20)});
  critical_known.critical = true;  // known: the bit is kept, not acted on
  m.payloads.push_back(critical_known);
  const Bytes bytes = MustSerialize(m);
  auto parsed = ParseCopy(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->UnsupportedCriticalPayloads(),
            (std::vector<PayloadType>{static_cast<PayloadType>(49),
                                      static_cast<PayloadType>(1)}));
  EXPECT_FALSE(parsed->payloads[0].critical);
  EXPECT_TRUE(parsed->payloads[2].critical);
  EXPECT_TRUE(parsed->payloads[4].critical);
  EXPECT_EQ(absl::get<UnknownPayload>(parsed->payloads[0].body).data,
            (Bytes{1, 2}));
  EXPECT_EQ(MustSerialize(*parsed), bytes);
  // The reserved bits next to the critical bit are ignored on receipt.
  Bytes reserved = bytes;
  reserved[29] |= 0x7f;
  auto r = ParseCopy(reserved);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->payloads[0].critical);
}

TEST(IkeMessageTest, SerializeRejectsBodiesThatDoNotMatchTheType) {
  Payload p = Payload::Nonce({Seq(16)});
  p.type = PayloadType::kKe;
  auto bad = SerializeMessage(MakeMessage({p}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "KE payload: body does not match the payload type");
  EXPECT_FALSE(SerializeMessage(MakeMessage(
                   {Payload::Unknown(PayloadType::kSa, false, {})}))
                   .ok());
  EXPECT_FALSE(SerializeMessage(MakeMessage(
                   {Payload::Unknown(PayloadType::kNone, false, {})}))
                   .ok());
}

TEST(IkeMessageTest, SerializeRejectsWhatTheParserWould) {
  auto fails = [](Payload p, const std::string& what) {
    auto r = SerializeMessage(MakeMessage({std::move(p)}));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), what);
  };
  fails(Payload::Nonce({Seq(15)}), "Nonce payload: nonce size 15 (want 16..256)");
  fails(Payload::Nonce({Seq(257)}),
        "Nonce payload: nonce size 257 (want 16..256)");
  fails(Payload::Sa({}), "SA payload: no proposals");
  Proposal p3;
  p3.spi = {1, 2, 3};
  fails(Payload::Sa({{p3}}), "SA payload: proposal 1 SPI size 3 (want 0, 4 or 8)");
  fails(Payload::Delete({ProtocolId::kEsp, 4, {{1, 2}}}),
        "Delete payload: SPI of 2 bytes, SPI size 4");
  fails(Payload::Tsi({}), "TSi payload: no traffic selectors");
  fails(Payload::Tsr({{{0, 0, 0, IpAddress::V4(1, 2, 3, 4),
                        *IpAddress::Parse("::1")}}}),
        "TSr payload: selector mixes IPv4 and IPv6");
  fails(Payload::Config({CfgType::kRequest,
                         {{CfgAttributeType::kInternalIp4Dns, {1, 2, 3}}}}),
        "CP payload: attribute 3 length 3 (want 0 or 4)");
  fails(Payload::EncryptedFragment({PayloadType::kIdi, 3, 2, {}}),
        "SKF payload: fragment 3 of 2");
  Message sk_not_last = MakeMessage(
      {Payload::Encrypted({PayloadType::kIdi, Seq(40)}),
       Payload::Nonce({Seq(16)})});
  auto r = SerializeMessage(sk_not_last);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "SK payload: not last");
}

// Hand-built payloads that break one rule each; the parser must name it.
TEST(IkeMessageTest, MalformedPayloadBodiesAreNamed) {
  struct Case {
    uint8_t type;
    Bytes body;
    std::string error;
  };
  const Bytes nonce16 = Seq(16);
  const std::vector<Case> cases = {
      {33, {0, 0, 0, 16, 1, 1, 0, 1, 0, 0, 0, 7, 1, 0, 0, 20},
       "SA payload: transform length 7 < 8"},
      {33, {0, 0, 0, 7, 1, 1, 0, 0}, "SA payload: proposal length 7 < 8"},
      {33, {0, 0, 0, 9, 1, 1, 0, 0}, "SA payload: proposal length 9 > 8 bytes left"},
      {33, {2, 0, 0, 8, 1, 1, 0, 0},
       "SA payload: proposal 1 last-substructure field 2 (want 0)"},
      {33, {0, 0, 0, 11, 1, 1, 3, 0, 1, 2, 3},
       "SA payload: proposal 1 SPI size 3 (want 0, 4 or 8)"},
      {33, {0, 0, 0, 8, 1, 1, 8, 0},
       "SA payload: proposal 1 SPI size 8 exceeds proposal length 8"},
      {33, {0, 0, 0, 8, 1, 1, 0, 1},
       "SA payload: proposal 1 transform 1 header truncated (0 bytes left < 8)"},
      {33, {0, 0, 0, 16, 1, 1, 0, 1, 3, 0, 0, 8, 1, 0, 0, 20},
       "SA payload: proposal 1 transform 1 last-substructure field 3 (want 0)"},
      {33, {0, 0, 0, 16, 1, 1, 0, 0, 0, 0, 0, 8, 1, 0, 0, 20},
       "SA payload: proposal 1 transforms end at 8, proposal length 16"},
      {33, {0, 0, 0, 18, 1, 1, 0, 1, 0, 0, 0, 10, 1, 0, 0, 20, 0x80, 14},
       "SA payload: transform attribute truncated (2 bytes left < 4)"},
      {33, {0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 20, 0, 14, 0, 0},
       "SA payload: Key Length attribute in TLV format"},
      {33, {0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 20, 0, 15, 0, 1},
       "SA payload: attribute length 1 > 0 bytes left in transform"},
      {33, {}, "SA payload: no proposals"},
      {33, {0, 0, 0}, "SA payload: proposal 1 header truncated (3 bytes left < 8)"},
      {34, {0, 31, 0}, "KE payload: length 7 < 8"},
      {35, {2}, "IDi payload: length 5 < 8"},
      {37, {}, "CERT payload: length 4 < 5"},
      {39, {2, 0}, "AUTH payload: length 6 < 8"},
      {40, Seq(15), "Nonce payload: nonce size 15 (want 16..256)"},
      {40, Seq(257), "Nonce payload: nonce size 257 (want 16..256)"},
      {41, {0, 5, 0x40, 0x06, 1, 2}, "Notify payload: SPI size 5 > 2 bytes left"},
      {42, {3, 4, 0, 2, 1, 2, 3, 4},
       "Delete payload: 2 SPIs of size 4 need 8 bytes, have 4"},
      {42, {1, 0, 0, 1}, "Delete payload: 1 SPIs of size 0"},
      {42, {3, 4, 0xff, 0xff}, "Delete payload: 65535 SPIs > 1024"},
      {44, {0, 0, 0, 0}, "TSi payload: no traffic selectors"},
      {44, {1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 255, 255, 1, 2, 3, 4},
       "TSi payload: selector length 16 > 12 bytes left"},
      {45, {1, 0, 0, 0, 7, 0, 0, 40, 0, 0, 255, 255},
       "TSr payload: selector length 40 for TS type 7 (want 16)"},
      {45, {1, 0, 0, 0, 9, 0, 0, 16, 0, 0, 255, 255},
       "TSr payload: unsupported TS type 9"},
      {45, {2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 255, 255, 1, 2, 3, 4, 1, 2, 3, 4},
       "TSr payload: selector 2 truncated (0 bytes left < 8)"},
      {45, {1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 255, 255, 1, 2, 3, 4, 1, 2, 3, 4, 0},
       "TSr payload: 1 bytes after the last traffic selector"},
      {47, {1, 0, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5},
       "CP payload: attribute 1 length 5 (want 0 or 4)"},
      {47, {1, 0, 0, 0, 0, 1, 0, 4, 1, 2}, "CP payload: attribute length 4 > 2 bytes left"},
      {47, {1, 0, 0, 0, 0, 1}, "CP payload: attribute truncated (2 bytes left < 4)"},
      {47, {1, 0}, "CP payload: length 6 < 8"},
      {53, {0, 0, 0, 1}, "SKF payload: fragment 0 of 1"},
      {53, {0, 2, 0, 1}, "SKF payload: fragment 2 of 1"},
      {53, {0, 2}, "SKF payload: length 6 < 8"},
  };
  for (const Case& c : cases) {
    Bytes m = RawHeader(c.type);
    m.insert(m.end(), {0, 0, 0, static_cast<uint8_t>(4 + c.body.size())});
    if (c.body.size() + 4 > 255) {
      m[m.size() - 2] = static_cast<uint8_t>((4 + c.body.size()) >> 8);
      m[m.size() - 1] = static_cast<uint8_t>(4 + c.body.size());
    }
    m.insert(m.end(), c.body.begin(), c.body.end());
    SetLength(m);
    ExpectInvalid(ParseCopy(m), c.error);
  }
}

TEST(IkeMessageTest, ChainErrors) {
  // Bytes after the last payload.
  Bytes m = RawHeader(43);
  m.insert(m.end(), {0, 0, 0, 4, 9});
  SetLength(m);
  ExpectInvalid(ParseCopy(m), "message: 1 bytes after the last payload");
  // A next payload with no room for its header.
  m = RawHeader(43);
  m.insert(m.end(), {41, 0, 0, 4, 0, 0});
  SetLength(m);
  ExpectInvalid(ParseCopy(m),
                "Notify payload: generic header truncated (2 bytes left < 4)");
  m = RawHeader(43);
  m.insert(m.end(), {0, 0, 0, 3});
  SetLength(m);
  ExpectInvalid(ParseCopy(m), "Vendor ID payload: length 3 < 4");
  m = RawHeader(43);
  m.insert(m.end(), {0, 0, 0, 9, 1, 2, 3, 4});
  SetLength(m);
  ExpectInvalid(ParseCopy(m), "Vendor ID payload: length 9 > 8 bytes left");
  // SK followed by something.
  m = RawHeader(46);
  m.insert(m.end(), {35, 0, 0, 6, 1, 2, 0, 0, 0, 4});
  SetLength(m);
  ExpectInvalid(ParseCopy(m), "SK payload: not last (4 bytes follow)");
}

TEST(IkeMessageTest, Limits) {
  // kMaxPayloads Vendor IDs parse; one more does not.
  for (size_t n : {kMaxPayloads, kMaxPayloads + 1}) {
    Bytes m = RawHeader(43);
    for (size_t i = 0; i < n; ++i) {
      m.insert(m.end(), {static_cast<uint8_t>(i + 1 < n ? 43 : 0), 0, 0, 4});
    }
    SetLength(m);
    auto parsed = ParseCopy(m);
    if (n == kMaxPayloads) {
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(parsed->payloads.size(), n);
    } else {
      ExpectInvalid(parsed, "message: more than 64 payloads");
    }
  }
  std::vector<Payload> too_many(kMaxPayloads + 1,
                                Payload::VendorId({}));
  EXPECT_FALSE(SerializeMessage(MakeMessage(too_many)).ok());

  // Proposals: 16 parse, 17 do not.
  for (size_t n : {kMaxProposals, kMaxProposals + 1}) {
    Bytes body;
    for (size_t i = 0; i < n; ++i) {
      body.insert(body.end(),
                  {static_cast<uint8_t>(i + 1 < n ? 2 : 0), 0, 0, 8,
                   static_cast<uint8_t>(i + 1), 1, 0, 0});
    }
    Bytes m = RawHeader(33);
    m.insert(m.end(), {0, 0, static_cast<uint8_t>((body.size() + 4) >> 8),
                       static_cast<uint8_t>(body.size() + 4)});
    m.insert(m.end(), body.begin(), body.end());
    SetLength(m);
    auto parsed = ParseCopy(m);
    if (n == kMaxProposals) {
      ASSERT_TRUE(parsed.ok()) << parsed.status();
    } else {
      ExpectInvalid(parsed, "SA payload: more than 16 proposals");
    }
  }
  // Transforms: 64 parse, 65 do not.
  for (size_t n : {kMaxTransforms, kMaxTransforms + 1}) {
    Bytes prop = {0, 0, 0, 0, 1, 1, 0, static_cast<uint8_t>(n)};
    for (size_t i = 0; i < n; ++i) {
      prop.insert(prop.end(),
                  {static_cast<uint8_t>(i + 1 < n ? 3 : 0), 0, 0, 8, 1, 0, 0,
                   20});
    }
    prop[2] = static_cast<uint8_t>(prop.size() >> 8);
    prop[3] = static_cast<uint8_t>(prop.size());
    Bytes m = RawHeader(33);
    m.insert(m.end(), {0, 0, static_cast<uint8_t>((prop.size() + 4) >> 8),
                       static_cast<uint8_t>(prop.size() + 4)});
    m.insert(m.end(), prop.begin(), prop.end());
    SetLength(m);
    auto parsed = ParseCopy(m);
    if (n == kMaxTransforms) {
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(absl::get<SaPayload>(parsed->payloads[0].body)
                    .proposals[0]
                    .transforms.size(),
                n);
    } else {
      ExpectInvalid(parsed, "SA payload: proposal 1 has 65 transforms > 64");
    }
  }
  // Traffic selectors: 65 are refused both ways.
  TsPayload ts;
  ts.selectors.assign(kMaxTrafficSelectors + 1, TrafficSelector{});
  EXPECT_FALSE(SerializeMessage(MakeMessage({Payload::Tsi(ts)})).ok());
  ts.selectors.resize(kMaxTrafficSelectors);
  auto ok = SerializeMessage(MakeMessage({Payload::Tsi(ts)}));
  ASSERT_TRUE(ok.ok());
  Bytes b = *ok;
  b[32] = kMaxTrafficSelectors + 1;  // count byte after the generic header
  ExpectInvalid(ParseCopy(b), "TSi payload: 65 traffic selectors > 64");
}

TEST(IkeMessageTest, EncryptedPayloadLayout) {
  Message m = MakeMessage({Payload::Notify({ProtocolId::kNone, {},
                                            NotifyType::kCookie, Seq(8)}),
                           Payload::Encrypted({PayloadType::kIdi, Seq(50)})});
  EncryptedLayout written;
  auto bytes = SerializeMessage(m, &written);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const size_t sk_at = 28 + 16;
  EXPECT_EQ(written.type, PayloadType::kEncrypted);
  EXPECT_EQ(written.payload_begin, sk_at);
  EXPECT_EQ(written.associated_data_end, sk_at + 4);
  EXPECT_EQ(written.body_begin, sk_at + 4);
  EXPECT_EQ(written.body_end, bytes->size());
  EXPECT_EQ((*bytes)[sk_at], 35);  // SK's next payload = first inner
  EXPECT_EQ(Bytes(bytes->begin() + written.body_begin,
                  bytes->begin() + written.body_end),
            Seq(50));

  absl::optional<EncryptedLayout> parsed_layout;
  auto parsed = ParseMessage(*bytes, &parsed_layout);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed_layout.has_value());
  EXPECT_EQ(parsed_layout->associated_data_end, written.associated_data_end);
  EXPECT_EQ(parsed_layout->body_end, written.body_end);
  const auto& sk = absl::get<EncryptedPayload>(parsed->payloads[1].body);
  EXPECT_EQ(sk.first_inner, PayloadType::kIdi);
  EXPECT_EQ(sk.body, Seq(50));
  auto located = LocateEncrypted(*bytes);
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(located->payload_begin, written.payload_begin);
  EXPECT_EQ(located->body_begin, written.body_begin);

  // SKF: the fragment number and total are associated data too.
  Message f = MakeMessage(
      {Payload::EncryptedFragment({PayloadType::kNone, 2, 3, Seq(30)})});
  EncryptedLayout fl;
  auto fbytes = SerializeMessage(f, &fl);
  ASSERT_TRUE(fbytes.ok()) << fbytes.status();
  EXPECT_EQ(fl.type, PayloadType::kEncryptedFragment);
  EXPECT_EQ(fl.payload_begin, 28u);
  EXPECT_EQ(fl.associated_data_end, 36u);
  EXPECT_EQ(fl.body_end, fbytes->size());
  EXPECT_EQ(Bytes(fbytes->begin() + 32, fbytes->begin() + 36),
            (Bytes{0, 2, 0, 3}));
  auto fparsed = ParseMessage(*fbytes, &parsed_layout);
  ASSERT_TRUE(fparsed.ok()) << fparsed.status();
  EXPECT_EQ(parsed_layout->associated_data_end, 36u);
  const auto& skf =
      absl::get<EncryptedFragmentPayload>(fparsed->payloads[0].body);
  EXPECT_EQ(skf.fragment_number, 2);
  EXPECT_EQ(skf.total_fragments, 3);
  EXPECT_EQ(skf.body, Seq(30));
  auto flocated = LocateEncrypted(*fbytes);
  ASSERT_TRUE(flocated.ok());
  EXPECT_EQ(flocated->associated_data_end, 36u);

  // No SK: not found; a plain message gives no layout.
  auto plain = MustSerialize(MakeMessage({Payload::Nonce({Seq(16)})}));
  EXPECT_EQ(LocateEncrypted(plain).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(ParseMessage(plain, &parsed_layout).ok());
  EXPECT_FALSE(parsed_layout.has_value());

  // The inner chain of an SK payload, parsed from its first type.
  std::vector<Payload> inner = {
      Payload::Idi({IdType::kFqdn, {'c'}}),
      Payload::Auth({AuthMethod::kSharedKeyMic, Seq(32)})};
  auto inner_bytes = SerializePayloadChain(inner);
  ASSERT_TRUE(inner_bytes.ok());
  auto inner_parsed = ParsePayloadChain(PayloadType::kIdi, *inner_bytes);
  ASSERT_TRUE(inner_parsed.ok()) << inner_parsed.status();
  ASSERT_EQ(inner_parsed->size(), 2u);
  EXPECT_EQ((*inner_parsed)[1].type, PayloadType::kAuth);
}

}  // namespace
}  // namespace ike
}  // namespace stow
