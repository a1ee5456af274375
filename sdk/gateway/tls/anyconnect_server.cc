#include "sdk/gateway/tls/anyconnect_server.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sdk/crypto/random.h"
#include "sdk/crypto/sha256.h"
#include "sdk/tunnel/tls/xml.h"

namespace stow::gateway::tls {
namespace {

using tunnel::tls::ParseXml;
using tunnel::tls::XmlElement;
using tunnel::tls::XmlEscape;

constexpr absl::string_view kCookieName = "webvpn";
constexpr absl::string_view kTunnelPath = "/CSCOSSLC/tunnel";
constexpr absl::string_view kAskMessage =
    "Please enter your username and password.";
constexpr absl::string_view kFailedMessage =
    "Login failed.\nPlease enter your username and password.";
constexpr size_t kCookieBytes = 32;
constexpr size_t kAppIdBytes = 32;

std::string Hex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string CookieKey(absl::string_view cookie) {
  return crypto::Sha256::Hex(crypto::Sha256::Hash(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(cookie.data()), cookie.size())));
}

// The network address of `prefix` (host bits cleared).
IpAddress Network(const ipsec::IpPrefix& prefix) {
  std::array<uint8_t, 16> bytes{};
  absl::Span<const uint8_t> in = prefix.address.bytes();
  for (size_t i = 0; i < in.size(); ++i) {
    const int bits = std::clamp(prefix.length - static_cast<int>(i) * 8, 0, 8);
    bytes[i] = in[i] & static_cast<uint8_t>(0xff00 >> bits);
  }
  return *IpAddress::FromBytes(absl::MakeConstSpan(bytes.data(), in.size()));
}

IpAddress Netmask4(int length) {
  std::array<uint8_t, 4> bytes{};
  for (int i = 0; i < 4; ++i) {
    const int bits = std::clamp(length - i * 8, 0, 8);
    bytes[i] = static_cast<uint8_t>(0xff00 >> bits);
  }
  return *IpAddress::FromBytes(bytes);
}

// A header value's decimal number in [min, max], or nullopt.
absl::optional<int> HeaderInt(const HttpRequest& request,
                              absl::string_view lower_name, int min, int max) {
  const std::string* v = request.FindHeader(lower_name);
  if (v == nullptr) return absl::nullopt;
  absl::optional<uint64_t> n = ParseDecimal(*v);
  if (!n || *n < static_cast<uint64_t>(min) || *n > static_cast<uint64_t>(max)) {
    return absl::nullopt;
  }
  return static_cast<int>(*n);
}

std::string ChildText(const XmlElement& e, absl::string_view name) {
  const XmlElement* c = e.Child(name);
  return c == nullptr ? std::string() : c->text;
}

}  // namespace

