#include "sdk/gateway/tls/password_file.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace stow::gateway::tls {
namespace {

constexpr uint32_t kFast = kMinPbkdf2Iterations;

TEST(PasswordFileTest, HashedLineVerifiesAndRoundTrips) {
  auto line = HashPasswordLine("alice", {"users", "admins"}, "s3cret pw", kFast);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(absl::StartsWith(*line, "alice:users,admins:$pbkdf2-sha256$1000$"))
      << *line;
  auto file = PasswordFile::Parse(
      absl::StrCat("# users\n\n  ", *line, "\r\n"), "users.txt");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 1u);
  const PasswordEntry* entry = file->Verify("alice", "s3cret pw");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->groups, (std::vector<std::string>{"users", "admins"}));
  EXPECT_EQ(entry->salt.size(), 16u);
  EXPECT_EQ(entry->hash.size(), 32u);
  EXPECT_EQ(FormatPasswordLine(*entry), *line);
  EXPECT_EQ(file->Verify("alice", "s3cret pW"), nullptr);
  EXPECT_EQ(file->Verify("alice", ""), nullptr);
  EXPECT_EQ(file->Verify("bob", "s3cret pw"), nullptr);
  EXPECT_EQ(file->AllGroups(), (std::vector<std::string>{"admins", "users"}));
}

TEST(PasswordFileTest, KnownHashFromAnotherImplementation) {
  // PBKDF2-HMAC-SHA256("password", "saltsalt", 1000, 32), computed with
  // Python's hashlib.pbkdf2_hmac: the line format is not tied to our writer.
  auto file = PasswordFile::Parse(
      "carol::$pbkdf2-sha256$1000$c2FsdHNhbHQ=$"
      "E196ZhRPzw+wA84EjzHwJO1cv/MFJdO6C/sxmUeTYqY=\n",
      "f");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_NE(file->Verify("carol", "password"), nullptr);
  EXPECT_TRUE(file->Find("carol")->groups.empty());
}

TEST(PasswordFileTest, SaltsDiffer) {
  auto a = MakePasswordEntry("a", {}, "same", kFast);
  auto b = MakePasswordEntry("a", {}, "same", kFast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->salt, b->salt);
  EXPECT_NE(a->hash, b->hash);
}

struct BadCase {
  const char* text;
  const char* message;
};

TEST(PasswordFileTest, BadFilesNameTheLine) {
  const std::string good =
      *HashPasswordLine("alice", {}, "pw", kFast);
  const BadCase cases[] = {
      {"alice:pw", "f:2: expected user:groups:"},
      {"alice::$md5$1$abc$def", "f:2: unknown hash scheme \"$md5\""},
      {"alice::plain", "f:2: the hash must start with $pbkdf2-sha256$"},
      {"alice::$pbkdf2-sha256$10$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: iterations \"10\": must be a number 1000 to 10000000"},
      {"alice::$pbkdf2-sha256$x1$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: iterations \"x1\""},
      {"alice::$pbkdf2-sha256$1000$!!!$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: salt is not base64"},
      {"alice::$pbkdf2-sha256$1000$c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: salt has 4 bytes, expected 8 to 64"},
      {"alice::$pbkdf2-sha256$1000$c2FsdHNhbHQ=$AAAA",
       "f:2: hash has 3 bytes"},
      {"al ice::$pbkdf2-sha256$1000$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: invalid user name"},
      {"bob:a,,b:$pbkdf2-sha256$1000$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: invalid group name \"\""},
      {"bob:a,a:$pbkdf2-sha256$1000$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA==",
       "f:2: group \"a\" listed twice"},
      {good.c_str(), "f:2: user \"alice\" listed twice"},
  };
  for (const BadCase& c : cases) {
    auto file = PasswordFile::Parse(absl::StrCat(good, "\n", c.text, "\n"), "f");
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(file.status().message(), c.message))
        << file.status().message() << " for " << c.text;
  }
}

TEST(PasswordFileTest, LoadNamesMissingFile) {
  auto file = PasswordFile::Load("/nonexistent/users.txt");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(file.status().message(),
                                "/nonexistent/users.txt"));
}

TEST(PasswordFileTest, MakeRejectsBadInput) {
  EXPECT_FALSE(MakePasswordEntry("a:b", {}, "pw", kFast).ok());
  EXPECT_FALSE(MakePasswordEntry("", {}, "pw", kFast).ok());
  EXPECT_FALSE(MakePasswordEntry("a", {"g h"}, "pw", kFast).ok());
  EXPECT_FALSE(MakePasswordEntry("a", {}, "pw", 10).ok());
  PasswordFile file;
  EXPECT_TRUE(file.Add(*MakePasswordEntry("a", {}, "pw", kFast)).ok());
  EXPECT_EQ(file.Add(*MakePasswordEntry("a", {}, "pw", kFast)).code(),
            absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace stow::gateway::tls
