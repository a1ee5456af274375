#include "sdk/tunnel/tls/cstp_headers.h"

#include <string>

#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

// The CONNECT reply of the DTLS capture in shared/interop/ocserv (ocserv 1.1.6).
const char kDtlsReply[] =
    "HTTP/1.1 200 CONNECTED\r\n"
    "X-CSTP-Version: 1\r\n"
    "X-CSTP-Server-Name: ocserv 1.1.6\r\n"
    "X-CSTP-Hostname: vm\r\n"
    "X-CSTP-DPD: 20\r\n"
    "X-CSTP-Default-Domain: vpn.test\r\n"
    "X-CSTP-Address: 10.233.100.50\r\n"
    "X-CSTP-Netmask: 255.255.255.0\r\n"
    "X-CSTP-DNS: 10.233.2.10\r\n"
    "X-CSTP-Split-Include: 10.233.2.0/255.255.255.0\r\n"
    "X-CSTP-Tunnel-All-DNS: false\r\n"
    "X-CSTP-Client-Bypass-Protocol: false\r\n"
    "X-CSTP-Keepalive: 8\r\n"
    "X-CSTP-Idle-Timeout: none\r\n"
    "X-CSTP-Smartcard-Removal-Disconnect: true\r\n"
    "X-CSTP-Rekey-Time: 172815\r\n"
    "X-CSTP-Rekey-Method: ssl\r\n"
    "X-CSTP-Session-Timeout: 0\r\n"
    "X-CSTP-Session-Timeout-Remaining: 0\r\n"
    "X-CSTP-Disconnected-Timeout: none\r\n"
    "X-CSTP-Keep: true\r\n"
    "X-CSTP-TCP-Keepalive: true\r\n"
    "X-CSTP-License: accept\r\n"
    "X-DTLS-DPD: 20\r\n"
    "X-DTLS-Port: 443\r\n"
    "X-DTLS-Rekey-Time: 172825\r\n"
    "X-DTLS-Rekey-Method: ssl\r\n"
    "X-DTLS-Keepalive: 8\r\n"
    "X-DTLS-App-ID: "
    "68dd8842cb5804e926a2096c38e99cef09d080e17b53d50ef314bfd17786ab98\r\n"
    "X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n"
    "X-CSTP-Base-MTU: 1500\r\n"
    "X-CSTP-MTU: 1434\r\n"
    "\r\n";

HttpResponse Parse(const std::string& text) {
  HttpResponseParser p(HttpResponseParser::Mode::kConnect);
  size_t used = 0;
  EXPECT_TRUE(p.Feed(text, &used).ok());
  EXPECT_TRUE(p.done());
  return p.response();
}

TEST(CstpHeadersTest, CapturedDtlsReply) {
  auto c = ParseCstpConfig(Parse(kDtlsReply));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server_name, "ocserv 1.1.6");
  EXPECT_EQ(*c->address, IpAddress::V4(10, 233, 100, 50));
  EXPECT_EQ(*c->netmask, IpAddress::V4(255, 255, 255, 0));
  EXPECT_FALSE(c->address6.has_value());
  ASSERT_EQ(c->dns.size(), 1u);
  EXPECT_EQ(c->dns[0], IpAddress::V4(10, 233, 2, 10));
  ASSERT_EQ(c->split_include.size(), 1u);
  EXPECT_EQ(c->split_include[0],
            (CstpRoute{IpAddress::V4(10, 233, 2, 0), 24}));
  EXPECT_TRUE(c->split_exclude.empty());
  EXPECT_EQ(c->default_domain, "vpn.test");
  EXPECT_EQ(*c->mtu, 1434);
  EXPECT_EQ(*c->base_mtu, 1500);
  EXPECT_EQ(*c->dpd_seconds, 20);
  EXPECT_EQ(*c->keepalive_seconds, 8);
  EXPECT_FALSE(c->idle_timeout_seconds.has_value());
  EXPECT_EQ(*c->rekey_seconds, 172815);
  EXPECT_EQ(c->rekey_method, RekeyMethod::kSsl);
  EXPECT_FALSE(c->tunnel_all_dns);
  ASSERT_TRUE(c->dtls.has_value());
  EXPECT_EQ(c->dtls->port, 443);
  EXPECT_TRUE(c->dtls->session_id_is_app_id);
  ASSERT_EQ(c->dtls->session_id.size(), 32u);
  EXPECT_EQ(c->dtls->session_id[0], 0x68);
  EXPECT_EQ(c->dtls->session_id[31], 0x98);
  EXPECT_EQ(c->dtls->cipher_suite, "PSK-NEGOTIATE");
  EXPECT_EQ(*c->dtls->dpd_seconds, 20);
  EXPECT_EQ(*c->dtls->keepalive_seconds, 8);
  EXPECT_EQ(*c->dtls->rekey_seconds, 172825);
  EXPECT_EQ(c->dtls->rekey_method, RekeyMethod::kSsl);
}

