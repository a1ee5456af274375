#include "sdk/tunnel/ipsec/profile.h"

#include <initializer_list>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "sdk/tunnel/ipsec/json_fields.h"

namespace stow::ipsec {
namespace {

using Json = nlohmann::json;

using json_fields::CheckMembers;
using json_fields::FieldError;
using json_fields::Join;

absl::StatusOr<std::string> GetString(const Json& object,
                                      absl::string_view parent,
                                      const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return FieldError(Join(parent, name), "missing");
  if (!it->is_string()) {
    return FieldError(Join(parent, name), "must be a string");
  }
  return it->get<std::string>();
}

absl::StatusOr<IpAddress> GetAddress(const Json& value,
                                     absl::string_view field) {
  if (!value.is_string()) return FieldError(field, "must be a string");
  auto ip = IpAddress::Parse(value.get<std::string>());
  if (!ip.ok()) {
    return FieldError(field, absl::StrCat("not an IP address: \"",
                                          value.get<std::string>(), "\""));
  }
  return *ip;
}

// A non-negative integer no larger than `max`.
absl::StatusOr<uint64_t> GetUnsigned(const Json& value,
                                     absl::string_view field, uint64_t max) {
  if (!value.is_number_integer() ||
      (value.is_number_integer() && !value.is_number_unsigned() &&
       value.get<int64_t>() < 0)) {
    return FieldError(field, "must be a non-negative integer");
  }
  const uint64_t v = value.get<uint64_t>();
  if (v > max) return FieldError(field, absl::StrCat("larger than ", max));
  return v;
}

absl::StatusOr<uint32_t> ParseSpi(const Json& value, absl::string_view field) {
  uint64_t spi = 0;
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    absl::string_view digits = text;
    const bool hex = absl::ConsumePrefix(&digits, "0x") ||
                     absl::ConsumePrefix(&digits, "0X");
    bool ok = hex ? absl::SimpleHexAtoi(digits, &spi)
                  : absl::SimpleAtoi(digits, &spi);
    if (!ok || digits.empty() || spi > 0xffffffffu) {
      return FieldError(field, absl::StrCat("not a 32-bit number: \"", text,
                                            "\""));
    }
  } else if (value.is_number_unsigned()) {
    auto v = GetUnsigned(value, field, 0xffffffffu);
    if (!v.ok()) return v.status();
    spi = *v;
  } else {
    return FieldError(field, "must be a number or a \"0x...\" string");
  }
  // RFC 4303 2.1: 1..255 are reserved by IANA, 0 is never sent.
  if (spi < 256) {
    return FieldError(field, absl::StrCat(spi, " is reserved (use 256 or more)"));
  }
  return static_cast<uint32_t>(spi);
}

absl::StatusOr<EspDirection> ParseDirection(const Json& value,
                                            absl::string_view field,
                                            esp::Algorithm transform) {
  if (auto s = CheckMembers(value, field, {"spi", "key"}); !s.ok()) return s;
  EspDirection out;
  auto spi_it = value.find("spi");
  if (spi_it == value.end()) return FieldError(Join(field, "spi"), "missing");
  auto spi = ParseSpi(*spi_it, Join(field, "spi"));
  if (!spi.ok()) return spi.status();
  out.spi = *spi;
  auto key = GetString(value, field, "key");
  if (!key.ok()) return key.status();
  std::string bytes;
  if (key->size() % 2 != 0 ||
      key->find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return FieldError(Join(field, "key"), "must be hexadecimal digits");
  }
  bytes = absl::HexStringToBytes(*key);
  const size_t needed = esp::KeyMaterialSize(transform);
  if (bytes.size() != needed) {
    return FieldError(
        Join(field, "key"),
        absl::StrCat(bytes.size(), " bytes, ", esp::AlgorithmName(transform),
                     " needs ", needed, " (", needed - esp::kSaltSize,
                     "-byte key + ", esp::kSaltSize, "-byte salt)"));
  }
  out.key_material.assign(bytes.begin(), bytes.end());
  return out;
}

absl::StatusOr<EspLifetime> ParseLifetime(const Json& value,
                                          absl::string_view field) {
  if (auto s = CheckMembers(value, field, {"seconds", "bytes", "packets"});
      !s.ok()) {
    return s;
  }
  EspLifetime out;
  if (auto it = value.find("seconds"); it != value.end()) {
    auto v = GetUnsigned(*it, Join(field, "seconds"), 10ull * 365 * 86400);
    if (!v.ok()) return v.status();
    out.time = absl::Seconds(static_cast<int64_t>(*v));
  }
  if (auto it = value.find("bytes"); it != value.end()) {
    auto v = GetUnsigned(*it, Join(field, "bytes"), UINT64_MAX);
    if (!v.ok()) return v.status();
    out.bytes = *v;
  }
  if (auto it = value.find("packets"); it != value.end()) {
    auto v = GetUnsigned(*it, Join(field, "packets"), UINT64_MAX);
    if (!v.ok()) return v.status();
    out.packets = *v;
  }
  return out;
}

absl::StatusOr<ChildSaKeys> ParseEsp(const Json& value,
                                     absl::string_view field) {
  if (auto s = CheckMembers(value, field,
                            {"algorithm", "esn", "i2r", "r2i", "lifetime"});
      !s.ok()) {
    return s;
  }
  ChildSaKeys out;
  auto name = GetString(value, field, "algorithm");
  if (!name.ok()) return name.status();
  bool found = false;
  std::vector<absl::string_view> names;
  for (esp::Algorithm algorithm : esp::kAlgorithms) {
    names.push_back(esp::AlgorithmName(algorithm));
    if (*name == esp::AlgorithmName(algorithm)) {
      out.transform = algorithm;
      found = true;
    }
  }
  if (!found) {
    return FieldError(Join(field, "algorithm"),
                      absl::StrCat("unknown algorithm \"", *name,
                                   "\" (known: ", absl::StrJoin(names, ", "),
                                   ")"));
  }
  if (auto it = value.find("esn"); it != value.end()) {
    if (!it->is_boolean()) {
      return FieldError(Join(field, "esn"), "must be true or false");
    }
    out.esn = it->get<bool>();
  }
  for (const char* dir : {"i2r", "r2i"}) {
    auto it = value.find(dir);
    if (it == value.end()) return FieldError(Join(field, dir), "missing");
    auto d = ParseDirection(*it, Join(field, dir), out.transform);
    if (!d.ok()) return d.status();
    (std::string(dir) == "i2r" ? out.i2r : out.r2i) = *std::move(d);
  }
  if (out.i2r.spi == out.r2i.spi) {
    return FieldError(Join(field, "r2i.spi"),
                      "must differ from i2r.spi");
  }
  if (auto it = value.find("lifetime"); it != value.end()) {
    auto l = ParseLifetime(*it, Join(field, "lifetime"));
    if (!l.ok()) return l.status();
    out.lifetime = *l;
  }
  return out;
}

}  // namespace

