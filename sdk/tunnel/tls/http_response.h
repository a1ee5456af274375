// HTTP/1.1 response parser for the AnyConnect auth exchange and the CONNECT
// reply, fed from a TLS byte stream in arbitrary pieces. Pure code.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_HTTP_RESPONSE_H_
#define STOWAWAY_SDK_TUNNEL_TLS_HTTP_RESPONSE_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stow::tunnel::tls {

struct HttpLimits {
  size_t max_head_bytes = 16 * 1024;  // Status line + headers + CRLFCRLF.
  size_t max_headers = 128;
  size_t max_body_bytes = 256 * 1024;
};

// A parsed response. Header names keep their case as received; lookups
// ignore case. Repeated headers (Set-Cookie, X-CSTP-Split-Include) stay in
// order of arrival.
struct HttpResponse {
  int version_minor = 1;  // HTTP/1.<minor>; only 1.0 and 1.1 accepted.
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // First value of `name`, or nullptr.
  const std::string* Find(absl::string_view name) const;
  // Every value of `name`, in order.
  std::vector<std::string> FindAll(absl::string_view name) const;
  // Value of the cookie `name` from the last Set-Cookie header that sets it
  // (attributes after ';' dropped), or nullptr when no Set-Cookie sets it.
  // An empty value (a cookie being cleared) is returned as "".
  const std::string* FindSetCookie(absl::string_view name,
                                   std::string* storage) const;
};

// Incremental parser for one response.
//  - Status line "HTTP/1.x NNN reason" and headers end with CRLF (bare LF is
//    rejected); obsolete line folding is rejected.
//  - Body: Content-Length bytes (at most max_body_bytes). Transfer-Encoding
//    is not supported (kUnimplemented). Without Content-Length the body is
//    empty for 1xx/204/304 and in kConnect mode; in kWithBody mode it is an
//    error (kUnimplemented), since read-until-close is not supported.
//  - kConnect mode: the reply to CONNECT. On a 2xx the message ends right
//    after the head; bytes after it are the CSTP stream and are left
//    unconsumed for the caller.
// Errors: kInvalidArgument (malformed), kResourceExhausted (a limit). They
// are sticky.
class HttpResponseParser {
 public:
  enum class Mode { kWithBody, kConnect };

  explicit HttpResponseParser(Mode mode, HttpLimits limits = HttpLimits());

  // Consumes a prefix of `data`, sets *consumed to its length. Returns OK
  // (check done()) or the error. Once done(), consumes nothing more: the
  // unconsumed bytes belong to whatever follows the response.
  absl::Status Feed(absl::string_view data, size_t* consumed);

  bool done() const { return state_ == State::kDone; }
  // Valid once done().
  const HttpResponse& response() const { return response_; }

 private:
  enum class State { kHead, kBody, kDone, kError };

  absl::Status ParseHead(absl::string_view head);
  absl::Status Fail(absl::Status status);

  Mode mode_;
  HttpLimits limits_;
  State state_ = State::kHead;
  absl::Status error_;
  std::string head_;
  size_t body_remaining_ = 0;
  HttpResponse response_;
};

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_HTTP_RESPONSE_H_
