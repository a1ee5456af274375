// Fuzz target for the certificate-authentication parsers that see the
// peer's bytes: CERT payload data (X.509 DER through BoringSSL and our
// accessors), AUTH payload data for every method (RFC 7427 length |
// AlgorithmIdentifier | signature, raw ECDSA r || s), ID payload data
// (DistinguishedNameText, DescribeIdentity, identity matching) and the
// SIGNATURE_HASH_ALGORITHMS notify. A finding is a crash, a sanitizer report
// or an AUTH that verifies without a signature method.
//
// Input: byte 0 picks the path.
//   even: bytes 1.. are the first CERT payload's data (then parsed and
//         checked against a fixed CA);
//   odd:  byte 1 = AUTH method, byte 2 = ID type, byte 3 = ID length n,
//         n bytes of ID data, the rest AUTH data, checked against a valid
//         certificate chain minted once (CA + P-256 leaf "gw.ssw.test").
// Every path also runs the stand-alone parsers over the whole input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "sdk/crypto/testing/test_pki.h"
#include "sdk/crypto/x509.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"

namespace {

using stow::crypto::Certificate;
using stow::crypto::CertificateVerifier;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Pki {
  std::unique_ptr<CertificateVerifier> verifier;
  std::shared_ptr<const Certificate> leaf;
};

const Pki& GetPki() {
  static const Pki* pki = [] {
    using namespace stow::crypto::testing;
    auto ca = MakeCert(CaSpec("C=XX, O=fuzz, CN=Fuzz CA"));
    Check(ca.ok());
    CertSpec spec;
    spec.subject = "C=XX, O=fuzz, CN=gw.ssw.test";
    spec.dns_names = {"gw.ssw.test"};
    auto leaf = MakeCert(spec, &*ca);
    Check(leaf.ok());
    auto* out = new Pki;
    out->verifier = std::make_unique<CertificateVerifier>(
        std::vector<std::shared_ptr<const Certificate>>{ca->certificate});
    out->leaf = leaf->certificate;
    return out;
  }();
  return *pki;
}

void ExerciseCertificate(const Certificate& c) {
  (void)c.SubjectText();
  (void)c.IssuerText();
  (void)c.SubjectDer();
  (void)c.DnsNames();
  (void)c.EmailAddresses();
  (void)c.IpAddresses();
  (void)c.not_before();
  (void)c.not_after();
  Check(c.SpkiSha1().size() == 20);
  auto key = c.public_key();
  if (key != nullptr) {
    const uint8_t data[] = {1, 2, 3};
    Check(!key->Verify(stow::crypto::SignatureScheme::kEcdsaSha256, data, {}));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ike = stow::ike;
  namespace crypto = stow::crypto;
  const absl::Span<const uint8_t> input(data, size);
  const Pki& pki = GetPki();

  (void)ike::ParseSignatureHashAlgorithms(input);
  (void)crypto::SignatureSchemeFromAlgorithmIdentifier(input);
  (void)crypto::DistinguishedNameText(input);
  (void)crypto::EcdsaSignatureToRaw(input, 32);
  (void)crypto::EcdsaSignatureFromRaw(input);
  if (size == 0) return 0;

  ike::AuthPayload auth;
  ike::IdPayload id;
  id.id_type = ike::IdType::kFqdn;
  id.data = {'g', 'w', '.', 's', 's', 'w', '.', 't', 'e', 's', 't'};
  const uint8_t octets[] = {'s', 'i', 'g', 'n', 'e', 'd'};
  if (data[0] % 2 == 0) {
    ike::CertPayload cert;
    cert.data.assign(data + 1, data + size);
    auto parsed = Certificate::FromDer(cert.data);
    if (parsed.ok()) {
      ExerciseCertificate(**parsed);
      (void)ike::CertificateMatchesIdentity(**parsed, id);
      (void)ike::BuildCertReq({*parsed});
    }
    auth.method = ike::AuthMethod::kDigitalSignature;
    auth.data = {0};
    const ike::CertPayload certs[] = {cert};
    Check(!ike::VerifyCertAuth(*pki.verifier, certs, id, auth, octets,
                               crypto::testing::TestNow())
               .ok());
    return 0;
  }
  if (size < 4) return 0;
  auth.method = static_cast<ike::AuthMethod>(data[1]);
  id.id_type = static_cast<ike::IdType>(data[2]);
  size_t id_length = data[3];
  if (id_length > size - 4) id_length = size - 4;
  id.data.assign(data + 4, data + 4 + id_length);
  auth.data.assign(data + 4 + id_length, data + size);
  (void)ike::DescribeIdentity(id);
  (void)ike::CertificateMatchesIdentity(*pki.leaf, id);
  const ike::CertPayload certs[] = {ike::BuildCert(*pki.leaf)};
  absl::Status status = ike::VerifyCertAuth(*pki.verifier, certs, id, auth,
                                            octets,
                                            crypto::testing::TestNow());
  // Nothing here holds the leaf's private key: no AUTH may verify.
  Check(!status.ok());
  return 0;
}
