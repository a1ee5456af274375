#include "sdk/tunnel/tls/anyconnect_client.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

using ::testing::HasSubstr;

// Replies as ocserv 1.1.6 sent them (our own harness capture,
// ../shared/interop/ocserv/results/capture/dtls.decoded.txt).
std::string Reply(absl::string_view extra_headers, absl::string_view body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\n", extra_headers,
                      "Content-Type: text/xml\r\nContent-Length: ",
                      body.size(), "\r\nX-Transcend-Version: 1\r\n\r\n",
                      body);
}

std::string FormReply(absl::string_view message, absl::string_view input,
                      absl::string_view extra_headers = "") {
  return Reply(extra_headers,
               absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<config-auth client=\"vpn\" type=\"auth-request\">\n"
                            "<version who=\"sg\">0.1(1)</version>\n"
                            "<auth id=\"main\">\n<message>",
                            message,
                            "</message>\n<form method=\"post\" "
                            "action=\"/auth\">\n",
                            input, "\n</form></auth>\n</config-auth>"));
}

const char kUsernameInput[] =
    "<input type=\"text\" name=\"username\" label=\"Username:\" />";
const char kPasswordInput[] =
    "<input type=\"password\" name=\"password\" label=\"Password:\" />";

std::string CompleteReply(absl::string_view cookie) {
  return Reply(
      absl::StrCat("Set-Cookie: webvpncontext=", cookie,
                   "; Secure; HttpOnly\r\nSet-Cookie: webvpn=", cookie,
                   "; Secure; HttpOnly\r\n"),
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth "
      "client=\"vpn\" type=\"complete\">\n<version who=\"sg\">0.1(1)"
      "</version>\n<auth id=\"success\">\n<title>SSL VPN Service</title>"
      "</auth></config-auth>");
}

const char kConnected[] =
    "HTTP/1.1 200 CONNECTED\r\n"
    "X-CSTP-Version: 1\r\n"
    "X-CSTP-Server-Name: ocserv 1.1.6\r\n"
    "X-CSTP-DPD: 20\r\n"
    "X-CSTP-Default-Domain: vpn.test\r\n"
    "X-CSTP-Address: 10.233.100.50\r\n"
    "X-CSTP-Netmask: 255.255.255.0\r\n"
    "X-CSTP-DNS: 10.233.2.10\r\n"
    "X-CSTP-Split-Include: 10.233.2.0/255.255.255.0\r\n"
    "X-CSTP-Keepalive: 8\r\n"
    "X-CSTP-Idle-Timeout: none\r\n"
    "X-CSTP-Rekey-Time: 172815\r\n"
    "X-CSTP-Rekey-Method: ssl\r\n"
    "X-DTLS-DPD: 20\r\n"
    "X-DTLS-Port: 443\r\n"
    "X-DTLS-Keepalive: 8\r\n"
    "X-DTLS-App-ID: "
    "68dd8842cb5804e926a2096c38e99cef09d080e17b53d50ef314bfd17786ab98\r\n"
    "X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n"
    "X-CSTP-Base-MTU: 1500\r\n"
    "X-CSTP-MTU: 1434\r\n"
    "\r\n";

class Recorder : public AnyConnectClient::Delegate {
 public:
  void OnConnected(const CstpConfig& config) override {
    connected++;
    address = config.address ? config.address->ToString() : "";
  }
  void OnPacket(absl::Span<const uint8_t> packet) override {
    packets.emplace_back(packet.begin(), packet.end());
  }
  void OnDpdResponse() override { dpd_responses++; }

  int connected = 0;
  std::string address;
  std::vector<std::vector<uint8_t>> packets;
  int dpd_responses = 0;
};

std::string Str(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

bool Feed(AnyConnectClient& client, absl::string_view text,
          std::vector<uint8_t>* out) {
  return client.OnBytes(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                          text.size()),
      out);
}

AnyConnectClientConfig Config() {
  AnyConnectClientConfig c;
  c.host = "10.233.1.1";
  c.username = "alice";
  c.password = "alice-VPN-pw1";
  c.request_dtls = true;
  return c;
}

// Runs the two-round ocserv login up to CONNECT; returns the CONNECT
// request.
std::string LoginLikeOcserv(AnyConnectClient& client) {
  std::vector<uint8_t> out;
  client.Start(&out);
  EXPECT_THAT(Str(out), HasSubstr("POST / HTTP/1.1\r\n"));
  EXPECT_THAT(Str(out), HasSubstr("type=\"init\""));
  out.clear();
  EXPECT_TRUE(Feed(client,
                   FormReply("Please enter your username.", kUsernameInput,
                             "Set-Cookie: webvpncontext=; expires=Thu, 01 "
                             "Jan 1970 22:00:00 GMT; path=/\r\n"),
                   &out));
  EXPECT_THAT(Str(out), HasSubstr("POST /auth HTTP/1.1\r\n"));
  EXPECT_THAT(Str(out), HasSubstr("<username>alice</username>"));
  EXPECT_THAT(Str(out), ::testing::Not(HasSubstr("Cookie:")));
  out.clear();
  EXPECT_TRUE(Feed(client,
                   FormReply("Please enter your password.", kPasswordInput,
                             "Set-Cookie: webvpncontext=CTX123; "
                             "Max-Age=300; Secure; HttpOnly\r\n"),
                   &out));
  EXPECT_THAT(Str(out), HasSubstr("Cookie: webvpncontext=CTX123\r\n"));
  EXPECT_THAT(Str(out), HasSubstr("<password>alice-VPN-pw1</password>"));
  out.clear();
  EXPECT_TRUE(Feed(client, CompleteReply("COOKIE="), &out));
  EXPECT_EQ(client.phase(), AnyConnectClient::Phase::kConnect);
  return Str(out);
}

