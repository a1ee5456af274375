#include "sdk/tunnel/ipsec/ike_profile.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

namespace stow::ipsec {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"({
  "name": "office",
  "gateway": "172.29.1.1:500",
  "local_id": "client-psk@ssw.test",
  "remote_id": "fqdn:gw.ssw.test",
  "auth": {"psk": "ssw-harness-psk-0123456789abcdef"},
  "ike_proposals": "aes128gcm16-chacha20poly1305-prfsha384-ecp256-x25519",
  "esp_proposals": "chacha20poly1305-aes256gcm16-x25519-none",
  "request": {"ipv4": true, "ipv6": true},
  "remote_ts": ["10.0.0.0/8", "fd00::/8"],
  "mtu": 1360,
  "timers": {"retransmit_base_ms": 250, "retransmit_tries": 5,
             "dpd_delay_s": 10, "ike_rekey_s": 7200, "child_rekey_s": 600},
  "reconnect": {"initial_ms": 500, "max_ms": 20000},
  "log_secrets": true
})";

constexpr char kMinimal[] = R"({
  "gateway": "127.0.0.1:4500",
  "local_id": "client.test",
  "auth": {"psk": "x"}
})";

// kGood with `from` replaced by `to` (which must occur).
std::string With(const std::string& from, const std::string& to) {
  std::string text = kGood;
  EXPECT_NE(text.find(from), std::string::npos) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

std::string ErrorOf(const std::string& json) {
  auto p = ParseIkeProfile(json);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
      << p.status();
  return std::string(p.status().message());
}

TEST(IkeProfileTest, ParsesEveryField) {
  auto p = ParseIkeProfile(kGood);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "office");
  EXPECT_EQ(p->gateway.ToString(), "172.29.1.1:500");
  EXPECT_EQ(p->gateway_nat_t.ToString(), "172.29.1.1:4500");
  const ike::IkeConfig& c = p->ike;
  EXPECT_EQ(c.role, ike::Role::kInitiator);
  EXPECT_FALSE(c.force_nat_t);
  EXPECT_EQ(ike::DescribeIdentity(c.local_id), "email:client-psk@ssw.test");
  ASSERT_TRUE(c.remote_id.has_value());
  EXPECT_EQ(ike::DescribeIdentity(*c.remote_id), "fqdn:gw.ssw.test");
  ASSERT_TRUE(p->auth.psk.has_value());
  EXPECT_EQ(*p->auth.psk, "ssw-harness-psk-0123456789abcdef");
  EXPECT_FALSE(p->auth.certificate.has_value());
  ASSERT_NE(c.credentials, nullptr);
  ASSERT_NE(c.peer_authenticator, nullptr);
  EXPECT_EQ(c.credentials->Describe(), "PSK");
  EXPECT_EQ(ike::IkeAlgorithmsToString(c.ike),
            "aes128gcm16-chacha20poly1305-prfsha384-ecp256-x25519");
  EXPECT_EQ(ike::EspAlgorithmsToString(c.esp),
            "chacha20poly1305-aes256gcm16-x25519-none");
  EXPECT_TRUE(c.request_config);
  EXPECT_TRUE(c.config_request.ipv4);
  EXPECT_TRUE(c.config_request.ipv6);
  ASSERT_EQ(c.remote_ts.size(), 2u);
  EXPECT_EQ(ike::DescribeSelector(c.remote_ts[0]), "10.0.0.0/8");
  EXPECT_EQ(ike::DescribeSelector(c.remote_ts[1]), "fd00::/8");
  EXPECT_EQ(p->mtu, 1360);
  EXPECT_EQ(c.timers.retransmit_base, absl::Milliseconds(250));
  EXPECT_EQ(c.timers.retransmit_tries, 5);
  EXPECT_EQ(c.timers.dpd_delay, absl::Seconds(10));
  EXPECT_EQ(c.timers.ike_rekey, absl::Seconds(7200));
  EXPECT_EQ(c.timers.child_rekey, absl::Seconds(600));
  EXPECT_EQ(p->reconnect_initial, absl::Milliseconds(500));
  EXPECT_EQ(p->reconnect_max, absl::Seconds(20));
  EXPECT_TRUE(c.log_secrets);
}

