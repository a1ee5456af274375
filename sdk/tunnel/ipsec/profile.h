// The keys and addresses of an ESP session, read from a JSON profile. Until
// IKEv2 negotiates them, a profile carries them directly; IKE later fills the
// same structures.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_PROFILE_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_PROFILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/esp/esp.h"

namespace stow::ipsec {

// One direction of a CHILD SA.
struct EspDirection {
  uint32_t spi = 0;
  std::vector<uint8_t> key_material;  // key || salt
};

// Lifetime limits of an SA; zero means no limit of that kind. Rekeying is
// asked for at a fraction of each (the SA's soft limit).
struct EspLifetime {
  absl::Duration time = absl::ZeroDuration();
  uint64_t bytes = 0;
  uint64_t packets = 0;
};

// A CHILD SA pair: initiator→responder (the client sends with it) and
// responder→initiator.
struct ChildSaKeys {
  // Named in profiles as esp::AlgorithmName() gives it ("aes128gcm16",
  // "aes256gcm16", "chacha20poly1305"); key material is
  // esp::KeyMaterialSize() bytes.
  esp::Algorithm transform = esp::Algorithm::kAes128Gcm16;
  bool esn = true;
  EspDirection i2r;
  EspDirection r2i;
  EspLifetime lifetime;
};

// A prefix such as 10.99.0.0/16.
struct IpPrefix {
  IpAddress address;
  int length = 0;
  std::string ToString() const;
};
absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text);

// What a client session needs.
struct EspProfile {
  std::string name;
  SocketAddress gateway;
  // The client's virtual addresses (at least one).
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  // Destinations routed into the tunnel; empty means everything.
  std::vector<IpPrefix> routes;
  std::vector<IpAddress> dns;
  int mtu = 1400;
  // NAT keepalive interval while nothing else is sent (RFC 3948 says 20 s).
  absl::Duration nat_keepalive = absl::Seconds(20);
  ChildSaKeys keys;
};

// Parses and validates a profile. Errors are kInvalidArgument with a message
// that names the field, e.g. "esp.i2r.key: 19 bytes, aes128gcm16 needs 20
// (16-byte key + 4-byte salt)". Unknown fields are refused (a typo must not
// pass silently).
absl::StatusOr<EspProfile> ParseEspProfile(absl::string_view json);

// Reads and parses a profile file; errors name the file.
absl::StatusOr<EspProfile> LoadEspProfile(const std::string& path);

// Writes `profile` as JSON that ParseEspProfile reads back.
std::string EspProfileToJson(const EspProfile& profile);

}  // namespace stow::ipsec

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_PROFILE_H_