std::string IpPrefix::ToString() const {
  return absl::StrCat(address.ToString(), "/", length);
}

absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  IpPrefix out;
  auto ip = IpAddress::Parse(parts[0]);
  if (parts.size() > 2 || !ip.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an address prefix: \"", text, "\""));
  }
  out.address = *ip;
  const int max = ip->is_v4() ? 32 : 128;
  out.length = max;
  if (parts.size() == 2 &&
      (!absl::SimpleAtoi(parts[1], &out.length) || out.length < 0 ||
       out.length > max)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad prefix length in \"", text, "\" (0..", max, ")"));
  }
  return out;
}

absl::StatusOr<EspProfile> ParseEspProfile(absl::string_view json) {
  absl::StatusOr<Json> parsed = json_fields::ParseJson(json);
  if (!parsed.ok()) return parsed.status();
  Json root = *std::move(parsed);
  if (auto s = CheckMembers(root, "", {"name", "gateway", "ipv4", "ipv6",
                                       "routes", "dns", "mtu",
                                       "nat_keepalive_seconds", "esp"});
      !s.ok()) {
    return s;
  }
  EspProfile out;
  if (auto it = root.find("name"); it != root.end()) {
    if (!it->is_string()) return FieldError("name", "must be a string");
    out.name = it->get<std::string>();
  }
  auto gateway = GetString(root, "", "gateway");
  if (!gateway.ok()) return gateway.status();
  auto gw = SocketAddress::Parse(*gateway);
  if (!gw.ok() || gw->port() == 0 || gw->ip().IsUnspecified()) {
    return FieldError("gateway",
                      absl::StrCat("not an address:port (e.g. "
                                   "127.0.0.1:4500 or [::1]:4500): \"",
                                   *gateway, "\""));
  }
  out.gateway = *gw;
  if (auto it = root.find("ipv4"); it != root.end()) {
    auto ip = GetAddress(*it, "ipv4");
    if (!ip.ok()) return ip.status();
    if (!ip->is_v4()) return FieldError("ipv4", "must be an IPv4 address");
    out.ipv4 = *ip;
  }
  if (auto it = root.find("ipv6"); it != root.end()) {
    auto ip = GetAddress(*it, "ipv6");
    if (!ip.ok()) return ip.status();
    if (!ip->is_v6()) return FieldError("ipv6", "must be an IPv6 address");
    out.ipv6 = *ip;
  }
  if (!out.ipv4 && !out.ipv6) {
    return FieldError("ipv4", "a virtual ipv4 or ipv6 address is required");
  }
  if (auto it = root.find("routes"); it != root.end()) {
    if (!it->is_array()) return FieldError("routes", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = absl::StrCat("routes[", i, "]");
      if (!(*it)[i].is_string()) return FieldError(field, "must be a string");
      auto prefix = ParseIpPrefix((*it)[i].get<std::string>());
      if (!prefix.ok()) return FieldError(field, prefix.status().message());
      out.routes.push_back(*prefix);
    }
  }
  if (auto it = root.find("dns"); it != root.end()) {
    if (!it->is_array()) return FieldError("dns", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto ip = GetAddress((*it)[i], absl::StrCat("dns[", i, "]"));
      if (!ip.ok()) return ip.status();
      out.dns.push_back(*ip);
    }
  }
  if (auto it = root.find("mtu"); it != root.end()) {
    auto v = GetUnsigned(*it, "mtu", 65535);
    if (!v.ok()) return v.status();
    const int min = out.ipv6 ? 1280 : 576;
    if (*v < static_cast<uint64_t>(min) || *v > 9000) {
      return FieldError("mtu", absl::StrCat(*v, " is outside ", min,
                                            "..9000", out.ipv6
                                                ? " (IPv6 needs 1280)"
                                                : ""));
    }
    out.mtu = static_cast<int>(*v);
  }
  if (auto it = root.find("nat_keepalive_seconds"); it != root.end()) {
    auto v = GetUnsigned(*it, "nat_keepalive_seconds", 3600);
    if (!v.ok()) return v.status();
    out.nat_keepalive = *v == 0 ? absl::InfiniteDuration()
                                : absl::Seconds(static_cast<int64_t>(*v));
  }
  auto esp = root.find("esp");
  if (esp == root.end()) return FieldError("esp", "missing");
  auto keys = ParseEsp(*esp, "esp");
  if (!keys.ok()) return keys.status();
  out.keys = *std::move(keys);
  return out;
}

