// IKE identities (RFC 7296 3.5) as the gateway's flags and status page write
// them: "fqdn:gw.stowaway.test", "email:user@example.com" (also "rfc822:"),
// "ipv4:10.0.0.1", "ipv6:fd00::1", "keyid:<hex>". Pure functions.
//
// TODO(ike): sdk/tunnel/ipsec/ike/crypto/cert_auth.h declares
// ParseIdentity()/DescribeIdentity() (with DER DNs); switch to them once
// they are implemented and drop this file.
#ifndef STOWAWAY_SDK_GATEWAY_IDENTITY_H_
#define STOWAWAY_SDK_GATEWAY_IDENTITY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow::gateway {

// Parses "type:value" as above; without a prefix, an IP address is ipv4/ipv6,
// text with '@' is email, anything else an FQDN. InvalidArgument naming the
// problem ("identity \"ipv4:x\": not an IPv4 address", "... empty").
absl::StatusOr<ike::IdPayload> ParseIdentityText(absl::string_view text);

// The text form above; DER DNs and general names as "dn:<hex>" / "gn:<hex>".
// Non-printable bytes in text identities are escaped (\xNN), so that a peer
// cannot put control characters into log lines.
std::string IdentityToText(const ike::IdPayload& id);

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_IDENTITY_H_
