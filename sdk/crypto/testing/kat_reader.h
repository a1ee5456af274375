// Reads known-answer files (test-only): sdk/crypto/testdata, the ESP and
// IKE test data.
//
// Format: `#` starts a comment line; records are separated by blank lines;
// each line is `name = value`, and a line that starts with whitespace
// continues the previous value. A value is hex (whitespace inside ignored,
// either case) or "quoted text" taken byte for byte (no escapes).
#ifndef STOWAWAY_SDK_CRYPTO_TESTING_KAT_READER_H_
#define STOWAWAY_SDK_CRYPTO_TESTING_KAT_READER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stow::crypto::testing {

// One record of a known-answer file.
class KatRecord {
 public:
  // Where the record starts, "file:line", for failure messages.
  const std::string& where() const { return where_; }
  // The `case` value, or where() if there is none.
  std::string name() const;

  bool Has(absl::string_view key) const;
  // The value as written, quotes removed. Adds a test failure if missing.
  std::string Text(absl::string_view key) const;
  // The value decoded (hex or quoted text). Adds a test failure if missing
  // or not valid hex, and returns an empty vector then.
  std::vector<uint8_t> Bytes(absl::string_view key) const;
  // The value as a decimal number. Adds a test failure if missing or bad.
  int64_t Int(absl::string_view key) const;

 private:
  friend absl::StatusOr<std::vector<KatRecord>> ReadKatFile(
      const std::string& path);
  std::string where_;
  std::map<std::string, std::string, std::less<>> values_;
};

// Reads every record of `path` (relative to the test's working directory,
// the runfiles root, e.g. "sdk/crypto/testdata/hmac_rfc4231.txt").
// NotFound if the file cannot be opened; InvalidArgument on a malformed line.
absl::StatusOr<std::vector<KatRecord>> ReadKatFile(const std::string& path);

// Lower-case hex, for readable comparisons in failure messages.
std::string ToHex(const std::vector<uint8_t>& bytes);
// Parses hex (whitespace ignored) into `out`; false on a non-hex character
// or an odd number of digits.
bool FromHex(absl::string_view hex, std::vector<uint8_t>* out);
// Hex literal in a test; aborts the test binary on a malformed literal.
std::vector<uint8_t> Hex(absl::string_view hex);

}  // namespace stow::crypto::testing

#endif  // STOWAWAY_SDK_CRYPTO_TESTING_KAT_READER_H_
