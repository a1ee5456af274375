// The login machine against the client-side parsers of sdk/tunnel/tls: every
// reply is serialized, parsed back with HttpResponseParser and then with
// ParseAuthServerMessage / ParseCstpConfig, so the two sides agree.
#include "sdk/gateway/tls/anyconnect_server.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sdk/gateway/tls/http_request_reader.h"
#include "sdk/tunnel/tls/auth_xml.h"
#include "sdk/tunnel/tls/cstp_headers.h"
#include "sdk/tunnel/tls/http_response.h"

namespace stow::gateway::tls {
namespace {

using tunnel::tls::AuthField;
using tunnel::tls::AuthServerMessage;
using tunnel::tls::HttpResponse;
using tunnel::tls::HttpResponseParser;

const IpAddress kPeer = IpAddress::V4(127, 0, 0, 1);
const absl::Duration kT0 = absl::Seconds(1000);

std::shared_ptr<PasswordFile> Users(bool groups) {
  auto file = std::make_shared<PasswordFile>();
  EXPECT_TRUE(file->Add(*MakePasswordEntry(
                  "alice", groups ? std::vector<std::string>{"users", "ops"}
                                  : std::vector<std::string>{},
                  "alice-pw", kMinPbkdf2Iterations))
                  .ok());
  EXPECT_TRUE(file->Add(*MakePasswordEntry("bob", {}, "bob-pw",
                                           kMinPbkdf2Iterations))
                  .ok());
  return file;
}

AnyConnectServerConfig Config(bool groups = false) {
  AnyConnectServerConfig c;
  c.users = Users(groups);
  c.pool4 = ipsec::IpPrefix{IpAddress::V4(10, 99, 101, 0), 24};
  c.networks = {ipsec::IpPrefix{IpAddress::V4(10, 99, 0, 1), 16},
                ipsec::IpPrefix{*IpAddress::Parse("fd99::1"), 64}};
  c.reserved = {IpAddress::V4(10, 99, 0, 1)};
  c.dns = {IpAddress::V4(10, 99, 0, 1)};
  c.default_domain = "stowaway.test";
  c.mtu = 1400;
  c.dpd_seconds = 30;
  c.keepalive_seconds = 20;
  c.cookie_lifetime = absl::Minutes(5);
  c.max_failures = 3;
  c.lockout = absl::Minutes(1);
  return c;
}

HttpRequest Request(const std::string& wire, std::string* body) {
  HttpRequestReader reader;
  reader.Append(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
  HttpRequest request;
  EXPECT_EQ(reader.Next(&request, body), RequestReadResult::kRequest) << wire;
  return request;
}

HttpResponse Parse(const AnyConnectResponse& r, bool connect) {
  const std::string wire = r.Serialize();
  HttpResponseParser parser(connect ? HttpResponseParser::Mode::kConnect
                                    : HttpResponseParser::Mode::kWithBody);
  size_t consumed = 0;
  absl::Status s = parser.Feed(wire, &consumed);
  EXPECT_TRUE(s.ok()) << s << "\n" << wire;
  EXPECT_TRUE(parser.done()) << wire;
  EXPECT_EQ(consumed, wire.size());
  return parser.response();
}

class AnyConnectServerTest : public ::testing::Test {
 protected:
  void Make(AnyConnectServerConfig config) {
    auto server = AnyConnectServer::Create(std::move(config));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  AnyConnectResponse Post(const std::string& path, const std::string& xml,
                          absl::Duration now = kT0) {
    std::string body;
    HttpRequest request = Request(
        absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: gw\r\n"
                     "Content-Type: application/xml; charset=utf-8\r\n"
                     "Content-Length: ", xml.size(), "\r\n\r\n", xml),
        &body);
    return server_->Handle(request, body, kPeer, now);
  }

  AnyConnectResponse Login(const std::string& user, const std::string& pw,
                           const std::string& group = "",
                           absl::Duration now = kT0) {
    tunnel::tls::AuthClientInfo info;
    info.group_access = "https://127.0.0.1/";
    std::vector<std::pair<std::string, std::string>> values = {
        {"username", user}, {"password", pw}};
    if (!group.empty()) values.emplace_back("group_list", group);
    auto xml = tunnel::tls::BuildAuthReply(info, values);
    EXPECT_TRUE(xml.ok());
    return Post("/auth", *xml, now);
  }

  // Logs in and returns the webvpn cookie ("" on failure).
  std::string Cookie(const std::string& user = "alice",
                     const std::string& pw = "alice-pw",
                     absl::Duration now = kT0) {
    HttpResponse r = Parse(Login(user, pw, "", now), false);
    std::string storage;
    const std::string* cookie = r.FindSetCookie("webvpn", &storage);
    return cookie == nullptr ? std::string() : *cookie;
  }

  AnyConnectResponse Connect(const std::string& cookie,
                             absl::Duration now = kT0,
                             const std::string& extra = "") {
    std::string body;
    HttpRequest request = Request(
        absl::StrCat("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: gw\r\n"
                     "User-Agent: Open AnyConnect VPN Agent v9.01-3\r\n"
                     "Cookie: webvpn=", cookie, "\r\nX-CSTP-Version: 1\r\n",
                     extra, "\r\n"),
        &body);
    return server_->Handle(request, body, kPeer, now);
  }

  std::unique_ptr<AnyConnectServer> server_;
};

TEST_F(AnyConnectServerTest, InitGetsOneFormTheClientCanFill) {
  Make(Config());
  tunnel::tls::AuthClientInfo info;
  info.group_access = "https://127.0.0.1:4443/";
  AnyConnectResponse r = Post("/", tunnel::tls::BuildAuthInit(info));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.close);
  HttpResponse http = Parse(r, false);
  auto msg = tunnel::tls::ParseAuthServerMessage(http.body);
  ASSERT_TRUE(msg.ok()) << msg.status() << http.body;
  EXPECT_EQ(msg->kind, AuthServerMessage::Kind::kAuthRequest);
  EXPECT_EQ(msg->form.action, "/auth");
  EXPECT_EQ(msg->form.method, "post");
  EXPECT_EQ(msg->form.message, "Please enter your username and password.");
  ASSERT_EQ(msg->form.fields.size(), 2u);
  EXPECT_EQ(msg->form.fields[0].name, "username");
  EXPECT_EQ(msg->form.fields[0].kind, AuthField::Kind::kText);
  EXPECT_EQ(msg->form.fields[1].name, "password");
  EXPECT_EQ(msg->form.fields[1].kind, AuthField::Kind::kPassword);
  EXPECT_EQ(server_->counters().auth_forms, 1u);
  // GET / too (a browser, or a client that starts with GET).
  std::string body;
  r = server_->Handle(Request("GET / HTTP/1.1\r\nHost: gw\r\n\r\n", &body),
                      body, kPeer, kT0);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(tunnel::tls::ParseAuthServerMessage(r.body).ok());
}

TEST_F(AnyConnectServerTest, GroupsOfferASelectAndAreChecked) {
  Make(Config(/*groups=*/true));
  HttpResponse http = Parse(Post("/", "<config-auth type=\"init\"/>"), false);
  auto msg = tunnel::tls::ParseAuthServerMessage(http.body);
  ASSERT_TRUE(msg.ok()) << msg.status();
  ASSERT_EQ(msg->form.fields.size(), 3u);
  const AuthField& select = msg->form.fields[2];
  EXPECT_EQ(select.kind, AuthField::Kind::kSelect);
  EXPECT_EQ(select.name, "group_list");
  ASSERT_EQ(select.options.size(), 2u);
  EXPECT_EQ(select.options[0].value, "ops");
  EXPECT_EQ(select.options[1].value, "users");

  // A group alice is not in fails; bob, in no group, is not asked for one
  // (a client picks the first option when told nothing).
  EXPECT_EQ(Login("alice", "alice-pw", "admins").Find("Set-Cookie"), nullptr);
  EXPECT_NE(Login("bob", "bob-pw", "ops").Find("Set-Cookie"), nullptr);
  // alice chooses "ops".
  EXPECT_EQ(Login("alice", "alice-pw", "ops").Find("Set-Cookie") != nullptr,
            true);
  bool found = false;
  for (const AnyConnectSession* s : server_->Sessions()) {
    if (s->user == "bob") EXPECT_EQ(s->group, "");
    if (s->user == "alice") {
      EXPECT_EQ(s->group, "ops");
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(server_->counters().logins_failed, 1u);
  EXPECT_EQ(server_->counters().logins_ok, 2u);
}

TEST_F(AnyConnectServerTest, WrongPasswordThenRight) {
  Make(Config());
  AnyConnectResponse bad = Login("alice", "wrong");
  EXPECT_EQ(bad.status, 200);
  EXPECT_EQ(bad.Find("Set-Cookie"), nullptr);
  auto msg = tunnel::tls::ParseAuthServerMessage(Parse(bad, false).body);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->kind, AuthServerMessage::Kind::kAuthRequest);
  EXPECT_TRUE(absl::StartsWith(msg->form.message, "Login failed.\n"))
      << msg->form.message;

  HttpResponse good = Parse(Login("alice", "alice-pw"), false);
  msg = tunnel::tls::ParseAuthServerMessage(good.body);
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_EQ(msg->kind, AuthServerMessage::Kind::kComplete);
  EXPECT_EQ(msg->form.auth_id, "success");
  std::string storage;
  const std::string* cookie = good.FindSetCookie("webvpn", &storage);
  ASSERT_NE(cookie, nullptr);
  EXPECT_EQ(cookie->size(), 64u);
  EXPECT_EQ(cookie->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(server_->counters().logins_failed, 1u);
  EXPECT_EQ(server_->counters().logins_ok, 1u);
  // Two logins, two different cookies.
  EXPECT_NE(Cookie(), *cookie);
}

TEST_F(AnyConnectServerTest, ConnectRepliesWhatTheClientParses) {
  Make(Config());
  const std::string cookie = Cookie();
  AnyConnectResponse r = Connect(cookie);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "CONNECTED");
  EXPECT_NE(r.tunnel_session, 0u);
  EXPECT_EQ(r.Find("Content-Length"), nullptr);
  HttpResponse http = Parse(r, true);
  auto config = tunnel::tls::ParseCstpConfig(http);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << r.Serialize();
  ASSERT_TRUE(config->address.has_value());
  EXPECT_TRUE(config->address->InPrefix(IpAddress::V4(10, 99, 101, 0), 24));
  EXPECT_EQ(config->netmask->ToString(), "255.255.0.0");
  ASSERT_EQ(config->dns.size(), 1u);
  EXPECT_EQ(config->dns[0].ToString(), "10.99.0.1");
  ASSERT_EQ(config->split_include.size(), 2u);
  EXPECT_EQ(config->split_include[0].prefix.ToString(), "10.99.0.0");
  EXPECT_EQ(config->split_include[0].prefix_len, 16);
  EXPECT_EQ(config->split_include[1].prefix.ToString(), "fd99::");
  EXPECT_EQ(config->split_include[1].prefix_len, 64);
  EXPECT_EQ(config->default_domain, "stowaway.test");
  EXPECT_EQ(config->mtu, 1400);
  EXPECT_EQ(config->base_mtu, 1500);
  EXPECT_EQ(config->dpd_seconds, 30);
  EXPECT_EQ(config->keepalive_seconds, 20);
  EXPECT_FALSE(config->idle_timeout_seconds.has_value());
  EXPECT_EQ(config->rekey_method, tunnel::tls::RekeyMethod::kNone);
  EXPECT_FALSE(config->dtls.has_value());
  EXPECT_EQ(config->server_name, "Stowaway gateway");
  const AnyConnectSession* s = server_->Find(r.tunnel_session);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(*s->ipv4, *config->address);
  EXPECT_TRUE(s->tunnel);
  EXPECT_EQ(server_->pool4().allocated(), 1u);
}

TEST_F(AnyConnectServerTest, ClientMtuAndIpv6Pool) {
  AnyConnectServerConfig c = Config();
  c.pool6 = ipsec::IpPrefix{*IpAddress::Parse("fd99::100:0"), 112};
  Make(std::move(c));
  AnyConnectResponse r =
      Connect(Cookie(), kT0, "X-CSTP-MTU: 1300\r\nX-CSTP-Base-MTU: 1400\r\n");
  auto config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->mtu, 1300);
  EXPECT_EQ(config->base_mtu, 1400);
  ASSERT_TRUE(config->address6.has_value());
  EXPECT_TRUE(config->address6->InPrefix(*IpAddress::Parse("fd99::100:0"), 112));
  EXPECT_EQ(config->address6_prefix_len, 64);
}

TEST_F(AnyConnectServerTest, DtlsOfferedOnlyWhenEnabledAndAsked) {
  AnyConnectServerConfig c = Config();
  c.dtls = true;
  c.dtls_port = 4443;
  Make(std::move(c));
  const std::string offer =
      "X-DTLS-CipherSuite: PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:AES128-SHA\r\n";
  AnyConnectResponse r = Connect(Cookie(), kT0, offer);
  auto config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->dtls.has_value());
  EXPECT_EQ(config->dtls->port, 4443);
  EXPECT_TRUE(config->dtls->session_id_is_app_id);
  EXPECT_EQ(config->dtls->session_id.size(), 32u);
  EXPECT_EQ(config->dtls->cipher_suite, "PSK-NEGOTIATE");
  EXPECT_EQ(config->dtls->dpd_seconds, 30);
  EXPECT_EQ(config->dtls->keepalive_seconds, 20);
  const AnyConnectSession* s =
      server_->FindByDtlsAppId(config->dtls->session_id);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->id, r.tunnel_session);

