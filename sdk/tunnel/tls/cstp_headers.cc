#include "sdk/tunnel/tls/cstp_headers.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stow::tunnel::tls {
namespace {

absl::Status Bad(absl::string_view header, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(header, ": ", what));
}

// Single-valued header: nullptr if absent, error if repeated.
absl::StatusOr<const std::string*> One(const HttpResponse& r,
                                       absl::string_view name) {
  const std::string* found = nullptr;
  for (const auto& h : r.headers) {
    if (!absl::EqualsIgnoreCase(h.first, name)) continue;
    if (found != nullptr && *found != h.second) {
      return Bad(name, "repeated with different values");
    }
    found = &h.second;
  }
  return found;
}

// Non-negative decimal seconds/bytes up to `max`.
absl::StatusOr<int> ParseUint(absl::string_view header, absl::string_view v,
                              int max) {
  if (v.empty() || v.size() > 9) return Bad(header, "not a number");
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return Bad(header, "not a number");
    n = n * 10 + (c - '0');
  }
  if (n > max) return Bad(header, absl::StrCat("value above ", max));
  return n;
}

#define STOW_ASSIGN_OR_RETURN_IMPL(var, expr, tmp) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  var = *std::move(tmp)
#define STOW_CAT2(a, b) a##b
#define STOW_CAT(a, b) STOW_CAT2(a, b)
#define ASSIGN_OR_RETURN(var, expr) \
  STOW_ASSIGN_OR_RETURN_IMPL(var, expr, STOW_CAT(status_or_, __LINE__))

// Optional integer header; `none_ok` accepts "none" as unset.
absl::Status OptInt(const HttpResponse& r, absl::string_view name, int max,
                    bool none_ok, std::optional<int>* out) {
  ASSIGN_OR_RETURN(const std::string* v, One(r, name));
  if (v == nullptr) return absl::OkStatus();
  if (none_ok && absl::EqualsIgnoreCase(*v, "none")) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, ParseUint(name, *v, max));
  return absl::OkStatus();
}

absl::StatusOr<RekeyMethod> ParseRekeyMethod(absl::string_view name,
                                             absl::string_view v) {
  if (absl::EqualsIgnoreCase(v, "none")) return RekeyMethod::kNone;
  if (absl::EqualsIgnoreCase(v, "ssl")) return RekeyMethod::kSsl;
  if (absl::EqualsIgnoreCase(v, "new-tunnel")) return RekeyMethod::kNewTunnel;
  return Bad(name, "unknown rekey method");
}

// Netmask -> prefix length; -1 when not contiguous.
int MaskToPrefix(const IpAddress& mask) {
  int len = 0;
  bool zero_seen = false;
  for (uint8_t b : mask.bytes()) {
    for (int bit = 7; bit >= 0; --bit) {
      if (b & (1 << bit)) {
        if (zero_seen) return -1;
        ++len;
      } else {
        zero_seen = true;
      }
    }
  }
  return len;
}

absl::StatusOr<CstpRoute> ParseRoute(absl::string_view header,
                                     absl::string_view v, bool want_v6) {
  const size_t slash = v.find('/');
  if (slash == absl::string_view::npos) return Bad(header, "missing '/'");
  auto addr = IpAddress::Parse(v.substr(0, slash));
  if (!addr.ok()) return Bad(header, "bad address");
  if (addr->is_v6() != want_v6) return Bad(header, "wrong address family");
  absl::string_view rest = v.substr(slash + 1);
  CstpRoute route;
  route.prefix = *addr;
  const int max_len = want_v6 ? 128 : 32;
  if (rest.find_first_of(".:") != absl::string_view::npos) {
    auto mask = IpAddress::Parse(rest);
    if (!mask.ok() || mask->is_v6() != want_v6) {
      return Bad(header, "bad netmask");
    }
    route.prefix_len = MaskToPrefix(*mask);
    if (route.prefix_len < 0) return Bad(header, "netmask not contiguous");
  } else {
    ASSIGN_OR_RETURN(route.prefix_len, ParseUint(header, rest, max_len));
  }
  return route;
}

