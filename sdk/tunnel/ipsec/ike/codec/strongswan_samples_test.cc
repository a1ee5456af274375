// Parses real IKEv2 messages captured between strongSwan 5.9.8 peers
// (testdata/strongswan_5.9.8.txt, from the interop harness's ike.pcap) and
// checks their fields against the tshark decode in
// /work/shared/interop/strongswan/samples/ike_sa_init.txt.
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow {
namespace ike {
namespace {

// name -> message bytes.
std::map<std::string, Bytes> LoadSamples() {
  std::ifstream in("sdk/tunnel/ipsec/ike/codec/testdata/strongswan_5.9.8.txt");
  EXPECT_TRUE(in) << "testdata missing";
  std::map<std::string, Bytes> out;
  std::string line, name, field, hex;
  auto flush = [&]() {
    if (!name.empty() && !hex.empty()) {
      const std::string raw = absl::HexStringToBytes(hex);
      out[name] = Bytes(raw.begin(), raw.end());
    }
    name.clear();
    hex.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (absl::StripAsciiWhitespace(line).empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ') {
      if (field == "message") hex += std::string(absl::StripAsciiWhitespace(line));
      continue;
    }
    std::pair<std::string, std::string> kv = absl::StrSplit(line, " = ");
    field = kv.first;
    if (field == "name") name = kv.second;
    if (field == "message") hex = kv.second;
  }
  flush();
  return out;
}

Bytes Hex(absl::string_view h) {
  const std::string raw = absl::HexStringToBytes(h);
  return Bytes(raw.begin(), raw.end());
}

class StrongswanSamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    samples_ = LoadSamples();
    ASSERT_EQ(samples_.size(), 4u);
  }
  std::map<std::string, Bytes> samples_;
};

TEST_F(StrongswanSamplesTest, AllReserializeToTheSameBytes) {
  for (const auto& [name, bytes] : samples_) {
    auto m = ParseMessage(bytes);
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    auto again = SerializeMessage(*m);
    ASSERT_TRUE(again.ok()) << name << ": " << again.status();
    EXPECT_EQ(*again, bytes) << name;
  }
}

void CheckIkeSa(const Payload& p) {
  ASSERT_EQ(p.type, PayloadType::kSa);
  const auto& sa = absl::get<SaPayload>(p.body);
  ASSERT_EQ(sa.proposals.size(), 1u);
  const Proposal& prop = sa.proposals[0];
  EXPECT_EQ(prop.number, 1);
  EXPECT_EQ(prop.protocol, ProtocolId::kIke);
  EXPECT_TRUE(prop.spi.empty());
  ASSERT_EQ(prop.transforms.size(), 3u);
  EXPECT_EQ(prop.transforms[0].type, TransformType::kEncr);
  EXPECT_EQ(prop.transforms[0].id, kEncrAesGcm16);
  EXPECT_EQ(prop.transforms[0].KeyLength(), 256);
  EXPECT_EQ(prop.transforms[1].type, TransformType::kPrf);
  EXPECT_EQ(prop.transforms[1].id, kPrfHmacSha2_256);
  EXPECT_EQ(prop.transforms[2].type, TransformType::kDh);
  EXPECT_EQ(prop.transforms[2].id, kDhCurve25519);
}

TEST_F(StrongswanSamplesTest, IkeSaInitRequest) {
  const Bytes& bytes = samples_["ike_sa_init_request"];
  ASSERT_EQ(bytes.size(), 232u);
  auto m = ParseMessage(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  const Header& h = m->header;
  EXPECT_EQ(h.spi_i, 0x8a36e23d5edeb50fu);
  EXPECT_EQ(h.spi_r, 0u);
  EXPECT_EQ(h.next_payload, PayloadType::kSa);
  EXPECT_EQ(h.major_version, 2);
  EXPECT_EQ(h.minor_version, 0);
  EXPECT_EQ(h.exchange_type, ExchangeType::kIkeSaInit);
  EXPECT_TRUE(h.initiator);
  EXPECT_FALSE(h.response);
  EXPECT_FALSE(h.higher_version);
  EXPECT_EQ(h.message_id, 0u);
  EXPECT_EQ(h.length, 232u);

  ASSERT_EQ(m->payloads.size(), 8u);
  CheckIkeSa(m->payloads[0]);
  const auto& ke = absl::get<KePayload>(m->payloads[1].body);
  EXPECT_EQ(ke.group, kDhCurve25519);
  EXPECT_EQ(ke.data, Hex("5b5379031d9e9237f55e2abc4ef892590340a5734332f04a87e7"
                         "81ca596cf55b"));
  const auto& nonce = absl::get<NoncePayload>(m->payloads[2].body);
  EXPECT_EQ(nonce.data, Hex("c54286b3ebe188c4d40ceda637caefaa4e42ddecef6e2f52"
                            "3b4501e5008d7fb6"));
  const NotifyType want[] = {NotifyType::kNatDetectionSourceIp,
                             NotifyType::kNatDetectionDestinationIp,
                             NotifyType::kIkev2FragmentationSupported,
                             NotifyType::kSignatureHashAlgorithms,
                             NotifyType::kRedirectSupported};
  for (int i = 0; i < 5; ++i) {
    const auto& n = absl::get<NotifyPayload>(m->payloads[3 + i].body);
    EXPECT_EQ(n.type, want[i]) << i;
    EXPECT_EQ(n.protocol, ProtocolId::kNone);
    EXPECT_TRUE(n.spi.empty());
  }
  EXPECT_EQ(m->FindNotify(NotifyType::kNatDetectionSourceIp)->data,
            Hex("b9ae738fa0efa78e115c942f7cffdf704a234e52"));
  EXPECT_EQ(m->FindNotify(NotifyType::kNatDetectionDestinationIp)->data,
            Hex("bb21c2677a4c1261d30a7f7f880bd48f9e86d3c0"));
  EXPECT_TRUE(
      m->FindNotify(NotifyType::kIkev2FragmentationSupported)->data.empty());
  EXPECT_EQ(m->FindNotify(NotifyType::kSignatureHashAlgorithms)->data,
            Hex("0002000300040005"));
}

TEST_F(StrongswanSamplesTest, IkeSaInitResponse) {
  const Bytes& bytes = samples_["ike_sa_init_response"];
  ASSERT_EQ(bytes.size(), 265u);
  auto m = ParseMessage(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->header.spi_i, 0x8a36e23d5edeb50fu);
  EXPECT_EQ(m->header.spi_r, 0x740fdb12b4e2fa74u);
  EXPECT_FALSE(m->header.initiator);
  EXPECT_TRUE(m->header.response);
  EXPECT_EQ(m->header.message_id, 0u);
  // SA KE Nr N(NATD_S) N(NATD_D) CERTREQ N(FRAG) N(SIGHASH) N(CHILDLESS)
  // N(MULT_AUTH)
  ASSERT_EQ(m->payloads.size(), 10u);
  CheckIkeSa(m->payloads[0]);
  EXPECT_EQ(absl::get<KePayload>(m->payloads[1].body).data.size(), 32u);
  EXPECT_EQ(absl::get<NoncePayload>(m->payloads[2].body).data.size(), 32u);
  ASSERT_EQ(m->payloads[5].type, PayloadType::kCertReq);
  const auto& certreq = absl::get<CertPayload>(m->payloads[5].body);
  EXPECT_EQ(certreq.encoding, CertEncoding::kX509Signature);
  EXPECT_EQ(certreq.data,
            Hex("01f1dd0b94d6051800e6a43af3247b147113eec3"));  // SHA-1
  EXPECT_NE(m->FindNotify(NotifyType::kChildlessIkev2Supported), nullptr);
  EXPECT_NE(m->FindNotify(NotifyType::kMultipleAuthSupported), nullptr);
  EXPECT_EQ(m->FindNotify(NotifyType::kNatDetectionSourceIp)->data.size(),
            20u);
  EXPECT_TRUE(m->UnsupportedCriticalPayloads().empty());
}

TEST_F(StrongswanSamplesTest, IkeAuthIsOneEncryptedPayload) {
  struct Want {
    const char* name;
    bool response;
    PayloadType first_inner;
  };
  for (const Want& w : {Want{"ike_auth_request", false, PayloadType::kIdi},
                        Want{"ike_auth_response", true, PayloadType::kIdr}}) {
    const Bytes& bytes = samples_[w.name];
    absl::optional<EncryptedLayout> layout;
    auto m = ParseMessage(bytes, &layout);
    ASSERT_TRUE(m.ok()) << w.name << ": " << m.status();
    EXPECT_EQ(m->header.exchange_type, ExchangeType::kIkeAuth);
    EXPECT_EQ(m->header.message_id, 1u);
    EXPECT_EQ(m->header.response, w.response);
    EXPECT_EQ(m->header.spi_r, 0x740fdb12b4e2fa74u);
    ASSERT_EQ(m->payloads.size(), 1u);
    const auto& sk = absl::get<EncryptedPayload>(m->payloads[0].body);
    EXPECT_EQ(sk.first_inner, w.first_inner);
    ASSERT_TRUE(layout.has_value());
    EXPECT_EQ(layout->payload_begin, 28u);
    EXPECT_EQ(layout->associated_data_end, 32u);
    EXPECT_EQ(layout->body_end, bytes.size());
    EXPECT_EQ(sk.body.size(), bytes.size() - 32);
    EXPECT_TRUE(std::equal(sk.body.begin(), sk.body.end(),
                           bytes.begin() + layout->body_begin));
    auto located = LocateEncrypted(bytes);
    ASSERT_TRUE(located.ok());
    EXPECT_EQ(located->associated_data_end, 32u);
  }
}

// Every prefix, and every one-byte change of a length field, of the real
// request is refused cleanly (run under ASan by --config=asan).
TEST_F(StrongswanSamplesTest, TruncatedRealMessagesFail) {
  for (const auto& [name, bytes] : samples_) {
    for (size_t n = 0; n < bytes.size(); ++n) {
      Bytes cut(bytes.begin(), bytes.begin() + n);
      if (n >= 28) {
        cut[24] = 0;
        cut[25] = 0;
        cut[26] = static_cast<uint8_t>(n >> 8);
        cut[27] = static_cast<uint8_t>(n);
      }
      cut.shrink_to_fit();
      auto m = ParseMessage(cut);
      ASSERT_FALSE(m.ok()) << name << " cut at " << n;
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace ike
}  // namespace stow
