#include "sdk/tunnel/ipsec/json_fields.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stow::ipsec::json_fields {

namespace {

// Accepts everything and remembers where the first syntax error was.
class ErrorFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) override {
    found = true;
    this->position = position;
    token = last_token;
    return false;
  }
  bool found = false;
  std::size_t position = 0;
  std::string token;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text) {
  nlohmann::json root = nlohmann::json::parse(text.begin(), text.end(),
                                              nullptr,
                                              /*allow_exceptions=*/false);
  if (!root.is_discarded()) return root;
  ErrorFinder finder;
  nlohmann::json::sax_parse(text.begin(), text.end(), &finder);
  if (!finder.found) {
    return absl::InvalidArgumentError("profile: not valid JSON");
  }
  // `position` counts the characters read, the offending one included.
  const size_t end = std::min(finder.position, text.size());
  const size_t at = end > 0 ? end - 1 : 0;
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  std::string near = finder.token.substr(0, 20);
  return absl::InvalidArgumentError(absl::StrCat(
      "profile: not valid JSON at line ", line, ", column ",
      at - line_start + 1,
      near.empty() ? std::string() : absl::StrCat(" (near '", near, "')")));
}

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string Join(absl::string_view parent, absl::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
}

absl::Status CheckMembers(const nlohmann::json& object, absl::string_view field,
                          std::initializer_list<absl::string_view> allowed) {
  if (!object.is_object()) {
    return FieldError(field.empty() ? "profile" : field, "must be an object");
  }
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (absl::string_view name : allowed) known |= it.key() == name;
    if (!known) {
      return FieldError(
          Join(field, it.key()),
          absl::StrCat("unknown field (known: ", absl::StrJoin(allowed, ", "),
                       ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<std::string> StringValue(const nlohmann::json& value,
                                        absl::string_view field) {
  if (!value.is_string()) return FieldError(field, "must be a string");
  return value.get<std::string>();
}

absl::StatusOr<bool> BoolValue(const nlohmann::json& value, absl::string_view field) {
  if (!value.is_boolean()) return FieldError(field, "must be true or false");
  return value.get<bool>();
}

// An integer in [min, max].
absl::StatusOr<int64_t> IntValue(const nlohmann::json& value, absl::string_view field,
                                 int64_t min, int64_t max) {
  if (!value.is_number_integer()) {
    return FieldError(field, "must be an integer");
  }
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() > static_cast<uint64_t>(max)) {
    return FieldError(field, absl::StrCat(value.get<uint64_t>(),
                                          " is outside ", min, "..", max));
  }
  const int64_t v = value.get<int64_t>();
  if (v < min || v > max) {
    return FieldError(field, absl::StrCat(v, " is outside ", min, "..", max));
  }
  return v;
}

absl::Status ParseReconnect(const nlohmann::json& value,
                            absl::Duration* initial, absl::Duration* max) {
  if (auto s = CheckMembers(value, "reconnect", {"initial_ms", "max_ms"});
      !s.ok()) {
    return s;
  }
  constexpr int64_t kHourMs = 3600 * 1000;
  if (auto it = value.find("initial_ms"); it != value.end()) {
    auto v = IntValue(*it, "reconnect.initial_ms", 10, kHourMs);
    if (!v.ok()) return v.status();
    *initial = absl::Milliseconds(*v);
  }
  if (auto it = value.find("max_ms"); it != value.end()) {
    auto v = IntValue(*it, "reconnect.max_ms", 10, kHourMs);
    if (!v.ok()) return v.status();
    *max = absl::Milliseconds(*v);
  }
  if (*max < *initial) {
    return FieldError("reconnect.max_ms",
                      absl::StrCat("must be at least initial_ms (",
                                   absl::ToInt64Milliseconds(*initial), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> DomainList(const nlohmann::json& value,
                                                    absl::string_view field) {
  if (!value.is_array()) return FieldError(field, "must be an array");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    auto domain = StringValue(value[i], item);
    if (!domain.ok()) return domain.status();
    if (domain->empty() || domain->size() > 253 ||
        domain->find("..") != std::string::npos || (*domain)[0] == '.') {
      return FieldError(item,
                        absl::StrCat("not a domain name: \"", *domain, "\""));
    }
    out.push_back(*std::move(domain));
  }
  return out;
}

}  // namespace stow::ipsec::json_fields
