#include "sdk/tunnel/tls/tls_profile.h"

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "sdk/tunnel/ipsec/json_fields.h"

namespace stow::tunnel::tls {
namespace {

using Json = nlohmann::json;
using ipsec::json_fields::BoolValue;
using ipsec::json_fields::CheckMembers;
using ipsec::json_fields::FieldError;
using ipsec::json_fields::IntValue;
using ipsec::json_fields::StringValue;

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (base_dir.empty() || path.empty() || path[0] == '/') return path;
  return absl::StrCat(base_dir, "/", path);
}

absl::Status ReadPem(const Json& root, const char* field,
                     const std::string& base_dir, std::string* out) {
  auto it = root.find(field);
  if (it == root.end()) return absl::OkStatus();
  auto path = StringValue(*it, field);
  if (!path.ok()) return path.status();
  auto text = ipsec::json_fields::ReadFile(Resolve(base_dir, *path));
  if (!text.ok()) return FieldError(field, text.status().message());
  if (text->find("-----BEGIN ") == std::string::npos) {
    return FieldError(field, absl::StrCat(*path, ": no PEM block"));
  }
  *out = *std::move(text);
  return absl::OkStatus();
}

// "https://host[:port][/path]"; IPv6 literals in brackets.
absl::Status ParseUrl(absl::string_view url, TlsProfile* out) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://")) {
    return FieldError("gateway", absl::StrCat("\"", url,
                                              "\" is not an https:// URL"));
  }
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  out->path = slash == absl::string_view::npos
                  ? "/"
                  : std::string(rest.substr(slash));
  absl::string_view host = authority, port;
  if (absl::ConsumePrefix(&host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) {
      return FieldError("gateway", "unterminated [IPv6] host");
    }
    absl::string_view after = host.substr(close + 1);
    host = host.substr(0, close);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return FieldError("gateway", "junk after the [IPv6] host");
    }
    port = after;
  } else if (size_t colon = authority.rfind(':');
             colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return FieldError("gateway", "no host in the URL");
  out->host = std::string(host);
  if (!port.empty()) {
    int p = 0;
    if (!absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) {
      return FieldError("gateway", absl::StrCat("bad port \"", port, "\""));
    }
    out->port = static_cast<uint16_t>(p);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ProfileTransport(absl::string_view json) {
  auto root = ipsec::json_fields::ParseJson(json);
  if (!root.ok()) return root.status();
  if (!root->is_object()) return FieldError("profile", "must be an object");
  auto it = root->find("transport");
  if (it == root->end()) return std::string("ipsec");
  auto t = StringValue(*it, "transport");
  if (!t.ok()) return t.status();
  if (*t != "ipsec" && *t != "tls") {
    return FieldError("transport", absl::StrCat("\"", *t,
                                                "\": must be ipsec or tls"));
  }
  return t;
}

absl::StatusOr<TlsProfile> ParseTlsProfile(absl::string_view json,
                                           const std::string& base_dir) {
  auto parsed = ipsec::json_fields::ParseJson(json);
  if (!parsed.ok()) return parsed.status();
  const Json& root = *parsed;
  if (auto s = CheckMembers(
          root, "profile",
          {"name", "transport", "gateway", "address", "ca", "pin", "username",
           "password", "group", "client_certificate", "client_key", "dtls",
           "mtu", "tcp_min_rto_ms", "timers", "reconnect", "dns_search"});
      !s.ok()) {
    return s;
  }
  TlsProfile out;
  if (auto it = root.find("transport"); it != root.end()) {
    auto t = StringValue(*it, "transport");
    if (!t.ok()) return t.status();
    if (*t != "tls") {
      return FieldError("transport", "must be \"tls\" in a TLS profile");
    }
  }
  auto string_member = [&](const char* field,
                           std::string* target) -> absl::Status {
    auto it = root.find(field);
    if (it == root.end()) return absl::OkStatus();
    auto v = StringValue(*it, field);
    if (!v.ok()) return v.status();
    *target = *std::move(v);
    return absl::OkStatus();
  };
  for (auto [field, target] :
       {std::pair<const char*, std::string*>{"name", &out.name},
        {"gateway", &out.url},
        {"username", &out.username},
        {"password", &out.password},
        {"group", &out.group}}) {
    if (auto s = string_member(field, target); !s.ok()) return s;
  }
  if (out.url.empty()) return FieldError("gateway", "is required");
  if (auto s = ParseUrl(out.url, &out); !s.ok()) return s;
  if (auto it = root.find("address"); it != root.end()) {
    auto text = StringValue(*it, "address");
    if (!text.ok()) return text.status();
    auto address = SocketAddress::Parse(*text);
    if (!address.ok()) {
      return FieldError("address", address.status().message());
    }
    out.address = *address;
  } else {
    auto ip = IpAddress::Parse(out.host);
    if (!ip.ok()) {
      return FieldError("address",
                        absl::StrCat("is required: the gateway's host \"",
                                     out.host, "\" is not an IP address"));
    }
    out.address = SocketAddress(*ip, out.port);
  }
  if (auto s = ReadPem(root, "ca", base_dir, &out.ca_pem); !s.ok()) return s;
  if (auto it = root.find("pin"); it != root.end()) {
    Json pins = it->is_array() ? *it : Json::array({*it});
    for (size_t i = 0; i < pins.size(); ++i) {
      auto pin = StringValue(pins[i], "pin");
      if (!pin.ok()) return pin.status();
      if (pin->rfind("pin-sha256:", 0) != 0 || pin->size() != 11 + 44) {
        return FieldError("pin",
                          absl::StrCat("\"", *pin,
                                       "\" is not pin-sha256:<44 base64 "
                                       "characters>"));
      }
      out.pins.push_back(*std::move(pin));
    }
  }
  if (out.ca_pem.empty() && out.pins.empty()) {
    return FieldError("ca", "a CA file or a pin is required to check the "
                            "gateway's certificate");
  }
  if (auto s = ReadPem(root, "client_certificate", base_dir,
                       &out.client_cert_pem);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadPem(root, "client_key", base_dir, &out.client_key_pem);
      !s.ok()) {
    return s;
  }
  if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
    return FieldError("client_key",
                      "client_certificate and client_key go together");
  }
  if (out.username.empty() && out.client_cert_pem.empty()) {
    return FieldError("username", "is required (or a client certificate)");
  }
  if (auto it = root.find("dtls"); it != root.end()) {
    auto v = BoolValue(*it, "dtls");
    if (!v.ok()) return v.status();
    out.dtls = *v;
  }
  if (auto it = root.find("mtu"); it != root.end()) {
    auto v = IntValue(*it, "mtu", 576, 9000);
    if (!v.ok()) return v.status();
    out.mtu = static_cast<int>(*v);
  }
  if (auto it = root.find("tcp_min_rto_ms"); it != root.end()) {
    auto v = IntValue(*it, "tcp_min_rto_ms", 0, 60000);
    if (!v.ok()) return v.status();
    out.tcp_min_rto = absl::Milliseconds(*v);
  }
  if (auto it = root.find("timers"); it != root.end()) {
    if (auto s = CheckMembers(*it, "timers", {"connect_timeout_s"}); !s.ok()) {
      return s;
    }
    if (auto t = it->find("connect_timeout_s"); t != it->end()) {
      auto v = IntValue(*t, "timers.connect_timeout_s", 1, 600);
      if (!v.ok()) return v.status();
      out.connect_timeout = absl::Seconds(*v);
    }
  }
  if (auto it = root.find("reconnect"); it != root.end()) {
    if (auto s = ipsec::json_fields::ParseReconnect(
            *it, &out.reconnect_initial, &out.reconnect_max);
        !s.ok()) {
      return s;
    }
  }
  if (auto it = root.find("dns_search"); it != root.end()) {
    auto search = ipsec::json_fields::DomainList(*it, "dns_search");
    if (!search.ok()) return search.status();
    out.dns_search = *std::move(search);
  }
  return out;
}

absl::StatusOr<TlsProfile> LoadTlsProfile(const std::string& path) {
  auto text = ipsec::json_fields::ReadFile(path);
  if (!text.ok()) return text.status();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
  auto profile = ParseTlsProfile(*text, dir);
  if (!profile.ok()) {
    return ipsec::json_fields::WithPath(path, profile.status());
  }
  return profile;
}

}  // namespace stow::tunnel::tls
