// Fuzz target for the gateway's DTLS ClientHello look
// (sdk/gateway/tls/dtls_client_hello.h): any datagram is parsed; what it
// returns must be consistent with the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sdk/gateway/tls/dtls_client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto info = stow::gateway::tls::ParseDtlsClientHello(
      absl::MakeConstSpan(data, size));
  if (info.has_value()) {
    // Record header 13, handshake header 12, version 2, random 32, length 1.
    if (info->session_id.size() > 32 ||
        size < 13 + 12 + 2 + 32 + 1 + info->session_id.size() ||
        data[0] != 22 || data[13] != 1) {
      std::abort();
    }
  }
  return 0;
}
