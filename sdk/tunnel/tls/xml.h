// A small, strict, bounded XML parser for the AnyConnect config-auth
// documents. Not a general XML library: no DTDs (rejected), no namespaces,
// no external entities; predefined and numeric character references only.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_XML_H_
#define STOWAWAY_SDK_TUNNEL_TLS_XML_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stow::tunnel::tls {

struct XmlLimits {
  size_t max_input_bytes = 64 * 1024;
  size_t max_depth = 16;
  size_t max_elements = 1024;
  size_t max_attributes = 16;  // Per element.
};

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // Direct character data (and CDATA), concatenated.
  std::vector<XmlElement> children;
  // Span of the element in the source document, start tag to end tag.
  size_t source_begin = 0;
  size_t source_end = 0;

  const std::string* Attribute(absl::string_view attr) const;
  const XmlElement* Child(absl::string_view child) const;  // First match.
};

// Parses one document: optional XML declaration, comments, one root element.
// Errors: kInvalidArgument (malformed, DTD), kResourceExhausted (limits).
absl::StatusOr<XmlElement> ParseXml(absl::string_view input,
                                    const XmlLimits& limits = XmlLimits());

// Escapes & < > " ' for text and attribute values.
std::string XmlEscape(absl::string_view text);

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_XML_H_
