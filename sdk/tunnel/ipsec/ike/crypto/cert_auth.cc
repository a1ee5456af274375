#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/base/ip_address.h"

namespace stow::ike {
namespace {

using crypto::KeyType;
using crypto::SignatureScheme;

Bytes ToBytes(absl::string_view s) { return Bytes(s.begin(), s.end()); }

std::string ToText(const Bytes& b) { return std::string(b.begin(), b.end()); }

// Identity text for logs and events: a peer's bytes, with anything but
// printable ASCII (and the backslash) escaped as \xNN so that a peer cannot
// put control characters into a log line.
std::string EscapedText(const Bytes& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

std::string Hex(absl::Span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

// RFC 7427 section 7 / IANA "IKEv2 Hash Algorithms".
constexpr uint16_t kHashSha1 = 1;
constexpr uint16_t kHashSha256 = 2;
constexpr uint16_t kHashSha384 = 3;
constexpr uint16_t kHashSha512 = 4;
constexpr uint16_t kHashIdentity = 5;

uint16_t HashAlgorithmId(crypto::HashAlgorithm hash) {
  switch (hash) {
    case crypto::HashAlgorithm::kSha1:
      return kHashSha1;
    case crypto::HashAlgorithm::kSha256:
      return kHashSha256;
    case crypto::HashAlgorithm::kSha384:
      return kHashSha384;
    case crypto::HashAlgorithm::kSha512:
      return kHashSha512;
  }
  return 0;
}

absl::StatusOr<IdPayload> IpIdentity(absl::string_view text, bool want_v4,
                                     bool want_v6) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  if (!ip.ok() || (ip->is_v4() && !want_v4) || (ip->is_v6() && !want_v6)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity \"", text, "\" is not an ",
        want_v4 && want_v6 ? "IP" : (want_v4 ? "IPv4" : "IPv6"), " address"));
  }
  IdPayload id;
  id.id_type = ip->is_v4() ? IdType::kIpv4Addr : IdType::kIpv6Addr;
  id.data.assign(ip->bytes().begin(), ip->bytes().end());
  return id;
}

absl::StatusOr<IdPayload> DnIdentity(absl::string_view text) {
  absl::StatusOr<std::vector<uint8_t>> der =
      crypto::EncodeDistinguishedName(text);
  if (!der.ok()) return der.status();
  IdPayload id;
  id.id_type = IdType::kDerAsn1Dn;
  id.data = *std::move(der);
  return id;
}

absl::StatusOr<IdPayload> TextIdentity(IdType type, absl::string_view kind,
                                       absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty ", kind, " identity"));
  }
  if (type == IdType::kRfc822Addr && !absl::StrContains(text, '@')) {
    return absl::InvalidArgumentError(
        absl::StrCat("email identity \"", text, "\" has no '@'"));
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          kind, " identity \"", text, "\" contains spaces or control "
          "characters"));
    }
  }
  IdPayload id;
  id.id_type = type;
  id.data = ToBytes(text);
  return id;
}

bool ContainsIgnoreCase(const std::vector<std::string>& names,
                        absl::string_view wanted) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return absl::EqualsIgnoreCase(n, wanted);
  });
}

// The scheme and signature encoding an AUTH method implies for a key.
struct AuthCheck {
  SignatureScheme scheme;
  Bytes signature;  // As PublicKey::Verify takes it (DER for ECDSA).
};

absl::StatusOr<AuthCheck> ClassicEcdsa(const AuthPayload& auth,
                                       KeyType key_type, KeyType wanted,
                                       SignatureScheme scheme) {
  if (key_type != wanted) {
    return absl::PermissionDeniedError(absl::StrCat(
        "AUTH method ", static_cast<int>(auth.method), " needs an ",
        crypto::KeyTypeName(wanted), " key, the certificate holds ",
        crypto::KeyTypeName(key_type)));
  }
  // RFC 4754 section 7: r || s, each exactly the group order's size.
  const size_t n = crypto::EcdsaComponentLength(wanted);
  if (auth.data.size() != 2 * n) {
    return absl::PermissionDeniedError(absl::StrCat(
        "signature does not verify (", auth.data.size(),
        " bytes of r || s, expected ", 2 * n, ")"));
  }
  absl::StatusOr<std::vector<uint8_t>> der =
      crypto::EcdsaSignatureFromRaw(auth.data);
  if (!der.ok()) {
    return absl::PermissionDeniedError("signature does not verify");
  }
  return AuthCheck{scheme, *std::move(der)};
}

