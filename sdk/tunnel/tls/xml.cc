#include "sdk/tunnel/tls/xml.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stow::tunnel::tls {
namespace {

bool IsNameStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         c == ':';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         c == '-' || c == '.';
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  Parser(absl::string_view in, const XmlLimits& limits)
      : in_(in), limits_(limits) {}

  absl::StatusOr<XmlElement> Document() {
    if (in_.size() > limits_.max_input_bytes) {
      return absl::ResourceExhaustedError("XML document too large");
    }
    // Optional UTF-8 BOM.
    if (absl::StartsWith(in_, "\xEF\xBB\xBF")) pos_ = 3;
    if (absl::StartsWith(in_.substr(pos_), "<?xml")) {
      const size_t end = in_.find("?>", pos_);
      if (end == absl::string_view::npos) return Err("unterminated <?xml");
      pos_ = end + 2;
    }
    absl::Status s = SkipMisc();
    if (!s.ok()) return s;
    if (!Peek('<')) return Err("expected root element");
    XmlElement root;
    s = Element(0, &root);
    if (!s.ok()) return s;
    s = SkipMisc();
    if (!s.ok()) return s;
    if (pos_ != in_.size()) return Err("content after root element");
    return root;
  }

 private:
  absl::Status Err(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("XML: ", what, " at offset ", pos_));
  }
  bool Peek(char c) const { return pos_ < in_.size() && in_[pos_] == c; }
  bool At(absl::string_view s) const {
    return absl::StartsWith(in_.substr(pos_), s);
  }
  void SkipSpace() {
    while (pos_ < in_.size() && IsSpace(in_[pos_])) ++pos_;
  }

  // Whitespace and comments between top-level items; DTDs and PIs refused.
  absl::Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (At("<!--")) {
        absl::Status s = Comment();
        if (!s.ok()) return s;
      } else if (At("<!")) {
        return Err("DTD or declaration not allowed");
      } else if (At("<?")) {
        return Err("processing instruction not allowed");
      } else {
        return absl::OkStatus();
      }
    }
  }

  absl::Status Comment() {
    const size_t end = in_.find("-->", pos_ + 4);
    if (end == absl::string_view::npos) return Err("unterminated comment");
    pos_ = end + 3;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Name() {
    if (pos_ >= in_.size() || !IsNameStart(in_[pos_])) {
      return Err("expected a name");
    }
    const size_t start = pos_;
    while (pos_ < in_.size() && IsNameChar(in_[pos_])) ++pos_;
    if (pos_ - start > 256) return Err("name too long");
    return std::string(in_.substr(start, pos_ - start));
  }

  // Decodes character data up to `stop` ('<' for text, quote for attrs).
  absl::Status CharData(char stop, std::string* out) {
    while (pos_ < in_.size() && in_[pos_] != stop) {
      const char c = in_[pos_];
      if (c == '&') {
        absl::Status s = Reference(out);
        if (!s.ok()) return s;
        continue;
      }
      if (stop != '<' && c == '<') return Err("'<' in attribute value");
      if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
        return Err("control character");
      }
      out->push_back(c);
      ++pos_;
    }
    return absl::OkStatus();
  }

  absl::Status Reference(std::string* out) {
    const size_t semi = in_.find(';', pos_);
    if (semi == absl::string_view::npos || semi - pos_ > 12) {
      return Err("malformed entity reference");
    }
    absl::string_view ref = in_.substr(pos_ + 1, semi - pos_ - 1);
    pos_ = semi + 1;
    if (ref == "amp") { out->push_back('&'); return absl::OkStatus(); }
    if (ref == "lt") { out->push_back('<'); return absl::OkStatus(); }
    if (ref == "gt") { out->push_back('>'); return absl::OkStatus(); }
    if (ref == "quot") { out->push_back('"'); return absl::OkStatus(); }
    if (ref == "apos") { out->push_back('\''); return absl::OkStatus(); }
    if (ref.size() < 2 || ref[0] != '#') return Err("unknown entity");
    ref.remove_prefix(1);
    int base = 10;
    if (ref[0] == 'x') {
      base = 16;
      ref.remove_prefix(1);
    }
    if (ref.empty() || ref.size() > 8) return Err("bad character reference");
    uint32_t cp = 0;
    for (char c : ref) {
      int d;
      const char l = absl::ascii_tolower(static_cast<unsigned char>(c));
      if (l >= '0' && l <= '9') {
        d = l - '0';
      } else if (base == 16 && l >= 'a' && l <= 'f') {
        d = l - 'a' + 10;
      } else {
        return Err("bad character reference");
      }
      cp = cp * base + d;
      if (cp > 0x10FFFF) return Err("character reference out of range");
    }
    // XML 1.0 Char production.
    if ((cp < 0x20 && cp != 0x9 && cp != 0xA && cp != 0xD) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
      return Err("character reference to a non-character");
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  absl::Status Element(size_t depth, XmlElement* e) {
    if (depth >= limits_.max_depth) {
      return absl::ResourceExhaustedError("XML nested too deeply");
    }
    if (++elements_ > limits_.max_elements) {
      return absl::ResourceExhaustedError("too many XML elements");
    }
    e->source_begin = pos_;
    ++pos_;  // '<'
    auto name = Name();
    if (!name.ok()) return name.status();
    e->name = *std::move(name);
    for (;;) {
      const size_t before = pos_;
      SkipSpace();
      if (At("/>")) {
        pos_ += 2;
        e->source_end = pos_;
        return absl::OkStatus();
      }
      if (Peek('>')) {
        ++pos_;
        break;
      }
      if (pos_ == before) return Err("expected space before attribute");
      auto attr = Name();
      if (!attr.ok()) return attr.status();
      SkipSpace();
      if (!Peek('=')) return Err("expected '='");
      ++pos_;
      SkipSpace();
      if (!Peek('"') && !Peek('\'')) return Err("expected quoted value");
      const char quote = in_[pos_++];
      std::string value;
      absl::Status s = CharData(quote, &value);
      if (!s.ok()) return s;
      if (!Peek(quote)) return Err("unterminated attribute value");
      ++pos_;
      if (e->Attribute(*attr) != nullptr) return Err("duplicate attribute");
      if (e->attributes.size() >= limits_.max_attributes) {
        return absl::ResourceExhaustedError("too many XML attributes");
      }
      e->attributes.emplace_back(*std::move(attr), std::move(value));
    }
    // Content.
    for (;;) {
      if (pos_ >= in_.size()) return Err("unterminated element");
      if (At("</")) {
        pos_ += 2;
        auto end_name = Name();
        if (!end_name.ok()) return end_name.status();
        if (*end_name != e->name) return Err("mismatched end tag");
        SkipSpace();
        if (!Peek('>')) return Err("expected '>'");
        ++pos_;
        e->source_end = pos_;
        return absl::OkStatus();
      }
      if (At("<!--")) {
        absl::Status s = Comment();
        if (!s.ok()) return s;
      } else if (At("<![CDATA[")) {
        const size_t end = in_.find("]]>", pos_ + 9);
        if (end == absl::string_view::npos) return Err("unterminated CDATA");
        e->text.append(in_.data() + pos_ + 9, end - pos_ - 9);
        pos_ = end + 3;
      } else if (At("<!")) {
        return Err("DTD or declaration not allowed");
      } else if (At("<?")) {
        return Err("processing instruction not allowed");
      } else if (Peek('<')) {
        e->children.emplace_back();
        absl::Status s = Element(depth + 1, &e->children.back());
        if (!s.ok()) return s;
      } else {
        absl::Status s = CharData('<', &e->text);
        if (!s.ok()) return s;
      }
    }
  }

  absl::string_view in_;
  const XmlLimits& limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

}  // namespace

const std::string* XmlElement::Attribute(absl::string_view attr) const {
  for (const auto& a : attributes) {
    if (a.first == attr) return &a.second;
  }
  return nullptr;
}

const XmlElement* XmlElement::Child(absl::string_view child) const {
  for (const XmlElement& c : children) {
    if (c.name == child) return &c;
  }
  return nullptr;
}

absl::StatusOr<XmlElement> ParseXml(absl::string_view input,
                                    const XmlLimits& limits) {
  return Parser(input, limits).Document();
}

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace stow::tunnel::tls
