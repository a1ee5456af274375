// The tunnel parameters an AnyConnect server sends in its CONNECT reply
// (X-CSTP-* and X-DTLS-* headers), validated into a struct. Pure code.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_CSTP_HEADERS_H_
#define STOWAWAY_SDK_TUNNEL_TLS_CSTP_HEADERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/tls/http_response.h"

namespace stow::tunnel::tls {

// A route pushed as "a.b.c.d/m.m.m.m", "a.b.c.d/len" or "v6::/len".
struct CstpRoute {
  IpAddress prefix;
  int prefix_len = 0;
  friend bool operator==(const CstpRoute& a, const CstpRoute& b) {
    return a.prefix == b.prefix && a.prefix_len == b.prefix_len;
  }
};

enum class RekeyMethod : uint8_t { kNone, kSsl, kNewTunnel };

// X-DTLS-* parameters; present when the server offered a DTLS channel.
struct DtlsParams {
  uint16_t port = 0;                    // X-DTLS-Port (1..65535).
  // X-DTLS-App-ID (PSK-NEGOTIATE) or X-DTLS-Session-ID (legacy), hex-decoded
  // (1..32 bytes). Which one is in `session_id_is_app_id`.
  std::vector<uint8_t> session_id;
  bool session_id_is_app_id = false;
  std::string cipher_suite;             // X-DTLS-CipherSuite, e.g. PSK-NEGOTIATE.
  std::optional<int> dpd_seconds;       // X-DTLS-DPD
  std::optional<int> keepalive_seconds; // X-DTLS-Keepalive
  std::optional<int> rekey_seconds;     // X-DTLS-Rekey-Time
  RekeyMethod rekey_method = RekeyMethod::kNone;
  std::optional<int> mtu;               // X-DTLS-MTU
  std::string content_encoding;         // X-DTLS-Content-Encoding
};

struct CstpConfig {
  std::string server_name;              // X-CSTP-Server-Name (informational)
  std::optional<IpAddress> address;     // X-CSTP-Address (IPv4)
  std::optional<IpAddress> netmask;     // X-CSTP-Netmask (contiguous)
  // X-CSTP-Address-IP6 "addr/len" (or an IPv6 X-CSTP-Address).
  std::optional<IpAddress> address6;
  int address6_prefix_len = 128;
  std::vector<IpAddress> dns;           // X-CSTP-DNS, X-CSTP-DNS-IP6, in order.
  std::vector<CstpRoute> split_include; // X-CSTP-Split-Include[-IP6]
  std::vector<CstpRoute> split_exclude; // X-CSTP-Split-Exclude[-IP6]
  std::string default_domain;           // X-CSTP-Default-Domain
  std::optional<int> mtu;               // X-CSTP-MTU (576..65535 - overhead)
  std::optional<int> base_mtu;          // X-CSTP-Base-MTU
  std::optional<int> dpd_seconds;       // X-CSTP-DPD (0 = off)
  std::optional<int> keepalive_seconds; // X-CSTP-Keepalive
  std::optional<int> idle_timeout_seconds;  // X-CSTP-Idle-Timeout; "none" = unset.
  std::optional<int> rekey_seconds;     // X-CSTP-Rekey-Time
  RekeyMethod rekey_method = RekeyMethod::kNone;  // X-CSTP-Rekey-Method
  std::string content_encoding;         // X-CSTP-Content-Encoding (e.g. oc-lz4)
  bool tunnel_all_dns = false;          // X-CSTP-Tunnel-All-DNS
  std::optional<DtlsParams> dtls;
};

// Parses the headers of a 2xx CONNECT reply. Unknown headers are ignored.
// A header that repeats where one value is expected, or fails validation,
// gives kInvalidArgument with a message naming the header. X-CSTP-Address
// is required (IPv4 or IPv6). X-DTLS-* headers are parsed only when
// X-DTLS-Port is present, which then requires App-ID or Session-ID.
absl::StatusOr<CstpConfig> ParseCstpConfig(const HttpResponse& response);

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_CSTP_HEADERS_H_
