#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stow::ike {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using crypto::DhGroup;
using crypto::PrfAlgorithm;

// --- Helpers ----------------------------------------------------------------

Transform T(TransformType type, uint16_t id) {
  Transform t;
  t.type = type;
  t.id = id;
  return t;
}
Transform Encr(uint16_t id, absl::optional<uint16_t> bits = absl::nullopt) {
  Transform t = T(TransformType::kEncr, id);
  if (bits) t.SetKeyLength(*bits);
  return t;
}
Transform Gcm(uint16_t bits) { return Encr(kEncrAesGcm16, bits); }
Transform ChaCha() { return Encr(kEncrChaCha20Poly1305); }
Transform Prf(uint16_t id) { return T(TransformType::kPrf, id); }
Transform Integ(uint16_t id) { return T(TransformType::kInteg, id); }
Transform Dh(uint16_t id) { return T(TransformType::kDh, id); }
Transform Esn(uint16_t id) { return T(TransformType::kEsn, id); }

Proposal MakeProposal(uint8_t number, ProtocolId protocol, Bytes spi,
                      std::vector<Transform> transforms) {
  Proposal p;
  p.number = number;
  p.protocol = protocol;
  p.spi = std::move(spi);
  p.transforms = std::move(transforms);
  return p;
}
Proposal Ike(uint8_t number, std::vector<Transform> transforms) {
  return MakeProposal(number, ProtocolId::kIke, {}, std::move(transforms));
}
const Bytes kPeerSpi = {0xc1, 0x00, 0x00, 0x01};
Proposal Esp(uint8_t number, std::vector<Transform> transforms,
             Bytes spi = kPeerSpi) {
  return MakeProposal(number, ProtocolId::kEsp, std::move(spi),
                      std::move(transforms));
}
SaPayload Sa(std::vector<Proposal> proposals) {
  SaPayload sa;
  sa.proposals = std::move(proposals);
  return sa;
}

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TrafficSelector Ts(const char* start, const char* end, uint8_t protocol = 0,
                   uint16_t start_port = 0, uint16_t end_port = 65535) {
  TrafficSelector ts;
  ts.ip_protocol = protocol;
  ts.start_port = start_port;
  ts.end_port = end_port;
  ts.start_address = Ip(start);
  ts.end_address = Ip(end);
  return ts;
}
TrafficSelector Pfx(const char* address, int len) {
  return SelectorForPrefix(Ip(address), len);
}

std::vector<std::string> Describe(const std::vector<TrafficSelector>& list) {
  std::vector<std::string> out;
  for (const TrafficSelector& ts : list) out.push_back(DescribeSelector(ts));
  return out;
}
std::vector<std::string> PrefixStrings(const TrafficSelector& ts) {
  std::vector<std::string> out;
  for (const Prefix& p : SelectorToPrefixes(ts)) {
    out.push_back(absl::StrCat(p.address.ToString(), "/", p.length));
  }
  return out;
}

// Serializes and parses an SA payload, as it travels.
SaPayload Wire(const SaPayload& sa) {
  Message m;
  m.payloads.push_back(Payload::Sa(sa));
  absl::StatusOr<Bytes> bytes = SerializeMessage(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Message> parsed = ParseMessage(*bytes);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return absl::get<SaPayload>(parsed->payloads.at(0).body);
}

ConfigPayload WireCp(const ConfigPayload& cp) {
  Message m;
  m.payloads.push_back(Payload::Config(cp));
  absl::StatusOr<Bytes> bytes = SerializeMessage(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Message> parsed = ParseMessage(*bytes);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return absl::get<ConfigPayload>(parsed->payloads.at(0).body);
}

// --- Algorithm lists ----------------------------------------------------------

TEST(Algorithms, Defaults) {
  EXPECT_EQ(IkeAlgorithmsToString(DefaultIkeAlgorithms()),
            "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-"
            "prfsha512-x25519-ecp256-ecp384-modp2048");
  EXPECT_EQ(EspAlgorithmsToString(DefaultEspAlgorithms()),
            "aes256gcm16-aes128gcm16-chacha20poly1305-x25519-ecp256-modp2048-"
            "none");
}

TEST(Algorithms, ParseIkeEveryToken) {
  absl::StatusOr<IkeAlgorithms> a = ParseIkeAlgorithms(
      "chacha20poly1305-aes128gcm16-aes256gcm16-prfsha512-prfsha384-prfsha256-"
      "modp2048-ecp384-ecp256-curve25519");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->encr, ElementsAre(EncrAlgorithm::kChaCha20Poly1305,
                                   EncrAlgorithm::kAesGcm16With128BitKey,
                                   EncrAlgorithm::kAesGcm16With256BitKey));
  EXPECT_THAT(a->prf, ElementsAre(PrfAlgorithm::kHmacSha512,
                                  PrfAlgorithm::kHmacSha384,
                                  PrfAlgorithm::kHmacSha256));
  EXPECT_THAT(a->dh, ElementsAre(DhGroup::kModp2048, DhGroup::kEcp384,
                                 DhGroup::kEcp256, DhGroup::kCurve25519));
  // x25519 and curve25519 are one group; duplicates collapse.
  a = ParseIkeAlgorithms("AES256GCM16-prfsha256-x25519-curve25519-x25519");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->dh, ElementsAre(DhGroup::kCurve25519));
  EXPECT_EQ(IkeAlgorithmsToString(*a), "aes256gcm16-prfsha256-x25519");
}

TEST(Algorithms, ParseIkeErrors) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"aes256gcm16", "IKE proposal 'aes256gcm16': no PRF"},
      {"aes256gcm16-prfsha256", "IKE proposal 'aes256gcm16-prfsha256': no DH "
                                "group"},
      {"prfsha256-x25519", "no encryption algorithm"},
      {"", "unknown algorithm ''"},
      {"aes256gcm16-prfsha256-x25519-aes128",
       "IKE proposal 'aes256gcm16-prfsha256-x25519-aes128': unknown algorithm "
       "'aes128'"},
      {"aes256gcm16--prfsha256-x25519", "unknown algorithm ''"},
      {"aes256gcm16-prfsha256-x25519-none", "unknown algorithm 'none'"},
      {"aes256gcm16-prfsha256-x25519-esn", "unknown algorithm 'esn'"},
      {"aes192gcm16-prfsha256-x25519", "unknown algorithm 'aes192gcm16'"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<IkeAlgorithms> a = ParseIkeAlgorithms(c.text);
    ASSERT_FALSE(a.ok()) << c.text;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(c.message));
  }
}

