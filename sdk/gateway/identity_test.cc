#include "sdk/gateway/identity.h"

#include "gtest/gtest.h"

namespace stow::gateway {
namespace {

ike::Bytes B(const std::string& s) { return ike::Bytes(s.begin(), s.end()); }

TEST(IdentityTest, ParsesPrefixedForms) {
  auto fqdn = ParseIdentityText("fqdn:gw.stowaway.test");
  ASSERT_TRUE(fqdn.ok());
  EXPECT_EQ(fqdn->id_type, ike::IdType::kFqdn);
  EXPECT_EQ(fqdn->data, B("gw.stowaway.test"));

  auto email = ParseIdentityText("email:a@b.c");
  ASSERT_TRUE(email.ok());
  EXPECT_EQ(email->id_type, ike::IdType::kRfc822Addr);
  EXPECT_EQ(email->data, B("a@b.c"));
  EXPECT_EQ(ParseIdentityText("rfc822:a@b.c")->data, B("a@b.c"));

  auto v4 = ParseIdentityText("ipv4:172.29.1.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->id_type, ike::IdType::kIpv4Addr);
  EXPECT_EQ(v4->data, (ike::Bytes{172, 29, 1, 1}));

  auto v6 = ParseIdentityText("ipv6:fd00::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->id_type, ike::IdType::kIpv6Addr);
  EXPECT_EQ(v6->data.size(), 16u);

  auto keyid = ParseIdentityText("keyid:00ff10");
  ASSERT_TRUE(keyid.ok());
  EXPECT_EQ(keyid->id_type, ike::IdType::kKeyId);
  EXPECT_EQ(keyid->data, (ike::Bytes{0x00, 0xff, 0x10}));
}

TEST(IdentityTest, GuessesWithoutPrefix) {
  EXPECT_EQ(ParseIdentityText("10.0.0.1")->id_type, ike::IdType::kIpv4Addr);
  EXPECT_EQ(ParseIdentityText("::1")->id_type, ike::IdType::kIpv6Addr);
  EXPECT_EQ(ParseIdentityText("x@y")->id_type, ike::IdType::kRfc822Addr);
  EXPECT_EQ(ParseIdentityText("gw.example")->id_type, ike::IdType::kFqdn);
}

TEST(IdentityTest, RefusesBadInput) {
  for (const char* text : {"", "fqdn:", "ipv4:fd00::1", "ipv6:1.2.3.4",
                           "ipv4:nope", "keyid:abc", "keyid:zz",
                           "C=XX, CN=client"}) {
    EXPECT_EQ(ParseIdentityText(text).status().code(),
              absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(IdentityTest, TextRoundTripsAndEscapes) {
  for (const char* text : {"fqdn:gw.stowaway.test", "email:a@b.c",
                           "ipv4:172.29.1.1", "ipv6:fd00::1",
                           "keyid:00ff10"}) {
    EXPECT_EQ(IdentityToText(*ParseIdentityText(text)), text);
  }
  ike::IdPayload evil;
  evil.id_type = ike::IdType::kFqdn;
  evil.data = B("a\nb\\");
  EXPECT_EQ(IdentityToText(evil), "fqdn:a\\x0ab\\x5c");
  ike::IdPayload dn;
  dn.id_type = ike::IdType::kDerAsn1Dn;
  dn.data = {0x30, 0x00};
  EXPECT_EQ(IdentityToText(dn), "dn:3000");
  ike::IdPayload short_ip;
  short_ip.id_type = ike::IdType::kIpv4Addr;
  short_ip.data = {1, 2};
  EXPECT_EQ(IdentityToText(short_ip), "ip?:0102");
}

}  // namespace
}  // namespace stow::gateway
