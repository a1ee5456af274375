#include "sdk/crypto/x509.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "sdk/crypto/evp_md.h"

namespace stow::crypto {
namespace {

absl::Span<const uint8_t> AsBytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

std::string Hex(absl::Span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

// Copies a finished CBB into a vector; CBB failures are allocation failures.
std::vector<uint8_t> FinishCbb(CBB* cbb) {
  uint8_t* data = nullptr;
  size_t length = 0;
  internal::CheckOk(CBB_finish(cbb, &data, &length), "CBB_finish");
  std::vector<uint8_t> out(data, data + length);
  OPENSSL_free(data);
  return out;
}

// Reads a whole file; NotFound naming the path when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  return contents.str();
}

absl::Status Prefixed(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

// One PEM block.
struct PemBlock {
  std::string name;
  std::string header;
  std::vector<uint8_t> data;
};

// Every PEM block in `pem`. InvalidArgument for malformed PEM (bad base64,
// missing END line).
absl::StatusOr<std::vector<PemBlock>> ReadPemBlocks(absl::string_view pem) {
  std::vector<PemBlock> blocks;
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  internal::CheckOk(bio != nullptr, "BIO_new_mem_buf");
  ERR_clear_error();
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    uint8_t* data = nullptr;
    long length = 0;
    if (!PEM_read_bio(bio.get(), &name, &header, &data, &length)) {
      uint32_t error = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(error) == ERR_LIB_PEM &&
          ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
        break;  // No more blocks.
      }
      return absl::InvalidArgumentError("malformed PEM");
    }
    PemBlock block;
    block.name = name;
    block.header = header;
    block.data.assign(data, data + length);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    blocks.push_back(std::move(block));
  }
  return blocks;
}

// --- Signature schemes (RFC 7427 appendix A lists these encodings). ---

struct SchemeInfo {
  SignatureScheme scheme;
  const char* name;
  const char* oid;
  bool rsa;
  HashAlgorithm hash;
};

constexpr SchemeInfo kSchemes[] = {
    {SignatureScheme::kEcdsaSha256, "ecdsa-with-SHA256", "1.2.840.10045.4.3.2",
     false, HashAlgorithm::kSha256},
    {SignatureScheme::kEcdsaSha384, "ecdsa-with-SHA384", "1.2.840.10045.4.3.3",
     false, HashAlgorithm::kSha384},
    {SignatureScheme::kEcdsaSha512, "ecdsa-with-SHA512", "1.2.840.10045.4.3.4",
     false, HashAlgorithm::kSha512},
    {SignatureScheme::kRsaPkcs1Sha256, "sha256WithRSAEncryption",
     "1.2.840.113549.1.1.11", true, HashAlgorithm::kSha256},
    {SignatureScheme::kRsaPkcs1Sha384, "sha384WithRSAEncryption",
     "1.2.840.113549.1.1.12", true, HashAlgorithm::kSha384},
    {SignatureScheme::kRsaPkcs1Sha512, "sha512WithRSAEncryption",
     "1.2.840.113549.1.1.13", true, HashAlgorithm::kSha512},
    {SignatureScheme::kRsaPkcs1Sha1, "sha1WithRSAEncryption",
     "1.2.840.113549.1.1.5", true, HashAlgorithm::kSha1},
};

const SchemeInfo& Info(SignatureScheme scheme) {
  for (const SchemeInfo& info : kSchemes) {
    if (info.scheme == scheme) return info;
  }
  std::fprintf(stderr, "stow::crypto: bad SignatureScheme %d\n",
               static_cast<int>(scheme));
  std::abort();
}

// The OID's dotted text, or "" if it does not parse.
std::string OidText(const CBS& oid) {
  char* text = CBS_asn1_oid_to_text(&oid);
  if (text == nullptr) {
    ERR_clear_error();
    return "";
  }
  std::string out(text);
  OPENSSL_free(text);
  return out;
}

// --- Distinguished names. ---

// How a value is encoded, as strongSwan's `pki --dn` / identity parser
// does (so that the DER of a configured DN equals that of a strongSwan
// certificate): emailAddress as IA5String; C as PrintableString (required);
// DC as PrintableString when it fits, else IA5String; everything else as
// PrintableString when it fits, else UTF8String.
enum class DnString : uint8_t { kAuto, kPrintable, kIa5, kPrintableOrIa5 };

struct DnAttribute {
  const char* name;  // The first entry for an OID is the display name.
  const char* oid;
  DnString string_type;
};

constexpr DnAttribute kDnAttributes[] = {
    {"C", "2.5.4.6", DnString::kPrintable},
    {"ST", "2.5.4.8", DnString::kAuto},
    {"L", "2.5.4.7", DnString::kAuto},
    {"O", "2.5.4.10", DnString::kAuto},
    {"OU", "2.5.4.11", DnString::kAuto},
    {"CN", "2.5.4.3", DnString::kAuto},
    {"SN", "2.5.4.4", DnString::kAuto},
    {"GN", "2.5.4.42", DnString::kAuto},
    {"serialNumber", "2.5.4.5", DnString::kAuto},
    {"title", "2.5.4.12", DnString::kAuto},
    {"E", "1.2.840.113549.1.9.1", DnString::kIa5},
    {"emailAddress", "1.2.840.113549.1.9.1", DnString::kIa5},
    {"DC", "0.9.2342.19200300.100.1.25", DnString::kPrintableOrIa5},
};

bool IsPrintableStringChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::strchr(" '()+,-./:=?", c) != nullptr;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// An attribute value as UTF-8, or nullopt-like false for a string type we
// do not decode (the caller then prints the value as #hex).
bool ValueToUtf8(unsigned tag, const CBS& value, std::string* out) {
  const uint8_t* p = CBS_data(&value);
  size_t n = CBS_len(&value);
  switch (tag) {
    case CBS_ASN1_UTF8STRING:
    case CBS_ASN1_PRINTABLESTRING:
    case CBS_ASN1_IA5STRING:
    case CBS_ASN1_NUMERICSTRING:
    case CBS_ASN1_VISIBLESTRING:
      out->assign(reinterpret_cast<const char*>(p), n);
      return true;
    case CBS_ASN1_T61STRING:  // Treated as Latin-1, as OpenSSL does.
      out->clear();
      for (size_t i = 0; i < n; ++i) AppendUtf8(p[i], out);
      return true;
    case CBS_ASN1_BMPSTRING:
      if (n % 2 != 0) return false;
      out->clear();
      for (size_t i = 0; i < n; i += 2) {
        AppendUtf8(static_cast<uint32_t>(p[i]) << 8 | p[i + 1], out);
      }
      return true;
    case CBS_ASN1_UNIVERSALSTRING:
      if (n % 4 != 0) return false;
      out->clear();
      for (size_t i = 0; i < n; i += 4) {
        uint32_t cp = static_cast<uint32_t>(p[i]) << 24 |
                      static_cast<uint32_t>(p[i + 1]) << 16 |
                      static_cast<uint32_t>(p[i + 2]) << 8 | p[i + 3];
        if (cp > 0x10ffff) return false;
        AppendUtf8(cp, out);
      }
      return true;
    default:
      return false;
  }
}

void AppendEscaped(absl::string_view value, std::string* out) {
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    bool edge_space = c == ' ' && (i == 0 || i + 1 == value.size());
    if (edge_space || std::strchr(",+=\\;", c) != nullptr) {
      out->push_back('\\');
    }
    out->push_back(c);
  }
}

