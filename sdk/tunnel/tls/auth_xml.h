// The AnyConnect "aggregate auth" XML exchange (config-auth documents), as
// ocserv 1.1.6 and openconnect 9.01 speak it. Pure code: builds request
// bodies, parses server replies. The session cookie is NOT in ocserv's XML:
// it arrives as `Set-Cookie: webvpn=...` on the type="complete" reply (and
// `webvpncontext` between rounds, echoed as a Cookie header); use
// HttpResponse::FindSetCookie. Some gateways also put a <session-token>
// element in the complete reply; it is returned when present.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_AUTH_XML_H_
#define STOWAWAY_SDK_TUNNEL_TLS_AUTH_XML_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sdk/tunnel/tls/xml.h"

namespace stow::tunnel::tls {

// What the client says about itself in every request.
struct AuthClientInfo {
  std::string version = "v9.01-3";  // <version who="vpn">
  std::string device_id = "linux-64";
  std::string group_access;  // The gateway URL, e.g. "https://10.233.1.1/".
  std::string group_select;  // Optional <group-select>.
};

// The init request body (POST /).
std::string BuildAuthInit(const AuthClientInfo& info);

struct AuthOption {
  std::string value;
  std::string label;
};

struct AuthField {
  enum class Kind { kText, kPassword, kHidden, kSelect, kOther };
  Kind kind = Kind::kOther;
  std::string type;  // The raw type attribute ("select" for <select>).
  std::string name;
  std::string label;
  std::string value;  // Default value (hidden inputs).
  std::vector<AuthOption> options;  // kSelect only.
};

struct AuthForm {
  std::string auth_id;   // <auth id="main">
  std::string method;    // <form method>
  std::string action;    // <form action>, e.g. "/auth"
  std::string title;
  std::string message;   // <message>, e.g. "Login failed.\nPlease enter..."
  std::string error;     // <error> (some gateways), empty otherwise.
  std::string banner;
  std::vector<AuthField> fields;
  // The <opaque> element exactly as received (echoed back), or empty.
  std::string opaque_xml;
};

struct AuthServerMessage {
  enum class Kind { kAuthRequest, kComplete };
  Kind kind = Kind::kAuthRequest;
  AuthForm form;              // kAuthRequest (and auth_id/title on kComplete).
  std::string session_token;  // <session-token> if present (kComplete).
  std::string banner;         // <banner> on kComplete, if any.
};

// Parses a server reply body: <config-auth type="auth-request"|"complete">.
// kInvalidArgument for malformed XML, a different root, an unknown type,
// or an auth-request without a form or without an action.
absl::StatusOr<AuthServerMessage> ParseAuthServerMessage(
    absl::string_view xml, const XmlLimits& limits = XmlLimits());

// The auth-reply body: `values` are (field name, value) pairs in order,
// written inside <auth>; `opaque_xml` (from the form) is echoed verbatim.
// Names that are not XML names are an error (kInvalidArgument).
absl::StatusOr<std::string> BuildAuthReply(
    const AuthClientInfo& info,
    const std::vector<std::pair<std::string, std::string>>& values,
    absl::string_view opaque_xml = "");

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_AUTH_XML_H_