absl::StatusOr<AuthCheck> SignatureOf(const AuthPayload& auth,
                                      KeyType key_type) {
  switch (auth.method) {
    case AuthMethod::kDigitalSignature: {
      // RFC 7427 section 3: length | AlgorithmIdentifier | signature.
      if (auth.data.empty() || auth.data.size() < 1u + auth.data[0]) {
        return absl::PermissionDeniedError(
            "malformed Digital Signature AUTH data");
      }
      const size_t length = auth.data[0];
      absl::Span<const uint8_t> algorithm =
          absl::MakeConstSpan(auth.data).subspan(1, length);
      absl::StatusOr<SignatureScheme> scheme =
          crypto::SignatureSchemeFromAlgorithmIdentifier(algorithm);
      if (!scheme.ok()) {
        return absl::PermissionDeniedError(scheme.status().message());
      }
      if (*scheme == SignatureScheme::kRsaPkcs1Sha1) {
        // RFC 8247 section 3.2: SHA-1 MUST NOT be used with method 14.
        return absl::PermissionDeniedError(
            "unsupported signature algorithm sha1WithRSAEncryption (SHA-1) "
            "in a Digital Signature AUTH");
      }
      if (!crypto::SchemeFitsKey(*scheme, key_type)) {
        return absl::PermissionDeniedError(absl::StrCat(
            "signature algorithm ", crypto::SignatureSchemeName(*scheme),
            " does not fit the certificate's ",
            crypto::KeyTypeName(key_type), " key"));
      }
      return AuthCheck{*scheme, Bytes(auth.data.begin() + 1 + length,
                                      auth.data.end())};
    }
    case AuthMethod::kRsaSignature:
      if (key_type != KeyType::kRsa) {
        return absl::PermissionDeniedError(absl::StrCat(
            "AUTH method 1 (RSA) does not fit the certificate's ",
            crypto::KeyTypeName(key_type), " key"));
      }
      return AuthCheck{SignatureScheme::kRsaPkcs1Sha1, auth.data};
    case AuthMethod::kEcdsaSha256P256:
      return ClassicEcdsa(auth, key_type, KeyType::kEcdsaP256,
                          SignatureScheme::kEcdsaSha256);
    case AuthMethod::kEcdsaSha384P384:
      return ClassicEcdsa(auth, key_type, KeyType::kEcdsaP384,
                          SignatureScheme::kEcdsaSha384);
    case AuthMethod::kEcdsaSha512P521:
      return ClassicEcdsa(auth, key_type, KeyType::kEcdsaP521,
                          SignatureScheme::kEcdsaSha512);
    default:
      return absl::PermissionDeniedError(
          absl::StrCat("AUTH method ", static_cast<int>(auth.method),
                       " is not a certificate signature method"));
  }
}

}  // namespace

