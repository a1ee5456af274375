#include "sdk/crypto/x509.h"

#include <openssl/bytestring.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/hash.h"
#include "sdk/crypto/testing/test_pki.h"

namespace stow::crypto {
namespace {

using ::stow::crypto::testing::CaSpec;
using ::stow::crypto::testing::CertSpec;
using ::stow::crypto::testing::GenerateKeyPem;
using ::stow::crypto::testing::KeyPemFormat;
using ::stow::crypto::testing::MakeCert;
using ::stow::crypto::testing::TestCert;
using ::stow::crypto::testing::TestNow;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename T>
T Must(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "unexpected error: %s\n",
                 value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

std::vector<uint8_t> FromHex(absl::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(
        std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<uint8_t> Bytes(absl::string_view s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

constexpr SignatureScheme kAllSchemes[] = {
    SignatureScheme::kEcdsaSha256,    SignatureScheme::kEcdsaSha384,
    SignatureScheme::kEcdsaSha512,    SignatureScheme::kRsaPkcs1Sha256,
    SignatureScheme::kRsaPkcs1Sha384, SignatureScheme::kRsaPkcs1Sha512,
    SignatureScheme::kRsaPkcs1Sha1,
};

constexpr KeyType kAllKeyTypes[] = {KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                    KeyType::kEcdsaP521, KeyType::kRsa};

// --- AlgorithmIdentifiers (encodings from RFC 7427 appendix A). ---

TEST(SignatureSchemeTest, AlgorithmIdentifierBytes) {
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kRsaPkcs1Sha256),
            FromHex("300d06092a864886f70d01010b0500"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kRsaPkcs1Sha384),
            FromHex("300d06092a864886f70d01010c0500"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kRsaPkcs1Sha512),
            FromHex("300d06092a864886f70d01010d0500"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kRsaPkcs1Sha1),
            FromHex("300d06092a864886f70d0101050500"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kEcdsaSha256),
            FromHex("300a06082a8648ce3d040302"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kEcdsaSha384),
            FromHex("300a06082a8648ce3d040303"));
  EXPECT_EQ(SignatureAlgorithmIdentifier(SignatureScheme::kEcdsaSha512),
            FromHex("300a06082a8648ce3d040304"));
}

TEST(SignatureSchemeTest, RoundTripAndHash) {
  for (SignatureScheme scheme : kAllSchemes) {
    auto parsed = SignatureSchemeFromAlgorithmIdentifier(
        SignatureAlgorithmIdentifier(scheme));
    ASSERT_TRUE(parsed.ok()) << SignatureSchemeName(scheme);
    EXPECT_EQ(*parsed, scheme);
  }
  EXPECT_EQ(SignatureSchemeHash(SignatureScheme::kEcdsaSha384),
            HashAlgorithm::kSha384);
  EXPECT_EQ(SignatureSchemeHash(SignatureScheme::kRsaPkcs1Sha1),
            HashAlgorithm::kSha1);
  EXPECT_EQ(SignatureSchemeName(SignatureScheme::kRsaPkcs1Sha256),
            "sha256WithRSAEncryption");
}

TEST(SignatureSchemeTest, LenientParameters) {
  // RSA without the NULL, ECDSA with one: both seen in the wild.
  EXPECT_EQ(Must(SignatureSchemeFromAlgorithmIdentifier(
                FromHex("300b06092a864886f70d01010b"))),
            SignatureScheme::kRsaPkcs1Sha256);
  EXPECT_EQ(Must(SignatureSchemeFromAlgorithmIdentifier(
                FromHex("300c06082a8648ce3d0403020500"))),
            SignatureScheme::kEcdsaSha256);
}

TEST(SignatureSchemeTest, Errors) {
  // RSASSA-PSS with parameters omitted.
  auto pss = SignatureSchemeFromAlgorithmIdentifier(
      FromHex("300b06092a864886f70d01010a"));
  EXPECT_EQ(pss.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pss.status().message(),
            "unsupported signature algorithm 1.2.840.113549.1.1.10");
  for (absl::string_view hex :
       {"", "30", "3000", "300d06092a864886f70d01010b050000",
        "300d06092a864886f70d01010b0500ff", "300e06092a864886f70d01010b020100",
        "0500"}) {
    auto status = SignatureSchemeFromAlgorithmIdentifier(FromHex(hex));
    EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument)
        << hex;
  }
}

TEST(SignatureSchemeTest, FitsKey) {
  EXPECT_TRUE(SchemeFitsKey(SignatureScheme::kEcdsaSha512, KeyType::kEcdsaP256));
  EXPECT_TRUE(SchemeFitsKey(SignatureScheme::kRsaPkcs1Sha1, KeyType::kRsa));
  EXPECT_FALSE(SchemeFitsKey(SignatureScheme::kRsaPkcs1Sha256,
                             KeyType::kEcdsaP384));
  EXPECT_FALSE(SchemeFitsKey(SignatureScheme::kEcdsaSha256, KeyType::kRsa));
}

// --- Keys, signatures. ---

class KeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTest, SignVerifyEveryScheme) {
  CertSpec spec;
  spec.key_type = GetParam();
  TestCert cert = Must(MakeCert(spec));
  auto key = Must(PrivateKey::FromPem(cert.key_pem));
  EXPECT_EQ(key->type(), GetParam());
  auto public_key = cert.certificate->public_key();
  ASSERT_NE(public_key, nullptr);
  EXPECT_EQ(public_key->type(), GetParam());
  const std::vector<uint8_t> data = Bytes("signed octets for IKE_AUTH");
  for (SignatureScheme scheme : kAllSchemes) {
    SCOPED_TRACE(SignatureSchemeName(scheme));
    auto signature = key->Sign(scheme, data);
    if (!SchemeFitsKey(scheme, GetParam())) {
      EXPECT_EQ(signature.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_TRUE(public_key->Verify(scheme, data, *signature));
    // Tampered data, tampered signature, another hash.
    std::vector<uint8_t> tampered = data;
    tampered[3] ^= 1;
    EXPECT_FALSE(public_key->Verify(scheme, tampered, *signature));
    std::vector<uint8_t> bad_signature = *signature;
    bad_signature[bad_signature.size() - 1] ^= 0x01;
    EXPECT_FALSE(public_key->Verify(scheme, data, bad_signature));
    EXPECT_FALSE(public_key->Verify(scheme, data, {}));
    for (SignatureScheme other : kAllSchemes) {
      if (other != scheme) {
        EXPECT_FALSE(public_key->Verify(other, data, *signature))
            << SignatureSchemeName(other);
      }
    }
  }
}

TEST_P(KeyTest, SchemesPreferenceAndFit) {
  auto key = Must(PrivateKey::FromPem(GenerateKeyPem(GetParam())));
  std::vector<SignatureScheme> schemes = key->Schemes();
  ASSERT_EQ(schemes.size(), 3u);
  for (SignatureScheme scheme : schemes) {
    EXPECT_TRUE(SchemeFitsKey(scheme, GetParam()));
    EXPECT_NE(scheme, SignatureScheme::kRsaPkcs1Sha1);
  }
  switch (GetParam()) {
    case KeyType::kEcdsaP256:
      EXPECT_EQ(schemes[0], SignatureScheme::kEcdsaSha256);
      break;
    case KeyType::kEcdsaP384:
      EXPECT_EQ(schemes[0], SignatureScheme::kEcdsaSha384);
      break;
    case KeyType::kEcdsaP521:
      EXPECT_EQ(schemes[0], SignatureScheme::kEcdsaSha512);
      break;
    case KeyType::kRsa:
      EXPECT_EQ(schemes[0], SignatureScheme::kRsaPkcs1Sha256);
      break;
  }
}

TEST_P(KeyTest, PemFormatsAndMatches) {
  for (KeyPemFormat format : {KeyPemFormat::kPkcs8, KeyPemFormat::kTraditional}) {
    CertSpec spec;
    spec.key_type = GetParam();
    spec.key_format = format;
    TestCert cert = Must(MakeCert(spec));
    if (format == KeyPemFormat::kPkcs8) {
      EXPECT_THAT(cert.key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
    } else {
      EXPECT_THAT(cert.key_pem,
                  HasSubstr(GetParam() == KeyType::kRsa
                                ? "-----BEGIN RSA PRIVATE KEY-----"
                                : "-----BEGIN EC PRIVATE KEY-----"));
    }
    auto key = Must(PrivateKey::FromPem(cert.key_pem));
    EXPECT_EQ(key->type(), GetParam());
    EXPECT_TRUE(key->Matches(*cert.certificate));
    TestCert other = Must(MakeCert(spec));
    EXPECT_FALSE(key->Matches(*other.certificate));
  }
}

TEST_P(KeyTest, EcdsaRawConversion) {
  if (GetParam() == KeyType::kRsa) {
    EXPECT_EQ(EcdsaComponentLength(KeyType::kRsa), 0u);
    return;
  }
  CertSpec spec;
  spec.key_type = GetParam();
  TestCert cert = Must(MakeCert(spec));
  auto key = Must(PrivateKey::FromPem(cert.key_pem));
  const size_t n = EcdsaComponentLength(GetParam());
  const std::vector<uint8_t> data = Bytes("r || s");
  for (int i = 0; i < 8; ++i) {  // Some signatures have short r or s.
    std::vector<uint8_t> der = Must(key->Sign(key->Schemes()[0], data));
    std::vector<uint8_t> raw = Must(EcdsaSignatureToRaw(der, n));
    ASSERT_EQ(raw.size(), 2 * n);
    EXPECT_EQ(Must(EcdsaSignatureFromRaw(raw)), der);
    EXPECT_TRUE(
        cert.certificate->public_key()->Verify(key->Schemes()[0], data,
                                               Must(EcdsaSignatureFromRaw(raw))));
  }
}

INSTANTIATE_TEST_SUITE_P(AllKeys, KeyTest, ::testing::ValuesIn(kAllKeyTypes),
                         [](const auto& info) {
                           switch (info.param) {
                             case KeyType::kRsa:
                               return std::string("Rsa");
                             case KeyType::kEcdsaP256:
                               return std::string("P256");
                             case KeyType::kEcdsaP384:
                               return std::string("P384");
                             case KeyType::kEcdsaP521:
                               return std::string("P521");
                           }
                           return std::string("unknown");
                         });

TEST(EcdsaRawTest, Errors) {
  EXPECT_EQ(EcdsaSignatureFromRaw({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaSignatureFromRaw(std::vector<uint8_t>(63, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // SEQUENCE { INTEGER 0x0100, INTEGER 1 }: r needs 2 bytes.
  std::vector<uint8_t> der = FromHex("3007020201000201 01");
  der = FromHex("300702020100020101");
  EXPECT_EQ(Must(EcdsaSignatureToRaw(der, 2)), FromHex("01000001"));
  EXPECT_EQ(EcdsaSignatureToRaw(der, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaSignatureToRaw(FromHex("3003020101"), 32).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaSignatureToRaw(FromHex("30060201010201"), 32).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PrivateKeyTest, Errors) {
  EXPECT_EQ(PrivateKey::FromPem("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto encrypted = PrivateKey::FromPem(
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n");
  EXPECT_EQ(encrypted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(encrypted.status().message()),
              HasSubstr("encrypted"));
  auto bad = PrivateKey::FromPem(
      "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n");
  EXPECT_EQ(bad.status().message(), "EC PRIVATE KEY block does not parse");
  // A certificate alone is not a key.
  TestCert cert = Must(MakeCert(CertSpec()));
  EXPECT_EQ(PrivateKey::FromPem(cert.cert_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A certificate before the key is skipped.
  EXPECT_TRUE(PrivateKey::FromPem(cert.cert_pem + cert.key_pem).ok());
  auto missing = PrivateKey::FromPemFile("/nonexistent/dir/key.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/dir/key.pem"));
}

TEST(PrivateKeyTest, FromPemFileNamesPath) {
  std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                               : "/tmp";
  std::string good = dir + "/key.pem";
  std::string bad = dir + "/bad.pem";
  std::ofstream(good) << GenerateKeyPem(KeyType::kEcdsaP256,
                                        KeyPemFormat::kTraditional);
  std::ofstream(bad) << "not a key\n";
  EXPECT_TRUE(PrivateKey::FromPemFile(good).ok());
  auto status = PrivateKey::FromPemFile(bad);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.status().message()), HasSubstr(bad));
}

// --- Certificates. ---

TEST(CertificateTest, Fields) {
  CertSpec spec;
  spec.subject = "C=XX, O=ssw-harness, CN=client1";
  spec.dns_names = {"gw.ssw.test", "alt.ssw.test"};
  spec.emails = {"client1@ssw.test"};
  spec.ips = {IpAddress::V4(172, 29, 1, 1), Must(IpAddress::Parse("fd00::1"))};
  spec.not_before = absl::FromUnixSeconds(1700000000);
  spec.not_after = absl::FromUnixSeconds(1900000000);
  TestCert cert = Must(MakeCert(spec));
  const Certificate& c = *cert.certificate;
  EXPECT_EQ(c.der(), cert.cert_der);
  EXPECT_EQ(c.SubjectText(), "C=XX, O=ssw-harness, CN=client1");
  EXPECT_EQ(c.IssuerText(), "C=XX, O=ssw-harness, CN=client1");
  EXPECT_EQ(c.SubjectDer(),
            Must(EncodeDistinguishedName("C=XX, O=ssw-harness, CN=client1")));
  EXPECT_THAT(c.DnsNames(), ElementsAre("gw.ssw.test", "alt.ssw.test"));
  EXPECT_THAT(c.EmailAddresses(), ElementsAre("client1@ssw.test"));
  EXPECT_THAT(c.IpAddresses(),
              ElementsAre(IpAddress::V4(172, 29, 1, 1),
                          Must(IpAddress::Parse("fd00::1"))));
  EXPECT_EQ(c.not_before(), absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(c.not_after(), absl::FromUnixSeconds(1900000000));
  // Beyond 2049: GeneralizedTime.
  spec.not_after = absl::FromUnixSeconds(2600000000);
  EXPECT_EQ(Must(MakeCert(spec)).certificate->not_after(),
            absl::FromUnixSeconds(2600000000));
}

TEST(CertificateTest, SpkiSha1) {
  TestCert cert = Must(MakeCert(CertSpec()));
  std::vector<uint8_t> spki = cert.certificate->SpkiDer();
  CBS cbs;
  CBS_init(&cbs, spki.data(), spki.size());
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_parse_public_key(&cbs));
  ASSERT_NE(pkey, nullptr);
  EXPECT_EQ(CBS_len(&cbs), 0u);
  EXPECT_EQ(cert.certificate->SpkiSha1(), Hash(HashAlgorithm::kSha1, spki));
  EXPECT_EQ(cert.certificate->SpkiSha1().size(), 20u);
}

TEST(CertificateTest, PemParsing) {
  TestCert a = Must(MakeCert(CertSpec()));
  TestCert b = Must(MakeCert(CertSpec()));
  auto both = Must(Certificate::FromPem(a.cert_pem + a.key_pem + b.cert_pem));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0]->der(), a.cert_der);
  EXPECT_EQ(both[1]->der(), b.cert_der);
  EXPECT_EQ(Certificate::FromPem(a.key_pem).status().message(),
            "no CERTIFICATE block in PEM");
  EXPECT_EQ(Certificate::FromPem("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Certificate::FromPem("-----BEGIN CERTIFICATE-----\n!!!!\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Certificate::FromDer(Bytes("not DER")).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> trailing = a.cert_der;
  trailing.push_back(0);
  EXPECT_EQ(Certificate::FromDer(trailing).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> truncated(a.cert_der.begin(), a.cert_der.end() - 1);
  EXPECT_EQ(Certificate::FromDer(truncated).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CertificateTest, PemFileAndDerFile) {
  std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                               : "/tmp";
  TestCert a = Must(MakeCert(CertSpec()));
  std::ofstream(dir + "/c.pem") << a.cert_pem;
  std::ofstream(dir + "/c.der", std::ios::binary)
      .write(reinterpret_cast<const char*>(a.cert_der.data()),
             a.cert_der.size());
  EXPECT_EQ(Must(Certificate::FromPemFile(dir + "/c.pem"))[0]->der(),
            a.cert_der);
  EXPECT_EQ(Must(Certificate::FromPemFile(dir + "/c.der"))[0]->der(),
            a.cert_der);
  auto missing = Certificate::FromPemFile(dir + "/none.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("none.pem"));
}

// --- Distinguished names. ---

TEST(DistinguishedNameTest, EncodeBytes) {
  // SEQUENCE { SET { SEQUENCE { 2.5.4.6, PrintableString "XX" } },
  //            SET { SEQUENCE { 2.5.4.3, PrintableString "a" } } }
  EXPECT_EQ(Must(EncodeDistinguishedName("C=XX, CN=a")),
            FromHex("3019310b3009060355040613025858"
                    "310a30080603550403130161"));
  // "a_b" does not fit PrintableString: UTF8String.
  EXPECT_EQ(Must(EncodeDistinguishedName("CN=a_b")),
            FromHex("300e310c300a06035504030c03615f62"));
  // emailAddress: IA5String; DC: PrintableString when it fits, else IA5.
  EXPECT_EQ(Must(EncodeDistinguishedName("E=a@b")),
            FromHex("30143112" "3010" "06092a864886f70d010901" "1603614062"));
  EXPECT_EQ(Must(EncodeDistinguishedName("DC=a_b")),
            FromHex("30153113" "3011" "060a0992268993f22c640119" "1603615f62"));
  EXPECT_EQ(Must(EncodeDistinguishedName("DC=ab")),
            FromHex("30143112" "3010" "060a0992268993f22c640119" "13026162"));
  EXPECT_EQ(Must(EncodeDistinguishedName("  C = XX ;CN=a ")),
            Must(EncodeDistinguishedName("C=XX, CN=a")));
}

TEST(DistinguishedNameTest, TextRoundTrip) {
  for (absl::string_view text :
       {"C=XX, O=ssw-harness, CN=client1", "CN=a\\, b, O=x\\+y\\=z",
        "CN=\\ padded\\ , OU=one+OU=two", "DC=test, DC=ssw, E=a@b.c",
        "CN=unicode \xc3\xa9\xe2\x82\xac", "2.5.4.3=by oid, L=Town, ST=State",
        "serialNumber=1234, title=Dr, SN=Smith, GN=Jo"}) {
    std::vector<uint8_t> der = Must(EncodeDistinguishedName(text));
    std::string back = DistinguishedNameText(der);
    EXPECT_EQ(Must(EncodeDistinguishedName(back)), der) << text << " / " << back;
  }
  EXPECT_EQ(DistinguishedNameText(
                Must(EncodeDistinguishedName("2.5.4.3=x, emailAddress=a@b"))),
            "CN=x, E=a@b");
  EXPECT_EQ(DistinguishedNameText(Must(EncodeDistinguishedName("CN=a\\,b"))),
            "CN=a\\,b");
  EXPECT_EQ(DistinguishedNameText(Must(EncodeDistinguishedName("1.2.3.4=v"))),
            "1.2.3.4=v");
}

TEST(DistinguishedNameTest, TextOfOtherStringTypes) {
  // CN as BMPString "hi" and PrintableString: same text as UTF8String.
  EXPECT_EQ(DistinguishedNameText(
                FromHex("300f310d300b06035504031e0400680069")),
            "CN=hi");
  EXPECT_EQ(DistinguishedNameText(FromHex("300d310b3009060355040313026869")),
            "CN=hi");
  // An OCTET STRING value is shown as #hex of its encoding.
  EXPECT_EQ(DistinguishedNameText(FromHex("300d310b3009060355040304026869")),
            "CN=#04026869");
  EXPECT_EQ(DistinguishedNameText({}), "");
  EXPECT_EQ(DistinguishedNameText(FromHex("3003310130")), "");
  EXPECT_EQ(DistinguishedNameText(FromHex("30023100")), "");
  EXPECT_EQ(DistinguishedNameText(FromHex("3000")), "");  // Empty name.
}

TEST(DistinguishedNameTest, Errors) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"", "missing '=' in distinguished name component \"\""},
      {"CN", "missing '=' in distinguished name component \"CN\""},
      {"=x", "empty attribute name in distinguished name"},
      {"CN=", "empty value for CN in distinguished name"},
      {"CN=a,", "distinguished name ends with ','"},
      {"CN=a\\", "trailing '\\' in distinguished name"},
      {"C=XYZ", "C must be a two-letter country code, not \"XYZ\""},
      {"C=X_", "character '_' not allowed in C=X_"},
      {"Foo=bar",
       "unknown attribute \"Foo\" in distinguished name (use C, ST, L, O, OU, "
       "CN, SN, GN, serialNumber, title, emailAddress, DC or an OID)"},
      {"1.x=bar", "bad attribute OID \"1.x\" in distinguished name"},
      {"E=\xc3\xa9@b", "E=\xc3\xa9@b must be ASCII"},
  };
  for (const Case& c : cases) {
    auto status = EncodeDistinguishedName(c.text);
    EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_EQ(status.status().message(), c.message) << c.text;
  }
}

// --- Chain validation. ---

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Must(MakeCert(CaSpec("C=XX, O=ssw-harness, CN=ssw-harness CA")));
  }
  TestCert Leaf(const TestCert& issuer, CertSpec spec = CertSpec()) {
    return Must(MakeCert(spec, &issuer));
  }
  TestCert ca_;
};

TEST_F(VerifierTest, DirectChainAllKeyTypes) {
  for (KeyType ca_type : kAllKeyTypes) {
    TestCert ca = Must(MakeCert(CaSpec("CN=CA", ca_type)));
    CertificateVerifier verifier({ca.certificate});
    for (KeyType leaf_type : {KeyType::kEcdsaP256, KeyType::kRsa}) {
      CertSpec spec;
      spec.key_type = leaf_type;
      TestCert leaf = Leaf(ca, spec);
      EXPECT_TRUE(verifier.Verify(*leaf.certificate, {}, TestNow()).ok())
          << KeyTypeName(ca_type) << " / " << KeyTypeName(leaf_type);
    }
  }
}

TEST_F(VerifierTest, Expired) {
  CertSpec spec;
  spec.not_after = TestNow() + absl::Hours(24);
  TestCert leaf = Leaf(ca_, spec);
  CertificateVerifier verifier({ca_.certificate});
  EXPECT_TRUE(verifier.Verify(*leaf.certificate, {}, TestNow()).ok());
  absl::Status status =
      verifier.Verify(*leaf.certificate, {}, TestNow() + absl::Hours(48));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "certificate expired (not after 2025-06-02T00:00:00Z): C=XX, "
            "O=test, CN=leaf");
}

TEST_F(VerifierTest, NotYetValid) {
  CertSpec spec;
  spec.not_before = TestNow() + absl::Hours(1);
  TestCert leaf = Leaf(ca_, spec);
  CertificateVerifier verifier({ca_.certificate});
  absl::Status status = verifier.Verify(*leaf.certificate, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "certificate not yet valid (not before 2025-06-01T01:00:00Z): "
            "C=XX, O=test, CN=leaf");
  EXPECT_TRUE(
      verifier.Verify(*leaf.certificate, {}, TestNow() + absl::Hours(2)).ok());
}

TEST_F(VerifierTest, ExpiredCa) {
  CertSpec ca_spec = CaSpec("CN=Old CA");
  ca_spec.not_after = TestNow() - absl::Hours(1);
  TestCert old_ca = Must(MakeCert(ca_spec));
  TestCert leaf = Leaf(old_ca);
  CertificateVerifier verifier({old_ca.certificate});
  absl::Status status = verifier.Verify(*leaf.certificate, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "certificate expired (not after 2025-05-31T23:00:00Z): CN=Old CA");
}

TEST_F(VerifierTest, Untrusted) {
  TestCert other_ca = Must(MakeCert(CaSpec("C=XX, O=evil, CN=Other CA")));
  TestCert leaf = Leaf(other_ca);
  CertificateVerifier verifier({ca_.certificate});
  absl::Status status = verifier.Verify(*leaf.certificate, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "untrusted: no path to a configured CA (issuer C=XX, O=evil, "
            "CN=Other CA)");
  // Sending the untrusted CA along does not help.
  status = verifier.Verify(*leaf.certificate, {other_ca.certificate},
                           TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("untrusted"));
  // A self-signed leaf.
  TestCert self = Must(MakeCert(CertSpec()));
  status = verifier.Verify(*self.certificate, {}, TestNow());
  EXPECT_EQ(status.message(),
            "untrusted: no path to a configured CA (issuer C=XX, O=test, "
            "CN=leaf)");
  // No anchors at all.
  CertificateVerifier empty({});
  EXPECT_EQ(empty.Verify(*leaf.certificate, {}, TestNow()).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(VerifierTest, SameNameDifferentKeyIsBadSignature) {
  // A CA with the configured CA's name but another key.
  TestCert impostor =
      Must(MakeCert(CaSpec("C=XX, O=ssw-harness, CN=ssw-harness CA")));
  TestCert leaf = Leaf(impostor);
  CertificateVerifier verifier({ca_.certificate});
  absl::Status status = verifier.Verify(*leaf.certificate, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "bad signature on certificate C=XX, O=test, CN=leaf");
}

TEST_F(VerifierTest, TamperedSignature) {
  TestCert leaf = Leaf(ca_);
  std::vector<uint8_t> der = leaf.cert_der;
  der.back() ^= 0x01;  // The last byte of the signature's s.
  auto tampered = Must(Certificate::FromDer(der));
  CertificateVerifier verifier({ca_.certificate});
  absl::Status status = verifier.Verify(*tampered, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "bad signature on certificate C=XX, O=test, CN=leaf");
}

TEST_F(VerifierTest, IntermediatePath) {
  TestCert intermediate = Must(MakeCert(CaSpec("CN=Intermediate", KeyType::kEcdsaP384), &ca_));
  CertSpec spec;
  spec.key_type = KeyType::kRsa;
  TestCert leaf = Leaf(intermediate, spec);
  CertificateVerifier verifier({ca_.certificate});
  EXPECT_TRUE(verifier
                  .Verify(*leaf.certificate, {intermediate.certificate},
                          TestNow())
                  .ok());
  absl::Status status = verifier.Verify(*leaf.certificate, {}, TestNow());
  EXPECT_EQ(status.message(),
            "untrusted: no path to a configured CA (issuer CN=Intermediate)");
  // A configured intermediate is an anchor by itself.
  CertificateVerifier intermediate_only({intermediate.certificate});
  EXPECT_TRUE(intermediate_only.Verify(*leaf.certificate, {}, TestNow()).ok());
  // Several anchors.
  TestCert other = Must(MakeCert(CaSpec("CN=Other")));
  CertificateVerifier two({other.certificate, ca_.certificate});
  EXPECT_TRUE(
      two.Verify(*leaf.certificate, {intermediate.certificate}, TestNow()).ok());
}

TEST_F(VerifierTest, NonCaIssuer) {
  // An intermediate without cA issues the leaf.
  CertSpec not_ca = CaSpec("CN=Not a CA");
  not_ca.is_ca = false;
  TestCert fake_intermediate = Must(MakeCert(not_ca, &ca_));
  TestCert leaf = Leaf(fake_intermediate);
  CertificateVerifier verifier({ca_.certificate});
  absl::Status status = verifier.Verify(
      *leaf.certificate, {fake_intermediate.certificate}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "CA certificate is not a CA: CN=Not a CA");
  // The same non-CA configured as the anchor.
  TestCert fake_root = Must(MakeCert(not_ca));
  TestCert leaf2 = Leaf(fake_root);
  CertificateVerifier fake({fake_root.certificate});
  status = fake.Verify(*leaf2.certificate, {}, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "CA certificate is not a CA: CN=Not a CA");
}

}  // namespace
}  // namespace stow::crypto
