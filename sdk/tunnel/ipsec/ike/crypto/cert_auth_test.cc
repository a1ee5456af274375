#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/hash.h"
#include "sdk/crypto/testing/test_pki.h"
#include "sdk/crypto/x509.h"

namespace stow::ike {
namespace {

using crypto::Certificate;
using crypto::CertificateVerifier;
using crypto::KeyType;
using crypto::PrivateKey;
using crypto::testing::CaSpec;
using crypto::testing::CertSpec;
using crypto::testing::KeyPemFormat;
using crypto::testing::MakeCert;
using crypto::testing::TestCert;
using crypto::testing::TestNow;
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

Bytes FromHex(absl::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(
        std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes B(absl::string_view s) { return Bytes(s.begin(), s.end()); }

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// A minimal DER walker, independent of BoringSSL: the element at `*pos`
// (tag, header and content bounds). Aborts on malformed input (test data).
struct Tlv {
  uint8_t tag;
  size_t start;          // Of the tag.
  size_t content_start;
  size_t end;            // One past the content.
};
Tlv ReadTlv(const Bytes& der, size_t pos) {
  Tlv tlv;
  tlv.start = pos;
  tlv.tag = der.at(pos++);
  size_t length = der.at(pos++);
  if (length & 0x80) {
    size_t count = length & 0x7f;
    length = 0;
    for (size_t i = 0; i < count; ++i) length = length << 8 | der.at(pos++);
  }
  tlv.content_start = pos;
  tlv.end = pos + length;
  if (tlv.end > der.size()) std::abort();
  return tlv;
}

// The SubjectPublicKeyInfo TLV of a DER certificate (RFC 5280 4.1).
Bytes SpkiOf(const Bytes& certificate) {
  Tlv cert = ReadTlv(certificate, 0);
  Tlv tbs = ReadTlv(certificate, cert.content_start);
  size_t pos = tbs.content_start;
  Tlv field = ReadTlv(certificate, pos);
  if (field.tag == 0xa0) {  // [0] version
    pos = field.end;
  }
  // serialNumber, signature, issuer, validity, subject.
  for (int i = 0; i < 5; ++i) pos = ReadTlv(certificate, pos).end;
  Tlv spki = ReadTlv(certificate, pos);
  EXPECT_EQ(spki.tag, 0x30);
  return Bytes(certificate.begin() + spki.start, certificate.begin() + spki.end);
}

IdPayload Id(IdType type, Bytes data) {
  IdPayload id;
  id.id_type = type;
  id.data = std::move(data);
  return id;
}

// --- Identities. ---

TEST(ParseIdentityTest, PrefixedForms) {
  IdPayload id = Must(ParseIdentity("fqdn:gw.ssw.test"));
  EXPECT_EQ(id.id_type, IdType::kFqdn);
  EXPECT_EQ(id.data, B("gw.ssw.test"));
  id = Must(ParseIdentity("email:client1@ssw.test"));
  EXPECT_EQ(id.id_type, IdType::kRfc822Addr);
  EXPECT_EQ(id.data, B("client1@ssw.test"));
  id = Must(ParseIdentity("rfc822:a@b.c"));
  EXPECT_EQ(id.id_type, IdType::kRfc822Addr);
  EXPECT_EQ(id.data, B("a@b.c"));
  id = Must(ParseIdentity("ipv4:172.29.1.1"));
  EXPECT_EQ(id.id_type, IdType::kIpv4Addr);
  EXPECT_EQ(id.data, FromHex("ac1d0101"));
  id = Must(ParseIdentity("ipv6:fd00::1"));
  EXPECT_EQ(id.id_type, IdType::kIpv6Addr);
  EXPECT_EQ(id.data, FromHex("fd000000000000000000000000000001"));
  id = Must(ParseIdentity("dn:C=XX, O=ssw-harness, CN=client1"));
  EXPECT_EQ(id.id_type, IdType::kDerAsn1Dn);
  EXPECT_EQ(id.data, Must(crypto::EncodeDistinguishedName(
                         "C=XX, O=ssw-harness, CN=client1")));
  id = Must(ParseIdentity("  FQDN: Gw.Ssw.Test "));
  EXPECT_EQ(id.id_type, IdType::kFqdn);
  EXPECT_EQ(id.data, B("Gw.Ssw.Test"));
  // A DN whose value contains '@' and '=' stays a DN with a prefix.
  id = Must(ParseIdentity("asn1dn:CN=a@b\\=c"));
  EXPECT_EQ(id.id_type, IdType::kDerAsn1Dn);
  EXPECT_EQ(crypto::DistinguishedNameText(id.data), "CN=a@b\\=c");
}

TEST(ParseIdentityTest, GuessedForms) {
  EXPECT_EQ(Must(ParseIdentity("10.0.0.1")).id_type, IdType::kIpv4Addr);
  EXPECT_EQ(Must(ParseIdentity("10.0.0.1")).data, FromHex("0a000001"));
  EXPECT_EQ(Must(ParseIdentity("::1")).id_type, IdType::kIpv6Addr);
  EXPECT_EQ(Must(ParseIdentity("C=XX, O=ssw-harness, CN=client1")).id_type,
            IdType::kDerAsn1Dn);
  EXPECT_EQ(Must(ParseIdentity("CN=x@y")).id_type, IdType::kDerAsn1Dn);
  EXPECT_EQ(Must(ParseIdentity("client1@ssw.test")).id_type,
            IdType::kRfc822Addr);
  IdPayload at = Must(ParseIdentity("@gw.ssw.test"));
  EXPECT_EQ(at.id_type, IdType::kFqdn);
  EXPECT_EQ(at.data, B("gw.ssw.test"));
  IdPayload fqdn = Must(ParseIdentity("gw.ssw.test"));
  EXPECT_EQ(fqdn.id_type, IdType::kFqdn);
  EXPECT_EQ(fqdn.data, B("gw.ssw.test"));
}

TEST(ParseIdentityTest, Errors) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"", "empty identity"},
      {"   ", "empty identity"},
      {"fqdn:", "empty fqdn identity"},
      {"email:", "empty email identity"},
      {"email:nobody", "email identity \"nobody\" has no '@'"},
      {"fqdn:a b",
       "fqdn identity \"a b\" contains spaces or control characters"},
      {"ipv4:fd00::1", "identity \"fd00::1\" is not an IPv4 address"},
      {"ipv4:1.2.3", "identity \"1.2.3\" is not an IPv4 address"},
      {"ipv6:1.2.3.4", "identity \"1.2.3.4\" is not an IPv6 address"},
      {"dn:", "empty dn identity"},
      {"dn:CN", "missing '=' in distinguished name component \"CN\""},
      {"X=1, CN=a",
       "unknown attribute \"X\" in distinguished name (use C, ST, L, O, OU, "
       "CN, SN, GN, serialNumber, title, emailAddress, DC or an OID)"},
      {"C=XYZ, CN=a", "C must be a two-letter country code, not \"XYZ\""},
      {"@", "empty fqdn identity"},
      {"a b@c", "email identity \"a b@c\" contains spaces or control "
                "characters"},
  };
  for (const Case& c : cases) {
    auto id = ParseIdentity(c.text);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_EQ(id.status().message(), c.message) << c.text;
  }
}

TEST(DescribeIdentityTest, EveryType) {
  for (const char* text :
       {"fqdn:gw.ssw.test", "email:client1@ssw.test", "ipv4:172.29.1.1",
        "ipv6:fd00::1", "dn:C=XX, O=ssw-harness, CN=client1"}) {
    EXPECT_EQ(DescribeIdentity(Must(ParseIdentity(text))), text);
  }
  EXPECT_EQ(DescribeIdentity(Id(IdType::kKeyId, FromHex("01ff"))),
            "keyid:01ff");
  EXPECT_EQ(DescribeIdentity(Id(IdType::kDerAsn1Dn, FromHex("0102"))),
            "dn:#0102");
  EXPECT_EQ(DescribeIdentity(Id(IdType::kIpv4Addr, FromHex("0102"))),
            "ipv4:<bad length 2>");
  EXPECT_EQ(DescribeIdentity(Id(IdType::kDerAsn1Gn, FromHex("aa"))),
            "id type 10:aa");
}

TEST(DescribeIdentityTest, KeyIdRoundTripsAndPeerBytesAreEscaped) {
  IdPayload keyid = Must(ParseIdentity("keyid:00ff10"));
  EXPECT_EQ(keyid.id_type, IdType::kKeyId);
  EXPECT_EQ(keyid.data, FromHex("00ff10"));
  EXPECT_EQ(DescribeIdentity(keyid), "keyid:00ff10");
  for (const char* bad : {"keyid:", "keyid:abc", "keyid:zz"}) {
    EXPECT_EQ(ParseIdentity(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // A peer's identity goes into log lines: control characters and the
  // backslash are escaped.
  IdPayload evil;
  evil.id_type = IdType::kFqdn;
  evil.data = {'a', '\n', 'b', '\\'};
  EXPECT_EQ(DescribeIdentity(evil), "fqdn:a\\x0ab\\x5c");
}

TEST(IdentitiesEqualTest, TypeAndBytes) {
  IdPayload a = Must(ParseIdentity("fqdn:a.test"));
  EXPECT_TRUE(IdentitiesEqual(a, Must(ParseIdentity("a.test"))));
  EXPECT_FALSE(IdentitiesEqual(a, Must(ParseIdentity("fqdn:A.test"))));
  EXPECT_FALSE(IdentitiesEqual(a, Id(IdType::kKeyId, B("a.test"))));
}

class CertIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CertSpec spec;
    spec.subject = "C=XX, O=ssw-harness, CN=client1";
    spec.dns_names = {"gw.ssw.test"};
    spec.emails = {"client1@ssw.test"};
    spec.ips = {IpAddress::V4(172, 29, 1, 1), Must(IpAddress::Parse("fd00::1"))};
    cert_ = Must(MakeCert(spec)).certificate;
  }
  bool Matches(absl::string_view text) {
    return CertificateMatchesIdentity(*cert_, Must(ParseIdentity(text)));
  }
  std::shared_ptr<const Certificate> cert_;
};

TEST_F(CertIdentityTest, IdentityOfCertificate) {
  IdPayload id = IdentityOfCertificate(*cert_);
  EXPECT_EQ(id.id_type, IdType::kDerAsn1Dn);
  EXPECT_EQ(id.data, cert_->SubjectDer());
  EXPECT_TRUE(CertificateMatchesIdentity(*cert_, id));
}

TEST_F(CertIdentityTest, Matches) {
  EXPECT_TRUE(Matches("dn:C=XX, O=ssw-harness, CN=client1"));
  EXPECT_TRUE(Matches("C=XX,O=ssw-harness,CN=client1"));
  EXPECT_TRUE(Matches("fqdn:gw.ssw.test"));
  EXPECT_TRUE(Matches("fqdn:GW.SSW.TEST"));
  EXPECT_TRUE(Matches("email:client1@ssw.test"));
  EXPECT_TRUE(Matches("ipv4:172.29.1.1"));
  EXPECT_TRUE(Matches("ipv6:fd00::1"));
  // The same DN with UTF8String values: equal in text form only.
  // SEQUENCE { SET { C=XX }, SET { O=ssw-harness (UTF8) },
  //            SET { CN=client1 (UTF8) } }
  Bytes printable = FromHex(
      "3035310b3009060355040613025858"
      "31143012060355040a0c0b7373772d6861726e657373"
      "3110300e06035504030c07636c69656e7431");
  ASSERT_EQ(crypto::DistinguishedNameText(printable),
            "C=XX, O=ssw-harness, CN=client1");
  ASSERT_NE(printable, cert_->SubjectDer());
  EXPECT_TRUE(CertificateMatchesIdentity(
      *cert_, Id(IdType::kDerAsn1Dn, printable)));
}

TEST_F(CertIdentityTest, Mismatches) {
  EXPECT_FALSE(Matches("dn:C=XX, O=ssw-harness, CN=client2"));
  EXPECT_FALSE(Matches("dn:O=ssw-harness, C=XX, CN=client1"));  // Order.
  EXPECT_FALSE(Matches("fqdn:other.ssw.test"));
  EXPECT_FALSE(Matches("fqdn:client1"));  // The CN is not a SAN.
  EXPECT_FALSE(Matches("email:client2@ssw.test"));
  EXPECT_FALSE(Matches("ipv4:172.29.1.2"));
  EXPECT_FALSE(Matches("ipv6:fd00::2"));
  EXPECT_FALSE(CertificateMatchesIdentity(*cert_, Id(IdType::kFqdn, {})));
  EXPECT_FALSE(
      CertificateMatchesIdentity(*cert_, Id(IdType::kIpv4Addr, FromHex("ac1d01"))));
  EXPECT_FALSE(CertificateMatchesIdentity(
      *cert_, Id(IdType::kIpv6Addr, FromHex("ac1d0101"))));
  EXPECT_FALSE(CertificateMatchesIdentity(*cert_, Id(IdType::kKeyId, B("x"))));
  EXPECT_FALSE(
      CertificateMatchesIdentity(*cert_, Id(IdType::kDerAsn1Dn, FromHex("3000"))));
  EXPECT_FALSE(
      CertificateMatchesIdentity(*cert_, Id(IdType::kDerAsn1Dn, B("junk"))));
}

// --- CERT, CERTREQ, SIGNATURE_HASH_ALGORITHMS. ---

TEST(CertReqTest, HashesOfSpki) {
  TestCert ca1 = Must(MakeCert(CaSpec("CN=CA one")));
  TestCert ca2 = Must(MakeCert(CaSpec("CN=CA two", KeyType::kRsa)));
  CertPayload req = BuildCertReq({ca1.certificate, ca2.certificate});
  EXPECT_EQ(req.encoding, CertEncoding::kX509Signature);
  Bytes expected = crypto::Hash(crypto::HashAlgorithm::kSha1,
                                SpkiOf(ca1.cert_der));
  Bytes second = crypto::Hash(crypto::HashAlgorithm::kSha1,
                              SpkiOf(ca2.cert_der));
  expected.insert(expected.end(), second.begin(), second.end());
  ASSERT_EQ(req.data.size(), 40u);
  EXPECT_EQ(req.data, expected);
  EXPECT_TRUE(BuildCertReq({}).data.empty());
}

TEST(CertReqTest, BuildCert) {
  TestCert cert = Must(MakeCert(CertSpec()));
  CertPayload payload = BuildCert(*cert.certificate);
  EXPECT_EQ(payload.encoding, CertEncoding::kX509Signature);
  EXPECT_EQ(payload.data, cert.cert_der);
}

TEST(SignatureHashAlgorithmsTest, NotifyData) {
  EXPECT_EQ(SignatureHashAlgorithmsNotifyData(), FromHex("0002000300040005"));
  EXPECT_EQ(ParseSignatureHashAlgorithms(FromHex("0002000300040005")),
            (std::vector<uint16_t>{2, 3, 4, 5}));
  EXPECT_EQ(ParseSignatureHashAlgorithms(FromHex("000201")),
            (std::vector<uint16_t>{2}));
  EXPECT_TRUE(ParseSignatureHashAlgorithms({}).empty());
  EXPECT_EQ(ParseSignatureHashAlgorithms(FromHex("ffff")),
            (std::vector<uint16_t>{0xffff}));
}

// --- SignAuth / VerifyCertAuth. ---

const std::vector<uint16_t> kStrongSwanHashes = {2, 3, 4, 5};

class CertAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Must(MakeCert(CaSpec("C=XX, O=ssw-harness, CN=ssw-harness CA")));
    verifier_ = std::make_unique<CertificateVerifier>(
        std::vector<std::shared_ptr<const Certificate>>{ca_.certificate});
  }
  TestCert Peer(KeyType type, const TestCert* issuer = nullptr) {
    CertSpec spec;
    spec.subject = "C=XX, O=ssw-harness, CN=gw.ssw.test";
    spec.dns_names = {"gw.ssw.test"};
    spec.key_type = type;
    return Must(MakeCert(spec, issuer != nullptr ? issuer : &ca_));
  }
  absl::Status Verify(const TestCert& peer, const AuthPayload& auth,
                      const Bytes& octets,
                      const IdPayload& id = Must(ParseIdentity("fqdn:gw.ssw.test")),
                      absl::Time now = TestNow()) {
    std::vector<CertPayload> certs = {BuildCert(*peer.certificate)};
    return VerifyCertAuth(*verifier_, certs, id, auth, octets, now);
  }
  TestCert ca_;
  std::unique_ptr<CertificateVerifier> verifier_;
  const Bytes octets_ = B("RealMessage | Nonce | prf(SK_p, RestOfID)");
};