  // Legacy suites only: no DTLS.
  r = Connect(Cookie(), kT0, "X-DTLS-CipherSuite: AES128-SHA\r\n");
  config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->dtls.has_value());
  // A dropped tunnel forgets its App-ID.
  server_->TunnelClosed(s->id, false, kT0);
  EXPECT_EQ(server_->FindByDtlsAppId(config->dtls ? config->dtls->session_id
                                                  : std::vector<uint8_t>(32)),
            nullptr);
}

TEST_F(AnyConnectServerTest, DtlsMtuLetsAFullPacketFitOneRecord) {
  AnyConnectServerConfig c = Config();
  c.dtls = true;
  c.dtls_port = 4443;
  c.mtu = 1500;
  Make(std::move(c));
  // 1500 - 28 (IPv4 + UDP) - 13 - 16 - 20 - 16 - 1 (CBC-SHA1 worst case).
  AnyConnectResponse r = Connect(Cookie(), kT0,
                                 "X-CSTP-Base-MTU: 1500\r\n"
                                 "X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n");
  auto config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->mtu, 1406);
  ASSERT_TRUE(config->dtls.has_value());
  EXPECT_EQ(config->dtls->mtu, 1406);
  // A smaller path: smaller still.
  r = Connect(Cookie(), kT0,
              "X-CSTP-Base-MTU: 1300\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\n");
  config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->mtu, 1206);
  // Without DTLS the configured MTU stands.
  r = Connect(Cookie(), kT0, "X-CSTP-Base-MTU: 1500\r\n");
  config = tunnel::tls::ParseCstpConfig(Parse(r, true));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->mtu, 1500);
}