TEST(CstpHeadersTest, LegacyDtlsAndIpv6AndRepeatedRoutes) {
  auto c = ParseCstpConfig(Parse(
      "HTTP/1.1 200 CONNECTED\r\n"
      "X-CSTP-Address: 10.0.0.2\r\n"
      "X-CSTP-Address-IP6: fd00::2/64\r\n"
      "X-CSTP-DNS: 10.0.0.1\r\nX-CSTP-DNS: fd00::1\r\n"
      "X-CSTP-Split-Include: 10.1.0.0/255.255.0.0\r\n"
      "X-CSTP-Split-Include: 10.2.0.0/16\r\n"
      "X-CSTP-Split-Include-IP6: fd01::/48\r\n"
      "X-CSTP-Split-Exclude: 10.1.5.0/24\r\n"
      "X-CSTP-Idle-Timeout: 3600\r\n"
      "X-CSTP-Content-Encoding: oc-lz4\r\n"
      "X-DTLS-Port: 4443\r\n"
      "X-DTLS-Session-ID: "
      "2bcc92c847cf905ffe3d34b0a93048615a0820482dcac8d8c9a9ff4b357cdd98\r\n"
      "X-DTLS-CipherSuite: AES128-SHA\r\nX-DTLS-MTU: 1406\r\n\r\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address6->ToString(), "fd00::2");
  EXPECT_EQ(c->address6_prefix_len, 64);
  ASSERT_EQ(c->dns.size(), 2u);
  EXPECT_TRUE(c->dns[1].is_v6());
  ASSERT_EQ(c->split_include.size(), 3u);
  EXPECT_EQ(c->split_include[0].prefix_len, 16);
  EXPECT_EQ(c->split_include[1].prefix_len, 16);
  EXPECT_EQ(c->split_include[2].prefix_len, 48);
  ASSERT_EQ(c->split_exclude.size(), 1u);
  EXPECT_EQ(*c->idle_timeout_seconds, 3600);
  EXPECT_EQ(c->content_encoding, "oc-lz4");
  EXPECT_FALSE(c->dtls->session_id_is_app_id);
  EXPECT_EQ(c->dtls->port, 4443);
  EXPECT_EQ(*c->dtls->mtu, 1406);
}

void ExpectError(const std::string& headers, const std::string& name) {
  auto c = ParseCstpConfig(
      Parse("HTTP/1.1 200 CONNECTED\r\n" + headers + "\r\n"));
  ASSERT_FALSE(c.ok()) << headers;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(name), std::string::npos)
      << c.status();
}

TEST(CstpHeadersTest, ErrorsNameTheHeader) {
  const std::string a = "X-CSTP-Address: 10.0.0.2\r\n";
  ExpectError("X-CSTP-MTU: 1400\r\n", "X-CSTP-Address");
  ExpectError("X-CSTP-Address: 10.0.0.300\r\n", "X-CSTP-Address");
  ExpectError(a + "X-CSTP-Address: 10.0.0.3\r\n", "X-CSTP-Address");
  ExpectError(a + "X-CSTP-Netmask: 255.0.255.0\r\n", "X-CSTP-Netmask");
  ExpectError(a + "X-CSTP-DNS: dns.example\r\n", "X-CSTP-DNS");
  ExpectError(a + "X-CSTP-Split-Include: 10.0.0.0\r\n",
              "X-CSTP-Split-Include");
  ExpectError(a + "X-CSTP-Split-Include: 10.0.0.0/33\r\n",
              "X-CSTP-Split-Include");
  ExpectError(a + "X-CSTP-Split-Exclude: fd00::/8\r\n",
              "X-CSTP-Split-Exclude");
  ExpectError(a + "X-CSTP-MTU: 12a\r\n", "X-CSTP-MTU");
  ExpectError(a + "X-CSTP-MTU: 100\r\n", "X-CSTP-MTU");
  ExpectError(a + "X-CSTP-DPD: -1\r\n", "X-CSTP-DPD");
  ExpectError(a + "X-CSTP-Keepalive: 99999999999\r\n", "X-CSTP-Keepalive");
  ExpectError(a + "X-CSTP-Rekey-Method: magic\r\n", "X-CSTP-Rekey-Method");
  ExpectError(a + "X-CSTP-Default-Domain: a;b\r\n", "X-CSTP-Default-Domain");
  ExpectError(a + "X-CSTP-Tunnel-All-DNS: maybe\r\n",
              "X-CSTP-Tunnel-All-DNS");
  ExpectError(a + "X-DTLS-Port: 0\r\n", "X-DTLS-Port");
  ExpectError(a + "X-DTLS-Port: 443\r\nX-DTLS-CipherSuite: X\r\n",
              "X-DTLS-Port");
  ExpectError(a + "X-DTLS-Port: 443\r\nX-DTLS-App-ID: 0g\r\n"
                  "X-DTLS-CipherSuite: X\r\n",
              "X-DTLS-App-ID");
  ExpectError(a + "X-DTLS-Port: 443\r\nX-DTLS-App-ID: 00\r\n",
              "X-DTLS-CipherSuite");
}

}  // namespace
}  // namespace stow::tunnel::tls