struct Ava {
  std::string type;
  std::string value;
};

// Splits DN text into RDNs of attribute-value pairs.
absl::StatusOr<std::vector<std::vector<Ava>>> SplitDn(absl::string_view text) {
  std::vector<std::vector<Ava>> rdns(1);
  size_t i = 0;
  const size_t n = text.size();
  auto skip_spaces = [&] {
    while (i < n && text[i] == ' ') ++i;
  };
  for (;;) {
    skip_spaces();
    size_t eq = text.find('=', i);
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "missing '=' in distinguished name component \"", text.substr(i),
          "\""));
    }
    Ava ava;
    ava.type = std::string(absl::StripAsciiWhitespace(text.substr(i, eq - i)));
    if (ava.type.empty()) {
      return absl::InvalidArgumentError(
          "empty attribute name in distinguished name");
    }
    i = eq + 1;
    skip_spaces();
    size_t protected_length = 0;  // Escaped characters are never trimmed.
    while (i < n) {
      char c = text[i];
      if (c == '\\') {
        if (i + 1 >= n) {
          return absl::InvalidArgumentError(
              "trailing '\\' in distinguished name");
        }
        ava.value.push_back(text[i + 1]);
        protected_length = ava.value.size();
        i += 2;
        continue;
      }
      if (c == ',' || c == ';' || c == '+') break;
      ava.value.push_back(c);
      ++i;
    }
    while (ava.value.size() > protected_length && ava.value.back() == ' ') {
      ava.value.pop_back();
    }
    if (ava.value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty value for ", ava.type, " in distinguished name"));
    }
    rdns.back().push_back(std::move(ava));
    if (i >= n) break;
    char separator = text[i++];
    skip_spaces();
    if (i >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "distinguished name ends with '", std::string(1, separator), "'"));
    }
    if (separator != '+') rdns.emplace_back();
  }
  return rdns;
}

