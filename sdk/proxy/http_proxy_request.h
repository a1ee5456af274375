// What an HTTP proxy makes of a request head: pure, over the repository's
// HTTP/1.x request parser (sdk/gateway/services/http_request.h).
//   CONNECT host:port HTTP/1.1          -> a tunnel to host:port;
//   METHOD http://host[:port]/p HTTP/1.x -> a forwarded request: the head
//       rewritten to origin form, hop-by-hop fields dropped,
//       "Connection: close" added.
#ifndef STOWAWAY_SDK_PROXY_HTTP_PROXY_REQUEST_H_
#define STOWAWAY_SDK_PROXY_HTTP_PROXY_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "sdk/gateway/services/http_request.h"

namespace stow::proxy {

// Longest request head the proxy reads; longer gets 431.
inline constexpr size_t kMaxProxyHeadBytes = 64 * 1024;

struct HttpProxyRequest {
  bool is_connect = false;
  // Host (a name, or an IP literal without brackets) and port to dial.
  std::string host;
  uint16_t port = 0;
  // Forwarded requests: the head to send upstream (request line in origin
  // form, fields without hop-by-hop ones, "Connection: close", CRLFs).
  std::string upstream_head;
  gateway::HttpRequest request;
};

struct HttpProxyParseResult {
  gateway::HttpParseState state = gateway::HttpParseState::kNeedMore;
  // kComplete: bytes of the head in the input; what follows is body (or,
  // for CONNECT, the first tunnelled bytes).
  size_t head_bytes = 0;
  HttpProxyRequest request;
  // kError: the status to answer with (see ParseHttpProxyRequest).
  int error_status = 0;
  std::string error;
};

// Parses a proxy request head at the start of `data`. Errors:
//   400: malformed head, a CONNECT target that is not host:port, an
//        absolute URI without a host or with userinfo, a bad port;
//   405: an origin-form request ("GET /x"): this is a proxy, not a server;
//   501: an absolute URI whose scheme is not http (https:// needs CONNECT);
//   414/431/505: as the underlying parser says (431 over max_head_bytes).
HttpProxyParseResult ParseHttpProxyRequest(
    absl::Span<const uint8_t> data,
    size_t max_head_bytes = kMaxProxyHeadBytes);

// "host:port" or "[v6]:port" (port required unless default_port != 0).
// False when malformed.
bool ParseAuthority(absl::string_view authority, uint16_t default_port,
                    std::string* host, uint16_t* port);

// True if the request carries "Proxy-Authorization: Basic <base64 of
// user:password>" with these credentials (RFC 7617).
bool CheckProxyAuthorization(const gateway::HttpRequest& request,
                             absl::string_view username,
                             absl::string_view password);

// A complete error response with a text/plain body and "Connection: close";
// `extra_fields` (whole "Name: value\r\n" lines) go into the head.
std::string HttpProxyErrorResponse(int status, absl::string_view body,
                                   absl::string_view extra_fields = "");

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_HTTP_PROXY_REQUEST_H_