TEST_F(CertAuthTest, DigitalSignatureRoundTripEveryKey) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                       KeyType::kEcdsaP521, KeyType::kRsa}) {
    SCOPED_TRACE(crypto::KeyTypeName(type));
    TestCert peer = Peer(type);
    auto key = Must(PrivateKey::FromPem(peer.key_pem));
    // Every scheme the key has, one at a time through the peer's list.
    for (crypto::SignatureScheme scheme : key->Schemes()) {
      SCOPED_TRACE(crypto::SignatureSchemeName(scheme));
      uint16_t hash_id = 0;
      switch (crypto::SignatureSchemeHash(scheme)) {
        case crypto::HashAlgorithm::kSha256:
          hash_id = 2;
          break;
        case crypto::HashAlgorithm::kSha384:
          hash_id = 3;
          break;
        case crypto::HashAlgorithm::kSha512:
          hash_id = 4;
          break;
        case crypto::HashAlgorithm::kSha1:
          hash_id = 1;
          break;
      }
      const std::vector<uint16_t> peer_hashes = {hash_id};
      AuthPayload auth = Must(SignAuth(*key, octets_, peer_hashes));
      EXPECT_EQ(auth.method, AuthMethod::kDigitalSignature);
      Bytes algorithm = crypto::SignatureAlgorithmIdentifier(scheme);
      ASSERT_GT(auth.data.size(), 1 + algorithm.size());
      EXPECT_EQ(auth.data[0], algorithm.size());
      EXPECT_EQ(Bytes(auth.data.begin() + 1,
                      auth.data.begin() + 1 + algorithm.size()),
                algorithm);
      EXPECT_TRUE(Verify(peer, auth, octets_).ok()) << Verify(peer, auth, octets_);
      Bytes tampered = octets_;
      tampered[0] ^= 0x80;
      absl::Status status = Verify(peer, auth, tampered);
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
      EXPECT_EQ(status.message(), "signature does not verify");
      AuthPayload bad = auth;
      bad.data.back() ^= 1;
      EXPECT_EQ(Verify(peer, bad, octets_).message(),
                "signature does not verify");
    }
  }
}

