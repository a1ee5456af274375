// IP addresses and socket addresses as plain values, shared by the event
// layer (host sockets) and the netstack (virtual addresses).
#ifndef STOWAWAY_SDK_BASE_IP_ADDRESS_H_
#define STOWAWAY_SDK_BASE_IP_ADDRESS_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stow {

// An IPv4 or IPv6 address (no zone). Default-constructed: IPv4 0.0.0.0.
class IpAddress {
 public:
  enum class Family : uint8_t { kV4, kV6 };

  IpAddress() = default;
  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  // `bytes` holds 4 or 16 bytes in network order; anything else is an error.
  static absl::StatusOr<IpAddress> FromBytes(absl::Span<const uint8_t> bytes);
  // Parses dotted-quad IPv4 or RFC 5952/4291 IPv6 text.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress Any(Family family);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  bool is_v6() const { return family_ == Family::kV6; }
  // 4 or 16 bytes, network order.
  absl::Span<const uint8_t> bytes() const {
    return absl::MakeConstSpan(bytes_.data(), is_v4() ? 4 : 16);
  }
  bool IsUnspecified() const;
  std::string ToString() const;

  // True if the first `prefix_len` bits equal those of `prefix` (same family).
  bool InPrefix(const IpAddress& prefix, int prefix_len) const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) {
    return !(a == b);
  }

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// An address and a port. Text form: "1.2.3.4:80" or "[::1]:80".
class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(IpAddress ip, uint16_t port) : ip_(ip), port_(port) {}
  static absl::StatusOr<SocketAddress> Parse(absl::string_view text);
  // From a sockaddr_in/sockaddr_in6; other families are an error.
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* sa);

  const IpAddress& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  std::string ToString() const;
  // Fills `out` and returns the length to pass to the socket call.
  socklen_t ToSockaddr(sockaddr_storage* out) const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.ip_ == b.ip_ && a.port_ == b.port_;
  }
  friend bool operator!=(const SocketAddress& a, const SocketAddress& b) {
    return !(a == b);
  }

 private:
  IpAddress ip_;
  uint16_t port_ = 0;
};

}  // namespace stow

#endif  // STOWAWAY_SDK_BASE_IP_ADDRESS_H_
