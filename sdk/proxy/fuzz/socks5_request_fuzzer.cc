// Fuzz target: arbitrary bytes as a SOCKS5 client's handshake (greeting,
// RFC 1929 credentials, request). Besides crashes and sanitizer reports, a
// finding is a broken promise: a parser that claims more bytes than it was
// given, or an error reply outside the documented set.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sdk/proxy/socks5.h"

namespace {

using namespace stow::proxy::socks5;  // NOLINT: a fuzz target's one file.

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> in(data, size);
  size_t used = 0;
  Greeting greeting;
  if (ParseGreeting(in, &greeting, &used) == ParseState::kComplete) {
    Check(used <= size && used == 2 + greeting.methods.size());
  }
  Credentials credentials;
  used = 0;
  if (ParseCredentials(in, &credentials, &used) == ParseState::kComplete) {
    Check(used <= size && !credentials.username.empty());
    Check(used == 3 + credentials.username.size() + credentials.password.size());
  }
  Request request;
  used = 0;
  Reply reply = Reply::kSucceeded;
  switch (ParseRequest(in, &request, &used, &reply)) {
    case ParseState::kComplete:
      Check(used <= size && used >= 8);  // A one-byte name is shortest.
      Check(!request.address.is_name || !request.address.name.empty());
      break;
    case ParseState::kError:
      Check(reply == Reply::kGeneralFailure ||
            reply == Reply::kAddressTypeNotSupported);
      break;
    case ParseState::kNeedMore:
      break;
  }
  return 0;
}