absl::StatusOr<IdPayload> ParseIdentity(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return absl::InvalidArgumentError("empty identity");
  struct Prefix {
    absl::string_view prefix;
    int kind;  // 0 fqdn, 1 email, 2 ipv4, 3 ipv6, 4 dn, 5 key id (hex)
  };
  static constexpr Prefix kPrefixes[] = {
      {"fqdn:", 0}, {"email:", 1}, {"rfc822:", 1},  {"ipv4:", 2},
      {"ipv6:", 3}, {"dn:", 4},    {"asn1dn:", 4}, {"keyid:", 5},
  };
  for (const Prefix& p : kPrefixes) {
    if (!absl::StartsWithIgnoreCase(text, p.prefix)) continue;
    absl::string_view value =
        absl::StripAsciiWhitespace(text.substr(p.prefix.size()));
    switch (p.kind) {
      case 0:
        return TextIdentity(IdType::kFqdn, "fqdn", value);
      case 1:
        return TextIdentity(IdType::kRfc822Addr, "email", value);
      case 2:
        return IpIdentity(value, true, false);
      case 3:
        return IpIdentity(value, false, true);
      case 5: {
        std::string bytes;
        if (value.empty() || value.size() % 2 != 0 ||
            !std::all_of(value.begin(), value.end(), absl::ascii_isxdigit)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "keyid identity \"", value, "\": not an even number of hex "
              "digits"));
        }
        bytes = absl::HexStringToBytes(value);
        IdPayload id;
        id.id_type = IdType::kKeyId;
        id.data.assign(bytes.begin(), bytes.end());
        return id;
      }
      default:
        if (value.empty()) {
          return absl::InvalidArgumentError("empty dn identity");
        }
        return DnIdentity(value);
    }
  }
  // No prefix: guess as strongSwan does.
  if (IpAddress::Parse(text).ok()) return IpIdentity(text, true, true);
  if (absl::StrContains(text, '=')) return DnIdentity(text);
  if (text[0] == '@') {  // strongSwan's "@name": an FQDN, never resolved.
    return TextIdentity(IdType::kFqdn, "fqdn", text.substr(1));
  }
  if (absl::StrContains(text, '@')) {
    return TextIdentity(IdType::kRfc822Addr, "email", text);
  }
  return TextIdentity(IdType::kFqdn, "fqdn", text);
}

std::string DescribeIdentity(const IdPayload& id) {
  switch (id.id_type) {
    case IdType::kFqdn:
      return absl::StrCat("fqdn:", EscapedText(id.data));
    case IdType::kRfc822Addr:
      return absl::StrCat("email:", EscapedText(id.data));
    case IdType::kIpv4Addr:
    case IdType::kIpv6Addr: {
      absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(id.data);
      if (ip.ok() && ip->is_v4() == (id.id_type == IdType::kIpv4Addr)) {
        return absl::StrCat(ip->is_v4() ? "ipv4:" : "ipv6:", ip->ToString());
      }
      return absl::StrCat(id.id_type == IdType::kIpv4Addr ? "ipv4:" : "ipv6:",
                          "<bad length ", id.data.size(), ">");
    }
    case IdType::kDerAsn1Dn: {
      std::string text = crypto::DistinguishedNameText(id.data);
      if (!text.empty()) return absl::StrCat("dn:", text);
      return absl::StrCat("dn:#", Hex(id.data));
    }
    case IdType::kKeyId:
      return absl::StrCat("keyid:", Hex(id.data));
    default:
      return absl::StrCat("id type ", static_cast<int>(id.id_type), ":",
                          Hex(id.data));
  }
}

IdPayload IdentityOfCertificate(const crypto::Certificate& certificate) {
  IdPayload id;
  id.id_type = IdType::kDerAsn1Dn;
  id.data = certificate.SubjectDer();
  return id;
}

bool CertificateMatchesIdentity(const crypto::Certificate& certificate,
                                const IdPayload& id) {
  switch (id.id_type) {
    case IdType::kDerAsn1Dn: {
      if (id.data == certificate.SubjectDer()) return true;
      std::string text = crypto::DistinguishedNameText(id.data);
      return !text.empty() && text == certificate.SubjectText();
    }
    case IdType::kFqdn:
      return !id.data.empty() &&
             ContainsIgnoreCase(certificate.DnsNames(), ToText(id.data));
    case IdType::kRfc822Addr:
      return !id.data.empty() &&
             ContainsIgnoreCase(certificate.EmailAddresses(), ToText(id.data));
    case IdType::kIpv4Addr:
    case IdType::kIpv6Addr: {
      if (id.data.size() != (id.id_type == IdType::kIpv4Addr ? 4u : 16u)) {
        return false;
      }
      absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(id.data);
      if (!ip.ok()) return false;
      std::vector<IpAddress> ips = certificate.IpAddresses();
      return std::find(ips.begin(), ips.end(), *ip) != ips.end();
    }
    default:
      return false;
  }
}