const std::string* AnyConnectResponse::Find(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

std::string AnyConnectResponse::Serialize() const {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  if (tunnel_session == 0) {
    absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n");
    if (close) absl::StrAppend(&out, "Connection: close\r\n");
  }
  absl::StrAppend(&out, "\r\n", body);
  return out;
}

absl::optional<std::string> FindRequestCookie(const HttpRequest& request,
                                              absl::string_view name) {
  for (const HttpHeaderField& field : request.headers) {
    if (field.name != "cookie") continue;
    for (absl::string_view pair : absl::StrSplit(field.value, ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      const size_t eq = pair.find('=');
      if (eq == absl::string_view::npos) continue;
      if (absl::StripAsciiWhitespace(pair.substr(0, eq)) != name) continue;
      absl::string_view value = absl::StripAsciiWhitespace(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return absl::nullopt;
}

absl::StatusOr<std::unique_ptr<AnyConnectServer>> AnyConnectServer::Create(
    AnyConnectServerConfig config) {
  if (config.users == nullptr) {
    return absl::InvalidArgumentError("tls: needs a user file");
  }
  if (!config.pool4.address.is_v4()) {
    return absl::InvalidArgumentError("tls pool: needs an IPv4 prefix");
  }
  if (config.pool6 && !config.pool6->address.is_v6()) {
    return absl::InvalidArgumentError("tls pool6: not an IPv6 prefix");
  }
  if (config.mtu < 576 || config.mtu > 65535 - 8) {
    return absl::InvalidArgumentError("tls mtu: must be 576 to 65527");
  }
  for (int v : {config.dpd_seconds, config.keepalive_seconds,
                config.dtls_dpd_seconds, config.dtls_keepalive_seconds}) {
    if (v < 0 || v > 86400) {
      return absl::InvalidArgumentError(
          "tls dpd/keepalive: must be 0 to 86400 seconds");
    }
  }
  if (config.dtls && config.dtls_port == 0) {
    return absl::InvalidArgumentError("tls: DTLS needs a port");
  }
  if (config.cookie_lifetime <= absl::ZeroDuration() ||
      config.max_failures < 1 || config.max_sessions < 1) {
    return absl::InvalidArgumentError(
        "tls: cookie lifetime, max failures and max sessions must be "
        "positive");
  }
  for (const std::string& s : {config.default_domain, config.server_name}) {
    for (char c : s) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
            c == '-' || c == '_' || c == ' ')) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tls: \"", absl::CHexEscape(s),
            "\": only letters, digits, '.', '-', '_' and spaces"));
      }
    }
  }
  std::unique_ptr<AnyConnectServer> server(
      new AnyConnectServer(std::move(config)));
  auto pool4 = AddressPool::Create(server->config_.pool4);
  if (!pool4.ok()) return pool4.status();
  server->pool4_ = *std::move(pool4);
  if (server->config_.pool6) {
    auto pool6 = AddressPool::Create(*server->config_.pool6);
    if (!pool6.ok()) return pool6.status();
    server->pool6_ = *std::move(pool6);
  }
  for (const IpAddress& ip : server->config_.reserved) {
    server->pool4_->Reserve(ip);
    if (server->pool6_) server->pool6_->Reserve(ip);
  }
  server->groups_ = server->config_.users->AllGroups();
  return server;
}

AnyConnectServer::AnyConnectServer(AnyConnectServerConfig config)
    : config_(std::move(config)) {}

AnyConnectResponse AnyConnectServer::Error(int status,
                                           absl::string_view reason,
                                           bool close) {
  if (status == 400 || status == 404 || status == 405) counters_.bad_requests++;
  AnyConnectResponse r;
  r.status = status;
  r.reason = std::string(reason);
  r.close = close;
  return r;
}

AnyConnectResponse AnyConnectServer::AuthForm(
    absl::string_view message) const {
  std::string form = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<config-auth client=\"vpn\" type=\"auth-request\" "
      "aggregate-auth-version=\"2\">\n"
      "<version who=\"sg\">stowaway</version>\n"
      "<auth id=\"main\">\n<title>",
      XmlEscape(config_.server_name), "</title>\n<message>",
      XmlEscape(message),
      "</message>\n<form method=\"post\" action=\"/auth\">\n"
      "<input type=\"text\" name=\"username\" label=\"Username:\" />\n"
      "<input type=\"password\" name=\"password\" label=\"Password:\" />\n");
  if (groups_.size() > 1) {
    absl::StrAppend(&form, "<select name=\"group_list\" label=\"GROUP:\">\n");
    for (const std::string& g : groups_) {
      absl::StrAppend(&form, "<option value=\"", XmlEscape(g), "\">",
                      XmlEscape(g), "</option>\n");
    }
    absl::StrAppend(&form, "</select>\n");
  }
  absl::StrAppend(&form, "</form></auth>\n</config-auth>\n");
  AnyConnectResponse r;
  r.headers = {{"Content-Type", "text/xml"},
               {"X-Transcend-Version", "1"},
               {"Cache-Control", "no-store"}};
  r.body = std::move(form);
  return r;
}

