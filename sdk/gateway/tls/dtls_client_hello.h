// A cheap look at a datagram that may open a DTLS handshake: is it a DTLS
// ClientHello (RFC 6347 4.1 record header, 4.2.2 handshake header, RFC 5246
// 7.4.1.2 ClientHello), and which session_id and random does it carry?
//
// The gateway's DTLS listener uses it before it spends a DtlsEngine on a
// source address: under PSK-NEGOTIATE (draft-mavrogiannopoulos-openconnect)
// the session_id is the X-DTLS-App-ID of a live session, so datagrams that
// are no ClientHello, or name no session, cost a parse and a counter.
//
// Only the first fragment is read (fragment_offset 0); it must hold the
// session_id. Nothing is validated beyond what is read.
//
// Threading: a pure function.
#ifndef STOWAWAY_SDK_GATEWAY_TLS_DTLS_CLIENT_HELLO_H_
#define STOWAWAY_SDK_GATEWAY_TLS_DTLS_CLIENT_HELLO_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::gateway::tls {

struct DtlsClientHelloInfo {
  std::array<uint8_t, 32> random{};
  std::vector<uint8_t> session_id;  // 0..32 bytes.
};

// nullopt unless `datagram` starts with an epoch-0 DTLS handshake record
// (content type 22, version major 0xfe) whose first message is a
// ClientHello fragment at offset 0 that reaches past its session_id.
absl::optional<DtlsClientHelloInfo> ParseDtlsClientHello(
    absl::Span<const uint8_t> datagram);

}  // namespace stow::gateway::tls

#endif  // STOWAWAY_SDK_GATEWAY_TLS_DTLS_CLIENT_HELLO_H_
