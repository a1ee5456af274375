#include "sdk/gateway/tls/password_file.h"

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sdk/crypto/hmac.h"
#include "sdk/crypto/pbkdf2.h"
#include "sdk/crypto/random.h"

namespace stow::gateway::tls {
namespace {

constexpr absl::string_view kScheme = "pbkdf2-sha256";

bool IsBase64Text(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
          c == '/' || c == '=')) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::vector<uint8_t>> DecodeBase64(absl::string_view what,
                                                  absl::string_view text,
                                                  size_t min, size_t max) {
  std::string raw;
  if (!IsBase64Text(text) || !absl::Base64Unescape(text, &raw)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not base64"));
  }
  if (raw.size() < min || raw.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has ", raw.size(), " bytes, expected ", min, " to ", max));
  }
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

absl::Status CheckEntryNames(absl::string_view user,
                             const std::vector<std::string>& groups) {
  if (!IsValidUserName(user)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid user name \"", absl::CHexEscape(user),
        "\" (1 to 64 printable characters, no ':' or space)"));
  }
  for (const std::string& g : groups) {
    if (!IsValidGroupName(g)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid group name \"", absl::CHexEscape(g),
                       "\" (1 to 64 of A-Z a-z 0-9 . _ -)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PasswordEntry> ParseLine(absl::string_view line) {
  std::vector<absl::string_view> parts = absl::StrSplit(line, ':');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        "expected user:groups:$pbkdf2-sha256$ITERATIONS$SALT$HASH");
  }
  PasswordEntry entry;
  entry.user = std::string(parts[0]);
  if (!parts[1].empty()) {
    for (absl::string_view g : absl::StrSplit(parts[1], ',')) {
      entry.groups.emplace_back(g);
    }
  }
  absl::Status names = CheckEntryNames(entry.user, entry.groups);
  if (!names.ok()) return names;
  std::set<std::string> seen;
  for (const std::string& g : entry.groups) {
    if (!seen.insert(g).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("group \"", g, "\" listed twice"));
    }
  }
  // "$pbkdf2-sha256$ITER$SALT$HASH" splits into "", scheme, iter, salt, hash.
  std::vector<absl::string_view> hash = absl::StrSplit(parts[2], '$');
  if (hash.size() < 2 || !hash[0].empty()) {
    return absl::InvalidArgumentError(
        "the hash must start with $pbkdf2-sha256$");
  }
  if (hash[1] != kScheme) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown hash scheme \"$", absl::CHexEscape(hash[1]),
        "\" (only $pbkdf2-sha256$ is supported)"));
  }
  if (hash.size() != 5) {
    return absl::InvalidArgumentError(
        "expected $pbkdf2-sha256$ITERATIONS$SALT$HASH");
  }
  uint32_t iterations = 0;
  if (!absl::SimpleAtoi(hash[2], &iterations) ||
      !absl::ascii_isdigit(static_cast<unsigned char>(hash[2][0])) ||
      iterations < kMinPbkdf2Iterations || iterations > kMaxPbkdf2Iterations) {
    return absl::InvalidArgumentError(absl::StrCat(
        "iterations \"", absl::CHexEscape(hash[2]), "\": must be a number ",
        kMinPbkdf2Iterations, " to ", kMaxPbkdf2Iterations));
  }
  entry.iterations = iterations;
  auto salt = DecodeBase64("salt", hash[3], 8, 64);
  if (!salt.ok()) return salt.status();
  entry.salt = *std::move(salt);
  auto digest = DecodeBase64("hash", hash[4], 16, 64);
  if (!digest.ok()) return digest.status();
  entry.hash = *std::move(digest);
  return entry;
}

// The entry whose work stands in for unknown users.
const PasswordEntry& DummyEntry() {
  static const PasswordEntry* entry = [] {
    auto* e = new PasswordEntry;
    e->user = "-";
    e->iterations = kDefaultPbkdf2Iterations;
    e->salt.assign(16, 0x5a);
    e->hash.assign(32, 0);
    return e;
  }();
  return *entry;
}

