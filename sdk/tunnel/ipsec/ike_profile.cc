#include "sdk/tunnel/ipsec/ike_profile.h"

#include <fstream>
#include <initializer_list>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/cert_credentials.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/json_fields.h"
#include "sdk/tunnel/ipsec/profile.h"

namespace stow::ipsec {
namespace {

using Json = nlohmann::json;

using json_fields::CheckMembers;
using json_fields::FieldError;
using json_fields::Join;

using json_fields::BoolValue;
using json_fields::IntValue;
using json_fields::StringValue;

absl::StatusOr<ike::IdPayload> IdentityValue(const Json& value,
                                             absl::string_view field) {
  auto text = StringValue(value, field);
  if (!text.ok()) return text.status();
  if (text->empty()) return FieldError(field, "must not be empty");
  auto id = ike::ParseIdentity(*text);
  if (!id.ok()) return FieldError(field, id.status().message());
  return *std::move(id);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (base_dir.empty() || path.empty() || path[0] == '/') return path;
  return absl::StrCat(base_dir, "/", path);
}

absl::StatusOr<IkeAuthSettings> ParseAuth(const Json& value,
                                          const std::string& base_dir) {
  if (auto s = CheckMembers(value, "auth",
                            {"psk", "certificate", "private_key", "ca"});
      !s.ok()) {
    return s;
  }
  IkeAuthSettings out;
  const bool has_psk = value.contains("psk");
  const bool has_cert = value.contains("certificate") ||
                        value.contains("private_key") || value.contains("ca");
  if (has_psk && has_cert) {
    return FieldError("auth",
                      "either \"psk\" or \"certificate\", \"private_key\" and "
                      "\"ca\", not both");
  }
  if (has_psk) {
    auto psk = StringValue(value["psk"], "auth.psk");
    if (!psk.ok()) return psk.status();
    if (psk->empty()) return FieldError("auth.psk", "must not be empty");
    out.psk = *std::move(psk);
    return out;
  }
  if (!has_cert) {
    return FieldError("auth",
                      "needs \"psk\", or \"certificate\", \"private_key\" and "
                      "\"ca\"");
  }
  IkeAuthSettings::Certificate cert;
  for (auto [name, target] :
       {std::pair<const char*, std::string*>{"certificate", &cert.certificate},
        {"private_key", &cert.private_key},
        {"ca", &cert.ca}}) {
    const std::string field = Join("auth", name);
    if (!value.contains(name)) return FieldError(field, "missing");
    auto path = StringValue(value[name], field);
    if (!path.ok()) return path.status();
    if (path->empty()) return FieldError(field, "must not be empty");
    *target = Resolve(base_dir, *path);
  }
  out.certificate = std::move(cert);
  return out;
}

// ---------------------------------------------------------------------------
// Certificate authentication: our certificate and key sign AUTH (RFC 7427)
// and go out as CERT; the CA file's certificates are the trust anchors for
// the gateway's. Our identity defaults to the certificate's subject DN.
absl::Status SetCertificateCredentials(
    const IkeAuthSettings::Certificate& files, bool local_id_given,
    ike::IkeConfig* config) {
  auto loaded = ike::LoadCertCredentials(files.certificate, files.private_key);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("auth: ", loaded.status().message()));
  }
  if (!local_id_given) {
    config->local_id = ike::IdentityOfCertificate(*loaded->certificate);
  }
  std::ifstream ca(files.ca);
  if (!ca) return FieldError("auth.ca", absl::StrCat(files.ca, ": cannot open"));
  auto anchors = ike::CaPeerAuthenticator::Load(files.ca);
  if (!anchors.ok()) {
    return FieldError("auth.ca", std::string(anchors.status().message()));
  }
  config->credentials =
      std::make_shared<ike::CertificateCredentials>(*std::move(loaded));
  config->peer_authenticator = *std::move(anchors);
  return absl::OkStatus();
}
// ---------------------------------------------------------------------------

absl::Status ParseTimers(const Json& value, ike::IkeTimers* timers) {
  if (auto s = CheckMembers(value, "timers",
                            {"retransmit_base_ms", "retransmit_tries",
                             "dpd_delay_s", "ike_rekey_s", "child_rekey_s"});
      !s.ok()) {
    return s;
  }
  constexpr int64_t kDay = 86400;
  if (auto it = value.find("retransmit_base_ms"); it != value.end()) {
    auto v = IntValue(*it, "timers.retransmit_base_ms", 10, 60000);
    if (!v.ok()) return v.status();
    timers->retransmit_base = absl::Milliseconds(*v);
  }
  if (auto it = value.find("retransmit_tries"); it != value.end()) {
    auto v = IntValue(*it, "timers.retransmit_tries", 1, 20);
    if (!v.ok()) return v.status();
    timers->retransmit_tries = static_cast<int>(*v);
  }
  // 0 disables each of the following.
  if (auto it = value.find("dpd_delay_s"); it != value.end()) {
    auto v = IntValue(*it, "timers.dpd_delay_s", 0, kDay);
    if (!v.ok()) return v.status();
    timers->dpd_delay = absl::Seconds(*v);
  }
  if (auto it = value.find("ike_rekey_s"); it != value.end()) {
    auto v = IntValue(*it, "timers.ike_rekey_s", 0, 30 * kDay);
    if (!v.ok()) return v.status();
    timers->ike_rekey = absl::Seconds(*v);
  }
  if (auto it = value.find("child_rekey_s"); it != value.end()) {
    auto v = IntValue(*it, "timers.child_rekey_s", 0, 30 * kDay);
    if (!v.ok()) return v.status();
    timers->child_rekey = absl::Seconds(*v);
  }
  return absl::OkStatus();
}


}  // namespace