TEST_F(AnyConnectServerTest, NoDtlsWhenDisabled) {
  Make(Config());
  AnyConnectResponse r =
      Connect(Cookie(), kT0, "X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n");
  EXPECT_EQ(r.Find("X-DTLS-Port"), nullptr);
}

TEST_F(AnyConnectServerTest, UnknownCookieIsRefused) {
  Make(Config());
  for (const std::string& cookie :
       {std::string(64, 'a'), std::string(), std::string("x")}) {
    AnyConnectResponse r = Connect(cookie);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.reason, "Cookie is not acceptable");
    EXPECT_TRUE(r.close);
    EXPECT_EQ(r.tunnel_session, 0u);
    HttpResponse http = Parse(r, true);
    EXPECT_EQ(http.status, 401);
  }
  EXPECT_EQ(server_->counters().cookies_rejected, 3u);
  EXPECT_EQ(server_->pool4().allocated(), 0u);
}

TEST_F(AnyConnectServerTest, ReconnectKeepsAddressDisconnectEndsCookie) {
  Make(Config());
  const std::string cookie = Cookie();
  AnyConnectResponse first = Connect(cookie);
  const uint64_t id = first.tunnel_session;
  const std::string address = *first.Find("X-CSTP-Address");
  // Another client in between takes another address.
  AnyConnectResponse other = Connect(Cookie("bob", "bob-pw"));
  EXPECT_NE(*other.Find("X-CSTP-Address"), address);

  server_->TunnelClosed(id, /*disconnected=*/false, kT0 + absl::Seconds(10));
  EXPECT_FALSE(server_->Find(id)->tunnel);
  // Still there just before the lifetime ends.
  EXPECT_TRUE(server_->Expire(kT0 + absl::Seconds(10) + absl::Minutes(5) -
                              absl::Seconds(1))
                  .empty());
  AnyConnectResponse again = Connect(cookie, kT0 + absl::Minutes(5));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.tunnel_session, id);
  EXPECT_EQ(*again.Find("X-CSTP-Address"), address);
  EXPECT_EQ(server_->counters().reconnects, 1u);

  server_->TunnelClosed(id, /*disconnected=*/true, kT0 + absl::Minutes(6));
  EXPECT_EQ(server_->Find(id), nullptr);
  EXPECT_EQ(server_->pool4().allocated(), 1u);  // bob's.
  EXPECT_EQ(Connect(cookie, kT0 + absl::Minutes(6)).status, 401);
  EXPECT_EQ(server_->counters().disconnects, 1u);
}