absl::StatusOr<std::vector<uint8_t>> ParseHexId(absl::string_view header,
                                                absl::string_view v) {
  if (v.empty() || v.size() % 2 != 0 || v.size() > 64) {
    return Bad(header, "expected 2..64 hex digits, even count");
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i < v.size(); i += 2) {
    int byte = 0;
    for (size_t j = i; j < i + 2; ++j) {
      const char c = absl::ascii_tolower(static_cast<unsigned char>(v[j]));
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return Bad(header, "not hex");
      }
      byte = byte * 16 + d;
    }
    out.push_back(static_cast<uint8_t>(byte));
  }
  return out;
}

absl::Status ParseRoutes(const HttpResponse& r, absl::string_view name,
                         bool v6, std::vector<CstpRoute>* out) {
  for (const std::string& v : r.FindAll(name)) {
    ASSIGN_OR_RETURN(CstpRoute route, ParseRoute(name, v, v6));
    out->push_back(route);
  }
  return absl::OkStatus();
}

absl::Status ParseDtls(const HttpResponse& r, DtlsParams* d) {
  ASSIGN_OR_RETURN(const std::string* port, One(r, "X-DTLS-Port"));
  ASSIGN_OR_RETURN(int p, ParseUint("X-DTLS-Port", *port, 65535));
  if (p == 0) return Bad("X-DTLS-Port", "port 0");
  d->port = static_cast<uint16_t>(p);
  ASSIGN_OR_RETURN(const std::string* app_id, One(r, "X-DTLS-App-ID"));
  ASSIGN_OR_RETURN(const std::string* sid, One(r, "X-DTLS-Session-ID"));
  if (app_id != nullptr) {
    ASSIGN_OR_RETURN(d->session_id, ParseHexId("X-DTLS-App-ID", *app_id));
    d->session_id_is_app_id = true;
  } else if (sid != nullptr) {
    ASSIGN_OR_RETURN(d->session_id, ParseHexId("X-DTLS-Session-ID", *sid));
  } else {
    return Bad("X-DTLS-Port", "no X-DTLS-App-ID or X-DTLS-Session-ID");
  }
  ASSIGN_OR_RETURN(const std::string* cs, One(r, "X-DTLS-CipherSuite"));
  if (cs == nullptr || cs->empty()) {
    return Bad("X-DTLS-CipherSuite", "missing");
  }
  d->cipher_suite = *cs;
  absl::Status s;
  if (!(s = OptInt(r, "X-DTLS-DPD", 86400, false, &d->dpd_seconds)).ok() ||
      !(s = OptInt(r, "X-DTLS-Keepalive", 86400, false,
                   &d->keepalive_seconds)).ok() ||
      !(s = OptInt(r, "X-DTLS-Rekey-Time", 100000000, false,
                   &d->rekey_seconds)).ok() ||
      !(s = OptInt(r, "X-DTLS-MTU", 65535, false, &d->mtu)).ok()) {
    return s;
  }
  ASSIGN_OR_RETURN(const std::string* rm, One(r, "X-DTLS-Rekey-Method"));
  if (rm != nullptr) {
    ASSIGN_OR_RETURN(d->rekey_method,
                     ParseRekeyMethod("X-DTLS-Rekey-Method", *rm));
  }
  ASSIGN_OR_RETURN(const std::string* ce, One(r, "X-DTLS-Content-Encoding"));
  if (ce != nullptr) d->content_encoding = *ce;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CstpConfig> ParseCstpConfig(const HttpResponse& r) {
  CstpConfig c;
  ASSIGN_OR_RETURN(const std::string* name, One(r, "X-CSTP-Server-Name"));
  if (name != nullptr) c.server_name = *name;

  ASSIGN_OR_RETURN(const std::string* addr, One(r, "X-CSTP-Address"));
  ASSIGN_OR_RETURN(const std::string* addr6, One(r, "X-CSTP-Address-IP6"));
  if (addr == nullptr && addr6 == nullptr) {
    return Bad("X-CSTP-Address", "missing");
  }
  if (addr != nullptr) {
    auto a = IpAddress::Parse(*addr);
    if (!a.ok()) return Bad("X-CSTP-Address", "bad address");
    if (a->IsUnspecified()) return Bad("X-CSTP-Address", "unspecified");
    if (a->is_v4()) {
      c.address = *a;
    } else {
      c.address6 = *a;
    }
  }
  ASSIGN_OR_RETURN(const std::string* mask, One(r, "X-CSTP-Netmask"));
  if (mask != nullptr) {
    auto m = IpAddress::Parse(*mask);
    if (!m.ok() || !m->is_v4()) return Bad("X-CSTP-Netmask", "bad netmask");
    if (MaskToPrefix(*m) < 0) {
      return Bad("X-CSTP-Netmask", "netmask not contiguous");
    }
    c.netmask = *m;
  }
  if (addr6 != nullptr) {
    ASSIGN_OR_RETURN(CstpRoute r6,
                     ParseRoute("X-CSTP-Address-IP6", *addr6, true));
    if (r6.prefix.IsUnspecified()) {
      return Bad("X-CSTP-Address-IP6", "unspecified");
    }
    c.address6 = r6.prefix;
    c.address6_prefix_len = r6.prefix_len;
  }
  for (absl::string_view header : {"X-CSTP-DNS", "X-CSTP-DNS-IP6"}) {
    for (const std::string& v : r.FindAll(header)) {
      auto a = IpAddress::Parse(v);
      if (!a.ok()) return Bad(header, "bad address");
      c.dns.push_back(*a);
    }
  }
  absl::Status s;
  if (!(s = ParseRoutes(r, "X-CSTP-Split-Include", false,
                        &c.split_include)).ok() ||
      !(s = ParseRoutes(r, "X-CSTP-Split-Include-IP6", true,
                        &c.split_include)).ok() ||
      !(s = ParseRoutes(r, "X-CSTP-Split-Exclude", false,
                        &c.split_exclude)).ok() ||
      !(s = ParseRoutes(r, "X-CSTP-Split-Exclude-IP6", true,
                        &c.split_exclude)).ok()) {
    return s;
  }
  ASSIGN_OR_RETURN(const std::string* domain, One(r, "X-CSTP-Default-Domain"));
  if (domain != nullptr) {
    for (char ch : *domain) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(ch)) ||
            ch == '.' || ch == '-' || ch == '_' || ch == ' ')) {
        return Bad("X-CSTP-Default-Domain", "invalid character");
      }
    }
    c.default_domain = *domain;
  }
  if (!(s = OptInt(r, "X-CSTP-MTU", 65535, false, &c.mtu)).ok() ||
      !(s = OptInt(r, "X-CSTP-Base-MTU", 65535, false, &c.base_mtu)).ok() ||
      !(s = OptInt(r, "X-CSTP-DPD", 86400, false, &c.dpd_seconds)).ok() ||
      !(s = OptInt(r, "X-CSTP-Keepalive", 86400, false,
                   &c.keepalive_seconds)).ok() ||
      !(s = OptInt(r, "X-CSTP-Idle-Timeout", 100000000, true,
                   &c.idle_timeout_seconds)).ok() ||
      !(s = OptInt(r, "X-CSTP-Rekey-Time", 100000000, false,
                   &c.rekey_seconds)).ok()) {
    return s;
  }
  // 576 is the IPv4 minimum datagram every host must accept (RFC 791);
  // 1280 would be needed to carry IPv6.
  if (c.mtu.has_value() && *c.mtu < 576) {
    return Bad("X-CSTP-MTU", "below 576");
  }
  ASSIGN_OR_RETURN(const std::string* rm, One(r, "X-CSTP-Rekey-Method"));
  if (rm != nullptr) {
    ASSIGN_OR_RETURN(c.rekey_method,
                     ParseRekeyMethod("X-CSTP-Rekey-Method", *rm));
  }
  ASSIGN_OR_RETURN(const std::string* ce, One(r, "X-CSTP-Content-Encoding"));
  if (ce != nullptr) c.content_encoding = *ce;
  ASSIGN_OR_RETURN(const std::string* tad, One(r, "X-CSTP-Tunnel-All-DNS"));
  if (tad != nullptr) {
    if (absl::EqualsIgnoreCase(*tad, "true")) {
      c.tunnel_all_dns = true;
    } else if (!absl::EqualsIgnoreCase(*tad, "false")) {
      return Bad("X-CSTP-Tunnel-All-DNS", "expected true or false");
    }
  }
  ASSIGN_OR_RETURN(const std::string* dport, One(r, "X-DTLS-Port"));
  if (dport != nullptr) {
    DtlsParams d;
    if (!(s = ParseDtls(r, &d)).ok()) return s;
    c.dtls = std::move(d);
  }
  return c;
}

}  // namespace stow::tunnel::tls