TEST(Algorithms, ParseEsp) {
  absl::StatusOr<EspAlgorithms> a =
      ParseEspAlgorithms("aes256gcm16-chacha20poly1305-x25519-none");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->encr, ElementsAre(esp::Algorithm::kAes256Gcm16,
                                   esp::Algorithm::kChaCha20Poly1305));
  EXPECT_THAT(a->dh, ElementsAre(DhGroup::kCurve25519));
  EXPECT_TRUE(a->pfs_optional);
  EXPECT_FALSE(a->esn);

  a = ParseEspAlgorithms("aes128gcm16-ecp256-ecp384-modp2048-curve25519");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->encr, ElementsAre(esp::Algorithm::kAes128Gcm16));
  EXPECT_THAT(a->dh, ElementsAre(DhGroup::kEcp256, DhGroup::kEcp384,
                                 DhGroup::kModp2048, DhGroup::kCurve25519));
  EXPECT_FALSE(a->pfs_optional);  // PFS mandatory.

  a = ParseEspAlgorithms("aes256gcm16-none");  // "none" alone: no PFS.
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->dh.empty());

  a = ParseEspAlgorithms("aes256gcm16-esn");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->esn);
  EXPECT_TRUE(a->dh.empty());
  EXPECT_EQ(EspAlgorithmsToString(*a), "aes256gcm16-esn");

  a = ParseEspAlgorithms("aes256gcm16-noesn");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->esn);
  a = ParseEspAlgorithms("aes256gcm16-esn-noesn");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->esn);
}

TEST(Algorithms, ParseEspErrors) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"x25519-none", "ESP proposal 'x25519-none': no encryption algorithm"},
      {"aes256gcm16-prfsha256", "'prfsha256' is an IKE PRF"},
      {"aes256gcm16-sha256", "unknown algorithm 'sha256'"},
      {"aes256gcm16-", "unknown algorithm ''"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<EspAlgorithms> a = ParseEspAlgorithms(c.text);
    ASSERT_FALSE(a.ok()) << c.text;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(c.message));
  }
}

TEST(Algorithms, StringRoundTrip) {
  for (const char* text :
       {"aes128gcm16-prfsha384-ecp384", "chacha20poly1305-prfsha512-modp2048",
        "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-"
        "prfsha512-x25519-ecp256-ecp384-modp2048"}) {
    absl::StatusOr<IkeAlgorithms> a = ParseIkeAlgorithms(text);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(IkeAlgorithmsToString(*a), text);
  }
  for (const char* text :
       {"aes256gcm16", "chacha20poly1305-x25519", "aes128gcm16-ecp256-none-esn",
        "aes256gcm16-aes128gcm16-chacha20poly1305-x25519-ecp256-modp2048-"
        "none"}) {
    absl::StatusOr<EspAlgorithms> a = ParseEspAlgorithms(text);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(EspAlgorithmsToString(*a), text);
  }
}

// --- Building proposals ---------------------------------------------------------

TEST(Build, IkeProposal) {
  SaPayload sa = BuildIkeProposal(DefaultIkeAlgorithms());
  ASSERT_EQ(sa.proposals.size(), 1u);
  EXPECT_EQ(sa.proposals[0].number, 1);
  EXPECT_EQ(sa.proposals[0].protocol, ProtocolId::kIke);
  EXPECT_TRUE(sa.proposals[0].spi.empty());
  // No INTEG with AEAD; AES-GCM with key lengths, ChaCha20 without.
  EXPECT_EQ(DescribeSa(sa),
            "IKE:AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/"
            "PRF_HMAC_SHA2_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_512/"
            "CURVE_25519/ECP_256/ECP_384/MODP_2048");
  EXPECT_FALSE(sa.proposals[0].transforms[2].KeyLength().has_value());
  EXPECT_EQ(sa.proposals[0].transforms[0].KeyLength(), 256);

  const Bytes spi = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(BuildIkeProposal(DefaultIkeAlgorithms(), spi).proposals[0].spi,
            spi);
}

TEST(Build, EspProposal) {
  EspAlgorithms algs = DefaultEspAlgorithms();
  SaPayload sa = BuildEspProposal(algs, 0xc0a80102, /*with_dh=*/false);
  ASSERT_EQ(sa.proposals.size(), 1u);
  EXPECT_EQ(sa.proposals[0].protocol, ProtocolId::kEsp);
  EXPECT_EQ(sa.proposals[0].spi, (Bytes{0xc0, 0xa8, 0x01, 0x02}));
  EXPECT_EQ(DescribeSa(sa),
            "ESP:AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/NO_EXT_SEQ");
  EXPECT_EQ(DescribeSa(BuildEspProposal(algs, 1, true)),
            "ESP:AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/CURVE_25519/"
            "ECP_256/MODP_2048/DH_NONE/NO_EXT_SEQ");
  algs.pfs_optional = false;
  algs.esn = true;
  EXPECT_EQ(DescribeSa(BuildEspProposal(algs, 1, true)),
            "ESP:AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/CURVE_25519/"
            "ECP_256/MODP_2048/EXT_SEQ/NO_EXT_SEQ");
  algs.dh.clear();  // No PFS: no DH transforms even when asked.
  EXPECT_EQ(DescribeSa(BuildEspProposal(algs, 1, true)),
            "ESP:AES_GCM_16_256/AES_GCM_16_128/CHACHA20_POLY1305/EXT_SEQ/"
            "NO_EXT_SEQ");
}

TEST(Build, DescribeSaSeveralProposalsAndUnknownIds) {
  SaPayload sa = Sa({Ike(1, {Encr(kEncrAesCbc, 128), Integ(2), Prf(2), Dh(2)}),
                     Esp(2, {Encr(99), Integ(77), Dh(0), Esn(1)}),
                     MakeProposal(3, ProtocolId::kAh, {}, {Prf(9), Dh(99)})});
  EXPECT_EQ(DescribeSa(sa),
            "IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024, "
            "ESP:ENCR_99/INTEG_77/DH_NONE/EXT_SEQ, AH:PRF_9/DH_99");
}

// --- IKE selection and acceptance -------------------------------------------------

TEST(IkeNegotiation, RoundTripOverTheWire) {
  const IkeAlgorithms ours = DefaultIkeAlgorithms();
  absl::StatusOr<IkeAlgorithms> peer_algs =
      ParseIkeAlgorithms("chacha20poly1305-aes128gcm16-prfsha512-ecp384");
  ASSERT_TRUE(peer_algs.ok());
  const SaPayload offered = BuildIkeProposal(*peer_algs);

  SaPayload reply;
  absl::StatusOr<IkeChoice> chosen =
      SelectIkeProposal(Wire(offered), ours, &reply);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  // Our preference: AES-GCM-128 (ours lists it before ChaCha20).
  EXPECT_EQ(chosen->suite.encr, EncrAlgorithm::kAesGcm16With128BitKey);
  EXPECT_EQ(chosen->suite.prf, PrfAlgorithm::kHmacSha512);
  EXPECT_EQ(chosen->dh, DhGroup::kEcp384);
  EXPECT_EQ(chosen->peer_spi, 0u);
  EXPECT_EQ(DescribeSa(reply), "IKE:AES_GCM_16_128/PRF_HMAC_SHA2_512/ECP_384");

  absl::StatusOr<IkeChoice> accepted =
      AcceptIkeProposal(Wire(reply), offered);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->suite.encr, chosen->suite.encr);
  EXPECT_EQ(accepted->suite.prf, chosen->suite.prf);
  EXPECT_EQ(accepted->dh, chosen->dh);
}