TEST_F(CertAuthTest, StrongSwanChoices) {
  // strongSwan 5.9.8 offers 2,3,4,5 and we pick SHA-256 for P-256 and RSA,
  // with the AlgorithmIdentifiers of RFC 7427 appendix A.
  TestCert p256 = Peer(KeyType::kEcdsaP256);
  AuthPayload auth = Must(
      SignAuth(*Must(PrivateKey::FromPem(p256.key_pem)), octets_,
               kStrongSwanHashes));
  EXPECT_EQ(Bytes(auth.data.begin(), auth.data.begin() + 13),
            FromHex("0c300a06082a8648ce3d040302"));
  TestCert rsa = Peer(KeyType::kRsa);
  auth = Must(SignAuth(*Must(PrivateKey::FromPem(rsa.key_pem)), octets_,
                       kStrongSwanHashes));
  EXPECT_EQ(Bytes(auth.data.begin(), auth.data.begin() + 16),
            FromHex("0f300d06092a864886f70d01010b0500"));
  EXPECT_EQ(auth.data.size(), 16u + 256u);
  TestCert p384 = Peer(KeyType::kEcdsaP384);
  auth = Must(SignAuth(*Must(PrivateKey::FromPem(p384.key_pem)), octets_,
                       kStrongSwanHashes));
  EXPECT_EQ(Bytes(auth.data.begin(), auth.data.begin() + 13),
            FromHex("0c300a06082a8648ce3d040303"));
}