absl::Status AddAva(CBB* rdn, const Ava& ava) {
  const DnAttribute* attribute = nullptr;
  for (const DnAttribute& a : kDnAttributes) {
    if (absl::EqualsIgnoreCase(a.name, ava.type)) {
      attribute = &a;
      break;
    }
  }
  std::string oid;
  DnString string_type = DnString::kAuto;
  if (attribute != nullptr) {
    oid = attribute->oid;
    string_type = attribute->string_type;
  } else if (absl::ascii_isdigit(static_cast<unsigned char>(ava.type[0]))) {
    oid = ava.type;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown attribute \"", ava.type,
                     "\" in distinguished name (use C, ST, L, O, OU, CN, SN, "
                     "GN, serialNumber, title, emailAddress, DC or an OID)"));
  }
  const bool printable =
      std::all_of(ava.value.begin(), ava.value.end(), IsPrintableStringChar);
  const bool ascii = std::all_of(ava.value.begin(), ava.value.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  });
  unsigned tag = CBS_ASN1_UTF8STRING;
  switch (string_type) {
    case DnString::kPrintable:
      if (!printable) {
        for (char c : ava.value) {
          if (!IsPrintableStringChar(c)) {
            return absl::InvalidArgumentError(
                absl::StrCat("character '", std::string(1, c),
                             "' not allowed in ", ava.type, "=", ava.value));
          }
        }
      }
      if (ava.value.size() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "C must be a two-letter country code, not \"", ava.value, "\""));
      }
      tag = CBS_ASN1_PRINTABLESTRING;
      break;
    case DnString::kIa5:
    case DnString::kPrintableOrIa5:
      if (!ascii) {
        return absl::InvalidArgumentError(
            absl::StrCat(ava.type, "=", ava.value, " must be ASCII"));
      }
      tag = string_type == DnString::kPrintableOrIa5 && printable
                ? CBS_ASN1_PRINTABLESTRING
                : CBS_ASN1_IA5STRING;
      break;
    case DnString::kAuto:
      tag = printable ? CBS_ASN1_PRINTABLESTRING : CBS_ASN1_UTF8STRING;
      break;
  }
  CBB sequence, object, value;
  if (!CBB_add_asn1(rdn, &sequence, CBS_ASN1_SEQUENCE) ||
      !CBB_add_asn1(&sequence, &object, CBS_ASN1_OBJECT)) {
    internal::CheckOk(0, "CBB_add_asn1");
  }
  if (!CBB_add_asn1_oid_from_text(&object, oid.data(), oid.size())) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("bad attribute OID \"", oid, "\" in distinguished name"));
  }
  internal::CheckOk(CBB_add_asn1(&sequence, &value, tag) &&
                        CBB_add_bytes(&value, AsBytes(ava.value).data(),
                                      ava.value.size()) &&
                        CBB_flush(rdn),
                    "CBB_add_asn1");
  return absl::OkStatus();
}

// --- Keys. ---

absl::StatusOr<KeyType> KeyTypeOf(const EVP_PKEY* pkey) {
  switch (EVP_PKEY_id(pkey)) {
    case EVP_PKEY_RSA:
      return KeyType::kRsa;
    case EVP_PKEY_EC: {
      const EC_GROUP* group =
          EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(pkey));
      switch (group == nullptr ? NID_undef : EC_GROUP_get_curve_name(group)) {
        case NID_X9_62_prime256v1:
          return KeyType::kEcdsaP256;
        case NID_secp384r1:
          return KeyType::kEcdsaP384;
        case NID_secp521r1:
          return KeyType::kEcdsaP521;
        default:
          return absl::InvalidArgumentError(
              "unsupported elliptic curve (use P-256, P-384 or P-521)");
      }
    }
    default:
      return absl::InvalidArgumentError(
          "unsupported key algorithm (use RSA or ECDSA)");
  }
}

class EvpPublicKey : public PublicKey {
 public:
  EvpPublicKey(bssl::UniquePtr<EVP_PKEY> pkey, KeyType type)
      : pkey_(std::move(pkey)), type_(type) {}
  KeyType type() const override { return type_; }
  bool Verify(SignatureScheme scheme, absl::Span<const uint8_t> data,
              absl::Span<const uint8_t> signature) const override {
    if (!SchemeFitsKey(scheme, type_)) return false;
    bssl::ScopedEVP_MD_CTX ctx;
    bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr,
                                   internal::EvpMd(SignatureSchemeHash(scheme)),
                                   nullptr, pkey_.get()) == 1 &&
              EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                               data.data(), data.size()) == 1;
    ERR_clear_error();
    return ok;
  }

 private:
  bssl::UniquePtr<EVP_PKEY> pkey_;
  KeyType type_;
};

