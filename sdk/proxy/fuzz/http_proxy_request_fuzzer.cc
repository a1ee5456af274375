// Fuzz target: arbitrary bytes as an HTTP proxy request head. A finding
// besides crashes: a head longer than the input, an error status outside
// the documented set, or a completed request without a host or port.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sdk/proxy/http_proxy_request.h"

namespace {

using namespace stow::proxy;  // NOLINT: a fuzz target's one file.

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small limit as well, so the limit paths are reached.
  for (size_t max : {kMaxProxyHeadBytes, size_t{64}}) {
    HttpProxyParseResult r =
        ParseHttpProxyRequest(absl::Span<const uint8_t>(data, size), max);
    switch (r.state) {
      case stow::gateway::HttpParseState::kNeedMore:
        break;
      case stow::gateway::HttpParseState::kError:
        Check(r.error_status == 400 || r.error_status == 405 ||
              r.error_status == 414 || r.error_status == 431 ||
              r.error_status == 501 || r.error_status == 505);
        Check(!r.error.empty());
        break;
      case stow::gateway::HttpParseState::kComplete:
        Check(r.head_bytes <= size);
        Check(!r.request.host.empty() && r.request.port != 0);
        Check(r.request.is_connect || !r.request.upstream_head.empty());
        break;
    }
  }
  return 0;
}
