#include "sdk/crypto/testing/kat_reader.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace stow::crypto::testing {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsQuoted(absl::string_view v) {
  return v.size() >= 2 && v.front() == '"' && v.back() == '"';
}

}  // namespace

bool FromHex(absl::string_view hex, std::vector<uint8_t>* out) {
  out->clear();
  int high = -1;
  for (char c : hex) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    int d = HexDigit(c);
    if (d < 0) return false;
    if (high < 0) {
      high = d;
    } else {
      out->push_back(static_cast<uint8_t>(high << 4 | d));
      high = -1;
    }
  }
  return high < 0;
}

std::vector<uint8_t> Hex(absl::string_view hex) {
  std::vector<uint8_t> out;
  if (!FromHex(hex, &out)) {
    std::fprintf(stderr, "bad hex literal in test: %.*s\n",
                 static_cast<int>(hex.size()), hex.data());
    std::abort();
  }
  return out;
}

std::string ToHex(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

std::string KatRecord::name() const {
  auto it = values_.find("case");
  return it == values_.end() ? where_ : it->second;
}

bool KatRecord::Has(absl::string_view key) const {
  return values_.find(key) != values_.end();
}

std::string KatRecord::Text(absl::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    ADD_FAILURE() << where_ << ": no `" << key << "`";
    return "";
  }
  absl::string_view v = it->second;
  if (IsQuoted(v)) v = v.substr(1, v.size() - 2);
  return std::string(v);
}

std::vector<uint8_t> KatRecord::Bytes(absl::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    ADD_FAILURE() << where_ << ": no `" << key << "`";
    return {};
  }
  absl::string_view v = it->second;
  if (IsQuoted(v)) {
    v = v.substr(1, v.size() - 2);
    return std::vector<uint8_t>(v.begin(), v.end());
  }
  std::vector<uint8_t> out;
  if (!FromHex(v, &out)) {
    ADD_FAILURE() << where_ << ": `" << key << "` is not hex";
    return {};
  }
  return out;
}

int64_t KatRecord::Int(absl::string_view key) const {
  int64_t n = 0;
  if (!absl::SimpleAtoi(Text(key), &n)) {
    ADD_FAILURE() << where_ << ": `" << key << "` is not a number";
  }
  return n;
}

absl::StatusOr<std::vector<KatRecord>> ReadKatFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<KatRecord> records;
  bool open = false;
  std::string last_key;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] == '#') continue;
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty()) {
      open = false;
      continue;
    }
    if (absl::ascii_isspace(static_cast<unsigned char>(line[0]))) {
      if (!open) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_number, ": continuation of nothing"));
      }
      std::string& value = records.back().values_[last_key];
      absl::StrAppend(&value, " ", stripped);
      continue;
    }
    size_t eq = stripped.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected `name = value`"));
    }
    if (!open) {
      records.emplace_back();
      records.back().where_ = absl::StrCat(path, ":", line_number);
      open = true;
    }
    last_key = std::string(absl::StripAsciiWhitespace(stripped.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(stripped.substr(eq + 1)));
    if (!records.back().values_.emplace(last_key, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number, ": `", last_key, "` given twice"));
    }
  }
  return records;
}

}  // namespace stow::crypto::testing
