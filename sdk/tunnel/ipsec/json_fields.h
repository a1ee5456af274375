// The conventions both JSON profiles (profile.h, ike_profile.h) follow:
// errors are "field.path: what is wrong", unknown fields are refused, and a
// file's errors are prefixed with its path. Shared by the ESP, IKE and TLS
// profiles.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_JSON_FIELDS_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_JSON_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace stow::ipsec::json_fields {

// InvalidArgument "field: what".
absl::Status FieldError(absl::string_view field, absl::string_view what);
// "parent.name", or "name" at the top level.
std::string Join(absl::string_view parent, absl::string_view name);
// Refuses a non-object ("profile" names the top level) and members of
// `object` not in `allowed`, listing the known ones.
absl::Status CheckMembers(const nlohmann::json& object, absl::string_view field,
                          std::initializer_list<absl::string_view> allowed);
// Parses `text`; on a syntax error, InvalidArgument "profile: not valid
// JSON at line L, column C (near 'token')" instead.
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text);
// A whole file; NotFound "path: cannot open".
absl::StatusOr<std::string> ReadFile(const std::string& path);
// `status` with "path: " in front of its message (same code).
absl::Status WithPath(const std::string& path, const absl::Status& status);

// Typed members: InvalidArgument "field: must be ..." otherwise.
absl::StatusOr<std::string> StringValue(const nlohmann::json& value,
                                        absl::string_view field);
absl::StatusOr<bool> BoolValue(const nlohmann::json& value,
                               absl::string_view field);
// An integer in [min, max].
absl::StatusOr<int64_t> IntValue(const nlohmann::json& value,
                                 absl::string_view field, int64_t min,
                                 int64_t max);
// {"initial_ms": N, "max_ms": N} (each 10 ms .. 1 h, max >= initial) into
// the two durations; absent members leave them as they are.
absl::Status ParseReconnect(const nlohmann::json& value,
                            absl::Duration* initial, absl::Duration* max);
// An array of domain names (search domains).
absl::StatusOr<std::vector<std::string>> DomainList(const nlohmann::json& value,
                                                    absl::string_view field);

}  // namespace stow::ipsec::json_fields

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_JSON_FIELDS_H_