TEST(IkeProfileTest, MinimalProfileHasDefaults) {
  auto p = ParseIkeProfile(kMinimal);
  ASSERT_TRUE(p.ok()) << p.status();
  const ike::IkeConfig& c = p->ike;
  EXPECT_EQ(p->name, "");
  // Not port 500: the NAT-T port from the first message.
  EXPECT_EQ(p->gateway.ToString(), "127.0.0.1:4500");
  EXPECT_EQ(p->gateway_nat_t.ToString(), "127.0.0.1:4500");
  EXPECT_TRUE(c.force_nat_t);
  EXPECT_EQ(ike::DescribeIdentity(c.local_id), "fqdn:client.test");
  EXPECT_FALSE(c.remote_id.has_value());
  EXPECT_EQ(ike::IkeAlgorithmsToString(c.ike),
            ike::IkeAlgorithmsToString(ike::DefaultIkeAlgorithms()));
  EXPECT_EQ(ike::EspAlgorithmsToString(c.esp),
            ike::EspAlgorithmsToString(ike::DefaultEspAlgorithms()));
  EXPECT_TRUE(c.config_request.ipv4);
  EXPECT_FALSE(c.config_request.ipv6);
  EXPECT_TRUE(c.remote_ts.empty());
  EXPECT_EQ(p->mtu, 1400);
  const ike::IkeTimers defaults;
  EXPECT_EQ(c.timers.retransmit_base, defaults.retransmit_base);
  EXPECT_EQ(c.timers.retransmit_tries, defaults.retransmit_tries);
  EXPECT_EQ(c.timers.dpd_delay, defaults.dpd_delay);
  EXPECT_EQ(p->reconnect_initial, absl::Seconds(1));
  EXPECT_EQ(p->reconnect_max, absl::Seconds(30));
  EXPECT_FALSE(c.log_secrets);
  EXPECT_EQ(p->nat_keepalive, absl::Seconds(20));
}