AnyConnectResponse AnyConnectServer::Handle(const HttpRequest& request,
                                            absl::string_view body,
                                            const IpAddress& peer,
                                            absl::Duration now) {
  counters_.requests++;
  if (request.method == "CONNECT") {
    if (request.path != kTunnelPath) return Error(404, "Not Found", true);
    return Connect(request, peer, now);
  }
  const bool auth_path = request.path == "/" || request.path == "/auth";
  if (!auth_path) return Error(404, "Not Found", !request.keep_alive);
  AnyConnectResponse out;
  if (request.method == "GET") {
    counters_.auth_forms++;
    out = AuthForm(kAskMessage);
  } else if (request.method != "POST") {
    return Error(405, "Method Not Allowed", !request.keep_alive);
  } else {
    auto root = ParseXml(body);
    const std::string* type =
        root.ok() && root->name == "config-auth" ? root->Attribute("type")
                                                 : nullptr;
    if (type == nullptr || *type != "auth-reply") {
      // init (or anything else): ask.
      counters_.auth_forms++;
      out = AuthForm(kAskMessage);
    } else {
      const XmlElement* auth = root->Child("auth");
      std::string user, password, group;
      if (auth != nullptr) {
        user = ChildText(*auth, "username");
        password = ChildText(*auth, "password");
        group = ChildText(*auth, "group_list");
      }
      if (group.empty()) group = ChildText(*root, "group-select");
      out = Login(user, password, group, peer, now);
    }
  }
  out.close = out.close || !request.keep_alive;
  return out;
}

bool AnyConnectServer::LockedOut(const std::string& key,
                                 absl::Duration now) const {
  auto it = failures_.find(key);
  return it != failures_.end() && it->second.locked_until > now;
}

void AnyConnectServer::RecordFailure(const std::string& key,
                                     absl::Duration now) {
  Failures& f = failures_[key];
  f.last = now;
  if (++f.count >= config_.max_failures) {
    f.count = 0;
    f.locked_until = now + config_.lockout;
  }
}

AnyConnectResponse AnyConnectServer::Login(const std::string& user,
                                           const std::string& password,
                                           const std::string& group,
                                           const IpAddress& peer,
                                           absl::Duration now) {
  const std::string user_key = absl::StrCat("user:", user);
  const std::string peer_key = absl::StrCat("peer:", peer.ToString());
  if (LockedOut(user_key, now) || LockedOut(peer_key, now)) {
    counters_.logins_locked_out++;
    return AuthForm(kFailedMessage);
  }
  const PasswordEntry* entry = config_.users->Verify(user, password);
  std::string chosen;
  bool ok = entry != nullptr;
  if (ok && !entry->groups.empty()) {
    if (group.empty()) {
      chosen = entry->groups.front();
    } else if (std::find(entry->groups.begin(), entry->groups.end(), group) !=
               entry->groups.end()) {
      chosen = group;
    } else {
      ok = false;  // Not a member of the group asked for.
    }
  }
  if (!ok) {
    counters_.logins_failed++;
    RecordFailure(user_key, now);
    RecordFailure(peer_key, now);
    return AuthForm(kFailedMessage);
  }
  failures_.erase(user_key);
  failures_.erase(peer_key);
  if (sessions_.size() >= config_.max_sessions) {
    counters_.logins_refused++;
    return AuthForm("Too many sessions; try again later.");
  }
  counters_.logins_ok++;
  std::vector<uint8_t> raw = crypto::RandomVector(kCookieBytes);
  const std::string cookie = Hex(raw);
  const uint64_t id = next_id_++;
  AnyConnectSession& s = sessions_[id];
  s.id = id;
  s.user = user;
  s.group = chosen;
  s.created = now;
  s.expires = now + config_.cookie_lifetime;
  const std::string key = CookieKey(cookie);
  by_cookie_[key] = id;
  cookie_of_[id] = key;

  AnyConnectResponse r;
  r.headers = {{"Content-Type", "text/xml"},
               {"X-Transcend-Version", "1"},
               {"Cache-Control", "no-store"},
               {"Set-Cookie", absl::StrCat(kCookieName, "=", cookie,
                                           "; Secure; HttpOnly")}};
  r.body = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<config-auth client=\"vpn\" type=\"complete\" "
      "aggregate-auth-version=\"2\">\n"
      "<version who=\"sg\">stowaway</version>\n"
      "<auth id=\"success\">\n<title>",
      XmlEscape(config_.server_name),
      "</title>\n<message>Success</message>\n</auth>\n</config-auth>\n");
  return r;
}