bool IdentitiesEqual(const IdPayload& a, const IdPayload& b) {
  return a.id_type == b.id_type && a.data == b.data;
}

CertPayload BuildCertReq(
    absl::Span<const std::shared_ptr<const crypto::Certificate>> cas) {
  CertPayload payload;
  payload.encoding = CertEncoding::kX509Signature;
  for (const auto& ca : cas) {
    if (ca == nullptr) continue;
    std::vector<uint8_t> hash = ca->SpkiSha1();
    payload.data.insert(payload.data.end(), hash.begin(), hash.end());
  }
  return payload;
}

CertPayload BuildCert(const crypto::Certificate& certificate) {
  CertPayload payload;
  payload.encoding = CertEncoding::kX509Signature;
  payload.data = certificate.der();
  return payload;
}

std::vector<uint8_t> SignatureHashAlgorithmsNotifyData() {
  std::vector<uint8_t> out;
  for (uint16_t id : {kHashSha256, kHashSha384, kHashSha512, kHashIdentity}) {
    out.push_back(static_cast<uint8_t>(id >> 8));
    out.push_back(static_cast<uint8_t>(id));
  }
  return out;
}

std::vector<uint16_t> ParseSignatureHashAlgorithms(
    absl::Span<const uint8_t> data) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i + 1 < data.size(); i += 2) {
    out.push_back(static_cast<uint16_t>(data[i] << 8 | data[i + 1]));
  }
  return out;
}

absl::StatusOr<CertCredentials> LoadCertCredentials(
    const std::string& cert_pem_path, const std::string& key_pem_path) {
  auto certificates = crypto::Certificate::FromPemFile(cert_pem_path);
  if (!certificates.ok()) return certificates.status();
  auto key = crypto::PrivateKey::FromPemFile(key_pem_path);
  if (!key.ok()) return key.status();
  CertCredentials credentials;
  credentials.certificate = (*certificates)[0];
  credentials.intermediates.assign(certificates->begin() + 1,
                                   certificates->end());
  if (!(*key)->Matches(*credentials.certificate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key ", key_pem_path, " does not match certificate ",
        cert_pem_path, " (", credentials.certificate->SubjectText(), ")"));
  }
  credentials.key = std::shared_ptr<const crypto::PrivateKey>(std::move(*key));
  return credentials;
}