TEST_F(AnyConnectServerTest, CookiesExpire) {
  Make(Config());
  const std::string unused = Cookie();
  const std::string used = Cookie();
  AnyConnectResponse r = Connect(used);
  server_->TunnelClosed(r.tunnel_session, false, kT0 + absl::Minutes(1));
  EXPECT_EQ(server_->NextExpiry(), kT0 + absl::Minutes(5));
  EXPECT_EQ(server_->Expire(kT0 + absl::Minutes(5)).size(), 1u);
  EXPECT_EQ(Connect(unused, kT0 + absl::Minutes(5)).status, 401);
  EXPECT_EQ(server_->NextExpiry(), kT0 + absl::Minutes(6));
  // An expired cookie is refused even before Expire() runs.
  EXPECT_EQ(Connect(used, kT0 + absl::Minutes(6)).status, 401);
  EXPECT_EQ(server_->Expire(kT0 + absl::Minutes(6)).size(), 1u);
  EXPECT_EQ(server_->pool4().allocated(), 0u);
  EXPECT_EQ(server_->counters().sessions_expired, 2u);
  EXPECT_EQ(server_->NextExpiry(), absl::InfiniteDuration());
}

TEST_F(AnyConnectServerTest, RepeatedFailuresLockOut) {
  Make(Config());  // max_failures 3, lockout 1 min.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Login("alice", "guess").Find("Set-Cookie"), nullptr);
  }
  EXPECT_EQ(server_->counters().logins_failed, 3u);
  // The right password is refused during the lockout (and for any user from
  // the same address).
  EXPECT_EQ(Login("alice", "alice-pw").Find("Set-Cookie"), nullptr);
  EXPECT_EQ(Login("bob", "bob-pw").Find("Set-Cookie"), nullptr);
  EXPECT_EQ(server_->counters().logins_locked_out, 2u);
  EXPECT_EQ(server_->counters().logins_failed, 3u);
  const absl::Duration later = kT0 + absl::Minutes(1);
  server_->Expire(later);
  EXPECT_NE(Login("alice", "alice-pw", "", later).Find("Set-Cookie"), nullptr);
}

