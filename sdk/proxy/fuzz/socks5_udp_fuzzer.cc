// Fuzz target: arbitrary bytes as a SOCKS5 UDP datagram (RFC 1928 section
// 7). A finding besides crashes: a header that claims more than the
// datagram, or a re-encoded header that does not parse back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sdk/proxy/socks5.h"

namespace {

using namespace stow::proxy::socks5;  // NOLINT: a fuzz target's one file.

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UdpHeader header;
  if (ParseUdpHeader(absl::Span<const uint8_t>(data, size), &header) !=
      UdpParse::kOk) {
    return 0;
  }
  Check(header.header_size <= size && header.header_size >= 8);
  if (!header.address.is_name) {
    std::vector<uint8_t> encoded;
    const stow::SocketAddress from(header.address.ip, header.address.port);
    AppendUdpHeader(from, &encoded);
    UdpHeader again;
    Check(ParseUdpHeader(encoded, &again) == UdpParse::kOk);
    Check(again.header_size == encoded.size());
    Check(again.address.ip == header.address.ip);
    Check(again.address.port == header.address.port);
  }
  return 0;
}
