#include "sdk/crypto/testing/test_pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::crypto::testing {
namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "test_pki: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

bssl::UniquePtr<EVP_PKEY> NewKey(KeyType type) {
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
  Check(pkey != nullptr, "EVP_PKEY_new");
  if (type == KeyType::kRsa) {
    bssl::UniquePtr<RSA> rsa(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    Check(rsa && e && BN_set_word(e.get(), RSA_F4) &&
              RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr),
          "RSA_generate_key_ex");
    Check(EVP_PKEY_assign_RSA(pkey.get(), rsa.release()), "assign RSA");
    return pkey;
  }
  int nid = type == KeyType::kEcdsaP256   ? NID_X9_62_prime256v1
            : type == KeyType::kEcdsaP384 ? NID_secp384r1
                                          : NID_secp521r1;
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(nid));
  Check(ec && EC_KEY_generate_key(ec.get()), "EC_KEY_generate_key");
  Check(EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release()), "assign EC");
  return pkey;
}

std::string Pem(const char* name, const uint8_t* data, size_t length) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  Check(bio && PEM_write_bio(bio.get(), name, "", data,
                             static_cast<long>(length)) > 0,
        "PEM_write_bio");
  const uint8_t* contents = nullptr;
  size_t contents_length = 0;
  Check(BIO_mem_contents(bio.get(), &contents, &contents_length),
        "BIO_mem_contents");
  return std::string(reinterpret_cast<const char*>(contents), contents_length);
}

std::string KeyPem(const EVP_PKEY* pkey, KeyPemFormat format) {
  bssl::ScopedCBB cbb;
  Check(CBB_init(cbb.get(), 256), "CBB_init");
  const char* name = "PRIVATE KEY";
  if (format == KeyPemFormat::kPkcs8) {
    Check(EVP_marshal_private_key(cbb.get(), pkey), "EVP_marshal_private_key");
  } else if (EVP_PKEY_id(pkey) == EVP_PKEY_RSA) {
    name = "RSA PRIVATE KEY";
    Check(RSA_marshal_private_key(cbb.get(), EVP_PKEY_get0_RSA(pkey)),
          "RSA_marshal_private_key");
  } else {
    name = "EC PRIVATE KEY";
    Check(EC_KEY_marshal_private_key(cbb.get(), EVP_PKEY_get0_EC_KEY(pkey), 0),
          "EC_KEY_marshal_private_key");
  }
  uint8_t* der = nullptr;
  size_t length = 0;
  Check(CBB_finish(cbb.get(), &der, &length), "CBB_finish");
  std::string pem = Pem(name, der, length);
  OPENSSL_free(der);
  return pem;
}

bssl::UniquePtr<EVP_PKEY> ParseKeyPem(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  return bssl::UniquePtr<EVP_PKEY>(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

bssl::UniquePtr<X509_NAME> ParseName(const std::vector<uint8_t>& der) {
  const uint8_t* p = der.data();
  return bssl::UniquePtr<X509_NAME>(
      d2i_X509_NAME(nullptr, &p, static_cast<long>(der.size())));
}

const EVP_MD* DigestFor(const EVP_PKEY* pkey) {
  if (EVP_PKEY_id(pkey) == EVP_PKEY_EC) {
    switch (EC_GROUP_get_curve_name(
        EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(pkey)))) {
      case NID_secp384r1:
        return EVP_sha384();
      case NID_secp521r1:
        return EVP_sha512();
      default:
        break;
    }
  }
  return EVP_sha256();
}

bool SetTime(X509* x509, absl::Time t, bool not_before) {
  bssl::UniquePtr<ASN1_TIME> asn1(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
  if (asn1 == nullptr) return false;
  return not_before ? X509_set1_notBefore(x509, asn1.get())
                    : X509_set1_notAfter(x509, asn1.get());
}

bool AddGeneralName(GENERAL_NAMES* names, int type, const uint8_t* data,
                    size_t length) {
  bssl::UniquePtr<ASN1_STRING> value(
      ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING
                                             : V_ASN1_IA5STRING));
  bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
  if (!value || !name ||
      !ASN1_STRING_set(value.get(), data, static_cast<int>(length))) {
    return false;
  }
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (!sk_GENERAL_NAME_push(names, name.get())) return false;
  name.release();
  return true;
}

}  // namespace

std::string GenerateKeyPem(KeyType type, KeyPemFormat format) {
  return KeyPem(NewKey(type).get(), format);
}

CertSpec CaSpec(std::string subject, KeyType key_type) {
  CertSpec spec;
  spec.subject = std::move(subject);
  spec.key_type = key_type;
  spec.is_ca = true;
  spec.not_before = TestNow() - absl::Hours(24 * 365 * 5);
  spec.not_after = TestNow() + absl::Hours(24 * 365 * 5);
  return spec;
}

