// Runs the negotiation_fuzzer entry point over generated payload chains and
// random mutations of them in the ordinary test run (and under ASan/UBSan),
// so the target always builds and its invariants hold; tools/fuzz.sh runs it
// under libFuzzer for real.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stow::ike {
namespace {

Transform T(TransformType type, uint16_t id) {
  Transform t;
  t.type = type;
  t.id = id;
  return t;
}

// A fuzzer input: the first payload type, then the chain.
std::vector<uint8_t> Input(const std::vector<Payload>& payloads) {
  absl::StatusOr<Bytes> bytes = SerializePayloadChain(payloads);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return {};
  std::vector<uint8_t> input(1 + bytes->size());
  input[0] = static_cast<uint8_t>(payloads.front().type);
  std::copy(bytes->begin(), bytes->end(), input.begin() + 1);
  return input;
}

std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> seeds;
  // What the strongSwan initiator and our own side send.
  SaPayload ike = BuildIkeProposal(DefaultIkeAlgorithms());
  Proposal cbc;
  cbc.number = 2;
  cbc.protocol = ProtocolId::kIke;
  Transform aes_cbc = T(TransformType::kEncr, kEncrAesCbc);
  aes_cbc.SetKeyLength(128);
  cbc.transforms = {aes_cbc, T(TransformType::kInteg, kIntegHmacSha2_256_128),
                    T(TransformType::kPrf, kPrfHmacSha2_256),
                    T(TransformType::kDh, 2)};
  ike.proposals.push_back(cbc);
  EspAlgorithms esp_algs = DefaultEspAlgorithms();
  esp_algs.esn = true;
  SaPayload esp = BuildEspProposal(esp_algs, 0xc0000001, true);
  Proposal esp2 = BuildEspProposal(DefaultEspAlgorithms(), 0xc0000002, false)
                      .proposals[0];
  esp2.number = 2;
  esp2.transforms.push_back(T(TransformType::kInteg, kIntegNone));
  esp.proposals.push_back(esp2);
  SaPayload rekey = BuildIkeProposal(DefaultIkeAlgorithms(),
                                     {1, 2, 3, 4, 5, 6, 7, 8});

  TrafficSelector udp;
  udp.ip_protocol = 17;
  udp.start_port = 53;
  udp.end_port = 53;
  udp.start_address = IpAddress::V4(10, 0, 0, 1);
  udp.end_address = IpAddress::V4(10, 0, 0, 6);
  TsPayload tsi{{AnyIpv4Selector(), AnyIpv6Selector(), udp}};
  TsPayload tsr{{SelectorForPrefix(IpAddress::V4(10, 200, 2, 0), 24),
                 SelectorForPrefix(*IpAddress::Parse("fd00:200::"), 64)}};

  AssignedConfig assigned;
  assigned.ipv4 = IpAddress::V4(10, 200, 1, 7);
  assigned.ipv6 = *IpAddress::Parse("fd00:200::7");
  assigned.ipv6_prefix_len = 64;
  assigned.dns = {IpAddress::V4(10, 200, 2, 53),
                  *IpAddress::Parse("fd00:200::53")};
  ConfigRequest request;
  request.ipv6 = true;

  seeds.push_back(Input({Payload::Sa(ike)}));
  seeds.push_back(Input({Payload::Sa(esp), Payload::Tsi(tsi),
                         Payload::Tsr(tsr)}));
  seeds.push_back(Input({Payload::Sa(rekey)}));
  seeds.push_back(Input({Payload::Config(BuildConfigReply(assigned)),
                         Payload::Sa(esp), Payload::Tsi(tsr),
                         Payload::Tsr(tsi)}));
  seeds.push_back(Input({Payload::Config(BuildConfigRequest(request))}));
  return seeds;
}

TEST(NegotiationFuzzerTest, Seeds) {
  for (const std::vector<uint8_t>& input : Seeds()) {
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

TEST(NegotiationFuzzerTest, SurvivesMutatedAndRandomInputs) {
  const std::vector<std::vector<uint8_t>> seeds = Seeds();
  std::mt19937 rng(20240607);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input;
    if (i % 10 != 9) {
      input = seeds[rng() % seeds.size()];
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        // Mostly inside the bodies (IDs, attributes, addresses, ports).
        const size_t at = 1 + rng() % (input.size() - 1);
        switch (rng() % 4) {
          case 0:
            input[at] = static_cast<uint8_t>(rng());
            break;
          case 1:
            input[at] += (rng() % 2) ? 1 : 0xff;
            break;
          case 2:
            input[at] = (rng() % 2) ? 0 : 0xff;
            break;
          case 3:
            input.resize(at + 1);
            break;
        }
      }
    } else {
      input.resize(1 + rng() % 200);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    }
    input.shrink_to_fit();
    if (ParsePayloadChain(static_cast<PayloadType>(input[0]),
                          absl::MakeConstSpan(input).subspan(1))
            .ok()) {
      ++parsed;
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
  // The mutations must reach the negotiation code, not only the codec.
  EXPECT_GT(parsed, 3000);
}

TEST(NegotiationFuzzerTest, HandMadeInputs) {
  const std::vector<std::vector<uint8_t>> inputs = {
      {}, {0}, {33}, {44, 0, 0, 0, 4}, {47, 0, 0, 0, 8, 2, 0, 0, 0},
  };
  for (const auto& input : inputs) {
    ASSERT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  }
}

}  // namespace
}  // namespace stow::ike