TEST(IkeNegotiation, StrongSwanInitiatorProposal) {
  // strongSwan 5.9.8's IKE_SA_INIT: AES-GCM-16-256, PRF SHA-256, X25519.
  SaPayload offered = Sa({Ike(1, {Gcm(256), Prf(kPrfHmacSha2_256),
                                   Dh(kDhCurve25519)})});
  SaPayload reply;
  absl::StatusOr<IkeChoice> c =
      SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->suite.encr, EncrAlgorithm::kAesGcm16With256BitKey);
  EXPECT_EQ(c->dh, DhGroup::kCurve25519);
  EXPECT_EQ(DescribeSa(reply),
            "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519");
}

TEST(IkeNegotiation, OurPreferenceBeatsPeerOrder) {
  // The peer lists its least preferred first in every type.
  SaPayload offered = Sa({Ike(
      1, {ChaCha(), Gcm(128), Gcm(256), Prf(kPrfHmacSha2_512),
          Prf(kPrfHmacSha2_256), Dh(kDhModp2048), Dh(kDhEcp256),
          Dh(kDhCurve25519)})});
  SaPayload reply;
  absl::StatusOr<IkeChoice> c =
      SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(DescribeSa(reply),
            "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519");

  // Across proposals too: proposal 2 has the better ENCR.
  offered = Sa({Ike(1, {ChaCha(), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
                Ike(2, {Gcm(256), Prf(kPrfHmacSha2_512), Dh(kDhModp2048)})});
  c = SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 2);
  EXPECT_EQ(c->suite.encr, EncrAlgorithm::kAesGcm16With256BitKey);

  // Equal ranks: the peer's earlier proposal.
  offered = Sa({Ike(4, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
                Ike(5, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)})});
  c = SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 4);
}

TEST(IkeNegotiation, SkipsUnsupportedProposals) {
  SaPayload offered = Sa({
      // CBC + HMAC: INTEG other than NONE.
      Ike(1, {Encr(kEncrAesCbc, 128), Integ(kIntegHmacSha2_256_128),
              Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
      // AEAD but also HMAC INTEG.
      Ike(2, {Gcm(256), Integ(kIntegHmacSha2_256_128), Prf(kPrfHmacSha2_256),
              Dh(kDhCurve25519)}),
      // Unknown transform type 6.
      Ike(3, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519),
              T(static_cast<TransformType>(6), 1)}),
      // ESN in an IKE proposal.
      Ike(4, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519), Esn(0)}),
      // Wrong protocol.
      MakeProposal(5, ProtocolId::kEsp, kPeerSpi,
                   {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
      // A 4-byte SPI in an IKE proposal.
      MakeProposal(6, ProtocolId::kIke, kPeerSpi,
                   {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
      // No PRF.
      Ike(7, {Gcm(256), Dh(kDhCurve25519)}),
      // The usable one, with the worst of our choices, INTEG NONE and
      // transforms we do not know mixed in.
      Ike(8, {Encr(kEncrAesCbc, 256), ChaCha(), Integ(kIntegNone), Prf(2),
              Prf(kPrfHmacSha2_512), Dh(2), Dh(kDhModp2048)}),
  });
  SaPayload reply;
  absl::StatusOr<IkeChoice> c =
      SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 8);
  EXPECT_EQ(DescribeSa(reply),
            "IKE:CHACHA20_POLY1305/PRF_HMAC_SHA2_512/INTEG_NONE/MODP_2048");
  EXPECT_EQ(c->suite.encr, EncrAlgorithm::kChaCha20Poly1305);
  EXPECT_EQ(c->suite.prf, PrfAlgorithm::kHmacSha512);
  EXPECT_EQ(c->dh, DhGroup::kModp2048);
}

TEST(IkeNegotiation, AesGcmKeyLengthRules) {
  const IkeAlgorithms ours = DefaultIkeAlgorithms();
  for (const Transform& encr :
       {Gcm(192), Encr(kEncrAesGcm16), Encr(kEncrChaCha20Poly1305, 256)}) {
    SaPayload offered =
        Sa({Ike(1, {encr, Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)})});
    absl::StatusOr<IkeChoice> c = SelectIkeProposal(offered, ours, nullptr);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound)
        << DescribeSa(offered);
  }
  // A transform with an attribute we do not know is not ours either.
  Transform odd = Gcm(256);
  odd.attributes.push_back(TransformAttribute{99, true, {0, 1}});
  SaPayload offered =
      Sa({Ike(1, {odd, Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)}),
          Ike(2, {Gcm(192), Gcm(128), Prf(kPrfHmacSha2_256),
                  Dh(kDhCurve25519)})});
  SaPayload reply;
  absl::StatusOr<IkeChoice> c = SelectIkeProposal(offered, ours, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 2);
  EXPECT_EQ(c->suite.encr, EncrAlgorithm::kAesGcm16With128BitKey);
}

TEST(IkeNegotiation, NoProposalChosenListsBothSides) {
  SaPayload offered =
      Sa({Ike(1, {Encr(kEncrAesCbc, 128), Integ(kIntegHmacSha2_256_128),
                  Prf(kPrfHmacSha2_256), Dh(2)})});
  absl::StatusOr<IkeAlgorithms> ours =
      ParseIkeAlgorithms("aes256gcm16-prfsha256-x25519");
  ASSERT_TRUE(ours.ok());
  SaPayload reply;
  reply.proposals.push_back(Ike(9, {}));
  absl::StatusOr<IkeChoice> c = SelectIkeProposal(offered, *ours, &reply);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("no proposal chosen: peer offered "
                        "[AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/"
                        "MODP_1024], we accept "
                        "[AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519]"));
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("#1 no acceptable ENCR transform"));
  // The reply is untouched on failure.
  EXPECT_EQ(reply.proposals[0].number, 9);

  c = SelectIkeProposal(SaPayload(), *ours, nullptr);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("peer offered []"));
}

