#include "sdk/tunnel/ipsec/json_fields.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stow::ipsec::json_fields {

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

}  // namespace stow::ipsec::json_fields
