#include "sdk/tunnel/tls/auth_xml.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace stow::tunnel::tls {
namespace {

constexpr absl::string_view kXmlDecl =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

std::string ClientPreamble(const AuthClientInfo& info,
                           absl::string_view type) {
  std::string out = absl::StrCat(
      kXmlDecl, "<config-auth client=\"vpn\" type=\"", type,
      "\" aggregate-auth-version=\"2\"><version who=\"vpn\">",
      XmlEscape(info.version), "</version><device-id>",
      XmlEscape(info.device_id), "</device-id>");
  if (!info.group_select.empty()) {
    absl::StrAppend(&out, "<group-select>", XmlEscape(info.group_select),
                    "</group-select>");
  }
  return out;
}

bool IsXmlName(absl::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool start = absl::ascii_isalpha(static_cast<unsigned char>(c)) ||
                       c == '_';
    if (!start && (i == 0 || !(absl::ascii_isdigit(
                                   static_cast<unsigned char>(c)) ||
                               c == '-' || c == '.'))) {
      return false;
    }
  }
  return true;
}

std::string AttrOr(const XmlElement& e, absl::string_view name) {
  const std::string* v = e.Attribute(name);
  return v == nullptr ? std::string() : *v;
}

std::string ChildText(const XmlElement& e, absl::string_view name) {
  const XmlElement* c = e.Child(name);
  return c == nullptr ? std::string() : c->text;
}

AuthField::Kind KindOf(absl::string_view type) {
  if (type == "text") return AuthField::Kind::kText;
  if (type == "password") return AuthField::Kind::kPassword;
  if (type == "hidden") return AuthField::Kind::kHidden;
  return AuthField::Kind::kOther;
}

}  // namespace

std::string BuildAuthInit(const AuthClientInfo& info) {
  return absl::StrCat(ClientPreamble(info, "init"), "<group-access>",
                      XmlEscape(info.group_access),
                      "</group-access></config-auth>");
}

absl::StatusOr<std::string> BuildAuthReply(
    const AuthClientInfo& info,
    const std::vector<std::pair<std::string, std::string>>& values,
    absl::string_view opaque_xml) {
  std::string out = ClientPreamble(info, "auth-reply");
  absl::StrAppend(&out, opaque_xml, "<auth>");
  for (const auto& [name, value] : values) {
    if (!IsXmlName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth field name is not an XML name: ", name));
    }
    absl::StrAppend(&out, "<", name, ">", XmlEscape(value), "</", name, ">");
  }
  absl::StrAppend(&out, "</auth></config-auth>");
  return out;
}

absl::StatusOr<AuthServerMessage> ParseAuthServerMessage(
    absl::string_view xml, const XmlLimits& limits) {
  auto root = ParseXml(xml, limits);
  if (!root.ok()) return root.status();
  if (root->name != "config-auth") {
    return absl::InvalidArgumentError("root element is not config-auth");
  }
  const std::string type = AttrOr(*root, "type");
  AuthServerMessage msg;
  if (type == "auth-request") {
    msg.kind = AuthServerMessage::Kind::kAuthRequest;
  } else if (type == "complete") {
    msg.kind = AuthServerMessage::Kind::kComplete;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown config-auth type \"", type, "\""));
  }
  msg.session_token = ChildText(*root, "session-token");
  const XmlElement* opaque = root->Child("opaque");
  if (opaque != nullptr) {
    msg.form.opaque_xml = std::string(xml.substr(
        opaque->source_begin, opaque->source_end - opaque->source_begin));
  }
  const XmlElement* auth = root->Child("auth");
  if (auth == nullptr) {
    if (msg.kind == AuthServerMessage::Kind::kComplete) return msg;
    return absl::InvalidArgumentError("auth-request without <auth>");
  }
  AuthForm& f = msg.form;
  f.auth_id = AttrOr(*auth, "id");
  f.title = ChildText(*auth, "title");
  f.message = ChildText(*auth, "message");
  f.error = ChildText(*auth, "error");
  f.banner = ChildText(*auth, "banner");
  msg.banner = f.banner;
  if (msg.kind == AuthServerMessage::Kind::kComplete) return msg;

  const XmlElement* form = auth->Child("form");
  if (form == nullptr) {
    return absl::InvalidArgumentError("auth-request without <form>");
  }
  f.method = AttrOr(*form, "method");
  f.action = AttrOr(*form, "action");
  if (f.action.empty()) {
    return absl::InvalidArgumentError("auth-request form without action");
  }
  for (const XmlElement& in : form->children) {
    AuthField field;
    if (in.name == "input") {
      field.type = AttrOr(in, "type");
      field.kind = KindOf(field.type);
      field.value = AttrOr(in, "value");
    } else if (in.name == "select") {
      field.type = "select";
      field.kind = AuthField::Kind::kSelect;
      for (const XmlElement& opt : in.children) {
        if (opt.name != "option") continue;
        AuthOption o;
        o.label = opt.text;
        const std::string* v = opt.Attribute("value");
        o.value = v != nullptr ? *v : opt.text;
        field.options.push_back(std::move(o));
      }
    } else {
      continue;
    }
    field.name = AttrOr(in, "name");
    field.label = AttrOr(in, "label");
    if (!IsXmlName(field.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("form field with invalid name \"", field.name, "\""));
    }
    f.fields.push_back(std::move(field));
  }
  return msg;
}

}  // namespace stow::tunnel::tls