TEST(IkeNegotiation, RekeySpi) {
  const Bytes peer_spi = {0, 0, 0, 0, 0, 0, 0x12, 0x34};
  SaPayload offered = BuildIkeProposal(DefaultIkeAlgorithms(), peer_spi);
  SaPayload reply;
  absl::StatusOr<IkeChoice> c =
      SelectIkeProposal(offered, DefaultIkeAlgorithms(), &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peer_spi, 0x1234u);
  EXPECT_EQ(reply.proposals[0].spi, peer_spi);

  // The initiator gets the responder's new SPI.
  reply.proposals[0].spi = {0xaa, 0, 0, 0, 0, 0, 0, 1};
  absl::StatusOr<IkeChoice> a = AcceptIkeProposal(reply, offered);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->peer_spi, 0xaa00000000000001u);

  reply.proposals[0].spi = Bytes(8, 0);
  EXPECT_EQ(AcceptIkeProposal(reply, offered).status().code(),
            absl::StatusCode::kInvalidArgument);
  reply.proposals[0].spi = {1, 2, 3, 4};
  EXPECT_EQ(AcceptIkeProposal(reply, offered).status().code(),
            absl::StatusCode::kInvalidArgument);
  // IKE_SA_INIT: no SPI in the reply.
  SaPayload init = BuildIkeProposal(DefaultIkeAlgorithms());
  EXPECT_THAT(std::string(AcceptIkeProposal(reply, init).status().message()),
              HasSubstr("IKE SA reply: SPI of 4 bytes, want none"));

  // A zero 8-byte SPI in the peer's proposal is skipped.
  offered.proposals[0].spi = Bytes(8, 0);
  EXPECT_EQ(SelectIkeProposal(offered, DefaultIkeAlgorithms(), nullptr)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(IkeNegotiation, AcceptRejections) {
  const SaPayload offered = BuildIkeProposal(DefaultIkeAlgorithms());
  const Proposal good =
      Ike(1, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)});
  ASSERT_TRUE(AcceptIkeProposal(Sa({good}), offered).ok());

  struct Case {
    SaPayload chosen;
    const char* message;
  } cases[] = {
      {Sa({}), "IKE SA reply: 0 proposals, want exactly 1"},
      {Sa({good, good}), "IKE SA reply: 2 proposals, want exactly 1"},
      {Sa({Ike(1, {Gcm(256), Gcm(128), Prf(kPrfHmacSha2_256),
                   Dh(kDhCurve25519)})}),
       "two ENCR transforms (AES_GCM_16_256, AES_GCM_16_128)"},
      {Sa({Ike(1, {Gcm(256), Prf(kPrfHmacSha2_256), Prf(kPrfHmacSha2_384),
                   Dh(kDhCurve25519)})}),
       "two PRF transforms"},
      {Sa({Ike(1, {Gcm(192), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)})}),
       "transform AES_GCM_16_192 was not offered"},
      {Sa({Ike(1, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(2)})}),
       "transform MODP_1024 was not offered"},
      {Sa({Ike(1, {Gcm(256), Integ(kIntegNone), Prf(kPrfHmacSha2_256),
                   Dh(kDhCurve25519)})}),
       "transform INTEG_NONE was not offered"},
      {Sa({Ike(1, {Gcm(256), Prf(kPrfHmacSha2_256)})}),
       "IKE SA reply: no DH transform"},
      {Sa({Ike(2, {Gcm(256), Prf(kPrfHmacSha2_256), Dh(kDhCurve25519)})}),
       "proposal number 2 was not offered"},
      {Sa({MakeProposal(1, ProtocolId::kEsp, kPeerSpi,
                        {Gcm(256), Prf(kPrfHmacSha2_256),
                         Dh(kDhCurve25519)})}),
       "IKE SA reply: protocol ESP"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<IkeChoice> a = AcceptIkeProposal(c.chosen, offered);
    ASSERT_FALSE(a.ok()) << c.message;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(c.message));
  }
}

// --- ESP selection and acceptance --------------------------------------------------

TEST(EspNegotiation, RoundTripIkeAuth) {
  EspAlgorithms ours = DefaultEspAlgorithms();
  const SaPayload offered = BuildEspProposal(ours, 0x11223344, false);
  SaPayload reply;
  absl::StatusOr<EspChoice> c = SelectEspProposal(
      Wire(offered), ours, 0xcafe0001, /*require_dh=*/false, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encr, esp::Algorithm::kAes256Gcm16);
  EXPECT_FALSE(c->esn);
  EXPECT_FALSE(c->dh.has_value());
  EXPECT_EQ(c->peer_spi, 0x11223344u);
  EXPECT_EQ(reply.proposals[0].spi, (Bytes{0xca, 0xfe, 0x00, 0x01}));
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/NO_EXT_SEQ");

  absl::StatusOr<EspChoice> a = AcceptEspProposal(Wire(reply), offered);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->encr, esp::Algorithm::kAes256Gcm16);
  EXPECT_FALSE(a->esn);
  EXPECT_FALSE(a->dh.has_value());
  EXPECT_EQ(a->peer_spi, 0xcafe0001u);
}

