#include "sdk/tunnel/tls/tls_engine.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/random.h"
#include "sdk/crypto/sha256.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/crypto/x509.h"

namespace stow::tunnel::tls {
namespace {

using ::stow::crypto::KeyType;
using ::stow::crypto::RandomVector;
using ::stow::crypto::Sha256;
using ::stow::crypto::testing::CaSpec;
using ::stow::crypto::testing::CertSpec;
using ::stow::crypto::testing::MakeCert;
using ::stow::crypto::testing::TestCert;
using ::stow::crypto::testing::TestNow;
using ::testing::HasSubstr;
using State = TlsEngine::State;

template <typename T>
T Must(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "unexpected error: %s\n",
                 value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

std::vector<uint8_t> Bytes(absl::string_view s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

bool Contains(const std::vector<uint8_t>& haystack, absl::string_view needle) {
  return absl::string_view(reinterpret_cast<const char*>(haystack.data()),
                           haystack.size())
             .find(needle) != absl::string_view::npos;
}

constexpr char kName[] = "gw.vpn.test";

// Moves ciphertext both ways until neither side has any; returns the bytes
// the client sent (for inspection).
std::vector<uint8_t> Pump(TlsEngine* client, TlsEngine* server,
                          size_t chunk = 0) {
  std::vector<uint8_t> client_sent;
  for (int round = 0; round < 1000; ++round) {
    bool moved = false;
    for (auto [from, to] : {std::pair{client, server}, {server, client}}) {
      if (!from->HasCiphertext()) continue;
      std::vector<uint8_t> bytes;
      from->TakeCiphertext(&bytes);
      EXPECT_FALSE(from->HasCiphertext());
      if (from == client) {
        client_sent.insert(client_sent.end(), bytes.begin(), bytes.end());
      }
      absl::Span<const uint8_t> rest(bytes);
      while (!rest.empty()) {
        size_t n = chunk == 0 ? rest.size() : std::min(chunk, rest.size());
        to->FeedCiphertext(rest.first(n));
        rest.remove_prefix(n);
      }
      moved = true;
    }
    if (!moved) return client_sent;
  }
  ADD_FAILURE() << "ciphertext kept flowing";
  return client_sent;
}

class TlsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Must(MakeCert(CaSpec("C=XX, O=test, CN=Test Root CA")));
    CertSpec spec;
    spec.subject = "C=XX, O=test, CN=gw.vpn.test";
    spec.dns_names = {kName};
    spec.ips = {IpAddress::V4(192, 0, 2, 10),
                Must(IpAddress::Parse("2001:db8::10"))};
    leaf_ = Must(MakeCert(spec, &ca_));
  }

  TlsClientOptions Options() const {
    TlsClientOptions options;
    options.server_name = kName;
    options.ca_pem = ca_.cert_pem;
    options.verify_time = TestNow();
    return options;
  }

  std::unique_ptr<TlsEngine> ServerFor(const TestCert& cert,
                                       const std::string& extra_chain = "") {
    auto context = Must(
        TlsServerContext::Create(cert.cert_pem + extra_chain, cert.key_pem));
    return TlsEngine::Server(context);
  }

  struct Pair {
    std::unique_ptr<TlsEngine> client;
    std::unique_ptr<TlsEngine> server;
    std::vector<uint8_t> client_sent;
  };

  // Runs a handshake; the caller checks the outcome.
  Pair Connect(const TlsClientOptions& options, const TestCert& server_cert,
               const std::string& extra_chain = "") {
    Pair pair;
    pair.client = Must(TlsEngine::Client(options));
    pair.server = ServerFor(server_cert, extra_chain);
    pair.client->Start();
    pair.client_sent = Pump(pair.client.get(), pair.server.get());
    return pair;
  }

  // A handshake that must fail on the client with kUnauthenticated; checks
  // that nothing written early reached the server.
  absl::Status FailingConnect(const TlsClientOptions& options,
                              const TestCert& server_cert) {
    auto client = Must(TlsEngine::Client(options));
    auto server = ServerFor(server_cert);
    EXPECT_TRUE(client->Write(Bytes("secret early data")).ok());
    client->Start();
    std::vector<uint8_t> sent = Pump(client.get(), server.get());
    EXPECT_EQ(client->state(), State::kFailed);
    EXPECT_EQ(client->error().code(), absl::StatusCode::kUnauthenticated)
        << client->error();
    std::vector<uint8_t> got;
    EXPECT_EQ(server->Read(&got), 0u);
    EXPECT_FALSE(Contains(sent, "secret early data"));
    // The client told the server why (an alert), so the server failed too.
    EXPECT_EQ(server->state(), State::kFailed);
    EXPECT_EQ(server->error().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(server->error().message()),
                HasSubstr("TLS alert from peer: "));
    EXPECT_EQ(client->Write(Bytes("more")).code(),
              absl::StatusCode::kFailedPrecondition);
    return client->error();
  }

  TestCert ca_;
  TestCert leaf_;
};

TEST_F(TlsEngineTest, HandshakeTls13) {
  Pair p = Connect(Options(), leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  ASSERT_EQ(p.server->state(), State::kEstablished) << p.server->error();
  EXPECT_EQ(p.client->version(), "TLSv1.3");
  EXPECT_EQ(p.server->version(), "TLSv1.3");
  EXPECT_THAT(p.client->cipher(), ::testing::StartsWith("TLS_"));
  EXPECT_EQ(p.client->cipher(), p.server->cipher());
  EXPECT_EQ(p.client->peer_pin(), Must(PublicKeyPin(leaf_.cert_pem)));
  EXPECT_EQ(p.client->peer_certificate_der(), leaf_.cert_der);
  EXPECT_EQ(p.server->peer_pin(), "");  // No client certificate.
  EXPECT_TRUE(p.server->peer_certificate_der().empty());
  // SNI carries the name.
  EXPECT_TRUE(Contains(p.client_sent, kName));
}

TEST_F(TlsEngineTest, HandshakeTls12) {
  TlsClientOptions options = Options();
  options.allow_tls13 = false;
  Pair p = Connect(options, leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  ASSERT_EQ(p.server->state(), State::kEstablished) << p.server->error();
  EXPECT_EQ(p.client->version(), "TLSv1.2");
  EXPECT_EQ(p.server->version(), "TLSv1.2");
  EXPECT_THAT(p.client->cipher(), ::testing::StartsWith("TLS_ECDHE_ECDSA_"));
  EXPECT_EQ(p.client->cipher(), p.server->cipher());
}

TEST_F(TlsEngineTest, NotEstablishedAccessors) {
  auto client = Must(TlsEngine::Client(Options()));
  EXPECT_EQ(client->state(), State::kHandshaking);
  EXPECT_EQ(client->version(), "");
  EXPECT_EQ(client->cipher(), "");
  EXPECT_EQ(client->peer_pin(), "");
  EXPECT_EQ(client->ExportKeyingMaterial("x", 8).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(client->HasCiphertext());
  client->Start();
  EXPECT_TRUE(client->HasCiphertext());  // ClientHello.
  auto server = ServerFor(leaf_);
  server->Start();  // No-op.
  EXPECT_FALSE(server->HasCiphertext());
}

class TlsEngineVersionTest : public TlsEngineTest,
                             public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(Versions, TlsEngineVersionTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Tls13" : "Tls12";
                         });

TEST_P(TlsEngineVersionTest, BulkDataBothWaysInFullRecords) {
  TlsClientOptions options = Options();
  options.allow_tls13 = GetParam();
  Pair p = Connect(options, leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();

  const std::vector<uint8_t> up = RandomVector(1 << 20);
  const std::vector<uint8_t> down = RandomVector((1 << 20) + 12345);
  ASSERT_TRUE(p.client->Write(up).ok());

  // One Write of 1 MiB: 64 full application_data records.
  std::vector<uint8_t> wire;
  p.client->TakeCiphertext(&wire);
  size_t records = 0;
  for (size_t pos = 0; pos < wire.size();) {
    ASSERT_LE(pos + 5, wire.size());
    EXPECT_EQ(wire[pos], 23);  // application_data
    size_t len = (size_t{wire[pos + 3]} << 8) | wire[pos + 4];
    EXPECT_GT(len, 16384u);  // 16 KiB of plaintext plus the AEAD overhead.
    EXPECT_LE(len, 16384u + 256u);
    pos += 5 + len;
    ASSERT_LE(pos, wire.size());
    ++records;
  }
  EXPECT_EQ(records, 64u);
  // Feed in odd-sized pieces: records straddle the feeds.
  absl::Span<const uint8_t> rest(wire);
  while (!rest.empty()) {
    size_t n = std::min<size_t>(rest.size(), 7777);
    p.server->FeedCiphertext(rest.first(n));
    rest.remove_prefix(n);
  }
  std::vector<uint8_t> got_up;
  EXPECT_EQ(p.server->Read(&got_up), up.size());
  EXPECT_EQ(Sha256::Hex(Sha256::Hash(got_up)), Sha256::Hex(Sha256::Hash(up)));

  // The other way, in several writes, fed byte-chunked by Pump.
  absl::Span<const uint8_t> down_rest(down);
  while (!down_rest.empty()) {
    size_t n = std::min<size_t>(down_rest.size(), 100000);
    ASSERT_TRUE(p.server->Write(down_rest.first(n)).ok());
    down_rest.remove_prefix(n);
  }
  Pump(p.client.get(), p.server.get(), /*chunk=*/1500);
  std::vector<uint8_t> got_down = {'x'};  // Read appends.
  EXPECT_EQ(p.client->Read(&got_down), down.size());
  ASSERT_EQ(got_down.size(), down.size() + 1);
  EXPECT_EQ(Sha256::Hex(Sha256::Hash(absl::MakeConstSpan(got_down).subspan(1))),
            Sha256::Hex(Sha256::Hash(down)));
  EXPECT_EQ(p.client->Read(&got_down), 0u);
  EXPECT_EQ(p.client->state(), State::kEstablished);
  EXPECT_EQ(p.server->state(), State::kEstablished);
}

TEST_P(TlsEngineVersionTest, WriteBeforeHandshakeIsFlushedAfterIt) {
  TlsClientOptions options = Options();
  options.allow_tls13 = GetParam();
  auto client = Must(TlsEngine::Client(options));
  auto server = ServerFor(leaf_);
  ASSERT_TRUE(client->Write(Bytes("hello ")).ok());
  ASSERT_TRUE(server->Write(Bytes("welcome")).ok());
  client->Start();
  ASSERT_TRUE(client->Write(Bytes("gateway")).ok());
  Pump(client.get(), server.get());
  ASSERT_EQ(client->state(), State::kEstablished) << client->error();
  std::vector<uint8_t> got;
  server->Read(&got);
  EXPECT_EQ(std::string(got.begin(), got.end()), "hello gateway");
  got.clear();
  client->Read(&got);
  EXPECT_EQ(std::string(got.begin(), got.end()), "welcome");
}

TEST_P(TlsEngineVersionTest, ClientCertificateVisibleToServer) {
  TestCert client_cert = Must(MakeCert(
      [] {
        CertSpec spec;
        spec.subject = "C=XX, O=test, CN=alice";
        spec.key_type = KeyType::kRsa;
        return spec;
      }(),
      &ca_));
  TlsClientOptions options = Options();
  options.allow_tls13 = GetParam();
  options.client_cert_pem = client_cert.cert_pem;
  options.client_key_pem = client_cert.key_pem;
  Pair p = Connect(options, leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  ASSERT_EQ(p.server->state(), State::kEstablished) << p.server->error();
  EXPECT_EQ(p.server->peer_certificate_der(), client_cert.cert_der);
  EXPECT_EQ(p.server->peer_pin(), Must(PublicKeyPin(client_cert.cert_pem)));
}

TEST_P(TlsEngineVersionTest, ExporterAgreesAndDependsOnLabel) {
  TlsClientOptions options = Options();
  options.allow_tls13 = GetParam();
  Pair p = Connect(options, leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  auto c = Must(p.client->ExportKeyingMaterial("EXPORTER-openconnect-psk", 32));
  auto s = Must(p.server->ExportKeyingMaterial("EXPORTER-openconnect-psk", 32));
  EXPECT_EQ(c.size(), 32u);
  EXPECT_EQ(c, s);
  auto other = Must(p.client->ExportKeyingMaterial("EXPORTER-other", 32));
  EXPECT_NE(c, other);
  EXPECT_EQ(Must(p.server->ExportKeyingMaterial("EXPORTER-other", 32)), other);
  // A second connection has other keys.
  Pair q = Connect(options, leaf_);
  EXPECT_NE(Must(q.client->ExportKeyingMaterial("EXPORTER-openconnect-psk", 32)),
            c);
}

TEST_P(TlsEngineVersionTest, CloseNotify) {
  TlsClientOptions options = Options();
  options.allow_tls13 = GetParam();
  Pair p = Connect(options, leaf_);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  ASSERT_TRUE(p.client->Write(Bytes("last words")).ok());
  p.client->Shutdown();
  p.client->Shutdown();  // Once only.
  EXPECT_EQ(p.client->state(), State::kEstablished);
  EXPECT_EQ(p.client->Write(Bytes("x")).code(),
            absl::StatusCode::kFailedPrecondition);
  Pump(p.client.get(), p.server.get());
  EXPECT_EQ(p.server->state(), State::kClosed);
  std::vector<uint8_t> got;
  p.server->Read(&got);
  EXPECT_EQ(std::string(got.begin(), got.end()), "last words");
  EXPECT_EQ(p.server->Write(Bytes("x")).code(),
            absl::StatusCode::kFailedPrecondition);
  // The server answers with its own close_notify.
  p.server->Shutdown();
  Pump(p.client.get(), p.server.get());
  EXPECT_EQ(p.client->state(), State::kClosed);
  // Exporter still works after close.
  EXPECT_TRUE(p.server->ExportKeyingMaterial("x", 16).ok());
}

TEST_F(TlsEngineTest, ShutdownDuringHandshakeFollowsBufferedData) {
  auto client = Must(TlsEngine::Client(Options()));
  auto server = ServerFor(leaf_);
  ASSERT_TRUE(client->Write(Bytes("bye")).ok());
  client->Shutdown();
  client->Start();
  Pump(client.get(), server.get());
  EXPECT_EQ(client->state(), State::kEstablished);
  EXPECT_EQ(server->state(), State::kClosed);
  std::vector<uint8_t> got;
  server->Read(&got);
  EXPECT_EQ(std::string(got.begin(), got.end()), "bye");
}

TEST_F(TlsEngineTest, ExpiredCertificate) {
  CertSpec spec;
  spec.dns_names = {kName};
  spec.not_before = TestNow() - absl::Hours(48);
  spec.not_after = TestNow() - absl::Hours(1);
  TestCert expired = Must(MakeCert(spec, &ca_));
  absl::Status error = FailingConnect(Options(), expired);
  EXPECT_EQ(error.message(), "certificate has expired");
}

TEST_F(TlsEngineTest, NotYetValidCertificate) {
  CertSpec spec;
  spec.dns_names = {kName};
  spec.not_before = TestNow() + absl::Hours(1);
  TestCert future = Must(MakeCert(spec, &ca_));
  EXPECT_EQ(FailingConnect(Options(), future).message(),
            "certificate is not yet valid");
  // The same certificate is fine a day later.
  TlsClientOptions later = Options();
  later.verify_time = TestNow() + absl::Hours(24);
  Pair p = Connect(later, future);
  EXPECT_EQ(p.client->state(), State::kEstablished) << p.client->error();
}

TEST_F(TlsEngineTest, WrongHostName) {
  TlsClientOptions options = Options();
  options.server_name = "other.vpn.test";
  EXPECT_EQ(FailingConnect(options, leaf_).message(),
            "host name mismatch: expected other.vpn.test");
}

TEST_F(TlsEngineTest, IpAddressSan) {
  for (const char* ip : {"192.0.2.10", "2001:db8::10", "[2001:db8::10]"}) {
    SCOPED_TRACE(ip);
    TlsClientOptions options = Options();
    options.server_name = ip;
    Pair p = Connect(options, leaf_);
    EXPECT_EQ(p.client->state(), State::kEstablished) << p.client->error();
    // No SNI for an address.
    EXPECT_FALSE(Contains(p.client_sent, "192.0.2.10"));
    EXPECT_FALSE(Contains(p.client_sent, kName));
  }
  for (const char* ip : {"192.0.2.11", "2001:db8::11"}) {
    TlsClientOptions options = Options();
    options.server_name = ip;
    EXPECT_EQ(FailingConnect(options, leaf_).message(),
              absl::StrCat("host name mismatch: expected ", ip));
  }
  // A DNS SAN does not match an address, nor an address SAN a name.
  TlsClientOptions options = Options();
  options.server_name = "192.0.2.10.example";
  EXPECT_THAT(std::string(FailingConnect(options, leaf_).message()),
              HasSubstr("host name mismatch"));
}

TEST_F(TlsEngineTest, UnknownCa) {
  TestCert other_ca = Must(MakeCert(CaSpec("C=XX, O=test, CN=Other CA")));
  TlsClientOptions options = Options();
  options.ca_pem = other_ca.cert_pem;
  EXPECT_EQ(FailingConnect(options, leaf_).message(),
            "unable to get local issuer certificate");
}

TEST_F(TlsEngineTest, CaBundleWithSeveralCertificatesAndIntermediate) {
  TestCert other_ca = Must(MakeCert(CaSpec("C=XX, O=test, CN=Other CA")));
  TestCert intermediate =
      Must(MakeCert(CaSpec("C=XX, O=test, CN=Intermediate"), &ca_));
  CertSpec spec;
  spec.dns_names = {kName};
  TestCert leaf = Must(MakeCert(spec, &intermediate));
  TlsClientOptions options = Options();
  options.ca_pem = other_ca.cert_pem + "\n" + ca_.cert_pem;
  Pair p = Connect(options, leaf, intermediate.cert_pem);
  EXPECT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  // Without the intermediate the chain does not build.
  EXPECT_EQ(FailingConnect(options, leaf).message(),
            "unable to get local issuer certificate");
}

TEST_F(TlsEngineTest, PinOnlyAcceptsAnySelfSignedLeafWithThatKey) {
  CertSpec spec;
  spec.subject = "C=XX, O=test, CN=self";
  spec.dns_names = {"unrelated.example"};
  spec.not_before = TestNow() - absl::Hours(48);
  spec.not_after = TestNow() - absl::Hours(1);  // Expired: not checked.
  TestCert self = Must(MakeCert(spec));
  TlsClientOptions options;
  options.server_name = kName;  // Not checked either.
  options.pins = {"pin-sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                  Must(PublicKeyPin(self.cert_pem))};
  options.verify_time = TestNow();
  Pair p = Connect(options, self);
  ASSERT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  EXPECT_EQ(p.client->peer_pin(), options.pins[1]);
}

TEST_F(TlsEngineTest, PinMismatchNamesThePin) {
  TestCert other = Must(MakeCert(CertSpec()));
  TlsClientOptions options;
  options.server_name = kName;
  options.pins = {Must(PublicKeyPin(other.cert_pem))};
  absl::Status error = FailingConnect(options, leaf_);
  EXPECT_EQ(error.message(),
            absl::StrCat("public key pin mismatch: got ",
                         Must(PublicKeyPin(leaf_.cert_pem))));
}

TEST_F(TlsEngineTest, PinAndCaBothChecked) {
  TlsClientOptions options = Options();
  options.pins = {Must(PublicKeyPin(leaf_.cert_pem))};
  Pair p = Connect(options, leaf_);
  EXPECT_EQ(p.client->state(), State::kEstablished) << p.client->error();
  // Right pin, wrong name: still refused by the CA check.
  options.server_name = "other.vpn.test";
  EXPECT_THAT(std::string(FailingConnect(options, leaf_).message()),
              HasSubstr("host name mismatch"));
}

TEST_F(TlsEngineTest, PeerAlertNamed) {
  TestCert other_ca = Must(MakeCert(CaSpec("C=XX, O=test, CN=Other CA")));
  TlsClientOptions options = Options();
  options.ca_pem = other_ca.cert_pem;
  auto client = Must(TlsEngine::Client(options));
  auto server = ServerFor(leaf_);
  client->Start();
  Pump(client.get(), server.get());
  EXPECT_EQ(server->state(), State::kFailed);
  EXPECT_EQ(server->error().message(), "TLS alert from peer: unknown CA");
}

TEST_F(TlsEngineTest, PublicKeyPinIsSha256OfSpki) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa}) {
    CertSpec spec;
    spec.key_type = type;
    TestCert cert = Must(MakeCert(spec));
    std::vector<uint8_t> spki = cert.certificate->SpkiDer();
    Sha256::Digest digest = Sha256::Hash(spki);
    std::string expected = absl::StrCat(
        "pin-sha256:",
        absl::Base64Escape(absl::string_view(
            reinterpret_cast<const char*>(digest.data()), digest.size())));
    EXPECT_EQ(Must(PublicKeyPin(cert.cert_pem)), expected);
  }
  // A fixed certificate (made with `openssl req -x509 -newkey ec`) and its
  // pin as the OpenSSL command line computes it:
  //   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
  //   openssl dgst -sha256 -binary | base64
  constexpr char kFixedCert[] = R"(-----BEGIN CERTIFICATE-----
MIIBejCCASGgAwIBAgIUe3Vfwg5zpH6kZCoJv1RL/fgyS6YwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIcGluLnRlc3QwHhcNMjYxMTIyMDU1NDIyWhcNMzYxMTE5MDU1
NDIyWjATMREwDwYDVQQDDAhwaW4udGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABEFMlXydzYHQksvf6nglORfOessgjhS5CRnIh7Ww6NWzf2gIR8DkxOv5F7/e
gIhF8JeTeXUOyW+AKUNvW5Nav7ejUzBRMB0GA1UdDgQWBBSFaU2DxsSCGPInkh90
73w9TXeW0zAfBgNVHSMEGDAWgBSFaU2DxsSCGPInkh9073w9TXeW0zAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIAmx7UVfxFu0irKH1rCJX1+nTabR
CDoEXCkWTev99cjUAiAE/ViImQ/L7wOI9jO+wDuOwItwZIu89kthIAyzKvKQzA==
-----END CERTIFICATE-----
)";
  EXPECT_EQ(Must(PublicKeyPin(kFixedCert)),
            "pin-sha256:YEk7sFDpH0dsERXLYBqPi9F1GsasfaY1EKCxqOMOEss=");
}

TEST_F(TlsEngineTest, GarbageFailsCleanly) {
  // A server fed garbage instead of a ClientHello.
  for (size_t size : {1u, 5u, 100u, 5000u, 70000u}) {
    auto server = ServerFor(leaf_);
    server->FeedCiphertext(RandomVector(size));
    if (size < 5) {
      // Not even a record header yet; feed more.
      server->FeedCiphertext(RandomVector(100));
    }
    EXPECT_EQ(server->state(), State::kFailed) << size;
    EXPECT_EQ(server->error().code(), absl::StatusCode::kUnavailable);
    server->FeedCiphertext(RandomVector(100));  // Ignored.
    EXPECT_EQ(server->Write(Bytes("x")).code(),
              absl::StatusCode::kFailedPrecondition);
  }
  // A plausible record header with garbage inside.
  {
    auto server = ServerFor(leaf_);
    std::vector<uint8_t> bytes = {22, 3, 1, 0, 200};
    std::vector<uint8_t> body = RandomVector(200);
    bytes.insert(bytes.end(), body.begin(), body.end());
    server->FeedCiphertext(bytes);
    EXPECT_EQ(server->state(), State::kFailed);
  }
  // A client mid-handshake, and an established one.
  {
    auto client = Must(TlsEngine::Client(Options()));
    client->Start();
    client->FeedCiphertext(RandomVector(300));
    EXPECT_EQ(client->state(), State::kFailed);
    EXPECT_EQ(client->error().code(), absl::StatusCode::kUnavailable);
  }
  for (bool tls13 : {false, true}) {
    TlsClientOptions options = Options();
    options.allow_tls13 = tls13;
    Pair p = Connect(options, leaf_);
    ASSERT_EQ(p.client->state(), State::kEstablished);
    std::vector<uint8_t> fake = {23, 3, 3, 0, 64};
    std::vector<uint8_t> body = RandomVector(64);
    fake.insert(fake.end(), body.begin(), body.end());
    p.client->FeedCiphertext(fake);
    EXPECT_EQ(p.client->state(), State::kFailed);
    EXPECT_EQ(p.client->error().code(), absl::StatusCode::kUnavailable);
    std::vector<uint8_t> got;
    EXPECT_EQ(p.client->Read(&got), 0u);
    // It tells the server (bad_record_mac), which fails on the alert.
    Pump(p.client.get(), p.server.get());
    EXPECT_EQ(p.server->state(), State::kFailed);
  }
  // Many random inputs of random sizes: no crash, no hang.
  for (int i = 0; i < 200; ++i) {
    auto server = ServerFor(leaf_);
    std::vector<uint8_t> bytes =
        RandomVector(1 + crypto::RandomUint32() % 2000);
    if (i % 2 == 0) bytes[0] = 22;  // handshake
    if (i % 4 == 0 && bytes.size() > 2) bytes[1] = 3;
    server->FeedCiphertext(bytes);
    EXPECT_NE(server->state(), State::kEstablished);
  }
}

TEST_F(TlsEngineTest, BadOptions) {
  auto code = [](const TlsClientOptions& o) {
    return TlsEngine::Client(o).status().code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  TlsClientOptions none;
  none.server_name = kName;
  EXPECT_EQ(code(none), kInvalid);  // No trust configured.

  TlsClientOptions bad_ca = Options();
  bad_ca.ca_pem = "not a certificate";
  EXPECT_EQ(code(bad_ca), kInvalid);
  bad_ca.ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(code(bad_ca), kInvalid);
  bad_ca.ca_pem = leaf_.key_pem;  // PEM, but no certificate.
  EXPECT_EQ(code(bad_ca), kInvalid);

  TlsClientOptions no_name = Options();
  no_name.server_name = "";
  EXPECT_EQ(code(no_name), kInvalid);

  for (const char* pin : {"sha256:abc", "pin-sha256:", "pin-sha256:!!!!",
                          "pin-sha256:AAAA"}) {
    TlsClientOptions bad_pin;
    bad_pin.pins = {pin};
    EXPECT_EQ(code(bad_pin), kInvalid) << pin;
  }

  TlsClientOptions half_client = Options();
  half_client.client_cert_pem = leaf_.cert_pem;
  EXPECT_EQ(code(half_client), kInvalid);
  TlsClientOptions mismatched = Options();
  mismatched.client_cert_pem = leaf_.cert_pem;
  mismatched.client_key_pem = ca_.key_pem;
  EXPECT_EQ(code(mismatched), kInvalid);
  mismatched.client_key_pem = "junk";
  EXPECT_EQ(code(mismatched), kInvalid);

  EXPECT_EQ(TlsServerContext::Create("junk", leaf_.key_pem).status().code(),
            kInvalid);
  EXPECT_EQ(TlsServerContext::Create(leaf_.cert_pem, "junk").status().code(),
            kInvalid);
  EXPECT_EQ(
      TlsServerContext::Create(leaf_.cert_pem, ca_.key_pem).status().code(),
      kInvalid);
  EXPECT_EQ(PublicKeyPin("junk").status().code(), kInvalid);
  EXPECT_EQ(PublicKeyPin("").status().code(), kInvalid);
}

}  // namespace
}  // namespace stow::tunnel::tls