TEST_F(CertAuthTest, NoCommonHash) {
  TestCert rsa = Peer(KeyType::kRsa);
  const std::vector<uint16_t> sha1_only = {1};
  auto auth = SignAuth(*Must(PrivateKey::FromPem(rsa.key_pem)), octets_,
                       sha1_only);
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(auth.status().message(),
            "the peer accepts none of the signature hashes of our RSA key (it "
            "offers hash algorithms 1)");
}

TEST_F(CertAuthTest, ClassicMethods) {
  struct Case {
    KeyType type;
    AuthMethod method;
    size_t size;
  } cases[] = {
      {KeyType::kEcdsaP256, AuthMethod::kEcdsaSha256P256, 64},
      {KeyType::kEcdsaP384, AuthMethod::kEcdsaSha384P384, 96},
      {KeyType::kEcdsaP521, AuthMethod::kEcdsaSha512P521, 132},
      {KeyType::kRsa, AuthMethod::kRsaSignature, 256},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(crypto::KeyTypeName(c.type));
    TestCert peer = Peer(c.type);
    auto key = Must(PrivateKey::FromPem(peer.key_pem));
    AuthPayload auth = Must(SignAuth(*key, octets_, {}));
    EXPECT_EQ(auth.method, c.method);
    ASSERT_EQ(auth.data.size(), c.size);
    EXPECT_TRUE(Verify(peer, auth, octets_).ok()) << Verify(peer, auth, octets_);
    // The raw r || s is the DER signature's integers (RFC 4754 7).
    auto public_key = peer.certificate->public_key();
    if (c.type != KeyType::kRsa) {
      Bytes der = Must(crypto::EcdsaSignatureFromRaw(auth.data));
      EXPECT_EQ(der[0], 0x30);
      EXPECT_TRUE(public_key->Verify(key->Schemes()[0], octets_, der));
    } else {
      EXPECT_TRUE(public_key->Verify(crypto::SignatureScheme::kRsaPkcs1Sha1,
                                     octets_, auth.data));
    }
    Bytes tampered = octets_;
    tampered.back() ^= 1;
    EXPECT_EQ(Verify(peer, auth, tampered).message(),
              "signature does not verify");
  }
}