absl::StatusOr<IkeProfile> ParseIkeProfile(absl::string_view json,
                                           const std::string& base_dir) {
  absl::StatusOr<Json> parsed = json_fields::ParseJson(json);
  if (!parsed.ok()) return parsed.status();
  Json root = *std::move(parsed);
  if (auto s = CheckMembers(
          root, "",
          {"name", "gateway", "local_id", "remote_id", "auth", "ike_proposals",
           "esp_proposals", "request", "remote_ts", "mtu", "timers",
           "reconnect", "log_secrets", "dns_search", "transport"});
      !s.ok()) {
    return s;
  }
  if (auto it = root.find("transport"); it != root.end()) {
    auto t = StringValue(*it, "transport");
    if (!t.ok()) return t.status();
    if (*t != "ipsec") {
      return FieldError("transport", "must be \"ipsec\" in an IKE profile");
    }
  }
  IkeProfile out;
  ike::IkeConfig& ike = out.ike;
  ike.role = ike::Role::kInitiator;

  if (auto it = root.find("name"); it != root.end()) {
    auto name = StringValue(*it, "name");
    if (!name.ok()) return name.status();
    out.name = *std::move(name);
  }

  auto gw_it = root.find("gateway");
  if (gw_it == root.end()) return FieldError("gateway", "missing");
  auto gateway = StringValue(*gw_it, "gateway");
  if (!gateway.ok()) return gateway.status();
  auto gw = SocketAddress::Parse(*gateway);
  if (!gw.ok() || gw->port() == 0 || gw->ip().IsUnspecified()) {
    return FieldError("gateway",
                      absl::StrCat("not an IP address:port (e.g. "
                                   "172.29.1.1:500 or [fd00::1]:4500): \"",
                                   *gateway, "\""));
  }
  out.gateway = *gw;
  if (gw->port() == kIkePort) {
    out.gateway_nat_t = SocketAddress(gw->ip(), 4500);
    ike.force_nat_t = false;
  } else {
    out.gateway_nat_t = *gw;
    ike.force_nat_t = true;
  }

  bool local_id_given = false;
  if (auto it = root.find("local_id"); it != root.end()) {
    auto id = IdentityValue(*it, "local_id");
    if (!id.ok()) return id.status();
    ike.local_id = *std::move(id);
    local_id_given = true;
  }
  if (auto it = root.find("remote_id"); it != root.end()) {
    auto id = IdentityValue(*it, "remote_id");
    if (!id.ok()) return id.status();
    ike.remote_id = *std::move(id);
  }

  if (auto it = root.find("ike_proposals"); it != root.end()) {
    auto text = StringValue(*it, "ike_proposals");
    if (!text.ok()) return text.status();
    auto algorithms = ike::ParseIkeAlgorithms(*text);
    if (!algorithms.ok()) {
      return FieldError("ike_proposals", algorithms.status().message());
    }
    ike.ike = *std::move(algorithms);
  }
  if (auto it = root.find("esp_proposals"); it != root.end()) {
    auto text = StringValue(*it, "esp_proposals");
    if (!text.ok()) return text.status();
    auto algorithms = ike::ParseEspAlgorithms(*text);
    if (!algorithms.ok()) {
      return FieldError("esp_proposals", algorithms.status().message());
    }
    ike.esp = *std::move(algorithms);
  }

  if (auto it = root.find("request"); it != root.end()) {
    if (auto s = CheckMembers(*it, "request", {"ipv4", "ipv6"}); !s.ok()) {
      return s;
    }
    if (auto v = it->find("ipv4"); v != it->end()) {
      auto b = BoolValue(*v, "request.ipv4");
      if (!b.ok()) return b.status();
      ike.config_request.ipv4 = *b;
    }
    if (auto v = it->find("ipv6"); v != it->end()) {
      auto b = BoolValue(*v, "request.ipv6");
      if (!b.ok()) return b.status();
      ike.config_request.ipv6 = *b;
    }
  }
  ike.request_config = ike.config_request.ipv4 || ike.config_request.ipv6;
  if (!ike.request_config) {
    // Without a virtual address the session has nothing to put on its
    // interface.
    return FieldError("request", "ask for ipv4, ipv6 or both");
  }

  if (auto it = root.find("remote_ts"); it != root.end()) {
    if (!it->is_array()) return FieldError("remote_ts", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = absl::StrCat("remote_ts[", i, "]");
      auto text = StringValue((*it)[i], field);
      if (!text.ok()) return text.status();
      auto prefix = ParseIpPrefix(*text);
      if (!prefix.ok()) return FieldError(field, prefix.status().message());
      ike.remote_ts.push_back(
          ike::SelectorForPrefix(prefix->address, prefix->length));
    }
  }

  if (auto it = root.find("mtu"); it != root.end()) {
    const int min = ike.config_request.ipv6 ? 1280 : 576;
    auto v = IntValue(*it, "mtu", min, 9000);
    if (!v.ok()) {
      return ike.config_request.ipv6
                 ? FieldError("mtu", absl::StrCat(v.status().message(),
                                                  " (IPv6 needs 1280)"))
                 : v.status();
    }
    out.mtu = static_cast<int>(*v);
  }

  if (auto it = root.find("timers"); it != root.end()) {
    if (auto s = ParseTimers(*it, &ike.timers); !s.ok()) return s;
  }
  if (auto it = root.find("reconnect"); it != root.end()) {
    if (auto s = json_fields::ParseReconnect(*it, &out.reconnect_initial,
                                              &out.reconnect_max);
        !s.ok()) {
      return s;
    }
  }
  if (auto it = root.find("dns_search"); it != root.end()) {
    auto search = json_fields::DomainList(*it, "dns_search");
    if (!search.ok()) return search.status();
    out.dns_search = *std::move(search);
  }
  if (auto it = root.find("log_secrets"); it != root.end()) {
    auto b = BoolValue(*it, "log_secrets");
    if (!b.ok()) return b.status();
    ike.log_secrets = *b;
  }

  // Last: credentials may read files, and only a valid profile should.
  auto auth_it = root.find("auth");
  if (auth_it == root.end()) return FieldError("auth", "missing");
  auto auth = ParseAuth(*auth_it, base_dir);
  if (!auth.ok()) return auth.status();
  out.auth = *std::move(auth);
  if (out.auth.psk) {
    if (!local_id_given) {
      return FieldError("local_id", "missing (required with a PSK)");
    }
    auto psk = ike::PskCredentials::Create(*out.auth.psk);
    if (!psk.ok()) return FieldError("auth.psk", psk.status().message());
    ike.credentials = *psk;
    ike.peer_authenticator = *psk;
  } else {
    absl::Status s = SetCertificateCredentials(*out.auth.certificate,
                                               local_id_given, &ike);
    if (!s.ok()) return s;
  }
  return out;
}

