// PBKDF2-HMAC-SHA256 known answers from RFC 7914 section 11 ("Test Vectors
// for PBKDF2 with HMAC-SHA-256").
#include "sdk/crypto/pbkdf2.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace stow::crypto {
namespace {

std::string Hex(const std::vector<uint8_t>& v) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
}

std::vector<uint8_t> Bytes(absl::string_view s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(Pbkdf2Test, Rfc7914Section11OneIteration) {
  auto out = Pbkdf2HmacSha256("passwd", Bytes("salt"), 1, 64);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Hex(*out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}

TEST(Pbkdf2Test, Rfc7914Section11EightyThousandIterations) {
  auto out = Pbkdf2HmacSha256("Password", Bytes("NaCl"), 80000, 64);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Hex(*out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
            "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST(Pbkdf2Test, ShorterOutputIsAPrefix) {
  auto full = Pbkdf2HmacSha256("passwd", Bytes("salt"), 1, 64);
  auto part = Pbkdf2HmacSha256("passwd", Bytes("salt"), 1, 32);
  ASSERT_TRUE(full.ok() && part.ok());
  EXPECT_EQ(Hex(*part), Hex(*full).substr(0, 64));
}

TEST(Pbkdf2Test, EmptyPasswordAndSaltWork) {
  auto out = Pbkdf2HmacSha256("", {}, 2, 32);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 32u);
}

TEST(Pbkdf2Test, RejectsBadParameters) {
  EXPECT_EQ(Pbkdf2HmacSha256("p", Bytes("s"), 0, 32).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pbkdf2HmacSha256("p", Bytes("s"), kPbkdf2MaxIterations + 1, 32)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pbkdf2HmacSha256("p", Bytes("s"), 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pbkdf2HmacSha256("p", Bytes("s"), 1, 1025).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stow::crypto