TEST(EspNegotiation, RoundTripCreateChildSaWithPfsAndEsn) {
  EspAlgorithms initiator = DefaultEspAlgorithms();
  initiator.esn = true;
  initiator.dh = {DhGroup::kEcp256, DhGroup::kCurve25519};
  EspAlgorithms responder = DefaultEspAlgorithms();
  responder.esn = true;
  const SaPayload offered = BuildEspProposal(initiator, 7, true);
  SaPayload reply;
  absl::StatusOr<EspChoice> c =
      SelectEspProposal(Wire(offered), responder, 8, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dh, DhGroup::kCurve25519);  // The responder's preference.
  EXPECT_TRUE(c->esn);
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/CURVE_25519/EXT_SEQ");
  absl::StatusOr<EspChoice> a = AcceptEspProposal(Wire(reply), offered);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dh, DhGroup::kCurve25519);
  EXPECT_TRUE(a->esn);
  EXPECT_EQ(a->peer_spi, 8u);

  // A responder without ESN picks "No ESN" from the same offer.
  responder.esn = false;
  c = SelectEspProposal(offered, responder, 8, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->esn);
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/CURVE_25519/NO_EXT_SEQ");
  // An offer of ESN only is then unacceptable.
  SaPayload esn_only = Sa({Esp(1, {Gcm(256), Esn(kEsnYes)})});
  EXPECT_EQ(SelectEspProposal(esn_only, responder, 8, false, nullptr)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(EspNegotiation, StrongSwanSeveralProposals) {
  // Proposal 1 AEAD, proposal 2 CBC + HMAC: the AEAD one is chosen.
  SaPayload offered = Sa({
      Esp(1, {Gcm(256), Gcm(128), Esn(kEsnNone)}),
      Esp(2, {Encr(kEncrAesCbc, 256), Integ(kIntegHmacSha2_256_128),
              Esn(kEsnNone)}),
  });
  SaPayload reply;
  absl::StatusOr<EspChoice> c = SelectEspProposal(
      offered, DefaultEspAlgorithms(), 0x1000, false, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 1);
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/NO_EXT_SEQ");

  // The order reversed: still the AEAD one.
  std::swap(offered.proposals[0], offered.proposals[1]);
  c = SelectEspProposal(offered, DefaultEspAlgorithms(), 0x1000, false,
                        &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 1);

  // A proposal with AEAD and HMAC INTEG in one is skipped; INTEG NONE echoed.
  offered = Sa({
      Esp(1, {Gcm(256), Integ(kIntegHmacSha2_256_128), Esn(kEsnNone)}),
      Esp(2, {ChaCha(), Integ(kIntegNone), Esn(kEsnNone)}),
  });
  c = SelectEspProposal(offered, DefaultEspAlgorithms(), 0x1000, false,
                        &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encr, esp::Algorithm::kChaCha20Poly1305);
  EXPECT_EQ(DescribeSa(reply), "ESP:CHACHA20_POLY1305/INTEG_NONE/NO_EXT_SEQ");
}

TEST(EspNegotiation, SpiChecks) {
  const std::vector<Transform> transforms = {Gcm(256), Esn(kEsnNone)};
  for (const Bytes& spi : {Bytes{}, Bytes{0, 0, 0, 0}, Bytes{1, 2, 3},
                           Bytes{1, 2, 3, 4, 5, 6, 7, 8}}) {
    absl::StatusOr<EspChoice> c =
        SelectEspProposal(Sa({Esp(1, transforms, spi)}),
                          DefaultEspAlgorithms(), 5, false, nullptr);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("#1 SPI"));
  }
  EXPECT_EQ(SelectEspProposal(Sa({Esp(1, transforms)}), DefaultEspAlgorithms(),
                              0, false, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  const SaPayload offered = BuildEspProposal(DefaultEspAlgorithms(), 5, false);
  absl::StatusOr<EspChoice> a =
      AcceptEspProposal(Sa({Esp(1, transforms, {0, 0, 0, 0})}), offered);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("is 0"));
  a = AcceptEspProposal(Sa({Esp(1, transforms, {0, 0, 1})}), offered);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()),
              HasSubstr("SPI of 3 bytes, want 4"));
}

TEST(EspNegotiation, AcceptRejections) {
  const SaPayload offered = BuildEspProposal(DefaultEspAlgorithms(), 5, false);
  struct Case {
    SaPayload chosen;
    const char* message;
  } cases[] = {
      {Sa({Esp(1, {Gcm(256), Esn(0)}), Esp(1, {Gcm(256), Esn(0)})}),
       "ESP SA reply: 2 proposals"},
      {Sa({Esp(1, {Gcm(256), ChaCha(), Esn(0)})}), "two ENCR transforms"},
      {Sa({Esp(1, {Gcm(256), Esn(0), Esn(0)})}), "two ESN transforms"},
      {Sa({Esp(1, {Gcm(256), Esn(1)})}), "transform EXT_SEQ was not offered"},
      {Sa({Esp(1, {Gcm(256), Dh(kDhCurve25519), Esn(0)})}),
       "transform CURVE_25519 was not offered"},
      {Sa({Esp(1, {Gcm(256)})}), "no ESN transform"},
      {Sa({Esp(1, {Esn(0)})}), "no ENCR transform"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<EspChoice> a = AcceptEspProposal(c.chosen, offered);
    ASSERT_FALSE(a.ok()) << c.message;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(c.message));
  }
  // With PFS offered, the responder must pick a group (or NONE).
  const SaPayload with_dh = BuildEspProposal(DefaultEspAlgorithms(), 5, true);
  absl::StatusOr<EspChoice> a =
      AcceptEspProposal(Sa({Esp(1, {Gcm(256), Esn(0)})}), with_dh);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("no DH transform"));
  a = AcceptEspProposal(Sa({Esp(1, {Gcm(256), Dh(kDhNone), Esn(0)})}),
                        with_dh);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->dh.has_value());
  a = AcceptEspProposal(Sa({Esp(1, {Gcm(256), Dh(kDhEcp256), Esn(0)})}),
                        with_dh);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dh, DhGroup::kEcp256);
}

TEST(EspNegotiation, RequireDhSemantics) {
  const EspAlgorithms ours = DefaultEspAlgorithms();  // x25519 ecp256 modp2048 none
  SaPayload reply;

  // IKE_AUTH (require_dh false): DH transforms are ignored, even groups we
  // lack and without NONE; the reply has no DH.
  SaPayload offered =
      Sa({Esp(1, {Gcm(256), Dh(kDhCurve25519), Dh(kDhNone), Esn(0)})});
  absl::StatusOr<EspChoice> c =
      SelectEspProposal(offered, ours, 9, false, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dh.has_value());
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/NO_EXT_SEQ");
  offered = Sa({Esp(1, {Gcm(256), Dh(2), Dh(kDhEcp384), Esn(0)})});
  c = SelectEspProposal(offered, ours, 9, false, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/NO_EXT_SEQ");

  // CREATE_CHILD_SA with KE: matched on the group, ours first.
  offered = Sa({Esp(1, {Gcm(256), Dh(kDhModp2048), Dh(kDhEcp256), Dh(kDhNone),
                        Esn(0)})});
  c = SelectEspProposal(offered, ours, 9, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dh, DhGroup::kEcp256);
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/ECP_256/NO_EXT_SEQ");

  // Only a group we lack plus NONE: NONE (ours is optional), echoed.
  offered = Sa({Esp(1, {Gcm(256), Dh(kDhEcp384), Dh(kDhNone), Esn(0)})});
  c = SelectEspProposal(offered, ours, 9, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dh.has_value());
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/DH_NONE/NO_EXT_SEQ");

  // Only a group we lack: nothing.
  offered = Sa({Esp(1, {Gcm(256), Dh(kDhEcp384), Esn(0)})});
  c = SelectEspProposal(offered, ours, 9, true, &reply);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);

  // PFS mandatory for us: NONE and a proposal without DH are refused.
  EspAlgorithms strict = ours;
  strict.pfs_optional = false;
  offered = Sa({Esp(1, {Gcm(256), Dh(kDhEcp384), Dh(kDhNone), Esn(0)}),
                Esp(2, {Gcm(256), Esn(0)})});
  c = SelectEspProposal(offered, strict, 9, true, &reply);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  // Optional PFS: the proposal without DH is acceptable, no DH in reply.
  c = SelectEspProposal(offered, ours, 9, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dh.has_value());

  // A proposal with a group beats one without, whatever the peer's order.
  offered = Sa({Esp(1, {Gcm(256), Esn(0)}),
                Esp(2, {Gcm(256), Dh(kDhModp2048), Esn(0)})});
  c = SelectEspProposal(offered, ours, 9, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(reply.proposals[0].number, 2);
  EXPECT_EQ(c->dh, DhGroup::kModp2048);

  // We do no PFS at all: the peer's NONE is chosen.
  EspAlgorithms no_pfs = ours;
  no_pfs.dh.clear();
  no_pfs.pfs_optional = false;
  offered = Sa({Esp(1, {Gcm(256), Dh(kDhCurve25519), Dh(kDhNone), Esn(0)})});
  c = SelectEspProposal(offered, no_pfs, 9, true, &reply);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dh.has_value());
  EXPECT_EQ(DescribeSa(reply), "ESP:AES_GCM_16_256/DH_NONE/NO_EXT_SEQ");
}

