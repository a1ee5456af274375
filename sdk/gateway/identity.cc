#include "sdk/gateway/identity.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sdk/base/ip_address.h"

namespace stow::gateway {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("identity \"", text, "\": ", why));
}

ike::IdPayload Text(ike::IdType type, absl::string_view value) {
  ike::IdPayload id;
  id.id_type = type;
  id.data.assign(value.begin(), value.end());
  return id;
}

std::string Printable(const ike::Bytes& data) {
  std::string out;
  for (uint8_t c : data) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

std::string HexOf(const ike::Bytes& data) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(data.data()), data.size()));
}

}  // namespace

absl::StatusOr<ike::IdPayload> ParseIdentityText(absl::string_view text) {
  absl::string_view type;
  absl::string_view value = text;
  const size_t colon = text.find(':');
  if (colon != absl::string_view::npos) {
    const std::string prefix = absl::AsciiStrToLower(text.substr(0, colon));
    if (prefix == "fqdn" || prefix == "email" || prefix == "rfc822" ||
        prefix == "ipv4" || prefix == "ipv6" || prefix == "keyid") {
      type = text.substr(0, colon);
      value = text.substr(colon + 1);
    }
  }
  if (value.empty()) return Bad(text, "empty");
  const std::string kind = absl::AsciiStrToLower(type);
  if (kind.empty()) {
    auto ip = IpAddress::Parse(value);
    if (ip.ok()) {
      ike::IdPayload id;
      id.id_type = ip->is_v4() ? ike::IdType::kIpv4Addr : ike::IdType::kIpv6Addr;
      id.data.assign(ip->bytes().begin(), ip->bytes().end());
      return id;
    }
    if (absl::StrContains(value, '=')) {
      return Bad(text, "distinguished names are not supported here yet");
    }
    return Text(absl::StrContains(value, '@') ? ike::IdType::kRfc822Addr
                                              : ike::IdType::kFqdn,
                value);
  }
  if (kind == "fqdn") return Text(ike::IdType::kFqdn, value);
  if (kind == "email" || kind == "rfc822") {
    return Text(ike::IdType::kRfc822Addr, value);
  }
  if (kind == "keyid") {
    std::string bytes;
    if (value.size() % 2 != 0 || !std::all_of(value.begin(), value.end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return Bad(text, "keyid needs an even number of hex digits");
    }
    bytes = absl::HexStringToBytes(value);
    return Text(ike::IdType::kKeyId, bytes);
  }
  auto ip = IpAddress::Parse(value);
  const bool v4 = kind == "ipv4";
  if (!ip.ok() || ip->is_v4() != v4) {
    return Bad(text, v4 ? "not an IPv4 address" : "not an IPv6 address");
  }
  ike::IdPayload id;
  id.id_type = v4 ? ike::IdType::kIpv4Addr : ike::IdType::kIpv6Addr;
  id.data.assign(ip->bytes().begin(), ip->bytes().end());
  return id;
}

std::string IdentityToText(const ike::IdPayload& id) {
  switch (id.id_type) {
    case ike::IdType::kFqdn:
      return absl::StrCat("fqdn:", Printable(id.data));
    case ike::IdType::kRfc822Addr:
      return absl::StrCat("email:", Printable(id.data));
    case ike::IdType::kIpv4Addr:
    case ike::IdType::kIpv6Addr: {
      auto ip = IpAddress::FromBytes(id.data);
      if (ip.ok() && ip->is_v4() == (id.id_type == ike::IdType::kIpv4Addr)) {
        return absl::StrCat(ip->is_v4() ? "ipv4:" : "ipv6:", ip->ToString());
      }
      return absl::StrCat("ip?:", HexOf(id.data));
    }
    case ike::IdType::kDerAsn1Dn:
      return absl::StrCat("dn:", HexOf(id.data));
    case ike::IdType::kDerAsn1Gn:
      return absl::StrCat("gn:", HexOf(id.data));
    case ike::IdType::kKeyId:
      return absl::StrCat("keyid:", HexOf(id.data));
  }
  return absl::StrCat("id", static_cast<int>(id.id_type), ":", HexOf(id.data));
}

}  // namespace stow::gateway