class EvpPrivateKey : public PrivateKey {
 public:
  EvpPrivateKey(bssl::UniquePtr<EVP_PKEY> pkey, KeyType type)
      : pkey_(std::move(pkey)), type_(type) {}
  KeyType type() const override { return type_; }
  std::vector<SignatureScheme> Schemes() const override {
    switch (type_) {
      case KeyType::kRsa:
        return {SignatureScheme::kRsaPkcs1Sha256,
                SignatureScheme::kRsaPkcs1Sha384,
                SignatureScheme::kRsaPkcs1Sha512};
      case KeyType::kEcdsaP256:
        return {SignatureScheme::kEcdsaSha256, SignatureScheme::kEcdsaSha384,
                SignatureScheme::kEcdsaSha512};
      case KeyType::kEcdsaP384:
        return {SignatureScheme::kEcdsaSha384, SignatureScheme::kEcdsaSha512,
                SignatureScheme::kEcdsaSha256};
      case KeyType::kEcdsaP521:
        return {SignatureScheme::kEcdsaSha512, SignatureScheme::kEcdsaSha384,
                SignatureScheme::kEcdsaSha256};
    }
    return {};
  }
  absl::StatusOr<std::vector<uint8_t>> Sign(
      SignatureScheme scheme, absl::Span<const uint8_t> data) const override {
    if (!SchemeFitsKey(scheme, type_)) {
      return absl::InvalidArgumentError(
          absl::StrCat(SignatureSchemeName(scheme), " does not fit a ",
                       KeyTypeName(type_), " key"));
    }
    bssl::ScopedEVP_MD_CTX ctx;
    size_t length = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr,
                           internal::EvpMd(SignatureSchemeHash(scheme)),
                           nullptr, pkey_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, data.data(),
                       data.size()) != 1) {
      ERR_clear_error();
      return absl::InternalError("EVP_DigestSign setup failed");
    }
    std::vector<uint8_t> signature(length);
    if (EVP_DigestSign(ctx.get(), signature.data(), &length, data.data(),
                       data.size()) != 1) {
      ERR_clear_error();
      return absl::InternalError("EVP_DigestSign failed");
    }
    signature.resize(length);
    return signature;
  }
  bool Matches(const Certificate& certificate) const override {
    std::vector<uint8_t> spki = certificate.SpkiDer();
    CBS cbs;
    CBS_init(&cbs, spki.data(), spki.size());
    bssl::UniquePtr<EVP_PKEY> public_key(EVP_parse_public_key(&cbs));
    bool match = public_key != nullptr &&
                 EVP_PKEY_cmp(public_key.get(), pkey_.get()) == 1;
    ERR_clear_error();
    return match;
  }

 private:
  bssl::UniquePtr<EVP_PKEY> pkey_;
  KeyType type_;
};

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Time FromAsn1Time(const ASN1_TIME* t) {
  bssl::UniquePtr<ASN1_TIME> epoch(ASN1_TIME_set(nullptr, 0));
  int days = 0, seconds = 0;
  if (epoch == nullptr || t == nullptr ||
      !ASN1_TIME_diff(&days, &seconds, epoch.get(), t)) {
    ERR_clear_error();
    return absl::InfinitePast();
  }
  return absl::FromUnixSeconds(static_cast<int64_t>(days) * 86400 + seconds);
}

std::vector<uint8_t> NameDer(const X509_NAME* name) {
  uint8_t* der = nullptr;
  int length = i2d_X509_NAME(const_cast<X509_NAME*>(name), &der);
  if (length <= 0) {
    ERR_clear_error();
    return {};
  }
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

std::string NameText(const X509_NAME* name) {
  return DistinguishedNameText(NameDer(name));
}

}  // namespace

// --- Free functions. ---

absl::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return "RSA";
    case KeyType::kEcdsaP256:
      return "ECDSA P-256";
    case KeyType::kEcdsaP384:
      return "ECDSA P-384";
    case KeyType::kEcdsaP521:
      return "ECDSA P-521";
  }
  return "unknown";
}

absl::string_view SignatureSchemeName(SignatureScheme scheme) {
  return Info(scheme).name;
}

std::vector<uint8_t> SignatureAlgorithmIdentifier(SignatureScheme scheme) {
  const SchemeInfo& info = Info(scheme);
  bssl::ScopedCBB cbb;
  CBB sequence, oid, null;
  internal::CheckOk(
      CBB_init(cbb.get(), 16) &&
          CBB_add_asn1(cbb.get(), &sequence, CBS_ASN1_SEQUENCE) &&
          CBB_add_asn1(&sequence, &oid, CBS_ASN1_OBJECT) &&
          CBB_add_asn1_oid_from_text(&oid, info.oid, std::strlen(info.oid)) &&
          CBB_flush(&sequence),
      "AlgorithmIdentifier");
  if (info.rsa) {
    // RFC 4055 section 5 / RFC 7427 appendix A: NULL parameters for RSA.
    internal::CheckOk(CBB_add_asn1(&sequence, &null, CBS_ASN1_NULL) &&
                          CBB_flush(&sequence),
                      "AlgorithmIdentifier");
  }
  return FinishCbb(cbb.get());
}