TEST(EspNegotiation, NoProposalChosenListsBothSides) {
  SaPayload offered = Sa({Esp(1, {Encr(kEncrAesCbc, 128),
                                  Integ(kIntegHmacSha2_256_128), Esn(0)})});
  absl::StatusOr<EspAlgorithms> ours = ParseEspAlgorithms("aes128gcm16");
  ASSERT_TRUE(ours.ok());
  absl::StatusOr<EspChoice> c =
      SelectEspProposal(offered, *ours, 9, false, nullptr);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("no proposal chosen: peer offered "
                        "[AES_CBC_128/HMAC_SHA2_256_128/NO_EXT_SEQ], we "
                        "accept [AES_GCM_16_128/NO_EXT_SEQ]"));
}

// --- Traffic selectors ----------------------------------------------------------

TEST(Selectors, Constructors) {
  EXPECT_EQ(DescribeSelector(AnyIpv4Selector()), "0.0.0.0/0");
  EXPECT_EQ(AnyIpv4Selector().end_address, Ip("255.255.255.255"));
  EXPECT_EQ(DescribeSelector(AnyIpv6Selector()), "::/0");
  EXPECT_EQ(AnyIpv6Selector().end_address,
            Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  TrafficSelector ts = Pfx("10.200.2.77", 24);
  EXPECT_EQ(ts.start_address, Ip("10.200.2.0"));
  EXPECT_EQ(ts.end_address, Ip("10.200.2.255"));
  EXPECT_EQ(ts.ip_protocol, 0);
  EXPECT_EQ(ts.start_port, 0);
  EXPECT_EQ(ts.end_port, 65535);
  EXPECT_EQ(DescribeSelector(Pfx("10.9.8.7", 32)), "10.9.8.7/32");
  EXPECT_EQ(DescribeSelector(Pfx("2001:db8::1:2", 64)), "2001:db8::/64");
  EXPECT_EQ(DescribeSelector(Pfx("2001:db8::1", 200)), "2001:db8::1/128");
  EXPECT_EQ(DescribeSelector(Ts("10.0.0.1", "10.0.0.5", 17, 53, 53)),
            "10.0.0.1-10.0.0.5 proto 17 port 53");
  EXPECT_EQ(DescribeSelector(Ts("10.0.0.0", "10.0.0.255", 6, 1000, 2000)),
            "10.0.0.0/24 proto 6 port 1000-2000");
  EXPECT_EQ(DescribeSelector(Ts("10.0.0.0", "10.0.0.255", 0, 65535, 0)),
            "10.0.0.0/24 port opaque");
}

TEST(Selectors, NarrowSubsetSupersetPartial) {
  // strongSwan gateway: TSi 0.0.0.0/0 -> VIP/32, TSr 0.0.0.0/0 -> subnet.
  absl::StatusOr<std::vector<TrafficSelector>> n =
      NarrowSelectors({AnyIpv4Selector()}, {Pfx("10.200.2.0", 24)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.200.2.0/24"));

  // The peer asks for less than we allow: its selector stands.
  n = NarrowSelectors({Pfx("10.200.2.128", 25)}, {Pfx("10.200.0.0", 16)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.200.2.128/25"));

  // Partial overlap: one range, not a prefix.
  n = NarrowSelectors({Ts("10.0.0.5", "10.0.0.20")},
                      {Ts("10.0.0.10", "10.0.0.30")});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.0.0.10-10.0.0.20"));

  // Several of each; order follows the peer's selectors.
  n = NarrowSelectors({AnyIpv4Selector(), AnyIpv6Selector()},
                      {Pfx("fd00::", 64), Pfx("10.1.0.0", 16),
                       Pfx("192.168.0.0", 24)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n),
              ElementsAre("10.1.0.0/16", "192.168.0.0/24", "fd00::/64"));
}

TEST(Selectors, NarrowPortsAndProtocols) {
  absl::StatusOr<std::vector<TrafficSelector>> n = NarrowSelectors(
      {Ts("10.0.0.0", "10.0.0.255", 17, 0, 65535)},
      {Ts("10.0.0.53", "10.0.0.53", 0, 53, 53)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.0.0.53/32 proto 17 port 53"));

  n = NarrowSelectors({Ts("10.0.0.0", "10.0.0.255", 0, 1000, 2000)},
                      {Ts("10.0.0.0", "10.0.0.255", 6, 1500, 3000)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.0.0.0/24 proto 6 port 1500-2000"));

  // Different protocols, disjoint ports: nothing.
  EXPECT_EQ(NarrowSelectors({Ts("10.0.0.0", "10.0.0.255", 6)},
                            {Ts("10.0.0.0", "10.0.0.255", 17)})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(NarrowSelectors({Ts("10.0.0.0", "10.0.0.255", 0, 1, 10)},
                            {Ts("10.0.0.0", "10.0.0.255", 0, 11, 20)})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  // OPAQUE ports survive only against "any port".
  n = NarrowSelectors({Ts("10.0.0.0", "10.0.0.255", 50, 65535, 0)},
                      {AnyIpv4Selector()});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.0.0.0/24 proto 50 port opaque"));
  EXPECT_FALSE(NarrowSelectors({Ts("10.0.0.0", "10.0.0.255", 0, 65535, 0)},
                               {Ts("10.0.0.0", "10.0.0.255", 0, 80, 80)})
                   .ok());
}

TEST(Selectors, NarrowFamiliesAndNothingLeft) {
  absl::StatusOr<std::vector<TrafficSelector>> n =
      NarrowSelectors({AnyIpv4Selector()}, {AnyIpv6Selector()});
  ASSERT_EQ(n.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(n.status().message()),
              HasSubstr("TS unacceptable: peer proposed [0.0.0.0/0], we "
                        "allow [::/0]"));
  // ::ffff:10.0.0.1 is IPv6, not the IPv4 address.
  EXPECT_FALSE(
      NarrowSelectors({Pfx("::ffff:10.0.0.1", 128)}, {AnyIpv4Selector()})
          .ok());
  EXPECT_FALSE(
      NarrowSelectors({Pfx("10.0.0.0", 8)}, {Pfx("11.0.0.0", 8)}).ok());
  EXPECT_FALSE(NarrowSelectors({}, {AnyIpv4Selector()}).ok());
  // Malformed selectors (reversed, mixed) never match.
  TrafficSelector mixed = AnyIpv4Selector();
  mixed.end_address = Ip("::1");
  EXPECT_FALSE(NarrowSelectors({Ts("10.0.0.9", "10.0.0.1"), mixed},
                               {AnyIpv4Selector(), AnyIpv6Selector()})
                   .ok());
}

TEST(Selectors, NarrowDropsRedundant) {
  // The first selector is the triggering packet, inside the second.
  absl::StatusOr<std::vector<TrafficSelector>> n = NarrowSelectors(
      {Ts("10.200.2.5", "10.200.2.5", 6, 443, 443), AnyIpv4Selector(),
       AnyIpv4Selector()},
      {Pfx("10.200.2.0", 24)});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(Describe(*n), ElementsAre("10.200.2.0/24"));
}

TEST(Selectors, CheckNarrowed) {
  const std::vector<TrafficSelector> tsi = {AnyIpv4Selector()};
  const std::vector<TrafficSelector> tsr = {AnyIpv4Selector()};
  // The strongSwan gateway's answer.
  EXPECT_TRUE(CheckNarrowed(tsi, {Pfx("10.200.1.7", 32)}).ok());
  EXPECT_TRUE(CheckNarrowed(tsr, {Pfx("10.200.2.0", 24)}).ok());
  EXPECT_TRUE(CheckNarrowed(tsr, {Pfx("10.200.2.0", 24), Pfx("10.0.0.0", 8)})
                  .ok());
  EXPECT_TRUE(CheckNarrowed(tsr, tsr).ok());
  EXPECT_TRUE(
      CheckNarrowed({Pfx("10.0.0.0", 8)}, {Ts("10.0.0.3", "10.0.0.9", 17, 53, 53)})
          .ok());

  absl::Status s = CheckNarrowed({Pfx("10.200.2.0", 24)}, {Pfx("10.200.0.0", 16)});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("10.200.0.0/16 is not within the proposed "
                        "[10.200.2.0/24]"));
  EXPECT_EQ(CheckNarrowed(tsr, {AnyIpv6Selector()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckNarrowed(tsr, {}).code(), absl::StatusCode::kInvalidArgument);
  // Protocol and ports must stay within too.
  const std::vector<TrafficSelector> udp53 = {
      Ts("10.0.0.0", "10.0.0.255", 17, 53, 53)};
  EXPECT_TRUE(CheckNarrowed(udp53, udp53).ok());
  EXPECT_FALSE(CheckNarrowed(udp53, {Pfx("10.0.0.0", 24)}).ok());
  EXPECT_FALSE(
      CheckNarrowed(udp53, {Ts("10.0.0.0", "10.0.0.255", 6, 53, 53)}).ok());
  EXPECT_FALSE(
      CheckNarrowed(udp53, {Ts("10.0.0.0", "10.0.0.255", 17, 53, 54)}).ok());
  // One returned selector out of two outside fails the lot.
  EXPECT_FALSE(CheckNarrowed(tsr, {Pfx("10.0.0.0", 8), Pfx("fd00::", 8)}).ok());
}

TEST(Selectors, ToPrefixes) {
  EXPECT_THAT(PrefixStrings(Ts("10.200.2.0", "10.200.2.255")),
              ElementsAre("10.200.2.0/24"));
  EXPECT_THAT(PrefixStrings(Ts("10.0.0.1", "10.0.0.6")),
              ElementsAre("10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31",
                          "10.0.0.6/32"));
  EXPECT_THAT(PrefixStrings(Ts("0.0.0.0", "255.255.255.255")),
              ElementsAre("0.0.0.0/0"));
  EXPECT_THAT(PrefixStrings(Ts("10.0.0.7", "10.0.0.7")),
              ElementsAre("10.0.0.7/32"));
  EXPECT_THAT(PrefixStrings(Ts("0.0.0.1", "255.255.255.255")),
              testing::SizeIs(32));
  EXPECT_THAT(PrefixStrings(Ts("255.255.255.254", "255.255.255.255")),
              ElementsAre("255.255.255.254/31"));
  EXPECT_THAT(PrefixStrings(Ts("128.0.0.0", "255.255.255.255")),
              ElementsAre("128.0.0.0/1"));
  EXPECT_THAT(PrefixStrings(Ts("9.255.255.255", "10.0.0.0")),
              ElementsAre("9.255.255.255/32", "10.0.0.0/32"));
  // Ports and protocol do not matter.
  EXPECT_THAT(PrefixStrings(Ts("10.0.0.0", "10.0.0.3", 17, 53, 53)),
              ElementsAre("10.0.0.0/30"));

  EXPECT_THAT(PrefixStrings(Ts("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
              ElementsAre("::/0"));
  EXPECT_THAT(PrefixStrings(Pfx("2001:db8:1::", 48)),
              ElementsAre("2001:db8:1::/48"));
  EXPECT_THAT(PrefixStrings(Ts("2001:db8::1", "2001:db8::6")),
              ElementsAre("2001:db8::1/128", "2001:db8::2/127",
                          "2001:db8::4/127", "2001:db8::6/128"));
  // Across the 64-bit halves of the address.
  EXPECT_THAT(PrefixStrings(Ts("2001:db8:0:0:ffff:ffff:ffff:ffff",
                               "2001:db8:0:1::")),
              ElementsAre("2001:db8::ffff:ffff:ffff:ffff/128",
                          "2001:db8:0:1::/128"));
  EXPECT_THAT(PrefixStrings(Ts("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
              testing::SizeIs(128));
  EXPECT_THAT(PrefixStrings(Ts("8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
              ElementsAre("8000::/1"));

  // Invalid selectors: no prefixes.
  EXPECT_TRUE(SelectorToPrefixes(Ts("10.0.0.9", "10.0.0.1")).empty());
  TrafficSelector mixed = AnyIpv4Selector();
  mixed.end_address = Ip("::1");
  EXPECT_TRUE(SelectorToPrefixes(mixed).empty());
}

TEST(Selectors, PrefixesCoverRangeExactly) {
  // Every prefix is aligned, they are contiguous and cover [start, end].
  const struct {
    const char* start;
    const char* end;
  } ranges[] = {{"10.0.0.3", "10.0.1.200"}, {"1.2.3.4", "200.1.2.3"},
                {"0.0.0.0", "0.0.0.0"},     {"0.0.0.0", "127.255.255.254"}};
  for (const auto& r : ranges) {
    const TrafficSelector ts = Ts(r.start, r.end);
    uint64_t expect = 0;
    for (uint8_t b : ts.start_address.bytes()) expect = (expect << 8) | b;
    for (const Prefix& p : SelectorToPrefixes(ts)) {
      uint64_t v = 0;
      for (uint8_t b : p.address.bytes()) v = (v << 8) | b;
      EXPECT_EQ(v, expect) << r.start;
      const uint64_t size = uint64_t{1} << (32 - p.length);
      EXPECT_EQ(v % size, 0u);
      expect = v + size;
    }
    uint64_t end = 0;
    for (uint8_t b : ts.end_address.bytes()) end = (end << 8) | b;
    EXPECT_EQ(expect, end + 1) << r.start;
  }
}

// --- Configuration payloads ----------------------------------------------------

TEST(Config, RequestRoundTrip) {
  ConfigPayload req = BuildConfigRequest(ConfigRequest{});
  EXPECT_EQ(req.cfg_type, CfgType::kRequest);
  ASSERT_EQ(req.attributes.size(), 2u);
  EXPECT_EQ(req.attributes[0].type, CfgAttributeType::kInternalIp4Address);
  EXPECT_TRUE(req.attributes[0].value.empty());
  EXPECT_EQ(req.attributes[1].type, CfgAttributeType::kInternalIp4Dns);

  for (bool v4 : {false, true}) {
    for (bool v6 : {false, true}) {
      ConfigRequest r;
      r.ipv4 = v4;
      r.ipv6 = v6;
      ConfigRequest back = ParseConfigRequest(WireCp(BuildConfigRequest(r)));
      EXPECT_EQ(back.ipv4, v4);
      EXPECT_EQ(back.ipv6, v6);
    }
  }
  // A suggested address counts as a request; DNS alone does not.
  ConfigPayload suggested;
  suggested.attributes = {
      ConfigAttribute::Ip6Address(Ip("fd00::5"), 64),
      ConfigAttribute::Empty(CfgAttributeType::kInternalIp4Dns)};
  ConfigRequest r = ParseConfigRequest(suggested);
  EXPECT_FALSE(r.ipv4);
  EXPECT_TRUE(r.ipv6);
  // Not a request at all.
  suggested.cfg_type = CfgType::kReply;
  r = ParseConfigRequest(suggested);
  EXPECT_FALSE(r.ipv4);
  EXPECT_FALSE(r.ipv6);
}

TEST(Config, ReplyRoundTrip) {
  AssignedConfig assigned;
  assigned.ipv4 = Ip("10.200.1.7");
  assigned.ipv6 = Ip("fd00:200::7");
  assigned.ipv6_prefix_len = 64;
  assigned.dns = {Ip("10.200.2.53"), Ip("fd00:200::53"), Ip("10.200.2.54")};
  ConfigPayload reply = BuildConfigReply(assigned);
  EXPECT_EQ(reply.cfg_type, CfgType::kReply);
  absl::StatusOr<AssignedConfig> parsed = ParseConfigReply(WireCp(reply));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ipv4, assigned.ipv4);
  EXPECT_EQ(parsed->ipv6, assigned.ipv6);
  EXPECT_EQ(parsed->ipv6_prefix_len, 64);
  EXPECT_EQ(parsed->dns, assigned.dns);

  // IPv4 only: IPv6 DNS servers are left out.
  assigned.ipv6.reset();
  parsed = ParseConfigReply(WireCp(BuildConfigReply(assigned)));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->ipv6.has_value());
  EXPECT_EQ(parsed->ipv6_prefix_len, 128);
  EXPECT_THAT(parsed->dns, ElementsAre(Ip("10.200.2.53"), Ip("10.200.2.54")));
}

TEST(Config, ParseReplyDetails) {
  // DNS without any address (none was requested, or none assigned), an
  // unknown attribute, an empty echo and a second address (ignored).
  ConfigPayload reply;
  reply.cfg_type = CfgType::kReply;
  reply.attributes = {
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Dns, Ip("9.9.9.9")),
      ConfigAttribute{static_cast<CfgAttributeType>(28675), {1, 2, 3}},
      ConfigAttribute::Empty(CfgAttributeType::kInternalIp6Address),
      ConfigAttribute::Ip6Dns(Ip("2620:fe::fe")),
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Netmask,
                           Ip("255.255.255.0")),
  };
  absl::StatusOr<AssignedConfig> parsed = ParseConfigReply(WireCp(reply));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->ipv4.has_value());
  EXPECT_FALSE(parsed->ipv6.has_value());
  EXPECT_THAT(parsed->dns, ElementsAre(Ip("9.9.9.9"), Ip("2620:fe::fe")));

  reply.attributes = {
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Address,
                           Ip("10.0.0.1")),
      ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Address,
                           Ip("10.0.0.2")),
      ConfigAttribute::Ip6Address(Ip("2001:db8::9"), 0),
  };
  parsed = ParseConfigReply(WireCp(reply));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ipv4, Ip("10.0.0.1"));
  EXPECT_EQ(parsed->ipv6, Ip("2001:db8::9"));
  EXPECT_EQ(parsed->ipv6_prefix_len, 0);

  // Not a reply.
  reply.cfg_type = CfgType::kRequest;
  EXPECT_EQ(ParseConfigReply(reply).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Unparseable values (built by hand: the codec refuses these on the wire).
  reply.cfg_type = CfgType::kReply;
  reply.attributes = {
      ConfigAttribute{CfgAttributeType::kInternalIp4Address, {10, 0, 0}}};
  absl::StatusOr<AssignedConfig> bad = ParseConfigReply(reply);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("INTERNAL_IP4_ADDRESS value of 3 bytes"));
  Bytes v6(17, 0);
  v6[0] = 0xfd;
  v6[16] = 129;
  reply.attributes = {
      ConfigAttribute{CfgAttributeType::kInternalIp6Address, v6}};
  EXPECT_EQ(ParseConfigReply(reply).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Config, BuildReplyClampsAndChecksFamilies) {
  AssignedConfig assigned;
  assigned.ipv4 = Ip("fd00::1");  // Wrong family: left out.
  assigned.ipv6 = Ip("fd00::2");
  assigned.ipv6_prefix_len = 300;
  ConfigPayload reply = BuildConfigReply(assigned);
  ASSERT_EQ(reply.attributes.size(), 1u);
  EXPECT_EQ(reply.attributes[0].type, CfgAttributeType::kInternalIp6Address);
  EXPECT_EQ(reply.attributes[0].Ip6PrefixLength(), 128);
  EXPECT_TRUE(BuildConfigReply(AssignedConfig{}).attributes.empty());
}

}  // namespace
}  // namespace stow::ike
