// Runs the ike_message_fuzzer entry point over generated and hand-made
// inputs in the ordinary test run (and under ASan/UBSan), so the target
// always builds and its invariants hold on mutations of real messages;
// tools/fuzz.sh runs it under libFuzzer for real. The files in regressions/
// are the four strongSwan 5.9.8 messages of ../testdata (also a seed corpus).
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stow {
namespace ike {
namespace {

std::vector<uint8_t> ReadRegression(const std::string& name) {
  const std::string path = "sdk/tunnel/ipsec/ike/codec/fuzz/regressions/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

const char* const kSeeds[] = {
    "strongswan_ike_sa_init_request", "strongswan_ike_sa_init_response",
    "strongswan_ike_auth_request", "strongswan_ike_auth_response"};

// A message with one of every payload type, built by the codec.
std::vector<uint8_t> Everything() {
  Message m;
  m.header.spi_i = 1;
  m.header.exchange_type = ExchangeType::kIkeAuth;
  SaPayload sa;
  Proposal p;
  p.protocol = ProtocolId::kEsp;
  p.spi = {1, 2, 3, 4};
  Transform t{TransformType::kEncr, kEncrAesGcm16, {}};
  t.SetKeyLength(128);
  t.attributes.push_back({77, false, {9, 9}});
  p.transforms = {t, {TransformType::kEsn, kEsnNone, {}}};
  sa.proposals = {p};
  m.payloads = {
      Payload::Sa(sa),
      Payload::Ke({kDhEcp256, std::vector<uint8_t>(64, 4)}),
      Payload::Idi({IdType::kIpv4Addr, {127, 0, 0, 1}}),
      Payload::Cert({CertEncoding::kX509Signature, {0x30, 0}}),
      Payload::CertReq({CertEncoding::kX509Signature, {}}),
      Payload::Auth({AuthMethod::kSharedKeyMic, std::vector<uint8_t>(32, 5)}),
      Payload::Nonce({std::vector<uint8_t>(16, 6)}),
      Payload::Notify({ProtocolId::kEsp, {1, 1, 1, 1},
                       NotifyType::kRekeySa, {}}),
      Payload::Delete({ProtocolId::kEsp, 4, {{7, 7, 7, 7}}}),
      Payload::VendorId({{1}}),
      Payload::Tsi({{{6, 1, 2, IpAddress::V4(1, 1, 1, 1),
                      IpAddress::V4(2, 2, 2, 2)}}}),
      Payload::Tsr({{{0, 0, 65535, *IpAddress::Parse("::"),
                      *IpAddress::Parse("ffff::")}}}),
      Payload::Config({CfgType::kRequest,
                       {ConfigAttribute::Empty(
                            CfgAttributeType::kInternalIp4Address),
                        ConfigAttribute::Empty(
                            CfgAttributeType::kInternalIp6Dns)}}),
      Payload::Eap({{2, 0, 0, 4}}),
      Payload::Unknown(static_cast<PayloadType>(99), true, {1}),
      Payload::Encrypted({PayloadType::kIdr, std::vector<uint8_t>(40, 8)}),
  };
  auto bytes = SerializeMessage(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

void FixLength(std::vector<uint8_t>& m) {
  if (m.size() < 28) return;
  const uint32_t n = static_cast<uint32_t>(m.size());
  m[24] = n >> 24;
  m[25] = n >> 16;
  m[26] = n >> 8;
  m[27] = n;
}

TEST(IkeMessageFuzzerTest, SeedsParse) {
  for (const char* name : kSeeds) {
    const std::vector<uint8_t> input = ReadRegression(name);
    ASSERT_FALSE(input.empty()) << name;
    EXPECT_TRUE(ParseMessage(input).ok()) << name;
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0) << name;
  }
}

TEST(IkeMessageFuzzerTest, SurvivesMutatedAndRandomInputs) {
  std::vector<std::vector<uint8_t>> seeds;
  for (const char* name : kSeeds) seeds.push_back(ReadRegression(name));
  seeds.push_back(Everything());
  std::mt19937 rng(20261121);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    if (i % 10 != 9) {
      input = seeds[rng() % seeds.size()];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        switch (rng() % 4) {
          case 0:  // flip a byte
            input[rng() % input.size()] = static_cast<uint8_t>(rng());
            break;
          case 1:  // nudge a byte (lengths, counts)
            input[rng() % input.size()] += (rng() % 2) ? 1 : 0xff;
            break;
          case 2:  // cut
            input.resize(rng() % input.size() + 1);
            break;
          case 3: {  // insert a byte
            const size_t at = rng() % input.size();
            input.insert(input.begin() + at, static_cast<uint8_t>(rng()));
            break;
          }
        }
      }
      if (rng() % 4 != 0) FixLength(input);
    } else {
      input.resize(rng() % 300);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
      FixLength(input);
    }
    input.shrink_to_fit();
    if (ParseMessage(input).ok()) ++parsed;
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
  // The mutations must reach the deep code, not only the header checks.
  EXPECT_GT(parsed, 1000);
}

TEST(IkeMessageFuzzerTest, HandMadeInputs) {
  const std::vector<std::vector<uint8_t>> inputs = {
      {},
      {0},
      {46},            // SK chain with no bytes
      {53, 0, 0, 0, 4},  // SKF chain, too short
      std::vector<uint8_t>(28, 0),
      std::vector<uint8_t>(28, 0xff),
  };
  for (const auto& input : inputs) {
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

}  // namespace
}  // namespace ike
}  // namespace stow