absl::StatusOr<SignatureScheme> SignatureSchemeFromAlgorithmIdentifier(
    absl::Span<const uint8_t> der) {
  CBS cbs, sequence, oid, params;
  CBS_init(&cbs, der.data(), der.size());
  if (!CBS_get_asn1(&cbs, &sequence, CBS_ASN1_SEQUENCE) || CBS_len(&cbs) != 0 ||
      !CBS_get_asn1(&sequence, &oid, CBS_ASN1_OBJECT)) {
    return absl::InvalidArgumentError("malformed signature AlgorithmIdentifier");
  }
  std::string text = OidText(oid);
  if (text.empty()) {
    return absl::InvalidArgumentError("malformed signature AlgorithmIdentifier");
  }
  for (const SchemeInfo& info : kSchemes) {
    if (text != info.oid) continue;
    if (CBS_len(&sequence) != 0) {
      // RSA: NULL (or absent) parameters; ECDSA: absent, but NULL is
      // tolerated as some implementations send it.
      if (!CBS_get_asn1(&sequence, &params, CBS_ASN1_NULL) ||
          CBS_len(&params) != 0 || CBS_len(&sequence) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unexpected parameters in AlgorithmIdentifier ", info.name));
      }
    }
    return info.scheme;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported signature algorithm ", text));
}

HashAlgorithm SignatureSchemeHash(SignatureScheme scheme) {
  return Info(scheme).hash;
}

bool SchemeFitsKey(SignatureScheme scheme, KeyType type) {
  return Info(scheme).rsa == (type == KeyType::kRsa);
}

size_t EcdsaComponentLength(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return 32;
    case KeyType::kEcdsaP384:
      return 48;
    case KeyType::kEcdsaP521:
      return 66;
    case KeyType::kRsa:
      return 0;
  }
  return 0;
}

absl::StatusOr<std::vector<uint8_t>> EcdsaSignatureToRaw(
    absl::Span<const uint8_t> der, size_t component_length) {
  bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_from_bytes(der.data(), der.size()));
  if (sig == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("malformed DER ECDSA signature");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::vector<uint8_t> raw(2 * component_length);
  if (component_length == 0 ||
      !BN_bn2bin_padded(raw.data(), component_length, r) ||
      !BN_bn2bin_padded(raw.data() + component_length, component_length, s)) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "ECDSA signature does not fit ", component_length, "-byte integers"));
  }
  return raw;
}

absl::StatusOr<std::vector<uint8_t>> EcdsaSignatureFromRaw(
    absl::Span<const uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw ECDSA signature of odd or zero length ", raw.size()));
  }
  const size_t half = raw.size() / 2;
  bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  bssl::UniquePtr<BIGNUM> r(BN_bin2bn(raw.data(), half, nullptr));
  bssl::UniquePtr<BIGNUM> s(BN_bin2bn(raw.data() + half, half, nullptr));
  internal::CheckOk(sig != nullptr && r != nullptr && s != nullptr,
                    "ECDSA_SIG_new");
  internal::CheckOk(ECDSA_SIG_set0(sig.get(), r.get(), s.get()),
                    "ECDSA_SIG_set0");
  r.release();  // Owned by sig now.
  s.release();
  uint8_t* der = nullptr;
  size_t length = 0;
  internal::CheckOk(ECDSA_SIG_to_bytes(&der, &length, sig.get()),
                    "ECDSA_SIG_to_bytes");
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> EncodeDistinguishedName(
    absl::string_view text) {
  absl::StatusOr<std::vector<std::vector<Ava>>> rdns = SplitDn(text);
  if (!rdns.ok()) return rdns.status();
  bssl::ScopedCBB cbb;
  CBB name;
  internal::CheckOk(CBB_init(cbb.get(), 64) &&
                        CBB_add_asn1(cbb.get(), &name, CBS_ASN1_SEQUENCE),
                    "CBB_init");
  for (const std::vector<Ava>& rdn : *rdns) {
    CBB set;
    internal::CheckOk(CBB_add_asn1(&name, &set, CBS_ASN1_SET), "CBB_add_asn1");
    for (const Ava& ava : rdn) {
      absl::Status status = AddAva(&set, ava);
      if (!status.ok()) return status;
    }
    // DER orders the members of a SET OF.
    internal::CheckOk(CBB_flush_asn1_set_of(&set) && CBB_flush(&name),
                      "CBB_flush_asn1_set_of");
  }
  return FinishCbb(cbb.get());
}

