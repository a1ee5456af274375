// The profile of an AnyConnect-compatible TLS session, read from JSON:
//
//   {
//     "name": "office",
//     "transport": "tls",
//     "gateway": "https://gw.vpn.test/",      (URL: host, port, group path)
//     "address": "10.233.1.1:443",           (where to connect; required
//                                             when the URL's host is a name)
//     "ca": "ca.pem",                         (trust anchors, PEM file)
//     "pin": "pin-sha256:BASE64",             (or a list; with or without ca)
//     "username": "alice", "password": "...",
//     "group": "staff",                       (from the gateway's list)
//     "client_certificate": "c.pem", "client_key": "k.pem",
//     "dtls": true,                           (ask for the DTLS channel)
//     "mtu": 1406,                            (asked; the gateway decides)
//     "tcp_min_rto_ms": 1000,                 (inner TCP's RTO floor while
//                                              data goes over TLS; 0: none)
//     "timers": {"connect_timeout_s": 30},
//     "reconnect": {"initial_ms": 1000, "max_ms": 30000},
//     "dns_search": ["corp.example"]
//   }
//
// "gateway" and one of "ca"/"pin" are required. Unknown fields are refused,
// naming the field. Relative file paths are taken from the profile file's
// folder by LoadTlsProfile.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_TLS_PROFILE_H_
#define STOWAWAY_SDK_TUNNEL_TLS_TLS_PROFILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sdk/base/ip_address.h"

namespace stow::tunnel::tls {

struct TlsProfile {
  std::string name;
  std::string url;         // As configured.
  std::string host;        // From the URL: name or address literal.
  uint16_t port = 443;     // From the URL.
  std::string path = "/";  // From the URL.
  SocketAddress address;   // Where the TCP (and DTLS) connection goes.
  std::string ca_pem;      // Loaded from "ca".
  std::vector<std::string> pins;
  std::string username;
  std::string password;
  std::string group;
  std::string client_cert_pem;
  std::string client_key_pem;
  bool dtls = true;
  int mtu = 1406;
  // While packets travel inside the TLS/TCP connection, the floor under
  // the retransmission timeout of the app's TCP connections (the outer TCP
  // already retransmits; an inner RTO only duplicates). Zero: lwIP's own.
  absl::Duration tcp_min_rto = absl::Seconds(1);
  absl::Duration connect_timeout = absl::Seconds(30);
  absl::Duration reconnect_initial = absl::Seconds(1);
  absl::Duration reconnect_max = absl::Seconds(30);
  std::vector<std::string> dns_search;
};

// Errors are kInvalidArgument naming the field, or the file's error.
absl::StatusOr<TlsProfile> ParseTlsProfile(absl::string_view json,
                                           const std::string& base_dir = "");
absl::StatusOr<TlsProfile> LoadTlsProfile(const std::string& path);

// The "transport" member of a profile: "ipsec" when absent. Errors: the
// JSON's syntax, or a transport that is neither "ipsec" nor "tls".
absl::StatusOr<std::string> ProfileTransport(absl::string_view json);

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_TLS_PROFILE_H_