TEST(AnyConnectClientTest, TwoRoundLoginThenConnectAndFrames) {
  Recorder rec;
  AnyConnectClient client(Config(), &rec);
  std::string connect = LoginLikeOcserv(client);
  EXPECT_THAT(connect, HasSubstr("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n"));
  EXPECT_THAT(connect, HasSubstr("Cookie: webvpn=COOKIE=\r\n"));
  EXPECT_THAT(connect, HasSubstr("X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n"));
  EXPECT_EQ(client.cookie(), "COOKIE=");
  EXPECT_EQ(client.rounds(), 3);

  // The CONNECT reply and the first frames in one piece, then byte by byte.
  std::vector<uint8_t> frames = *BuildCstpData({0x45, 1, 2, 3});
  std::vector<uint8_t> dpd = BuildCstpDpdRequest();
  frames.insert(frames.end(), dpd.begin(), dpd.end());
  std::vector<uint8_t> out;
  ASSERT_TRUE(Feed(client, absl::StrCat(kConnected, Str(frames)), &out));
  EXPECT_EQ(rec.connected, 1);
  EXPECT_EQ(rec.address, "10.233.100.50");
  EXPECT_EQ(client.phase(), AnyConnectClient::Phase::kTunnel);
  ASSERT_TRUE(client.config().dtls.has_value());
  EXPECT_EQ(client.config().dtls->session_id.size(), 32u);
  ASSERT_EQ(rec.packets.size(), 1u);
  EXPECT_EQ(rec.packets[0], (std::vector<uint8_t>{0x45, 1, 2, 3}));
  EXPECT_EQ(out, BuildCstpDpdResponse());  // DPD answered.

  std::vector<uint8_t> more = *BuildCstpData({0x45, 9});
  std::vector<uint8_t> resp = BuildCstpDpdResponse();
  more.insert(more.end(), resp.begin(), resp.end());
  more.insert(more.end(), {'S', 'T', 'F', 1, 0, 0, 0x42, 0});  // Unknown.
  out.clear();
  for (uint8_t b : more) {
    ASSERT_TRUE(client.OnBytes(absl::MakeConstSpan(&b, 1), &out));
  }
  EXPECT_EQ(rec.packets.size(), 2u);
  EXPECT_EQ(rec.dpd_responses, 1);
  EXPECT_EQ(client.counters().rx_unknown_dropped, 1u);
  EXPECT_TRUE(out.empty());

  // Outbound.
  out.clear();
  const uint8_t a[] = {0x45, 0, 0}, b[] = {7, 8};
  absl::Span<const uint8_t> parts[] = {a, b};
  ASSERT_TRUE(client.AppendPacket(parts, &out));
  EXPECT_EQ(out, *BuildCstpData({0x45, 0, 0, 7, 8}));

  // The server kicks us (occtl disconnect sends an empty DISCONNECT).
  out.clear();
  EXPECT_FALSE(Feed(client, Str(BuildCstpFrame(0x05, {}).value()), &out));
  EXPECT_EQ(client.result().code(), absl::StatusCode::kAborted);
}

