#include "sdk/gateway/services/http_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stow::gateway {
namespace {

// tchar (RFC 9110 §5.6.2).
bool IsTokenChar(uint8_t c) {
  if (absl::ascii_isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(static_cast<uint8_t>(c))) return false;
  }
  return true;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// One line of the head, without its line end.
enum class LineState { kLine, kNeedMore, kBareCr };

// Finds the line starting at `pos`; on kLine sets `line` and `next` (the
// index after its LF).
LineState NextLine(absl::string_view data, size_t pos, absl::string_view* line,
                   size_t* next) {
  for (size_t i = pos; i < data.size(); ++i) {
    if (data[i] == '\n') {
      *line = data.substr(pos, i - pos);
      *next = i + 1;
      return LineState::kLine;
    }
    if (data[i] == '\r') {
      if (i + 1 == data.size()) return LineState::kNeedMore;
      if (data[i + 1] != '\n') return LineState::kBareCr;
      *line = data.substr(pos, i - pos);
      *next = i + 2;
      return LineState::kLine;
    }
  }
  return LineState::kNeedMore;
}

HttpParseResult Error(int status, std::string message) {
  HttpParseResult result;
  result.state = HttpParseState::kError;
  result.error_status = status;
  result.error = std::move(message);
  return result;
}

// Splits the request-target into path and query (RFC 9112 §3.2).
bool SplitTarget(absl::string_view target, HttpRequest* request) {
  if (target == "*") {
    request->path = "*";
    return true;
  }
  absl::string_view rest = target;
  if (rest.front() != '/') {
    // absolute-form: scheme "://" authority [path-abempty] ["?" query].
    size_t scheme_end = rest.find("://");
    if (scheme_end == absl::string_view::npos || scheme_end == 0) return false;
    for (char c : rest.substr(0, scheme_end)) {
      if (!absl::ascii_isalnum(static_cast<uint8_t>(c)) && c != '+' &&
          c != '-' && c != '.') {
        return false;
      }
    }
    rest.remove_prefix(scheme_end + 3);
    size_t path_start = rest.find_first_of("/?");
    if (path_start == 0) return false;  // Empty authority.
    rest = path_start == absl::string_view::npos ? absl::string_view()
                                                  : rest.substr(path_start);
    if (rest.empty() || rest.front() == '?') {
      request->path = "/";
      if (!rest.empty()) request->query = std::string(rest.substr(1));
      return true;
    }
  }
  size_t q = rest.find('?');
  request->path = std::string(rest.substr(0, q));
  if (q != absl::string_view::npos) {
    request->query = std::string(rest.substr(q + 1));
  }
  return true;
}

HttpParseResult ParseRequestLine(absl::string_view line, HttpRequest* request) {
  // request-line = method SP request-target SP HTTP-version
  size_t sp1 = line.find(' ');
  if (sp1 == absl::string_view::npos) {
    return Error(400, "malformed request line");
  }
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == absl::string_view::npos ||
      line.find(' ', sp2 + 1) != absl::string_view::npos) {
    return Error(400, "malformed request line");
  }
  absl::string_view method = line.substr(0, sp1);
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  absl::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Error(400, "malformed method");
  if (target.empty()) return Error(400, "empty request target");
  for (char c : target) {
    const auto u = static_cast<uint8_t>(c);
    if (u <= 0x20 || u >= 0x7F) {
      return Error(400, "invalid character in request target");
    }
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive).
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<uint8_t>(version[5])) ||
      version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<uint8_t>(version[7]))) {
    return Error(400, "malformed HTTP version");
  }
  if (version[5] != '1') {
    return Error(505, absl::StrCat("HTTP version ", version.substr(5),
                                   " is not supported"));
  }
  request->method = std::string(method);
  request->target = std::string(target);
  request->version_minor = version[7] - '0';
  if (!SplitTarget(target, request)) {
    return Error(400, "malformed request target");
  }
  HttpParseResult ok;
  ok.state = HttpParseState::kComplete;
  return ok;
}

// Content-Length = 1*DIGIT; a list of identical values counts as one
// (RFC 9110 §8.6).
bool MergeContentLength(absl::string_view value,
                        absl::optional<uint64_t>* content_length) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    absl::optional<uint64_t> n = ParseDecimal(TrimOws(part));
    if (!n.has_value()) return false;
    if (content_length->has_value() && **content_length != *n) return false;
    *content_length = n;
  }
  return true;
}

}  // namespace