std::string DistinguishedNameText(absl::Span<const uint8_t> der) {
  CBS cbs, name;
  CBS_init(&cbs, der.data(), der.size());
  if (!CBS_get_asn1(&cbs, &name, CBS_ASN1_SEQUENCE) || CBS_len(&cbs) != 0) {
    return "";
  }
  std::string out;
  bool first_rdn = true;
  while (CBS_len(&name) > 0) {
    CBS set;
    if (!CBS_get_asn1(&name, &set, CBS_ASN1_SET) || CBS_len(&set) == 0) {
      return "";
    }
    bool first_ava = true;
    while (CBS_len(&set) > 0) {
      CBS ava, oid, value;
      unsigned tag = 0;
      size_t header_length = 0;
      if (!CBS_get_asn1(&set, &ava, CBS_ASN1_SEQUENCE) ||
          !CBS_get_asn1(&ava, &oid, CBS_ASN1_OBJECT)) {
        return "";
      }
      CBS whole = ava;
      if (!CBS_get_any_asn1_element(&ava, &value, &tag, &header_length) ||
          CBS_len(&ava) != 0 || !CBS_skip(&value, header_length)) {
        return "";
      }
      std::string oid_text = OidText(oid);
      if (oid_text.empty()) return "";
      absl::string_view attribute = oid_text;
      for (const DnAttribute& a : kDnAttributes) {
        if (oid_text == a.oid) {
          attribute = a.name;
          break;
        }
      }
      if (!first_rdn || !first_ava) out += first_ava ? ", " : "+";
      absl::StrAppend(&out, attribute, "=");
      std::string utf8;
      if (ValueToUtf8(tag, value, &utf8)) {
        AppendEscaped(utf8, &out);
      } else {
        absl::StrAppend(&out, "#",
                        Hex(absl::MakeConstSpan(CBS_data(&whole),
                                                CBS_len(&whole))));
      }
      first_ava = false;
    }
    first_rdn = false;
  }
  return out;
}

// --- Certificate. ---

struct Certificate::Impl {
  bssl::UniquePtr<X509> x509;
};

Certificate::Certificate(std::unique_ptr<Impl> impl, std::vector<uint8_t> der)
    : impl_(std::move(impl)), der_(std::move(der)) {}

Certificate::~Certificate() = default;

absl::StatusOr<std::shared_ptr<const Certificate>> Certificate::FromDer(
    absl::Span<const uint8_t> der) {
  const uint8_t* p = der.data();
  bssl::UniquePtr<X509> x509(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr || p != der.data() + der.size()) {
    ERR_clear_error();
    return absl::InvalidArgumentError("certificate does not parse as DER X.509");
  }
  auto impl = std::make_unique<Impl>();
  impl->x509 = std::move(x509);
  return std::shared_ptr<const Certificate>(new Certificate(
      std::move(impl), std::vector<uint8_t>(der.begin(), der.end())));
}

absl::StatusOr<std::vector<std::shared_ptr<const Certificate>>>
Certificate::FromPem(absl::string_view pem) {
  absl::StatusOr<std::vector<PemBlock>> blocks = ReadPemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  std::vector<std::shared_ptr<const Certificate>> out;
  for (const PemBlock& block : *blocks) {
    if (block.name != "CERTIFICATE" && block.name != "X509 CERTIFICATE") {
      continue;
    }
    absl::StatusOr<std::shared_ptr<const Certificate>> certificate =
        FromDer(block.data);
    if (!certificate.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate ", out.size() + 1, " in PEM does not parse"));
    }
    out.push_back(*std::move(certificate));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("no CERTIFICATE block in PEM");
  }
  return out;
}

absl::StatusOr<std::vector<std::shared_ptr<const Certificate>>>
Certificate::FromPemFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  if (!absl::StrContains(*contents, "-----BEGIN")) {
    // Not PEM: a single DER certificate (e.g. the harness's ca.der).
    absl::StatusOr<std::shared_ptr<const Certificate>> certificate =
        FromDer(AsBytes(*contents));
    if (!certificate.ok()) {
      return Prefixed(path, absl::InvalidArgumentError(
                                "neither PEM nor a DER certificate"));
    }
    return std::vector<std::shared_ptr<const Certificate>>{
        *std::move(certificate)};
  }
  auto certificates = FromPem(*contents);
  if (!certificates.ok()) return Prefixed(path, certificates.status());
  return certificates;
}

std::vector<uint8_t> Certificate::SubjectDer() const {
  return NameDer(X509_get_subject_name(impl_->x509.get()));
}

std::vector<uint8_t> Certificate::IssuerDer() const {
  return NameDer(X509_get_issuer_name(impl_->x509.get()));
}