absl::StatusOr<EspProfile> LoadEspProfile(const std::string& path) {
  auto text = json_fields::ReadFile(path);
  if (!text.ok()) return text.status();
  auto profile = ParseEspProfile(*text);
  if (!profile.ok()) return json_fields::WithPath(path, profile.status());
  return profile;
}

std::string EspProfileToJson(const EspProfile& profile) {
  Json root;
  if (!profile.name.empty()) root["name"] = profile.name;
  root["gateway"] = profile.gateway.ToString();
  if (profile.ipv4) root["ipv4"] = profile.ipv4->ToString();
  if (profile.ipv6) root["ipv6"] = profile.ipv6->ToString();
  if (!profile.routes.empty()) {
    Json routes = Json::array();
    for (const IpPrefix& r : profile.routes) routes.push_back(r.ToString());
    root["routes"] = routes;
  }
  if (!profile.dns.empty()) {
    Json dns = Json::array();
    for (const IpAddress& ip : profile.dns) dns.push_back(ip.ToString());
    root["dns"] = dns;
  }
  root["mtu"] = profile.mtu;
  root["nat_keepalive_seconds"] =
      profile.nat_keepalive == absl::InfiniteDuration()
          ? 0
          : absl::ToInt64Seconds(profile.nat_keepalive);
  const ChildSaKeys& k = profile.keys;
  Json esp;
  esp["algorithm"] = std::string(esp::AlgorithmName(k.transform));
  esp["esn"] = k.esn;
  auto dir = [](const EspDirection& d) {
    Json j;
    j["spi"] = absl::StrCat("0x", absl::Hex(d.spi, absl::kZeroPad8));
    j["key"] = absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(d.key_material.data()),
        d.key_material.size()));
    return j;
  };
  esp["i2r"] = dir(k.i2r);
  esp["r2i"] = dir(k.r2i);
  Json lifetime = Json::object();
  if (k.lifetime.time != absl::ZeroDuration()) {
    lifetime["seconds"] = absl::ToInt64Seconds(k.lifetime.time);
  }
  if (k.lifetime.bytes != 0) lifetime["bytes"] = k.lifetime.bytes;
  if (k.lifetime.packets != 0) lifetime["packets"] = k.lifetime.packets;
  if (!lifetime.empty()) esp["lifetime"] = lifetime;
  root["esp"] = esp;
  return root.dump(2) + "\n";
}

}  // namespace stow::ipsec