TEST_F(CertAuthTest, ClassicEcdsaWrongLength) {
  TestCert peer = Peer(KeyType::kEcdsaP256);
  AuthPayload auth = Must(
      SignAuth(*Must(PrivateKey::FromPem(peer.key_pem)), octets_, {}));
  auth.data.pop_back();
  EXPECT_EQ(Verify(peer, auth, octets_).message(),
            "signature does not verify (63 bytes of r || s, expected 64)");
  // A DER signature under method 9 is refused too.
  auto key = Must(PrivateKey::FromPem(peer.key_pem));
  auth.data = Must(key->Sign(crypto::SignatureScheme::kEcdsaSha256, octets_));
  EXPECT_EQ(Verify(peer, auth, octets_).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(CertAuthTest, SchemeMustFitKey) {
  TestCert rsa = Peer(KeyType::kRsa);
  TestCert ec = Peer(KeyType::kEcdsaP256);
  auto ec_key = Must(PrivateKey::FromPem(ec.key_pem));
  // An ECDSA signature presented with the RSA certificate.
  AuthPayload auth = Must(SignAuth(*ec_key, octets_, kStrongSwanHashes));
  EXPECT_EQ(Verify(rsa, auth, octets_).message(),
            "signature algorithm ecdsa-with-SHA256 does not fit the "
            "certificate's RSA key");
  // An RSA AlgorithmIdentifier with the ECDSA certificate.
  Bytes algorithm = crypto::SignatureAlgorithmIdentifier(
      crypto::SignatureScheme::kRsaPkcs1Sha256);
  AuthPayload rsa_claim;
  rsa_claim.method = AuthMethod::kDigitalSignature;
  rsa_claim.data.push_back(static_cast<uint8_t>(algorithm.size()));
  rsa_claim.data.insert(rsa_claim.data.end(), algorithm.begin(),
                        algorithm.end());
  rsa_claim.data.resize(rsa_claim.data.size() + 256, 0x55);
  EXPECT_EQ(Verify(ec, rsa_claim, octets_).message(),
            "signature algorithm sha256WithRSAEncryption does not fit the "
            "certificate's ECDSA P-256 key");
  // Classic methods for the wrong key.
  AuthPayload classic = Must(SignAuth(*ec_key, octets_, {}));  // Method 9.
  EXPECT_EQ(Verify(rsa, classic, octets_).message(),
            "AUTH method 9 needs an ECDSA P-256 key, the certificate holds RSA");
  classic.method = AuthMethod::kEcdsaSha384P384;
  EXPECT_EQ(Verify(ec, classic, octets_).message(),
            "AUTH method 10 needs an ECDSA P-384 key, the certificate holds "
            "ECDSA P-256");
  classic.method = AuthMethod::kRsaSignature;
  EXPECT_EQ(Verify(ec, classic, octets_).message(),
            "AUTH method 1 (RSA) does not fit the certificate's ECDSA P-256 "
            "key");
}

TEST_F(CertAuthTest, UnsupportedAndMalformedAuth) {
  TestCert peer = Peer(KeyType::kRsa);
  AuthPayload auth;
  auth.method = AuthMethod::kDigitalSignature;
  // RSASSA-PSS (parameters left out; we do not get that far).
  auth.data = FromHex("0d300b06092a864886f70d01010a00112233");
  absl::Status status = Verify(peer, auth, octets_);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "unsupported signature algorithm 1.2.840.113549.1.1.10");
  // sha1WithRSAEncryption is refused in method 14.
  Bytes sha1 = crypto::SignatureAlgorithmIdentifier(
      crypto::SignatureScheme::kRsaPkcs1Sha1);
  auth.data = {static_cast<uint8_t>(sha1.size())};
  auth.data.insert(auth.data.end(), sha1.begin(), sha1.end());
  auth.data.resize(auth.data.size() + 256);
  EXPECT_THAT(std::string(Verify(peer, auth, octets_).message()),
              HasSubstr("unsupported signature algorithm sha1WithRSAEncryption"));
  for (const char* hex : {"", "0f", "0f300d06", "03300100"}) {
    auth.data = FromHex(hex);
    status = Verify(peer, auth, octets_);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << hex;
  }
  auth.data = FromHex("0f");
  EXPECT_EQ(Verify(peer, auth, octets_).message(),
            "malformed Digital Signature AUTH data");
  auth.method = AuthMethod::kSharedKeyMic;
  auth.data = Bytes(32, 1);
  EXPECT_EQ(Verify(peer, auth, octets_).message(),
            "AUTH method 2 is not a certificate signature method");
}

TEST_F(CertAuthTest, CertPayloadProblems) {
  TestCert peer = Peer(KeyType::kEcdsaP256);
  AuthPayload auth = Must(SignAuth(*Must(PrivateKey::FromPem(peer.key_pem)),
                                   octets_, kStrongSwanHashes));
  IdPayload id = Must(ParseIdentity("fqdn:gw.ssw.test"));
  absl::Status status =
      VerifyCertAuth(*verifier_, {}, id, auth, octets_, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "no CERT payload from the peer");

  CertPayload garbage;
  garbage.data = B("not a certificate");
  std::vector<CertPayload> certs = {garbage};
  status = VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("unparseable CERT payload"));

  certs = {BuildCert(*peer.certificate), garbage};
  status = VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("unparseable CERT payload 2"));

  CertPayload hash_and_url = BuildCert(*peer.certificate);
  hash_and_url.encoding = CertEncoding::kHashAndUrlX509;
  certs = {hash_and_url};
  status = VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow());
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "unsupported certificate encoding 12 in the peer's first CERT "
            "payload (want X.509 Signature, 4)");
  // Other encodings after the first are skipped.
  certs = {BuildCert(*peer.certificate), hash_and_url};
  EXPECT_TRUE(
      VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow()).ok());
}

