// Parses the input as an HTTP response in both modes, whole and in pieces,
// and requires the same outcome; then runs the CONNECT header parser.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sdk/tunnel/tls/cstp_headers.h"
#include "sdk/tunnel/tls/http_response.h"

using stow::tunnel::tls::HttpResponseParser;

namespace {

struct Outcome {
  bool ok;
  bool done;
  size_t consumed;
};

Outcome Run(HttpResponseParser* p, const std::string& in, size_t piece) {
  size_t total = 0;
  while (total < in.size() && !p->done()) {
    size_t n = 0;
    absl::Status s = p->Feed(absl::string_view(in).substr(total, piece), &n);
    if (!s.ok()) return {false, false, 0};
    total += n;
  }
  return {true, p->done(), total};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 13;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (auto mode : {HttpResponseParser::Mode::kWithBody,
                    HttpResponseParser::Mode::kConnect}) {
    HttpResponseParser a(mode), b(mode);
    Outcome x = Run(&a, in, in.size() + 1);
    Outcome y = Run(&b, in, piece);
    if (x.ok != y.ok || x.done != y.done || (x.done && x.consumed != y.consumed)) {
      abort();
    }
    if (x.done) {
      if (a.response().body != b.response().body) abort();
      (void)stow::tunnel::tls::ParseCstpConfig(a.response());
    }
  }
  return 0;
}
