// Reads HTTP/1.1 requests with Content-Length bodies from a byte stream (the
// plaintext of a TLS connection) delivered in arbitrary pieces: the head
// parsed by services/http_request.h, then the body. Pure code, bounded
// memory; after a CONNECT is answered the bytes that follow it belong to the
// tunnel (TakeRemaining()).
#ifndef STOWAWAY_SDK_GATEWAY_TLS_HTTP_REQUEST_READER_H_
#define STOWAWAY_SDK_GATEWAY_TLS_HTTP_REQUEST_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "sdk/gateway/services/http_request.h"

namespace stow::gateway::tls {

struct HttpRequestLimits {
  size_t max_head_bytes = 16 * 1024;
  size_t max_body_bytes = 64 * 1024;
};

enum class RequestReadResult : uint8_t {
  kRequest,   // *request and *body hold the next request.
  kNeedMore,  // No complete request buffered yet.
  kError,     // Sticky; error_status() is the status to answer with.
};

// Not thread-safe; owns its buffer (at most one request's head and body
// plus what followed them in the same Append()).
class HttpRequestReader {
 public:
  explicit HttpRequestReader(HttpRequestLimits limits = HttpRequestLimits());

  // Buffers `bytes`. Ignored after an error.
  void Append(absl::Span<const uint8_t> bytes);
  // Takes the next complete request out of the buffer. Errors: the head's
  // (400, 414, 431, 505), 501 for Transfer-Encoding (only Content-Length
  // bodies are taken), 413 for a body above the limit.
  RequestReadResult Next(HttpRequest* request, std::string* body);

  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }
  // Bytes buffered after the last request returned, handed over and
  // cleared (the start of the CSTP stream after a CONNECT).
  std::vector<uint8_t> TakeRemaining();
  size_t buffered() const { return buffer_.size(); }

 private:
  RequestReadResult Fail(int status, std::string error);

  HttpRequestLimits limits_;
  std::vector<uint8_t> buffer_;
  int error_status_ = 0;
  std::string error_;
};

}  // namespace stow::gateway::tls

#endif  // STOWAWAY_SDK_GATEWAY_TLS_HTTP_REQUEST_READER_H_