TEST(IkeProfileTest, OtherGatewayPortsForceNatT) {
  auto p = ParseIkeProfile(
      absl::StrReplaceAll(kMinimal, {{"127.0.0.1:4500", "[::1]:14500"}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->ike.force_nat_t);
  EXPECT_EQ(p->gateway_nat_t.ToString(), "[::1]:14500");
}

TEST(IkeProfileTest, ZeroTimersDisable) {
  auto p = ParseIkeProfile(
      With(R"("dpd_delay_s": 10, "ike_rekey_s": 7200, "child_rekey_s": 600)",
           R"("dpd_delay_s": 0, "ike_rekey_s": 0, "child_rekey_s": 0)"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ike.timers.dpd_delay, absl::ZeroDuration());
  EXPECT_EQ(p->ike.timers.ike_rekey, absl::ZeroDuration());
  EXPECT_EQ(p->ike.timers.child_rekey, absl::ZeroDuration());
}

TEST(IkeProfileTest, RoundTripsThroughJson) {
  auto p = ParseIkeProfile(kGood);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string json = IkeProfileToJson(*p);
  auto q = ParseIkeProfile(json);
  ASSERT_TRUE(q.ok()) << q.status() << "\n" << json;
  EXPECT_EQ(IkeProfileToJson(*q), json);
  EXPECT_EQ(q->gateway, p->gateway);
  EXPECT_EQ(q->ike.timers.child_rekey, p->ike.timers.child_rekey);
  EXPECT_EQ(q->reconnect_max, p->reconnect_max);
}

TEST(IkeProfileTest, RefusesBadJsonAndUnknownFields) {
  EXPECT_THAT(ErrorOf("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("profile: must be an object"));
  EXPECT_THAT(ErrorOf(With(R"("name": "office")", R"("nmae": "office")")),
              HasSubstr("nmae: unknown field"));
  EXPECT_THAT(ErrorOf(With(R"("retransmit_tries": 5)", R"("tries": 5)")),
              HasSubstr("timers.tries: unknown field"));
  EXPECT_THAT(ErrorOf(With(R"("initial_ms": 500)", R"("initial": 500)")),
              HasSubstr("reconnect.initial: unknown field"));
  EXPECT_THAT(ErrorOf(With(R"("ipv6": true})", R"("ipv7": true})")),
              HasSubstr("request.ipv7: unknown field"));
  EXPECT_THAT(ErrorOf(With(R"({"psk": )", R"({"pks": )")),
              HasSubstr("auth.pks: unknown field"));
}

TEST(IkeProfileTest, RefusesBadValues) {
  struct Case {
    std::string from, to, error;
  };
  const Case cases[] = {
      {R"("name": "office")", R"("name": 7)", "name: must be a string"},
      {R"("gateway": "172.29.1.1:500")", R"("gateway": 500)",
       "gateway: must be a string"},
      {R"("gateway": "172.29.1.1:500")", R"("gateway": "gw.example:500")",
       "gateway: not an IP address:port"},
      {R"("gateway": "172.29.1.1:500")", R"("gateway": "172.29.1.1")",
       "gateway: not an IP address:port"},
      {R"("gateway": "172.29.1.1:500")", R"("gateway": "172.29.1.1:0")",
       "gateway: not an IP address:port"},
      {R"("gateway": "172.29.1.1:500")", R"("gateway": "0.0.0.0:500")",
       "gateway: not an IP address:port"},
      {R"("gateway": "172.29.1.1:500",)", "", "gateway: missing"},
      {R"("local_id": "client-psk@ssw.test")", R"("local_id": "")",
       "local_id: must not be empty"},
      {R"("local_id": "client-psk@ssw.test")", R"("local_id": 1)",
       "local_id: must be a string"},
      {R"("local_id": "client-psk@ssw.test",)", "",
       "local_id: missing (required with a PSK)"},
      {R"("remote_id": "fqdn:gw.ssw.test")", R"("remote_id": "ipv4:1.2.3")",
       "remote_id: "},
      {R"("auth": {"psk": "ssw-harness-psk-0123456789abcdef"},)", "",
       "auth: missing"},
      {R"({"psk": "ssw-harness-psk-0123456789abcdef"})", R"({})",
       "auth: needs \"psk\""},
      {R"({"psk": "ssw-harness-psk-0123456789abcdef"})", R"("psk")",
       "auth: must be an object"},
      {R"("ssw-harness-psk-0123456789abcdef")", R"("")",
       "auth.psk: must not be empty"},
      {R"("ssw-harness-psk-0123456789abcdef")", "5",
       "auth.psk: must be a string"},
      {R"("ssw-harness-psk-0123456789abcdef"})",
       R"("x", "ca": "ca.pem"})", "not both"},
      {R"({"psk": "ssw-harness-psk-0123456789abcdef"})",
       R"({"certificate": "c.pem", "private_key": "k.pem"})",
       "auth.ca: missing"},
      {R"({"psk": "ssw-harness-psk-0123456789abcdef"})",
       R"({"certificate": "c.pem", "private_key": "", "ca": "ca.pem"})",
       "auth.private_key: must not be empty"},
      {R"("aes128gcm16-chacha20poly1305-prfsha384-ecp256-x25519")",
       R"("3des-sha1-modp1024")", "ike_proposals: "},
      {R"("aes128gcm16-chacha20poly1305-prfsha384-ecp256-x25519")", "[]",
       "ike_proposals: must be a string"},
      {R"("chacha20poly1305-aes256gcm16-x25519-none")", R"("aes999")",
       "esp_proposals: "},
      {R"("ipv4": true, "ipv6": true)", R"("ipv4": false, "ipv6": false)",
       "request: ask for ipv4, ipv6 or both"},
      {R"("ipv4": true, "ipv6": true)", R"("ipv4": 1, "ipv6": true)",
       "request.ipv4: must be true or false"},
      {R"("ipv4": true, "ipv6": true)", R"("ipv4": true, "ipv6": "no")",
       "request.ipv6: must be true or false"},
      {R"("request": {"ipv4": true, "ipv6": true})", R"("request": true)",
       "request: must be an object"},
      {R"(["10.0.0.0/8", "fd00::/8"])", R"("10.0.0.0/8")",
       "remote_ts: must be an array"},
      {R"(["10.0.0.0/8", "fd00::/8"])", R"(["10.0.0.0/8", "10.0.0.0/33"])",
       "remote_ts[1]: bad prefix length"},
      {R"(["10.0.0.0/8", "fd00::/8"])", R"([8])",
       "remote_ts[0]: must be a string"},
      {R"("mtu": 1360)", R"("mtu": 1000)",
       "mtu: 1000 is outside 1280..9000 (IPv6 needs 1280)"},
      {R"("mtu": 1360)", R"("mtu": 9001)", "mtu: 9001 is outside"},
      {R"("mtu": 1360)", R"("mtu": "1400")", "mtu: must be an integer"},
      {R"("retransmit_base_ms": 250)", R"("retransmit_base_ms": 5)",
       "timers.retransmit_base_ms: 5 is outside 10..60000"},
      {R"("retransmit_tries": 5)", R"("retransmit_tries": 0)",
       "timers.retransmit_tries: 0 is outside 1..20"},
      {R"("dpd_delay_s": 10)", R"("dpd_delay_s": -1)",
       "timers.dpd_delay_s: -1 is outside"},
      {R"("ike_rekey_s": 7200)", R"("ike_rekey_s": 1.5)",
       "timers.ike_rekey_s: must be an integer"},
      {R"("child_rekey_s": 600)", R"("child_rekey_s": 99999999999999999999)",
       "timers.child_rekey_s: "},
      {R"("initial_ms": 500)", R"("initial_ms": 1)",
       "reconnect.initial_ms: 1 is outside"},
      {R"("max_ms": 20000)", R"("max_ms": 100)",
       "reconnect.max_ms: must be at least initial_ms (500)"},
      {R"("log_secrets": true)", R"("log_secrets": "yes")",
       "log_secrets: must be true or false"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.to);
    EXPECT_THAT(ErrorOf(With(c.from, c.to)), HasSubstr(c.error));
  }
}

TEST(IkeProfileTest, DnsSearchDomains) {
  const std::string with = absl::StrReplaceAll(
      kMinimal, {{R"("auth")", R"("dns_search": ["corp.example", "example"],
  "auth")"}});
  auto p = ParseIkeProfile(with);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->dns_search,
            (std::vector<std::string>{"corp.example", "example"}));
  auto back = ParseIkeProfile(IkeProfileToJson(*p));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dns_search, p->dns_search);
  EXPECT_THAT(ErrorOf(absl::StrReplaceAll(
                  kMinimal, {{R"("auth")", R"("dns_search": ["a..b"], "auth")"}})),
              HasSubstr("dns_search[0]: not a domain name"));
  EXPECT_THAT(ErrorOf(absl::StrReplaceAll(
                  kMinimal, {{R"("auth")", R"("dns_search": "x", "auth")"}})),
              HasSubstr("dns_search: must be an array"));
}

TEST(IkeProfileTest, RefusesNonObjects) {
  for (const char* field : {"timers", "reconnect", "request", "auth"}) {
    const std::string json = absl::StrReplaceAll(
        kMinimal, {{R"("auth": {"psk": "x"})",
                    absl::StrCat(R"("auth": {"psk": "x"}, ")", field,
                                 R"(": 3)")}});
    auto p = ParseIkeProfile(
        std::string(field) == "auth"
            ? absl::StrReplaceAll(kMinimal, {{R"({"psk": "x"})", "3"}})
            : json);
    ASSERT_FALSE(p.ok()) << field;
    EXPECT_EQ(p.status().message(),
              absl::StrCat(field, ": must be an object"));
  }
}

TEST(IkeProfileTest, LoadNamesTheFile) {
  auto p = LoadIkeProfile("/nonexistent/profile.json");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(p.status().message(), HasSubstr("/nonexistent/profile.json"));

  const std::string path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/bad.json");
  std::ofstream(path) << With(R"("mtu": 1360)", R"("mtu": 1)");
  p = LoadIkeProfile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr(path + ": mtu: "));

  const std::string good = absl::StrCat(std::getenv("TEST_TMPDIR"), "/ok.json");
  std::ofstream(good) << kGood;
  p = LoadIkeProfile(good);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "office");
}

// Certificate files are read relative to the profile's folder.
TEST(IkeProfileTest, CertificateFilesAreLoaded) {
  using namespace crypto::testing;  // NOLINT
  auto ca = MakeCert(CaSpec("C=XX, O=test, CN=ca"));
  ASSERT_TRUE(ca.ok()) << ca.status();
  CertSpec spec;
  spec.subject = "C=XX, O=test, CN=client1";
  auto leaf = MakeCert(spec, &*ca);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  const std::string dir = std::getenv("TEST_TMPDIR");
  std::ofstream(dir + "/ca.crt") << ca->cert_pem;
  std::ofstream(dir + "/client.crt") << leaf->cert_pem;
  std::ofstream(dir + "/client.key") << leaf->key_pem;
  std::ofstream(dir + "/other.key") << GenerateKeyPem(crypto::KeyType::kEcdsaP256);
  const std::string profile = R"({
    "gateway": "172.29.1.1:500",
    "remote_id": "gw.ssw.test",
    "auth": {"certificate": "client.crt", "private_key": "KEY",
             "ca": "CA"}
  })";
  auto write = [&](const std::string& key, const std::string& ca_file) {
    const std::string path = dir + "/cert.json";
    std::ofstream(path) << absl::StrReplaceAll(
        profile, {{"KEY", key}, {"CA", ca_file}});
    return LoadIkeProfile(path);
  };

  // A key that is not the certificate's, a missing file: errors name them.
  auto p = write("other.key", "ca.crt");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("auth: "));
  p = write("missing.key", "ca.crt");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("missing.key"));
  p = write("client.key", "missing-ca.crt");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(),
              HasSubstr("auth.ca: " + dir + "/missing-ca.crt"));

  // Good files: certificate credentials, the CA as trust anchor, and our
  // identity defaults to the subject DN.
  p = write("client.key", "ca.crt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ike.local_id.id_type, ike::IdType::kDerAsn1Dn);
  ASSERT_NE(p->ike.credentials, nullptr);
  EXPECT_THAT(p->ike.credentials->Describe(), HasSubstr("certificate"));
  ASSERT_NE(p->ike.peer_authenticator, nullptr);
  EXPECT_TRUE(p->ike.peer_authenticator->CertificateRequest().has_value());
}

}  // namespace
}  // namespace stow::ipsec