TEST_F(CertAuthTest, ChainFailures) {
  TestCert peer = Peer(KeyType::kEcdsaP256);
  AuthPayload auth = Must(SignAuth(*Must(PrivateKey::FromPem(peer.key_pem)),
                                   octets_, kStrongSwanHashes));
  IdPayload id = Must(ParseIdentity("fqdn:gw.ssw.test"));
  absl::Status status =
      Verify(peer, auth, octets_, id, TestNow() + absl::Hours(24 * 400));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "certificate expired (not after 2026-06-01T00:00:00Z): C=XX, "
            "O=ssw-harness, CN=gw.ssw.test");
  status = Verify(peer, auth, octets_, id, TestNow() - absl::Hours(48));
  EXPECT_EQ(status.message(),
            "certificate not yet valid (not before 2025-05-31T00:00:00Z): "
            "C=XX, O=ssw-harness, CN=gw.ssw.test");

  TestCert other_ca = Must(MakeCert(CaSpec("C=XX, O=other, CN=Other CA")));
  TestCert stranger = Peer(KeyType::kEcdsaP256, &other_ca);
  AuthPayload stranger_auth = Must(SignAuth(
      *Must(PrivateKey::FromPem(stranger.key_pem)), octets_, kStrongSwanHashes));
  status = Verify(stranger, stranger_auth, octets_);
  EXPECT_EQ(status.message(),
            "untrusted: no path to a configured CA (issuer C=XX, O=other, "
            "CN=Other CA)");

  CertSpec not_ca = CaSpec("CN=Not a CA");
  not_ca.is_ca = false;
  TestCert fake = Must(MakeCert(not_ca, &ca_));
  TestCert under_fake = Peer(KeyType::kEcdsaP256, &fake);
  AuthPayload fake_auth = Must(SignAuth(
      *Must(PrivateKey::FromPem(under_fake.key_pem)), octets_, {}));
  std::vector<CertPayload> certs = {BuildCert(*under_fake.certificate),
                                    BuildCert(*fake.certificate)};
  status = VerifyCertAuth(*verifier_, certs, id, fake_auth, octets_, TestNow());
  EXPECT_EQ(status.message(), "CA certificate is not a CA: CN=Not a CA");

  std::vector<uint8_t> tampered = peer.cert_der;
  tampered.back() ^= 1;
  CertPayload bad_cert;
  bad_cert.data = tampered;
  certs = {bad_cert};
  status = VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow());
  EXPECT_EQ(status.message(),
            "bad signature on certificate C=XX, O=ssw-harness, CN=gw.ssw.test");
}

