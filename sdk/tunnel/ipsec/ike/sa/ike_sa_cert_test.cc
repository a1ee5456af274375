// IKE_AUTH with certificates (RFC 7427 signatures) between two IkeSa.
#include "gtest/gtest.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/tunnel/ipsec/ike/sa/cert_credentials.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa_test_pair.h"

namespace stow::ike {
namespace {

using namespace testing_pair;  // NOLINT: the test harness.
using crypto::KeyType;
using crypto::testing::CaSpec;
using crypto::testing::CertSpec;
using crypto::testing::MakeCert;
using crypto::testing::TestCert;
using crypto::testing::TestNow;

struct Pki {
  TestCert ca, gw, client, other_ca, rogue;
};

Pki MakePki(KeyType type) {
  Pki p;
  p.ca = *MakeCert(CaSpec("C=XX, O=test, CN=Test CA", type));
  CertSpec gw;
  gw.subject = "C=XX, O=test, CN=gw.test";
  gw.key_type = type;
  gw.dns_names = {"gw.test"};
  p.gw = *MakeCert(gw, &p.ca);
  CertSpec client;
  client.subject = "C=XX, O=test, CN=client1";
  client.key_type = type;
  p.client = *MakeCert(client, &p.ca);
  p.other_ca = *MakeCert(CaSpec("C=XX, O=evil, CN=Other CA", type));
  CertSpec rogue = client;
  p.rogue = *MakeCert(rogue, &p.other_ca);
  return p;
}

std::shared_ptr<CertificateCredentials> Creds(const TestCert& c) {
  CertCredentials cc;
  cc.certificate = c.certificate;
  cc.key = std::shared_ptr<const crypto::PrivateKey>(
      *crypto::PrivateKey::FromPem(c.key_pem));
  return std::make_shared<CertificateCredentials>(std::move(cc));
}

IkeConfig CertConfig(Role role, const TestCert& mine, const TestCert& ca) {
  IkeConfig c = BaseConfig(role, "unused-psk-0123456789");
  auto creds = Creds(mine);
  c.credentials = creds;
  c.local_id = role == Role::kInitiator ? creds->SubjectIdentity()
                                        : Fqdn("gw.test");
  c.peer_authenticator = std::make_shared<CaPeerAuthenticator>(
      std::vector<std::shared_ptr<const crypto::Certificate>>{ca.certificate});
  c.wall_clock = [] { return TestNow(); };
  return c;
}

class CertTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CertTest, EstablishesBothWays) {
  Pki pki = MakePki(GetParam());
  IkeConfig ic = CertConfig(Role::kInitiator, pki.client, pki.ca);
  ic.remote_id = Fqdn("gw.test");
  Pair p(std::move(ic), CertConfig(Role::kResponder, pki.gw, pki.ca));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last() << " / " << p.gw.Last();
  EXPECT_EQ(p.responder->peer_id().id_type, IdType::kDerAsn1Dn);
  ExpectMirrored(p.client, p.gw);
}

TEST_P(CertTest, UntrustedClientIsRefusedWithTheCause) {
  Pki pki = MakePki(GetParam());
  Pair p(CertConfig(Role::kInitiator, pki.rogue, pki.ca),
         CertConfig(Role::kResponder, pki.gw, pki.ca));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.responder->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.gw.Saw(Kind::kAuthFailed)) << p.gw.Last();
  EXPECT_NE(p.gw.Last().find("untrusted"), std::string::npos) << p.gw.Last();
  ASSERT_TRUE(p.client.Saw(Kind::kAuthFailed)) << p.client.Last();
}

TEST_P(CertTest, ExpiredGatewayCertificateIsRefusedByTheClient) {
  Pki pki = MakePki(GetParam());
  IkeConfig ic = CertConfig(Role::kInitiator, pki.client, pki.ca);
  // Two years later both certificates have expired; the gateway does not
  // check (its clock is the test's), the client does.
  ic.wall_clock = [] { return TestNow() + absl::Hours(24 * 730); };
  Pair p(std::move(ic), CertConfig(Role::kResponder, pki.gw, pki.ca));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kAuthFailed)) << p.client.Last();
  EXPECT_NE(p.client.Last().find("expired"), std::string::npos)
      << p.client.Last();
}

TEST_P(CertTest, GatewayIdentityNotInItsCertificateIsRefused) {
  Pki pki = MakePki(GetParam());
  IkeConfig rc = CertConfig(Role::kResponder, pki.gw, pki.ca);
  rc.local_id = Fqdn("not-gw.test");
  Pair p(CertConfig(Role::kInitiator, pki.client, pki.ca), std::move(rc));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kAuthFailed)) << p.client.Last();
}

TEST_P(CertTest, LargeCertificatesAreFragmented) {
  Pki pki = MakePki(GetParam());
  IkeConfig ic = CertConfig(Role::kInitiator, pki.client, pki.ca);
  ic.fragment_size = 400;
  IkeConfig rc = CertConfig(Role::kResponder, pki.gw, pki.ca);
  rc.fragment_size = 400;
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last() << " / " << p.gw.Last();
  EXPECT_GT(p.initiator->counters().tx_fragments, 1u);
}

INSTANTIATE_TEST_SUITE_P(Keys, CertTest,
                         ::testing::Values(KeyType::kEcdsaP256,
                                           KeyType::kEcdsaP384,
                                           KeyType::kRsa));

}  // namespace
}  // namespace stow::ike