TEST_F(AnyConnectServerTest, OtherRequests) {
  Make(Config());
  std::string body;
  AnyConnectResponse r = server_->Handle(
      Request("GET /profile.xml HTTP/1.1\r\nHost: gw\r\n\r\n", &body), body,
      kPeer, kT0);
  EXPECT_EQ(r.status, 404);
  r = server_->Handle(
      Request("PUT / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n",
              &body),
      body, kPeer, kT0);
  EXPECT_EQ(r.status, 405);
  r = server_->Handle(
      Request("CONNECT /other HTTP/1.1\r\nHost: gw\r\n\r\n", &body), body,
      kPeer, kT0);
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.close);
  // Garbage XML: the form again.
  r = Post("/auth", "<not xml");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(tunnel::tls::ParseAuthServerMessage(r.body).ok());
  // Connection: close is honoured.
  r = server_->Handle(
      Request("GET / HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
              &body),
      body, kPeer, kT0);
  EXPECT_TRUE(r.close);
  EXPECT_TRUE(absl::StrContains(r.Serialize(), "Connection: close\r\n"));
  EXPECT_EQ(server_->counters().bad_requests, 3u);
}

TEST_F(AnyConnectServerTest, PoolExhaustion) {
  AnyConnectServerConfig c = Config();
  c.pool4 = ipsec::IpPrefix{IpAddress::V4(10, 99, 101, 0), 30};  // 2 hosts.
  Make(std::move(c));
  EXPECT_EQ(Connect(Cookie()).status, 200);
  EXPECT_EQ(Connect(Cookie()).status, 200);
  AnyConnectResponse r = Connect(Cookie());
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(server_->counters().pool_exhausted, 1u);
}

TEST_F(AnyConnectServerTest, CreateChecksConfig) {
  AnyConnectServerConfig c = Config();
  c.users = nullptr;
  EXPECT_FALSE(AnyConnectServer::Create(c).ok());
  c = Config();
  c.dtls = true;
  EXPECT_FALSE(AnyConnectServer::Create(c).ok());  // No port.
  c = Config();
  c.default_domain = "bad\r\nX-Injected: 1";
  EXPECT_FALSE(AnyConnectServer::Create(c).ok());
  c = Config();
  c.mtu = 100;
  EXPECT_FALSE(AnyConnectServer::Create(c).ok());
}

TEST(FindRequestCookieTest, PicksTheNamedCookie) {
  std::string body;
  HttpRequest r = Request(
      "GET / HTTP/1.1\r\nHost: a\r\nCookie: webvpncontext=x; webvpn=abc ; "
      "z=1\r\n\r\n",
      &body);
  EXPECT_EQ(FindRequestCookie(r, "webvpn").value_or("-"), "abc");
  EXPECT_EQ(FindRequestCookie(r, "webvpncontext").value_or("-"), "x");
  EXPECT_FALSE(FindRequestCookie(r, "none").has_value());
}

}  // namespace
}  // namespace stow::gateway::tls
