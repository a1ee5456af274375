// The TLS (AnyConnect) gateway's user file: one user per line,
//
//   user:group1,group2:$pbkdf2-sha256$ITERATIONS$SALT_B64$HASH_B64
//
// with PBKDF2-HMAC-SHA256 (RFC 8018) of the password under the salt, salt
// and hash in standard base64 (RFC 4648 section 4; padding optional). The
// group list may be empty ("bob::$pbkdf2-sha256$..."). '#' starts a comment
// line; blank lines are ignored. Make lines with HashPasswordLine() (the
// sample gateway's --hash_password mode).
#ifndef STOWAWAY_SDK_GATEWAY_TLS_PASSWORD_FILE_H_
#define STOWAWAY_SDK_GATEWAY_TLS_PASSWORD_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stow::gateway::tls {

// Iterations HashPasswordLine() uses unless told otherwise.
inline constexpr uint32_t kDefaultPbkdf2Iterations = 100000;
// The range a user file may use (a file's line cannot make a login
// arbitrarily slow).
inline constexpr uint32_t kMinPbkdf2Iterations = 1000;
inline constexpr uint32_t kMaxPbkdf2Iterations = 10000000;

struct PasswordEntry {
  std::string user;
  std::vector<std::string> groups;  // In file order; may be empty.
  uint32_t iterations = 0;
  std::vector<uint8_t> salt;  // 8..64 bytes.
  std::vector<uint8_t> hash;  // 16..64 bytes.
};

// A parsed user file. A plain value; thread-compatible (Verify() is const
// and may run concurrently).
class PasswordFile {
 public:
  PasswordFile() = default;

  // Parses file text. kInvalidArgument naming `source` and the line number:
  // "users.txt:3: unknown hash scheme \"$md5\"", duplicate users, bad
  // names, bad base64, iterations outside the range.
  static absl::StatusOr<PasswordFile> Parse(absl::string_view text,
                                            absl::string_view source);
  // Reads and parses `path` (kNotFound / kInvalidArgument naming it).
  static absl::StatusOr<PasswordFile> Load(const std::string& path);

  // Adds an entry (kAlreadyExists for a user already there,
  // kInvalidArgument for a bad name or group).
  absl::Status Add(PasswordEntry entry);

  // The entry of `user` if `password` is its password (compared in
  // constant time), else nullptr. An unknown user costs the same PBKDF2
  // work as a known one, so timing does not tell which users exist.
  const PasswordEntry* Verify(absl::string_view user,
                              absl::string_view password) const;
  const PasswordEntry* Find(absl::string_view user) const;
  // Every group named in the file, sorted, without repeats.
  std::vector<std::string> AllGroups() const;
  size_t size() const { return users_.size(); }

 private:
  std::map<std::string, PasswordEntry, std::less<>> users_;
};

// A new entry with a random 16-byte salt. kInvalidArgument for a bad user
// or group name or an iteration count outside the range.
absl::StatusOr<PasswordEntry> MakePasswordEntry(
    absl::string_view user, const std::vector<std::string>& groups,
    absl::string_view password,
    uint32_t iterations = kDefaultPbkdf2Iterations);

// The file line for `entry` (without a newline).
std::string FormatPasswordLine(const PasswordEntry& entry);

// MakePasswordEntry() then FormatPasswordLine().
absl::StatusOr<std::string> HashPasswordLine(
    absl::string_view user, const std::vector<std::string>& groups,
    absl::string_view password,
    uint32_t iterations = kDefaultPbkdf2Iterations);

// User names: 1..64 printable ASCII characters other than ':' and space.
// Group names: 1..64 of [A-Za-z0-9._-].
bool IsValidUserName(absl::string_view user);
bool IsValidGroupName(absl::string_view group);

}  // namespace stow::gateway::tls

#endif  // STOWAWAY_SDK_GATEWAY_TLS_PASSWORD_FILE_H_