TEST(AnyConnectClientTest, WrongPasswordFailsOnceWithTheServersMessage) {
  Recorder rec;
  AnyConnectClientConfig config = Config();
  config.password = "wrong";
  AnyConnectClient client(config, &rec);
  std::vector<uint8_t> out;
  client.Start(&out);
  ASSERT_TRUE(Feed(client, FormReply("Please enter your username.",
                                     kUsernameInput),
                   &out));
  ASSERT_TRUE(Feed(client, FormReply("Please enter your password.",
                                     kPasswordInput),
                   &out));
  out.clear();
  EXPECT_FALSE(Feed(client,
                    FormReply("Login failed.\nPlease enter your password.",
                              kPasswordInput),
                    &out));
  EXPECT_TRUE(out.empty());  // No second password.
  EXPECT_EQ(client.phase(), AnyConnectClient::Phase::kDone);
  EXPECT_EQ(client.result().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(client.result().message(), HasSubstr("Login failed."));
  EXPECT_THAT(client.result().message(), HasSubstr("alice"));
}

TEST(AnyConnectClientTest, OneFormWithUsernamePasswordAndGroup) {
  Recorder rec;
  AnyConnectClientConfig config = Config();
  config.group = "Staff";
  AnyConnectClient client(config, &rec);
  std::vector<uint8_t> out;
  client.Start(&out);
  out.clear();
  ASSERT_TRUE(Feed(
      client,
      FormReply("Log in",
                absl::StrCat(kUsernameInput, kPasswordInput,
                             "<select name=\"group_list\" label=\"GROUP:\">"
                             "<option value=\"eng\">Engineering</option>"
                             "<option value=\"staff\">Staff</option>"
                             "</select><input type=\"hidden\" name=\"tok\" "
                             "value=\"x1\" />")),
      &out));
  std::string reply = Str(out);
  EXPECT_THAT(reply, HasSubstr("<username>alice</username>"));
  EXPECT_THAT(reply, HasSubstr("<password>alice-VPN-pw1</password>"));
  EXPECT_THAT(reply, HasSubstr("<group_list>staff</group_list>"));
  EXPECT_THAT(reply, HasSubstr("<tok>x1</tok>"));
}

TEST(AnyConnectClientTest, UnknownGroupAndUnknownFieldsFailNamingThem) {
  Recorder rec;
  AnyConnectClientConfig config = Config();
  config.group = "nope";
  AnyConnectClient client(config, &rec);
  std::vector<uint8_t> out;
  client.Start(&out);
  EXPECT_FALSE(Feed(client,
                    FormReply("x", "<select name=\"group_list\"><option "
                                   "value=\"eng\">E</option></select>"),
                    &out));
  EXPECT_THAT(client.result().message(), HasSubstr("offers: eng"));

  AnyConnectClient otp(Config(), &rec);
  otp.Start(&out);
  EXPECT_FALSE(Feed(otp,
                    FormReply("x", "<input type=\"password\" "
                                   "name=\"secondary_password\" "
                                   "label=\"OTP:\" />"),
                    &out));
  EXPECT_EQ(otp.result().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(otp.result().message(), HasSubstr("OTP:"));
}

TEST(AnyConnectClientTest, CookieReconnectAndRefusal) {
  Recorder rec;
  AnyConnectClientConfig config = Config();
  config.cookie = "SAVED";
  AnyConnectClient client(config, &rec);
  std::vector<uint8_t> out;
  client.Start(&out);
  EXPECT_TRUE(absl::StartsWith(Str(out), "CONNECT /CSCOSSLC/tunnel"));
  EXPECT_THAT(Str(out), HasSubstr("Cookie: webvpn=SAVED\r\n"));
  EXPECT_FALSE(Feed(client,
                    "HTTP/1.1 401 Cookie is not acceptable\r\n"
                    "Content-Length: 0\r\n\r\n",
                    &out));
  EXPECT_EQ(client.result().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(rec.connected, 0);
}

TEST(AnyConnectClientTest, MalformedRepliesFailCleanly) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<a><b",
      "SSH-2.0-OpenSSH\r\n\r\n",
      "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n<config-auth/>      ",
  };
  for (const char* reply : bad) {
    Recorder rec;
    AnyConnectClient client(Config(), &rec);
    std::vector<uint8_t> out;
    client.Start(&out);
    EXPECT_FALSE(Feed(client, reply, &out)) << reply;
    EXPECT_EQ(client.result().code(), absl::StatusCode::kInvalidArgument)
        << reply << ": " << client.result();
  }
  // Bad CSTP after CONNECT.
  Recorder rec;
  AnyConnectClient client(Config(), &rec);
  LoginLikeOcserv(client);
  std::vector<uint8_t> out;
  EXPECT_FALSE(Feed(client, absl::StrCat(kConnected, "XTF\x01\0\0\0\0"),
                    &out));
  EXPECT_EQ(client.result().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AnyConnectClientTest, ServerThatKeepsAskingIsCut) {
  Recorder rec;
  AnyConnectClientConfig config = Config();
  config.max_rounds = 3;
  AnyConnectClient client(config, &rec);
  std::vector<uint8_t> out;
  client.Start(&out);
  int answered = 0;
  while (Feed(client, FormReply("again", kUsernameInput), &out)) {
    ASSERT_LT(++answered, 10);
  }
  EXPECT_EQ(answered, 2);
  EXPECT_THAT(client.result().message(), HasSubstr("after 3 rounds"));
}

TEST(AnyConnectClientTest, DisconnectFrameEndsTheClient) {
  Recorder rec;
  AnyConnectClient client(Config(), &rec);
  LoginLikeOcserv(client);
  std::vector<uint8_t> out;
  ASSERT_TRUE(Feed(client, kConnected, &out));
  client.AppendDisconnect("Aborted by caller", &out);
  EXPECT_EQ(out, BuildCstpDisconnect("Aborted by caller"));
  EXPECT_EQ(client.result().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace stow::tunnel::tls
