// Runs cert_auth_fuzzer's entry point over generated and hand-made inputs
// in every test run (and under ASan/UBSan); tools/fuzz.sh runs the target
// under libFuzzer.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/crypto/x509.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using stow::crypto::testing::CaSpec;
using stow::crypto::testing::CertSpec;
using stow::crypto::testing::MakeCert;

int RunInput(const std::vector<uint8_t>& input) {
  return LLVMFuzzerTestOneInput(input.data(), input.size());
}

void Mutate(std::vector<uint8_t>* input, std::mt19937* rng) {
  if (input->size() < 2) return;
  const int edits = 1 + static_cast<int>((*rng)() % 4);
  for (int k = 0; k < edits; ++k) {
    (*input)[1 + (*rng)() % (input->size() - 1)] =
        static_cast<uint8_t>((*rng)());
  }
  if ((*rng)() % 4 == 0) input->resize(1 + (*rng)() % input->size());
}

TEST(CertAuthFuzzerTest, HandMadeInputs) {
  EXPECT_EQ(RunInput({}), 0);
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(RunInput({static_cast<uint8_t>(b)}), 0);
  }
  // Method 14 with each AlgorithmIdentifier and an empty or junk signature;
  // classic methods with r || s of the right and wrong sizes.
  for (auto scheme : {stow::crypto::SignatureScheme::kEcdsaSha256,
                      stow::crypto::SignatureScheme::kEcdsaSha512,
                      stow::crypto::SignatureScheme::kRsaPkcs1Sha256,
                      stow::crypto::SignatureScheme::kRsaPkcs1Sha1}) {
    std::vector<uint8_t> algorithm =
        stow::crypto::SignatureAlgorithmIdentifier(scheme);
    std::vector<uint8_t> input = {1, 14, 2, 0,
                                  static_cast<uint8_t>(algorithm.size())};
    input.insert(input.end(), algorithm.begin(), algorithm.end());
    EXPECT_EQ(RunInput(input), 0);
    input.resize(input.size() + 72, 0x30);
    EXPECT_EQ(RunInput(input), 0);
  }
  for (uint8_t method : {1, 2, 9, 10, 11, 14, 200}) {
    for (size_t length : {0, 63, 64, 96, 132, 256}) {
      std::vector<uint8_t> input = {1, method, 2, 0};
      input.resize(input.size() + length, 0x7f);
      EXPECT_EQ(RunInput(input), 0);
    }
  }
  // Every ID type with a DN, an address and junk.
  for (uint8_t type : {1, 2, 3, 5, 9, 10, 11, 0, 255}) {
    std::vector<uint8_t> input = {1, 14, type, 4, 0x30, 0x02, 0x31, 0x00, 0};
    EXPECT_EQ(RunInput(input), 0);
  }
}

TEST(CertAuthFuzzerTest, MutatedCertificates) {
  std::mt19937 rng(7427);
  CertSpec spec;
  spec.dns_names = {"a.test"};
  spec.emails = {"a@test"};
  spec.ips = {stow::IpAddress::V4(10, 0, 0, 1)};
  auto ca = MakeCert(CaSpec("CN=CA", stow::crypto::KeyType::kRsa));
  ASSERT_TRUE(ca.ok());
  auto leaf = MakeCert(spec, &*ca);
  ASSERT_TRUE(leaf.ok());
  for (const auto* der : {&ca->cert_der, &leaf->cert_der}) {
    std::vector<uint8_t> input = {0};
    input.insert(input.end(), der->begin(), der->end());
    EXPECT_EQ(RunInput(input), 0);
    for (int i = 0; i < 1500; ++i) {
      std::vector<uint8_t> mutated = input;
      Mutate(&mutated, &rng);
      ASSERT_EQ(RunInput(mutated), 0);
    }
  }
}

TEST(CertAuthFuzzerTest, MutatedAuthPayloads) {
  std::mt19937 rng(4754);
  std::vector<uint8_t> algorithm = stow::crypto::SignatureAlgorithmIdentifier(
      stow::crypto::SignatureScheme::kEcdsaSha256);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> input = {1, static_cast<uint8_t>(i % 3 == 0 ? 9 : 14),
                                  static_cast<uint8_t>(i % 2 ? 2 : 9), 0};
    if (input[1] == 14) {
      input.push_back(static_cast<uint8_t>(algorithm.size()));
      input.insert(input.end(), algorithm.begin(), algorithm.end());
    }
    // A DER Ecdsa-Sig-Value-like tail.
    const size_t n = 8 + rng() % 72;
    input.push_back(0x30);
    input.push_back(static_cast<uint8_t>(n));
    for (size_t k = 0; k < n; ++k) input.push_back(static_cast<uint8_t>(rng()));
    if (i % 2) Mutate(&input, &rng);
    ASSERT_EQ(RunInput(input), 0);
  }
}

TEST(CertAuthFuzzerTest, RandomInputs) {
  std::mt19937 rng(5280);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> input(rng() % 300);
    for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(RunInput(input), 0);
  }
}

}  // namespace