bool Matches(const PasswordEntry& entry, absl::string_view password) {
  auto derived = crypto::Pbkdf2HmacSha256(password, entry.salt,
                                          entry.iterations, entry.hash.size());
  if (!derived.ok()) return false;
  return crypto::ConstantTimeEquals(*derived, entry.hash);
}

}  // namespace

bool IsValidUserName(absl::string_view user) {
  if (user.empty() || user.size() > 64) return false;
  for (char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') return false;
  }
  return true;
}

bool IsValidGroupName(absl::string_view group) {
  if (group.empty() || group.size() > 64) return false;
  for (char c : group) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<PasswordFile> PasswordFile::Parse(absl::string_view text,
                                                 absl::string_view source) {
  PasswordFile file;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty() || stripped.front() == '#') continue;
    auto entry = ParseLine(stripped);
    absl::Status status = entry.status();
    if (status.ok()) status = file.Add(*std::move(entry));
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", number, ": ", status.message()));
    }
  }
  return file;
}

absl::StatusOr<PasswordFile> PasswordFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  }
  return Parse(text.str(), path);
}

absl::Status PasswordFile::Add(PasswordEntry entry) {
  absl::Status names = CheckEntryNames(entry.user, entry.groups);
  if (!names.ok()) return names;
  if (users_.count(entry.user) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("user \"", entry.user, "\" listed twice"));
  }
  std::string user = entry.user;
  users_.emplace(std::move(user), std::move(entry));
  return absl::OkStatus();
}

const PasswordEntry* PasswordFile::Find(absl::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

const PasswordEntry* PasswordFile::Verify(absl::string_view user,
                                          absl::string_view password) const {
  const PasswordEntry* entry = Find(user);
  if (entry == nullptr) {
    (void)Matches(DummyEntry(), password);
    return nullptr;
  }
  return Matches(*entry, password) ? entry : nullptr;
}

std::vector<std::string> PasswordFile::AllGroups() const {
  std::set<std::string> all;
  for (const auto& [user, entry] : users_) {
    all.insert(entry.groups.begin(), entry.groups.end());
  }
  return std::vector<std::string>(all.begin(), all.end());
}

absl::StatusOr<PasswordEntry> MakePasswordEntry(
    absl::string_view user, const std::vector<std::string>& groups,
    absl::string_view password, uint32_t iterations) {
  absl::Status names = CheckEntryNames(user, groups);
  if (!names.ok()) return names;
  if (iterations < kMinPbkdf2Iterations || iterations > kMaxPbkdf2Iterations) {
    return absl::InvalidArgumentError(
        absl::StrCat("iterations ", iterations, ": must be ",
                     kMinPbkdf2Iterations, " to ", kMaxPbkdf2Iterations));
  }
  PasswordEntry entry;
  entry.user = std::string(user);
  entry.groups = groups;
  entry.iterations = iterations;
  entry.salt = crypto::RandomVector(16);
  auto hash = crypto::Pbkdf2HmacSha256(password, entry.salt, iterations, 32);
  if (!hash.ok()) return hash.status();
  entry.hash = *std::move(hash);
  return entry;
}

std::string FormatPasswordLine(const PasswordEntry& entry) {
  auto b64 = [](const std::vector<uint8_t>& v) {
    return absl::Base64Escape(
        absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  };
  return absl::StrCat(entry.user, ":", absl::StrJoin(entry.groups, ","), ":$",
                      kScheme, "$", entry.iterations, "$", b64(entry.salt),
                      "$", b64(entry.hash));
}

absl::StatusOr<std::string> HashPasswordLine(
    absl::string_view user, const std::vector<std::string>& groups,
    absl::string_view password, uint32_t iterations) {
  auto entry = MakePasswordEntry(user, groups, password, iterations);
  if (!entry.ok()) return entry.status();
  return FormatPasswordLine(*entry);
}

}  // namespace stow::gateway::tls