absl::StatusOr<AuthPayload> SignAuth(
    const crypto::PrivateKey& key, absl::Span<const uint8_t> signed_octets,
    absl::Span<const uint16_t> peer_hash_algorithms) {
  AuthPayload auth;
  if (!peer_hash_algorithms.empty()) {
    for (SignatureScheme scheme : key.Schemes()) {
      uint16_t id = HashAlgorithmId(crypto::SignatureSchemeHash(scheme));
      if (std::find(peer_hash_algorithms.begin(), peer_hash_algorithms.end(),
                    id) == peer_hash_algorithms.end()) {
        continue;
      }
      absl::StatusOr<std::vector<uint8_t>> signature =
          key.Sign(scheme, signed_octets);
      if (!signature.ok()) return signature.status();
      std::vector<uint8_t> algorithm =
          crypto::SignatureAlgorithmIdentifier(scheme);
      auth.method = AuthMethod::kDigitalSignature;
      auth.data.push_back(static_cast<uint8_t>(algorithm.size()));
      auth.data.insert(auth.data.end(), algorithm.begin(), algorithm.end());
      auth.data.insert(auth.data.end(), signature->begin(), signature->end());
      return auth;
    }
    std::vector<std::string> offered;
    for (uint16_t id : peer_hash_algorithms) offered.push_back(absl::StrCat(id));
    return absl::FailedPreconditionError(absl::StrCat(
        "the peer accepts none of the signature hashes of our ",
        crypto::KeyTypeName(key.type()), " key (it offers hash algorithms ",
        absl::StrJoin(offered, ", "), ")"));
  }
  SignatureScheme scheme = SignatureScheme::kRsaPkcs1Sha1;
  switch (key.type()) {
    case KeyType::kRsa:
      auth.method = AuthMethod::kRsaSignature;
      scheme = SignatureScheme::kRsaPkcs1Sha1;
      break;
    case KeyType::kEcdsaP256:
      auth.method = AuthMethod::kEcdsaSha256P256;
      scheme = SignatureScheme::kEcdsaSha256;
      break;
    case KeyType::kEcdsaP384:
      auth.method = AuthMethod::kEcdsaSha384P384;
      scheme = SignatureScheme::kEcdsaSha384;
      break;
    case KeyType::kEcdsaP521:
      auth.method = AuthMethod::kEcdsaSha512P521;
      scheme = SignatureScheme::kEcdsaSha512;
      break;
  }
  absl::StatusOr<std::vector<uint8_t>> signature =
      key.Sign(scheme, signed_octets);
  if (!signature.ok()) return signature.status();
  if (key.type() == KeyType::kRsa) {
    auth.data = *std::move(signature);
    return auth;
  }
  absl::StatusOr<std::vector<uint8_t>> raw = crypto::EcdsaSignatureToRaw(
      *signature, crypto::EcdsaComponentLength(key.type()));
  if (!raw.ok()) return raw.status();
  auth.data = *std::move(raw);
  return auth;
}

absl::Status VerifyCertAuth(const crypto::CertificateVerifier& verifier,
                            absl::Span<const CertPayload> certs,
                            const IdPayload& peer_id, const AuthPayload& auth,
                            absl::Span<const uint8_t> signed_octets,
                            absl::Time now) {
  if (certs.empty()) {
    return absl::PermissionDeniedError("no CERT payload from the peer");
  }
  if (certs[0].encoding != CertEncoding::kX509Signature) {
    return absl::PermissionDeniedError(absl::StrCat(
        "unsupported certificate encoding ",
        static_cast<int>(certs[0].encoding),
        " in the peer's first CERT payload (want X.509 Signature, 4)"));
  }
  absl::StatusOr<std::shared_ptr<const crypto::Certificate>> leaf =
      crypto::Certificate::FromDer(certs[0].data);
  if (!leaf.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unparseable CERT payload: ", leaf.status().message()));
  }
  std::vector<std::shared_ptr<const crypto::Certificate>> intermediates;
  for (size_t i = 1; i < certs.size(); ++i) {
    if (certs[i].encoding != CertEncoding::kX509Signature) continue;
    absl::StatusOr<std::shared_ptr<const crypto::Certificate>> intermediate =
        crypto::Certificate::FromDer(certs[i].data);
    if (!intermediate.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unparseable CERT payload ", i + 1, ": ",
                       intermediate.status().message()));
    }
    intermediates.push_back(*std::move(intermediate));
  }
  absl::Status chain = verifier.Verify(**leaf, intermediates, now);
  if (!chain.ok()) return chain;
  if (!CertificateMatchesIdentity(**leaf, peer_id)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "identity ", DescribeIdentity(peer_id), " does not match certificate ",
        (*leaf)->SubjectText()));
  }
  std::unique_ptr<crypto::PublicKey> key = (*leaf)->public_key();
  if (key == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "unsupported public key in certificate ", (*leaf)->SubjectText()));
  }
  absl::StatusOr<AuthCheck> check = SignatureOf(auth, key->type());
  if (!check.ok()) return check.status();
  if (!key->Verify(check->scheme, signed_octets, check->signature)) {
    return absl::PermissionDeniedError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace stow::ike
