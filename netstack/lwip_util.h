// Conversions between Stowaway's address types and lwIP's. Internal to
// netstack/: nothing outside it sees lwIP types.
#ifndef STOWAWAY_NETSTACK_LWIP_UTIL_H_
#define STOWAWAY_NETSTACK_LWIP_UTIL_H_

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lwip/err.h"
#include "lwip/ip_addr.h"
#include "sdk/base/ip_address.h"

namespace stow::netstack::internal {

inline ip_addr_t ToLwip(const IpAddress& ip) {
  ip_addr_t out;
  std::memset(&out, 0, sizeof(out));
  if (ip.is_v4()) {
    IP_SET_TYPE_VAL(out, IPADDR_TYPE_V4);
    std::memcpy(&ip_2_ip4(&out)->addr, ip.bytes().data(), 4);
  } else {
    IP_SET_TYPE_VAL(out, IPADDR_TYPE_V6);
    std::memcpy(ip_2_ip6(&out)->addr, ip.bytes().data(), 16);
  }
  return out;
}

inline IpAddress FromLwip(const ip_addr_t& ip) {
  if (IP_IS_V6_VAL(ip)) {
    return *IpAddress::FromBytes(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(ip_2_ip6(&ip)->addr), 16));
  }
  return *IpAddress::FromBytes(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(&ip_2_ip4(&ip)->addr), 4));
}

// Maps an lwIP error to a Status with `what` as context.
absl::Status FromLwipErr(err_t err, absl::string_view what);

}  // namespace stow::netstack::internal

#endif  // STOWAWAY_NETSTACK_LWIP_UTIL_H_