TEST_F(CertAuthTest, IntermediateInSecondCertPayload) {
  TestCert intermediate =
      Must(MakeCert(CaSpec("C=XX, O=ssw-harness, CN=Sub CA", KeyType::kRsa), &ca_));
  TestCert peer = Peer(KeyType::kEcdsaP384, &intermediate);
  AuthPayload auth = Must(SignAuth(*Must(PrivateKey::FromPem(peer.key_pem)),
                                   octets_, kStrongSwanHashes));
  IdPayload id = Must(ParseIdentity("gw.ssw.test"));
  std::vector<CertPayload> certs = {BuildCert(*peer.certificate),
                                    BuildCert(*intermediate.certificate)};
  EXPECT_TRUE(
      VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow()).ok());
  certs.pop_back();
  EXPECT_EQ(VerifyCertAuth(*verifier_, certs, id, auth, octets_, TestNow())
                .message(),
            "untrusted: no path to a configured CA (issuer C=XX, "
            "O=ssw-harness, CN=Sub CA)");
}

TEST_F(CertAuthTest, IdentityMismatch) {
  TestCert peer = Peer(KeyType::kEcdsaP256);
  AuthPayload auth = Must(SignAuth(*Must(PrivateKey::FromPem(peer.key_pem)),
                                   octets_, kStrongSwanHashes));
  absl::Status status =
      Verify(peer, auth, octets_, Must(ParseIdentity("fqdn:x.ssw.test")));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "identity fqdn:x.ssw.test does not match certificate C=XX, "
            "O=ssw-harness, CN=gw.ssw.test");
  EXPECT_TRUE(Verify(peer, auth, octets_,
                     Must(ParseIdentity(
                         "C=XX, O=ssw-harness, CN=gw.ssw.test")))
                  .ok());
  EXPECT_TRUE(
      Verify(peer, auth, octets_, IdentityOfCertificate(*peer.certificate))
          .ok());
}