absl::StatusOr<IkeProfile> LoadIkeProfile(const std::string& path) {
  auto text = json_fields::ReadFile(path);
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "" : path.substr(0, slash == 0 ? 1 : slash);
  auto profile = ParseIkeProfile(*text, dir);
  if (!profile.ok()) return json_fields::WithPath(path, profile.status());
  return profile;
}

std::string IkeProfileToJson(const IkeProfile& profile) {
  const ike::IkeConfig& ike = profile.ike;
  Json root;
  if (!profile.name.empty()) root["name"] = profile.name;
  root["gateway"] = profile.gateway.ToString();
  root["local_id"] = ike::DescribeIdentity(ike.local_id);
  if (ike.remote_id) root["remote_id"] = ike::DescribeIdentity(*ike.remote_id);
  Json auth = Json::object();
  if (profile.auth.psk) auth["psk"] = *profile.auth.psk;
  if (profile.auth.certificate) {
    auth["certificate"] = profile.auth.certificate->certificate;
    auth["private_key"] = profile.auth.certificate->private_key;
    auth["ca"] = profile.auth.certificate->ca;
  }
  root["auth"] = auth;
  root["ike_proposals"] = ike::IkeAlgorithmsToString(ike.ike);
  root["esp_proposals"] = ike::EspAlgorithmsToString(ike.esp);
  root["request"] = {{"ipv4", ike.config_request.ipv4},
                     {"ipv6", ike.config_request.ipv6}};
  if (!ike.remote_ts.empty()) {
    Json ts = Json::array();
    for (const ike::TrafficSelector& selector : ike.remote_ts) {
      for (const ike::Prefix& p : ike::SelectorToPrefixes(selector)) {
        ts.push_back(absl::StrCat(p.address.ToString(), "/", p.length));
      }
    }
    root["remote_ts"] = ts;
  }
  root["mtu"] = profile.mtu;
  root["timers"] = {
      {"retransmit_base_ms",
       absl::ToInt64Milliseconds(ike.timers.retransmit_base)},
      {"retransmit_tries", ike.timers.retransmit_tries},
      {"dpd_delay_s", absl::ToInt64Seconds(ike.timers.dpd_delay)},
      {"ike_rekey_s", absl::ToInt64Seconds(ike.timers.ike_rekey)},
      {"child_rekey_s", absl::ToInt64Seconds(ike.timers.child_rekey)},
  };
  root["reconnect"] = {
      {"initial_ms", absl::ToInt64Milliseconds(profile.reconnect_initial)},
      {"max_ms", absl::ToInt64Milliseconds(profile.reconnect_max)},
  };
  root["log_secrets"] = ike.log_secrets;
  if (!profile.dns_search.empty()) root["dns_search"] = profile.dns_search;
  return root.dump(2) + "\n";
}

}  // namespace stow::ipsec