AnyConnectResponse AnyConnectServer::Connect(const HttpRequest& request,
                                             const IpAddress& peer,
                                             absl::Duration now) {
  absl::optional<std::string> cookie = FindRequestCookie(request, kCookieName);
  auto it = cookie ? by_cookie_.find(CookieKey(*cookie)) : by_cookie_.end();
  if (it == by_cookie_.end()) {
    counters_.cookies_rejected++;
    return Error(401, "Cookie is not acceptable", true);
  }
  AnyConnectSession& s = sessions_.at(it->second);
  if (s.expires <= now) {
    counters_.cookies_rejected++;
    return Error(401, "Cookie is not acceptable", true);
  }
  if (!s.ipv4) {
    s.ipv4 = pool4_->Allocate();
    if (!s.ipv4) {
      counters_.pool_exhausted++;
      return Error(503, "Service Unavailable", true);
    }
    if (pool6_) s.ipv6 = pool6_->Allocate();
  }
  if (s.tunnels > 0) counters_.reconnects++;
  counters_.connects++;
  s.tunnel = true;
  s.tunnels++;
  s.expires = absl::InfiniteDuration();
  s.mtu = config_.mtu;
  if (absl::optional<int> asked = HeaderInt(request, "x-cstp-mtu", 576, 65535)) {
    s.mtu = std::min(s.mtu, *asked);
  }
  const int base_mtu =
      HeaderInt(request, "x-cstp-base-mtu", 576, 65535).value_or(1500);
  const std::string* suites = request.FindHeader("x-dtls-ciphersuite");
  bool psk_negotiate = false;
  if (suites != nullptr) {
    for (absl::string_view suite : absl::StrSplit(*suites, ':')) {
      if (absl::StripAsciiWhitespace(suite) == "PSK-NEGOTIATE") {
        psk_negotiate = true;
      }
    }
  }
  const bool dtls = config_.dtls && psk_negotiate;
  if (dtls) {
    // One full-MTU packet per DTLS record (see the header).
    const int dtls_mtu =
        base_mtu - (peer.is_v4() ? 28 : 48) - 13 - 16 - 20 - 16 - 1;
    s.mtu = std::max(std::min(s.mtu, dtls_mtu), 576);
  }

  AnyConnectResponse r;
  r.status = 200;
  r.reason = "CONNECTED";
  r.tunnel_session = s.id;
  auto add = [&r](absl::string_view name, std::string value) {
    r.headers.emplace_back(std::string(name), std::move(value));
  };
  add("X-CSTP-Version", "1");
  add("X-CSTP-Server-Name", config_.server_name);
  add("X-CSTP-DPD", absl::StrCat(config_.dpd_seconds));
  if (!config_.default_domain.empty()) {
    add("X-CSTP-Default-Domain", config_.default_domain);
  }
  add("X-CSTP-Address", s.ipv4->ToString());
  for (const ipsec::IpPrefix& net : config_.networks) {
    if (net.address.is_v4()) {
      add("X-CSTP-Netmask", Netmask4(net.length).ToString());
      break;
    }
  }
  if (s.ipv6) {
    int len = 128;
    for (const ipsec::IpPrefix& net : config_.networks) {
      if (net.address.is_v6() && s.ipv6->InPrefix(net.address, net.length)) {
        len = net.length;
        break;
      }
    }
    add("X-CSTP-Address-IP6", absl::StrCat(s.ipv6->ToString(), "/", len));
  }
  for (const IpAddress& dns : config_.dns) add("X-CSTP-DNS", dns.ToString());
  for (const ipsec::IpPrefix& net : config_.networks) {
    if (net.address.is_v4()) {
      add("X-CSTP-Split-Include",
          absl::StrCat(Network(net).ToString(), "/",
                       Netmask4(net.length).ToString()));
    } else {
      add("X-CSTP-Split-Include-IP6",
          absl::StrCat(Network(net).ToString(), "/", net.length));
    }
  }
  add("X-CSTP-Tunnel-All-DNS", "false");
  add("X-CSTP-Keepalive", absl::StrCat(config_.keepalive_seconds));
  add("X-CSTP-Idle-Timeout", "none");
  add("X-CSTP-Rekey-Method", "none");
  add("X-CSTP-Session-Timeout", "none");
  add("X-CSTP-Disconnected-Timeout",
      absl::StrCat(absl::ToInt64Seconds(config_.cookie_lifetime)));
  add("X-CSTP-Keep", "true");
  add("X-CSTP-TCP-Keepalive", "true");
  add("X-CSTP-License", "accept");
  s.dtls_app_id.clear();
  if (dtls) {
    s.dtls_app_id = crypto::RandomVector(kAppIdBytes);
    add("X-DTLS-App-ID", Hex(s.dtls_app_id));
    add("X-DTLS-Port", absl::StrCat(config_.dtls_port));
    add("X-DTLS-DPD", absl::StrCat(config_.dtls_dpd_seconds));
    add("X-DTLS-Keepalive", absl::StrCat(config_.dtls_keepalive_seconds));
    add("X-DTLS-Rekey-Method", "none");
    add("X-DTLS-CipherSuite", "PSK-NEGOTIATE");
    add("X-DTLS-MTU", absl::StrCat(s.mtu));
  }
  add("X-CSTP-Base-MTU", absl::StrCat(base_mtu));
  add("X-CSTP-MTU", absl::StrCat(s.mtu));
  return r;
}