const std::string* HttpRequest::FindHeader(
    absl::string_view lower_case_name) const {
  for (const HttpHeaderField& field : headers) {
    if (field.name == lower_case_name) return &field.value;
  }
  return nullptr;
}

HttpParseResult ParseHttpRequest(absl::Span<const uint8_t> bytes,
                                 size_t max_head_bytes) {
  const absl::string_view data(reinterpret_cast<const char*>(bytes.data()),
                               bytes.size());
  HttpParseResult result;
  HttpRequest& request = result.request;
  size_t pos = 0;
  absl::string_view line;
  size_t next = 0;

  // Empty lines before the request line are ignored (RFC 9112 §2.2).
  while (true) {
    LineState state = NextLine(data, pos, &line, &next);
    if (state == LineState::kBareCr) return Error(400, "bare CR");
    if (state == LineState::kNeedMore) {
      if (data.size() > max_head_bytes) {
        return Error(414, "request line too long");
      }
      return result;
    }
    if (next > max_head_bytes) return Error(414, "request line too long");
    pos = next;
    if (!line.empty()) break;
  }
  HttpParseResult line_result = ParseRequestLine(line, &request);
  if (line_result.state == HttpParseState::kError) return line_result;

  size_t host_fields = 0;
  bool bad_content_length = false;
  while (true) {
    LineState state = NextLine(data, pos, &line, &next);
    if (state == LineState::kBareCr) return Error(400, "bare CR");
    if (state == LineState::kNeedMore) {
      if (data.size() > max_head_bytes) {
        return Error(431, "request header fields too large");
      }
      result.request = HttpRequest();
      return result;
    }
    if (next > max_head_bytes) {
      return Error(431, "request header fields too large");
    }
    pos = next;
    if (line.empty()) break;
    if (IsOws(line.front())) {
      return Error(400, "obsolete line folding is not accepted");
    }
    if (request.headers.size() == kMaxHttpHeaderFields) {
      return Error(431, "too many header fields");
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return Error(400, "header field without a colon");
    }
    absl::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Error(400, "malformed header field name");
    absl::string_view value = TrimOws(line.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<uint8_t>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) {
        return Error(400, "control character in a header field value");
      }
    }
    HttpHeaderField field{absl::AsciiStrToLower(name), std::string(value)};
    if (field.name == "content-length") {
      if (!MergeContentLength(field.value, &request.content_length)) {
        bad_content_length = true;
      }
    } else if (field.name == "transfer-encoding") {
      request.has_transfer_encoding = true;
    } else if (field.name == "host") {
      ++host_fields;
    }
    request.headers.push_back(std::move(field));
  }
  result.head_bytes = pos;

  // Checks over the whole head (RFC 9112 §3.2, §6.1, §6.3, §9.3).
  if (bad_content_length) return Error(400, "invalid Content-Length");
  if (request.has_transfer_encoding && request.content_length.has_value()) {
    return Error(400, "both Transfer-Encoding and Content-Length");
  }
  if (request.has_transfer_encoding && request.version_minor == 0) {
    return Error(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (host_fields > 1) return Error(400, "more than one Host field");
  if (host_fields == 0 && request.version_minor >= 1) {
    return Error(400, "HTTP/1.1 request without a Host field");
  }
  // Connection options (RFC 9112 §9.3): "close" wins over "keep-alive".
  bool close = false;
  bool keep_alive = false;
  for (const HttpHeaderField& field : request.headers) {
    if (field.name == "connection") {
      for (absl::string_view option : absl::StrSplit(field.value, ',')) {
        option = TrimOws(option);
        if (absl::EqualsIgnoreCase(option, "close")) close = true;
        if (absl::EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
      }
    } else if (field.name == "expect") {
      if (absl::EqualsIgnoreCase(field.value, "100-continue")) {
        request.expect_continue = true;
      }
    }
  }
  request.keep_alive =
      !close && (request.version_minor >= 1 || keep_alive);
  result.state = HttpParseState::kComplete;
  return result;
}

absl::optional<absl::string_view> FindQueryParam(absl::string_view query,
                                                 absl::string_view name) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    size_t eq = pair.find('=');
    absl::string_view key = pair.substr(0, eq);
    if (key != name) continue;
    if (eq == absl::string_view::npos) return absl::string_view();
    return pair.substr(eq + 1);
  }
  return absl::nullopt;
}

absl::optional<uint64_t> ParseDecimal(absl::string_view text) {
  if (text.empty() || text.size() > 20) return absl::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return absl::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return absl::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

absl::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace stow::gateway