std::string Certificate::SubjectText() const {
  return NameText(X509_get_subject_name(impl_->x509.get()));
}

std::string Certificate::IssuerText() const {
  return NameText(X509_get_issuer_name(impl_->x509.get()));
}

namespace {

template <typename F>
void ForEachAltName(X509* x509, int type, F f) {
  bssl::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  if (names == nullptr) return;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    const ASN1_STRING* value = nullptr;
    switch (type) {
      case GEN_DNS:
        value = name->d.dNSName;
        break;
      case GEN_EMAIL:
        value = name->d.rfc822Name;
        break;
      case GEN_IPADD:
        value = name->d.iPAddress;
        break;
      default:
        continue;
    }
    if (value == nullptr) continue;
    f(absl::MakeConstSpan(ASN1_STRING_get0_data(value),
                          static_cast<size_t>(ASN1_STRING_length(value))));
  }
}

}  // namespace

std::vector<std::string> Certificate::DnsNames() const {
  std::vector<std::string> out;
  ForEachAltName(impl_->x509.get(), GEN_DNS, [&](absl::Span<const uint8_t> v) {
    out.emplace_back(v.begin(), v.end());
  });
  return out;
}

std::vector<std::string> Certificate::EmailAddresses() const {
  std::vector<std::string> out;
  ForEachAltName(impl_->x509.get(), GEN_EMAIL,
                 [&](absl::Span<const uint8_t> v) {
                   out.emplace_back(v.begin(), v.end());
                 });
  return out;
}

std::vector<IpAddress> Certificate::IpAddresses() const {
  std::vector<IpAddress> out;
  ForEachAltName(impl_->x509.get(), GEN_IPADD,
                 [&](absl::Span<const uint8_t> v) {
                   absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(v);
                   if (ip.ok()) out.push_back(*ip);
                 });
  return out;
}

absl::Time Certificate::not_before() const {
  return FromAsn1Time(X509_get0_notBefore(impl_->x509.get()));
}

absl::Time Certificate::not_after() const {
  return FromAsn1Time(X509_get0_notAfter(impl_->x509.get()));
}

std::vector<uint8_t> Certificate::SpkiDer() const {
  uint8_t* der = nullptr;
  int length =
      i2d_X509_PUBKEY(X509_get_X509_PUBKEY(impl_->x509.get()), &der);
  if (length <= 0) {
    ERR_clear_error();
    return {};
  }
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

std::vector<uint8_t> Certificate::SpkiSha1() const {
  return Hash(HashAlgorithm::kSha1, SpkiDer());
}

std::unique_ptr<PublicKey> Certificate::public_key() const {
  bssl::UniquePtr<EVP_PKEY> pkey(X509_get_pubkey(impl_->x509.get()));
  if (pkey == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  absl::StatusOr<KeyType> type = KeyTypeOf(pkey.get());
  if (!type.ok()) return nullptr;
  return std::make_unique<EvpPublicKey>(std::move(pkey), *type);
}

// --- PrivateKey. ---

absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKey::FromPem(
    absl::string_view pem) {
  absl::StatusOr<std::vector<PemBlock>> blocks = ReadPemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  bssl::UniquePtr<EC_GROUP> params;  // From an "EC PARAMETERS" block.
  for (const PemBlock& block : *blocks) {
    CBS cbs;
    CBS_init(&cbs, block.data.data(), block.data.size());
    bssl::UniquePtr<EVP_PKEY> pkey;
    if (block.name == "EC PARAMETERS") {
      params.reset(EC_KEY_parse_parameters(&cbs));
      ERR_clear_error();
      continue;
    }
    if (block.name == "ENCRYPTED PRIVATE KEY" ||
        ((block.name == "PRIVATE KEY" || block.name == "EC PRIVATE KEY" ||
          block.name == "RSA PRIVATE KEY") &&
         absl::StrContains(block.header, "ENCRYPTED"))) {
      return absl::InvalidArgumentError(
          "encrypted private keys are not supported");
    }
    if (block.name == "PRIVATE KEY") {
      pkey.reset(EVP_parse_private_key(&cbs));
    } else if (block.name == "EC PRIVATE KEY") {
      bssl::UniquePtr<EC_KEY> ec(EC_KEY_parse_private_key(&cbs, params.get()));
      if (ec != nullptr) {
        pkey.reset(EVP_PKEY_new());
        internal::CheckOk(pkey != nullptr &&
                              EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release()),
                          "EVP_PKEY_assign_EC_KEY");
      }
    } else if (block.name == "RSA PRIVATE KEY") {
      bssl::UniquePtr<RSA> rsa(RSA_parse_private_key(&cbs));
      if (rsa != nullptr) {
        pkey.reset(EVP_PKEY_new());
        internal::CheckOk(pkey != nullptr &&
                              EVP_PKEY_assign_RSA(pkey.get(), rsa.release()),
                          "EVP_PKEY_assign_RSA");
      }
    } else {
      continue;  // Certificates, parameters, ... in the same file.
    }
    ERR_clear_error();
    if (pkey == nullptr || CBS_len(&cbs) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(block.name, " block does not parse"));
    }
    absl::StatusOr<KeyType> type = KeyTypeOf(pkey.get());
    if (!type.ok()) return type.status();
    return std::unique_ptr<PrivateKey>(
        new EvpPrivateKey(std::move(pkey), *type));
  }
  return absl::InvalidArgumentError(
      "no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block in PEM");
}

absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKey::FromPemFile(
    const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  auto key = FromPem(*contents);
  if (!key.ok()) return Prefixed(path, key.status());
  return key;
}

// --- CertificateVerifier. ---

CertificateVerifier::CertificateVerifier(
    std::vector<std::shared_ptr<const Certificate>> anchors)
    : anchors_(std::move(anchors)) {}

CertificateVerifier::~CertificateVerifier() = default;

absl::Status CertificateVerifier::Verify(
    const Certificate& leaf,
    absl::Span<const std::shared_ptr<const Certificate>> intermediates,
    absl::Time now) const {
  if (anchors_.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "untrusted: no path to a configured CA (issuer ", leaf.IssuerText(),
        "; no CA configured)"));
  }
  bssl::UniquePtr<X509_STORE> store(X509_STORE_new());
  bssl::UniquePtr<STACK_OF(X509)> chain(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  internal::CheckOk(store != nullptr && chain != nullptr && ctx != nullptr,
                    "X509_STORE_new");
  for (const auto& anchor : anchors_) {
    if (!X509_STORE_add_cert(store.get(), anchor->impl_->x509.get())) {
      ERR_clear_error();  // A duplicate anchor; harmless.
    }
  }
  for (const auto& intermediate : intermediates) {
    if (intermediate == nullptr) continue;
    // The stack's deleter frees its elements: give it a reference.
    X509* x509 = intermediate->impl_->x509.get();
    X509_up_ref(x509);
    if (sk_X509_push(chain.get(), x509) == 0) {
      X509_free(x509);
      internal::CheckOk(0, "sk_X509_push");
    }
  }
  internal::CheckOk(X509_STORE_CTX_init(ctx.get(), store.get(),
                                        leaf.impl_->x509.get(), chain.get()),
                    "X509_STORE_CTX_init");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // Any configured CA ends a path, including an intermediate one.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) == 1) {
    ERR_clear_error();
    // With X509_V_FLAG_PARTIAL_CHAIN BoringSSL takes a configured anchor as
    // it is; an anchor that issued something must still be a CA.
    STACK_OF(X509)* path = X509_STORE_CTX_get0_chain(ctx.get());
    for (size_t i = 1; path != nullptr && i < sk_X509_num(path); ++i) {
      X509* issuer = sk_X509_value(path, i);
      if (X509_check_ca(issuer) == 0) {
        return absl::PermissionDeniedError(absl::StrCat(
            "CA certificate is not a CA: ",
            NameText(X509_get_subject_name(issuer))));
      }
    }
    return absl::OkStatus();
  }
  ERR_clear_error();
  int error = X509_STORE_CTX_get_error(ctx.get());
  X509* at_fault = X509_STORE_CTX_get_current_cert(ctx.get());
  if (at_fault == nullptr) at_fault = leaf.impl_->x509.get();
  std::string subject = NameText(X509_get_subject_name(at_fault));
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::PermissionDeniedError(absl::StrCat(
          "certificate expired (not after ",
          Rfc3339(FromAsn1Time(X509_get0_notAfter(at_fault))), "): ",
          subject));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::PermissionDeniedError(absl::StrCat(
          "certificate not yet valid (not before ",
          Rfc3339(FromAsn1Time(X509_get0_notBefore(at_fault))), "): ",
          subject));
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return absl::PermissionDeniedError(absl::StrCat(
          "untrusted: no path to a configured CA (issuer ",
          NameText(X509_get_issuer_name(at_fault)), ")"));
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
      return absl::PermissionDeniedError(
          absl::StrCat("bad signature on certificate ", subject));
    case X509_V_ERR_INVALID_CA:
      return absl::PermissionDeniedError(
          absl::StrCat("CA certificate is not a CA: ", subject));
    default:
      return absl::PermissionDeniedError(
          absl::StrCat("certificate verification failed: ",
                       X509_verify_cert_error_string(error), ": ", subject));
  }
}

}  // namespace stow::crypto
