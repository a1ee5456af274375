// Fuzz target: arbitrary bytes as an HTTP request head for the gateway's
// HTTP server parser. Besides crashes and sanitizer reports, a finding is a
// broken promise of the parser: a head longer than the input or the limit,
// an error status outside the documented set, or a request whose fields
// violate what the parser guarantees.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sdk/gateway/services/http_request.h"

namespace {

using namespace stow::gateway;  // NOLINT: a fuzz target's one file.

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckResult(const HttpParseResult& r, size_t size, size_t max) {
  switch (r.state) {
    case HttpParseState::kNeedMore:
      Check(size <= max);
      break;
    case HttpParseState::kError:
      Check(r.error_status == 400 || r.error_status == 414 ||
            r.error_status == 431 || r.error_status == 505);
      Check(!r.error.empty());
      break;
    case HttpParseState::kComplete: {
      Check(r.head_bytes > 0 && r.head_bytes <= size && r.head_bytes <= max);
      const HttpRequest& q = r.request;
      Check(!q.method.empty() && !q.target.empty());
      Check(q.version_minor >= 0 && q.version_minor <= 9);
      Check(q.headers.size() <= kMaxHttpHeaderFields);
      Check(!(q.has_transfer_encoding && q.content_length.has_value()));
      for (const HttpHeaderField& f : q.headers) {
        Check(!f.name.empty());
        for (char c : f.name) Check(!(c >= 'A' && c <= 'Z'));
      }
      // The helpers the server runs on parsed requests.
      (void)FindQueryParam(q.query, "n");
      if (auto seed = FindQueryParam(q.query, "seed")) {
        (void)ParseDecimal(*seed);
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto input = absl::MakeConstSpan(data, size);
  CheckResult(ParseHttpRequest(input), size, kMaxHttpHeadBytes);
  // A small limit reaches the size checks with small inputs.
  const size_t small = 1 + (size > 0 ? data[0] % 64 : 0);
  CheckResult(ParseHttpRequest(input, small), size, small);
  // Prefixes must never complete differently from the whole: a prefix
  // that completes has the same head length.
  HttpParseResult whole = ParseHttpRequest(input);
  if (whole.state == HttpParseState::kComplete && size > 0) {
    HttpParseResult prefix = ParseHttpRequest(input.first(whole.head_bytes));
    Check(prefix.state == HttpParseState::kComplete &&
          prefix.head_bytes == whole.head_bytes);
  }
  return 0;
}