absl::StatusOr<TestCert> MakeCert(const CertSpec& spec,
                                  const TestCert* issuer) {
  static std::atomic<uint64_t> serial{1000};
  TestCert out;
  bssl::UniquePtr<EVP_PKEY> pkey;
  if (spec.key_pem.empty()) {
    pkey = NewKey(spec.key_type);
    out.key_pem = KeyPem(pkey.get(), spec.key_format);
  } else {
    pkey = ParseKeyPem(spec.key_pem);
    if (pkey == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError("CertSpec.key_pem does not parse");
    }
    out.key_pem = spec.key_pem;
  }
  {
    auto parsed = PrivateKey::FromPem(out.key_pem);
    if (!parsed.ok()) return parsed.status();
    out.key_type = (*parsed)->type();
  }

  bssl::UniquePtr<EVP_PKEY> signer;
  std::vector<uint8_t> issuer_name_der;
  if (issuer != nullptr) {
    signer = ParseKeyPem(issuer->key_pem);
    if (signer == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError("issuer key does not parse");
    }
    issuer_name_der = issuer->certificate->SubjectDer();
  } else {
    signer = bssl::UpRef(pkey);
  }
  absl::StatusOr<std::vector<uint8_t>> subject_der =
      EncodeDistinguishedName(spec.subject);
  if (!subject_der.ok()) return subject_der.status();
  if (issuer == nullptr) issuer_name_der = *subject_der;
  bssl::UniquePtr<X509_NAME> subject = ParseName(*subject_der);
  bssl::UniquePtr<X509_NAME> issuer_name = ParseName(issuer_name_der);
  if (!subject || !issuer_name) {
    return absl::InternalError("name does not re-parse");
  }

  bssl::UniquePtr<X509> x509(X509_new());
  Check(x509 && X509_set_version(x509.get(), X509_VERSION_3) &&
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509.get()),
                                    serial.fetch_add(1)) &&
            X509_set_subject_name(x509.get(), subject.get()) &&
            X509_set_issuer_name(x509.get(), issuer_name.get()) &&
            SetTime(x509.get(), spec.not_before, true) &&
            SetTime(x509.get(), spec.not_after, false) &&
            X509_set_pubkey(x509.get(), pkey.get()),
        "X509 fields");

  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  Check(bc != nullptr, "BASIC_CONSTRAINTS_new");
  bc->ca = spec.is_ca ? 0xff : 0;
  Check(X509_add1_ext_i2d(x509.get(), NID_basic_constraints, bc.get(), 1,
                          X509V3_ADD_DEFAULT),
        "basicConstraints");
  if (spec.is_ca) {
    bssl::UniquePtr<ASN1_BIT_STRING> usage(ASN1_BIT_STRING_new());
    Check(usage && ASN1_BIT_STRING_set_bit(usage.get(), 5, 1) &&  // keyCertSign
              ASN1_BIT_STRING_set_bit(usage.get(), 6, 1) &&       // cRLSign
              X509_add1_ext_i2d(x509.get(), NID_key_usage, usage.get(), 1,
                                X509V3_ADD_DEFAULT),
          "keyUsage");
  }
  if (!spec.dns_names.empty() || !spec.emails.empty() || !spec.ips.empty()) {
    bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
    Check(names != nullptr, "GENERAL_NAMES");
    for (const std::string& dns : spec.dns_names) {
      Check(AddGeneralName(names.get(), GEN_DNS,
                           reinterpret_cast<const uint8_t*>(dns.data()),
                           dns.size()),
            "dNSName");
    }
    for (const std::string& email : spec.emails) {
      Check(AddGeneralName(names.get(), GEN_EMAIL,
                           reinterpret_cast<const uint8_t*>(email.data()),
                           email.size()),
            "rfc822Name");
    }
    for (const IpAddress& ip : spec.ips) {
      Check(AddGeneralName(names.get(), GEN_IPADD, ip.bytes().data(),
                           ip.bytes().size()),
            "iPAddress");
    }
    Check(X509_add1_ext_i2d(x509.get(), NID_subject_alt_name, names.get(), 0,
                            X509V3_ADD_DEFAULT),
          "subjectAltName");
  }
  Check(X509_sign(x509.get(), signer.get(), DigestFor(signer.get())) > 0,
        "X509_sign");

  uint8_t* der = nullptr;
  int length = i2d_X509(x509.get(), &der);
  Check(length > 0, "i2d_X509");
  out.cert_der.assign(der, der + length);
  OPENSSL_free(der);
  out.cert_pem = Pem("CERTIFICATE", out.cert_der.data(), out.cert_der.size());
  auto certificate = Certificate::FromDer(out.cert_der);
  if (!certificate.ok()) return certificate.status();
  out.certificate = *std::move(certificate);
  return out;
}

}  // namespace stow::crypto::testing
