#include "sdk/tunnel/tls/auth_xml.h"

#include <string>

#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

// Bodies from the decrypted ocserv 1.1.6 capture (shared/interop/ocserv).
const char kUsernameForm[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<config-auth client=\"vpn\" type=\"auth-request\">\n"
    "<version who=\"sg\">0.1(1)</version>\n<auth id=\"main\">\n"
    "<message>Please enter your username.</message>\n"
    "<form method=\"post\" action=\"/auth\">\n"
    "<input type=\"text\" name=\"username\" label=\"Username:\" />\n"
    "</form></auth>\n</config-auth>";
const char kFailedPasswordForm[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<config-auth client=\"vpn\" type=\"auth-request\">\n"
    "<version who=\"sg\">0.1(1)</version>\n<auth id=\"main\">\n"
    "<message>Login failed.\nPlease enter your password.</message>\n"
    "<form method=\"post\" action=\"/auth\">\n"
    "<input type=\"password\" name=\"password\" label=\"Password:\" />\n"
    "</form></auth>\n</config-auth>";
const char kComplete[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<config-auth client=\"vpn\" type=\"complete\">\n"
    "<version who=\"sg\">0.1(1)</version>\n<auth id=\"success\">\n"
    "<title>SSL VPN Service</title></auth></config-auth>\n";

TEST(AuthXmlTest, InitMatchesOpenconnectShape) {
  AuthClientInfo info;
  info.group_access = "https://10.233.1.1/";
  EXPECT_EQ(BuildAuthInit(info),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<config-auth client=\"vpn\" type=\"init\" "
            "aggregate-auth-version=\"2\"><version who=\"vpn\">v9.01-3"
            "</version><device-id>linux-64</device-id><group-access>"
            "https://10.233.1.1/</group-access></config-auth>");
  EXPECT_TRUE(ParseXml(BuildAuthInit(info)).ok());
}

TEST(AuthXmlTest, MultiRoundUsernameThenPassword) {
  auto m = ParseAuthServerMessage(kUsernameForm);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->kind, AuthServerMessage::Kind::kAuthRequest);
  EXPECT_EQ(m->form.auth_id, "main");
  EXPECT_EQ(m->form.action, "/auth");
  EXPECT_EQ(m->form.method, "post");
  EXPECT_EQ(m->form.message, "Please enter your username.");
  ASSERT_EQ(m->form.fields.size(), 1u);
  EXPECT_EQ(m->form.fields[0].kind, AuthField::Kind::kText);
  EXPECT_EQ(m->form.fields[0].name, "username");
  EXPECT_EQ(m->form.fields[0].label, "Username:");
  AuthClientInfo info;
  auto reply = BuildAuthReply(info, {{"username", "alice"}});
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(*reply,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<config-auth client=\"vpn\" type=\"auth-reply\" "
            "aggregate-auth-version=\"2\"><version who=\"vpn\">v9.01-3"
            "</version><device-id>linux-64</device-id><auth><username>alice"
            "</username></auth></config-auth>");

  auto failed = ParseAuthServerMessage(kFailedPasswordForm);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->form.message, "Login failed.\nPlease enter your password.");
  ASSERT_EQ(failed->form.fields.size(), 1u);
  EXPECT_EQ(failed->form.fields[0].kind, AuthField::Kind::kPassword);
  auto pw = BuildAuthReply(info, {{"password", "a<&>\"'b"}});
  ASSERT_TRUE(pw.ok());
  EXPECT_NE(pw->find("<password>a&lt;&amp;&gt;&quot;&apos;b</password>"),
            std::string::npos);
  auto round = ParseXml(*pw);
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->Child("auth")->Child("password")->text, "a<&>\"'b");

  auto done = ParseAuthServerMessage(kComplete);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->kind, AuthServerMessage::Kind::kComplete);
  EXPECT_EQ(done->form.auth_id, "success");
  EXPECT_EQ(done->form.title, "SSL VPN Service");
  EXPECT_TRUE(done->session_token.empty());  // ocserv: cookie in Set-Cookie.
}

TEST(AuthXmlTest, GroupListOpaqueAndSessionToken) {
  const std::string xml =
      "<config-auth client=\"vpn\" type=\"auth-request\">"
      "<opaque is-for=\"sg\"><tunnel-group>a</tunnel-group></opaque>"
      "<auth id=\"main\"><error id=\"88\">Bad &#x41;&#66;</error>"
      "<form action=\"/\"><select name=\"group_list\" label=\"GROUP:\">"
      "<option>staff</option><option value=\"eng\">Engineering</option>"
      "</select><input type=\"text\" name=\"username\" label=\"User\"/>"
      "<input type=\"password\" name=\"password\" label=\"Pass\"/>"
      "<input type=\"hidden\" name=\"h\" value=\"v\"/></form></auth>"
      "</config-auth>";
  auto m = ParseAuthServerMessage(xml);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->form.error, "Bad AB");
  ASSERT_EQ(m->form.fields.size(), 4u);
  const AuthField& g = m->form.fields[0];
  EXPECT_EQ(g.kind, AuthField::Kind::kSelect);
  EXPECT_EQ(g.name, "group_list");
  ASSERT_EQ(g.options.size(), 2u);
  EXPECT_EQ(g.options[0].value, "staff");
  EXPECT_EQ(g.options[1].value, "eng");
  EXPECT_EQ(g.options[1].label, "Engineering");
  EXPECT_EQ(m->form.fields[3].kind, AuthField::Kind::kHidden);
  EXPECT_EQ(m->form.fields[3].value, "v");
  EXPECT_EQ(m->form.opaque_xml,
            "<opaque is-for=\"sg\"><tunnel-group>a</tunnel-group></opaque>");
  auto reply = BuildAuthReply(AuthClientInfo(),
                              {{"group_list", "eng"}, {"username", "u"}},
                              m->form.opaque_xml);
  ASSERT_TRUE(reply.ok());
  EXPECT_NE(reply->find(m->form.opaque_xml), std::string::npos);
  EXPECT_FALSE(BuildAuthReply(AuthClientInfo(), {{"a b", "x"}}).ok());

  auto done = ParseAuthServerMessage(
      "<config-auth type=\"complete\"><session-token>TOK</session-token>"
      "</config-auth>");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->session_token, "TOK");
}

TEST(AuthXmlTest, Malformed) {
  for (const char* bad : {
           "",
           "<config-auth type=\"auth-request\">",
           "<config-auth type=\"x\"/>",
           "<other type=\"complete\"/>",
           "<config-auth type=\"auth-request\"><auth/></config-auth>",
           "<config-auth type=\"auth-request\"><auth><form/></auth>"
           "</config-auth>",
           "<!DOCTYPE x [<!ENTITY e \"y\">]><config-auth type=\"complete\"/>",
           "<config-auth type=\"complete\">&e;</config-auth>",
           "<config-auth type=\"complete\">&#0;</config-auth>",
           "<config-auth type=\"complete\">&#xD800;</config-auth>",
           "<config-auth type=\"complete\">&#x110000;</config-auth>",
           "<config-auth type=\"complete\" type=\"complete\"/>",
           "<config-auth type=\"complete\"></config-aut>",
           "<config-auth type=complete/>",
           "<config-auth type=\"complete\"/><x/>",
           "<config-auth type=\"complete\"><?pi?></config-auth>",
       }) {
    EXPECT_FALSE(ParseAuthServerMessage(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  EXPECT_EQ(ParseXml(deep).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ParseXml(std::string(70000, ' ')).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace stow::tunnel::tls