// --- Credentials from files. ---

TEST(LoadCertCredentialsTest, HarnessLikeFiles) {
  // As gw-strongswan.sh writes them: "EC PRIVATE KEY" PEM and a PEM cert.
  TestCert ca = Must(MakeCert(CaSpec("C=XX, O=ssw-harness, CN=ssw-harness CA")));
  TestCert intermediate = Must(MakeCert(CaSpec("C=XX, CN=Sub"), &ca));
  for (KeyPemFormat format : {KeyPemFormat::kTraditional, KeyPemFormat::kPkcs8}) {
    for (KeyType type : {KeyType::kEcdsaP256, KeyType::kRsa}) {
      CertSpec spec;
      spec.subject = "C=XX, O=ssw-harness, CN=client1";
      spec.emails = {"client1@ssw.test"};
      spec.key_type = type;
      spec.key_format = format;
      TestCert client = Must(MakeCert(spec, &intermediate));
      const std::string cert_path = TmpDir() + "/client.crt";
      const std::string key_path = TmpDir() + "/client.key";
      WriteFile(cert_path, client.cert_pem + intermediate.cert_pem);
      WriteFile(key_path, client.key_pem);
      CertCredentials credentials =
          Must(LoadCertCredentials(cert_path, key_path));
      EXPECT_EQ(credentials.certificate->der(), client.cert_der);
      ASSERT_EQ(credentials.intermediates.size(), 1u);
      EXPECT_EQ(credentials.intermediates[0]->der(), intermediate.cert_der);
      EXPECT_EQ(credentials.key->type(), type);
      EXPECT_TRUE(CertificateMatchesIdentity(
          *credentials.certificate,
          Must(ParseIdentity("C=XX, O=ssw-harness, CN=client1"))));
      EXPECT_TRUE(CertificateMatchesIdentity(
          *credentials.certificate, Must(ParseIdentity("client1@ssw.test"))));
    }
  }
}

TEST(LoadCertCredentialsTest, Errors) {
  TestCert a = Must(MakeCert(CertSpec()));
  TestCert b = Must(MakeCert(CertSpec()));
  const std::string cert_path = TmpDir() + "/a.crt";
  const std::string key_path = TmpDir() + "/b.key";
  WriteFile(cert_path, a.cert_pem);
  WriteFile(key_path, b.key_pem);
  auto mismatch = LoadCertCredentials(cert_path, key_path);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mismatch.status().message(),
            absl::StrCat("private key ", key_path, " does not match certificate ",
                         cert_path, " (C=XX, O=test, CN=leaf)"));
  auto missing = LoadCertCredentials(TmpDir() + "/missing.crt", key_path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("missing.crt"));
  auto missing_key = LoadCertCredentials(cert_path, TmpDir() + "/missing.key");
  EXPECT_EQ(missing_key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing_key.status().message()),
              HasSubstr("missing.key"));
  WriteFile(TmpDir() + "/bad.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                   "-----END CERTIFICATE-----\n");
  auto bad = LoadCertCredentials(TmpDir() + "/bad.crt", key_path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bad.crt"));
}

}  // namespace
}  // namespace stow::ike