void AnyConnectServer::TunnelClosed(uint64_t session, bool disconnected,
                                    absl::Duration now) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (disconnected) {
    counters_.disconnects++;
    RemoveSession(session);
    return;
  }
  it->second.tunnel = false;
  it->second.dtls_app_id.clear();
  it->second.expires = now + config_.cookie_lifetime;
}

bool AnyConnectServer::EndSession(uint64_t session) {
  if (sessions_.count(session) == 0) return false;
  RemoveSession(session);
  return true;
}

void AnyConnectServer::RemoveSession(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (it->second.ipv4) pool4_->Release(*it->second.ipv4);
  if (it->second.ipv6 && pool6_) pool6_->Release(*it->second.ipv6);
  auto cookie = cookie_of_.find(id);
  if (cookie != cookie_of_.end()) {
    by_cookie_.erase(cookie->second);
    cookie_of_.erase(cookie);
  }
  sessions_.erase(it);
}

std::vector<uint64_t> AnyConnectServer::Expire(absl::Duration now) {
  std::vector<uint64_t> expired;
  for (const auto& [id, s] : sessions_) {
    if (!s.tunnel && s.expires <= now) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    counters_.sessions_expired++;
    RemoveSession(id);
  }
  for (auto it = failures_.begin(); it != failures_.end();) {
    const Failures& f = it->second;
    if (f.locked_until <= now && f.last + config_.lockout <= now) {
      it = failures_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

absl::Duration AnyConnectServer::NextExpiry() const {
  absl::Duration next = absl::InfiniteDuration();
  for (const auto& [id, s] : sessions_) {
    if (!s.tunnel) next = std::min(next, s.expires);
  }
  for (const auto& [key, f] : failures_) {
    next = std::min(next, std::max(f.locked_until, f.last + config_.lockout));
  }
  return next;
}

const AnyConnectSession* AnyConnectServer::Find(uint64_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? nullptr : &it->second;
}

const AnyConnectSession* AnyConnectServer::FindByDtlsAppId(
    absl::Span<const uint8_t> app_id) const {
  if (app_id.empty()) return nullptr;
  for (const auto& [id, s] : sessions_) {
    if (s.tunnel && s.dtls_app_id.size() == app_id.size() &&
        std::equal(app_id.begin(), app_id.end(), s.dtls_app_id.begin())) {
      return &s;
    }
  }
  return nullptr;
}

std::vector<const AnyConnectSession*> AnyConnectServer::Sessions() const {
  std::vector<const AnyConnectSession*> out;
  for (const auto& [id, s] : sessions_) out.push_back(&s);
  return out;
}

}  // namespace stow::gateway::tls
