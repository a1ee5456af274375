// The profile of an IKEv2 client session, read from JSON: where the gateway
// is, who we are and how we prove it, what to propose and ask for, and the
// session's timers. It yields the ike::IkeConfig for an initiator plus what
// the session around it needs (MTU, NAT keepalives, reconnect backoff).
//
//   {
//     "name": "office",
//     "transport": "ipsec",                  (optional; "tls": tls_profile.h)
//     "gateway": "172.29.1.1:500",
//     "local_id": "client-psk@ssw.test",
//     "remote_id": "fqdn:gw.ssw.test",
//     "auth": {"psk": "..."},
//        or   {"certificate": "client.crt", "private_key": "client.key",
//              "ca": "ca.crt"},
//     "ike_proposals": "aes256gcm16-prfsha256-x25519",
//     "esp_proposals": "aes256gcm16-x25519-none",
//     "request": {"ipv4": true, "ipv6": false},
//     "remote_ts": ["10.0.0.0/8"],
//     "mtu": 1400,
//     "timers": {"retransmit_base_ms": 500, "retransmit_tries": 7,
//                "dpd_delay_s": 30, "ike_rekey_s": 14400,
//                "child_rekey_s": 3600},
//     "reconnect": {"initial_ms": 1000, "max_ms": 30000},
//     "log_secrets": false,
//     "dns_search": ["corp.example"]
//   }
//
// Only "gateway" and "auth" are required ("local_id" too with a PSK).
// Unknown fields are refused, naming the field (a typo must not pass
// silently).
//
// Gateway port: 500 starts IKE on UDP 500 and floats to 4500 (with the
// non-ESP marker, ESP in UDP on 4500) once NAT-T is in use. Any other port
// is taken as the gateway's NAT-T port: everything, from the first message,
// goes there with the marker (IkeConfig::force_nat_t).
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_PROFILE_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_PROFILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
// ipsec::EspRole, which ike_sa.h names without including it.
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

namespace stow::ipsec {

inline constexpr uint16_t kIkePort = 500;

// How we authenticate: exactly one of the two.
struct IkeAuthSettings {
  // Pre-shared key (RFC 7296 2.15), used both ways.
  absl::optional<std::string> psk;
  // Certificate authentication: PEM files (relative paths are taken from
  // the profile file's folder by LoadIkeProfile).
  struct Certificate {
    std::string certificate;
    std::string private_key;
    std::string ca;
  };
  absl::optional<Certificate> certificate;
};

struct IkeProfile {
  std::string name;
  // As configured: the IKE port (500) or the gateway's NAT-T port.
  SocketAddress gateway;
  // Where NAT-T traffic (IKE with the marker, ESP in UDP) goes: port 4500
  // when `gateway` is on port 500, else `gateway` itself.
  SocketAddress gateway_nat_t;
  IkeAuthSettings auth;
  // role kInitiator, credentials set, everything from the profile.
  ike::IkeConfig ike;
  int mtu = 1400;
  // NAT keepalive (0xFF) interval while NAT-T is in use and nothing else is
  // sent (RFC 3948 3 suggests 20 s). Not in the JSON; tests shorten it.
  absl::Duration nat_keepalive = absl::Seconds(20);
  // Reconnect backoff: the first wait, doubled after each failed attempt up
  // to the maximum, back to the first once connected.
  absl::Duration reconnect_initial = absl::Seconds(1);
  absl::Duration reconnect_max = absl::Seconds(30);
  // Search domains for names resolved through the session's DNS servers
  // (resolv.conf semantics, ndots 1).
  std::vector<std::string> dns_search;
};

// Parses and validates a profile, and creates its credentials (for a
// certificate: loads the PEM files, relative to `base_dir` when it is not
// empty). Errors are kInvalidArgument with a message naming the field, e.g.
// "timers.dpd_delay_s: must be a non-negative integer", or the file's error
// for certificates.
absl::StatusOr<IkeProfile> ParseIkeProfile(absl::string_view json,
                                           const std::string& base_dir = "");

// Reads and parses a profile file; errors name the file. Relative
// certificate paths are resolved against the file's folder.
absl::StatusOr<IkeProfile> LoadIkeProfile(const std::string& path);

// Writes `profile` as JSON that ParseIkeProfile reads back (the PSK in
// clear: the file is a secret).
std::string IkeProfileToJson(const IkeProfile& profile);

}  // namespace stow::ipsec

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_PROFILE_H_
