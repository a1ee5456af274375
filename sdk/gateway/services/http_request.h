// A pure parser for HTTP/1.x request heads (RFC 9112), for the gateway's
// built-in HTTP server: bytes in, a request / "need more" / an error status
// out. No sockets, no clock, no allocation beyond the result.
#ifndef STOWAWAY_SDK_GATEWAY_SERVICES_HTTP_REQUEST_H_
#define STOWAWAY_SDK_GATEWAY_SERVICES_HTTP_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::gateway {

// Longest request head (request line, fields and the empty line) accepted.
inline constexpr size_t kMaxHttpHeadBytes = 16 * 1024;
// Most header fields accepted in one request.
inline constexpr size_t kMaxHttpHeaderFields = 100;

struct HttpHeaderField {
  std::string name;   // Lower-case.
  std::string value;  // Without surrounding whitespace.
};

struct HttpRequest {
  std::string method;  // Case-sensitive token: "GET", "POST", ...
  std::string target;  // The request-target as sent.
  // The path of an origin-form ("/a/b?q") or absolute-form
  // ("http://host/a/b?q") target, "*" for the asterisk-form; no
  // percent-decoding.
  std::string path;
  std::string query;  // After '?', without it; empty when there is none.
  int version_minor = 1;  // HTTP/1.<version_minor>.
  std::vector<HttpHeaderField> headers;
  // Content-Length, when given (repeated identical values are one value).
  absl::optional<uint64_t> content_length;
  // A Transfer-Encoding field is present (the server answers 501: it only
  // takes Content-Length bodies).
  bool has_transfer_encoding = false;
  // The connection stays open after the response: HTTP/1.1 unless
  // "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;
  // "Expect: 100-continue".
  bool expect_continue = false;

  // The value of the first field named `lower_case_name`, or nullptr.
  const std::string* FindHeader(absl::string_view lower_case_name) const;
};

enum class HttpParseState {
  kNeedMore,  // The head is incomplete and no error was found so far.
  kComplete,  // `request` holds the request; `head_bytes` were used.
  kError,     // `error_status` is the response status; close afterwards.
};

struct HttpParseResult {
  HttpParseState state = HttpParseState::kNeedMore;
  // kComplete: length of the head including leading empty lines and the
  // final empty line; the body (if any) starts right after it.
  size_t head_bytes = 0;
  HttpRequest request;  // kComplete only.
  // kError: 400 (malformed, RFC 9112 §2-§6 violations, missing or repeated
  // Host in HTTP/1.1, bad or conflicting Content-Length, Transfer-Encoding
  // with Content-Length), 414 (request line longer than the head limit),
  // 431 (head longer than the limit, or too many fields), 505 (HTTP major
  // version other than 1).
  int error_status = 0;
  std::string error;  // kError: what was wrong, for logs and the reply.
};

// Parses the request head at the start of `data`. Call again with more bytes
// (from the start of the request) after kNeedMore. Accepts CRLF and bare LF
// line ends (RFC 9112 §2.2) and ignores empty lines before the request line;
// rejects bare CR, obs-fold, whitespace before a field's colon, and control
// characters in values.
HttpParseResult ParseHttpRequest(absl::Span<const uint8_t> data,
                                 size_t max_head_bytes = kMaxHttpHeadBytes);

// The value of the first "name=value" in a query string ("a=1&b=2"), without
// percent-decoding; "" for a bare "name"; nullopt when absent.
absl::optional<absl::string_view> FindQueryParam(absl::string_view query,
                                                 absl::string_view name);

// A decimal number of 1 to 20 digits and nothing else (no sign, no space);
// nullopt if malformed or above 2^64-1.
absl::optional<uint64_t> ParseDecimal(absl::string_view text);

// "OK", "Not Found", ... for the statuses the server sends; "Unknown"
// otherwise.
absl::string_view HttpReasonPhrase(int status);

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_SERVICES_HTTP_REQUEST_H_
