#include "sdk/base/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stow {

IpAddress IpAddress::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes_[0] = a;
  ip.bytes_[1] = b;
  ip.bytes_[2] = c;
  ip.bytes_[3] = d;
  return ip;
}

absl::StatusOr<IpAddress> IpAddress::FromBytes(
    absl::Span<const uint8_t> bytes) {
  IpAddress ip;
  if (bytes.size() == 4) {
    ip.family_ = Family::kV4;
  } else if (bytes.size() == 16) {
    ip.family_ = Family::kV6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("an IP address has 4 or 16 bytes, not ", bytes.size()));
  }
  std::memcpy(ip.bytes_.data(), bytes.data(), bytes.size());
  return ip;
}

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes_.data()) == 1) {
    ip.family_ = Family::kV4;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes_.data()) == 1) {
    ip.family_ = Family::kV6;
    return ip;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an IPv4 or IPv6 address: \"", text, "\""));
}

IpAddress IpAddress::Any(Family family) {
  IpAddress ip;
  ip.family_ = family;
  return ip;
}

bool IpAddress::IsUnspecified() const {
  for (uint8_t b : bytes()) {
    if (b != 0) return false;
  }
  return true;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

bool IpAddress::InPrefix(const IpAddress& prefix, int prefix_len) const {
  if (prefix.family_ != family_) return false;
  const int max_bits = is_v4() ? 32 : 128;
  if (prefix_len < 0 || prefix_len > max_bits) return false;
  int full = prefix_len / 8;
  if (std::memcmp(bytes_.data(), prefix.bytes_.data(), full) != 0) {
    return false;
  }
  int rest = prefix_len % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (bytes_[full] & mask) == (prefix.bytes_[full] & mask);
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view text) {
  absl::string_view host;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("expected \"[IPv6]:port\", got \"", text, "\""));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos ||
        text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected \"IPv4:port\" or \"[IPv6]:port\", got \"", text, "\""));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in \"", text, "\""));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
  if (!ip.ok()) return ip.status();
  return SocketAddress(*ip, static_cast<uint16_t>(port));
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(&in->sin_addr), 4));
    return SocketAddress(*ip, ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(&in6->sin6_addr), 16));
    return SocketAddress(*ip, ntohs(in6->sin6_port));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported address family ", sa->sa_family));
}

std::string SocketAddress::ToString() const {
  if (ip_.is_v4()) return absl::StrCat(ip_.ToString(), ":", port_);
  return absl::StrCat("[", ip_.ToString(), "]:", port_);
}

socklen_t SocketAddress::ToSockaddr(sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (ip_.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port_);
    std::memcpy(&in->sin_addr, ip_.bytes().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port_);
  std::memcpy(&in6->sin6_addr, ip_.bytes().data(), 16);
  return sizeof(sockaddr_in6);
}

}  // namespace stow
