#include "sdk/tunnel/ipsec/esp/udp_encap.h"

#include <cstring>

namespace stow::esp {

const char* UdpKindName(UdpKind kind) {
  switch (kind) {
    case UdpKind::kNatKeepalive:
      return "nat_keepalive";
    case UdpKind::kIke:
      return "ike";
    case UdpKind::kEsp:
      return "esp";
    case UdpKind::kMalformed:
      return "malformed";
  }
  return "unknown";
}

UdpClassified ClassifyUdp(absl::Span<const uint8_t> datagram) {
  UdpClassified result;
  if (datagram.size() == 1) {
    if (datagram[0] == kNatKeepaliveByte) result.kind = UdpKind::kNatKeepalive;
    return result;
  }
  if (datagram.size() < kNonEspMarkerSize) return result;
  const uint32_t first = (uint32_t{datagram[0]} << 24) |
                         (uint32_t{datagram[1]} << 16) |
                         (uint32_t{datagram[2]} << 8) | datagram[3];
  if (first == 0) {
    if (datagram.size() < kNonEspMarkerSize + kIkeHeaderSize) return result;
    result.kind = UdpKind::kIke;
    result.payload = datagram.subspan(kNonEspMarkerSize);
    return result;
  }
  if (datagram.size() < kMinEspDatagramSize) return result;
  result.kind = UdpKind::kEsp;
  result.payload = datagram;
  result.spi = first;
  return result;
}

absl::Span<const uint8_t> NatKeepaliveDatagram() {
  static const uint8_t kKeepalive[1] = {kNatKeepaliveByte};
  return absl::MakeConstSpan(kKeepalive);
}

size_t WriteIkeDatagram(absl::Span<const uint8_t> ike_message,
                        absl::Span<uint8_t> out) {
  const size_t size = kNonEspMarkerSize + ike_message.size();
  if (out.size() < size) return 0;
  // The message may already lie in `out` (e.g. at its start): move it first.
  if (!ike_message.empty()) {
    std::memmove(out.data() + kNonEspMarkerSize, ike_message.data(),
                 ike_message.size());
  }
  std::memset(out.data(), 0, kNonEspMarkerSize);
  return size;
}

std::vector<uint8_t> IkeDatagram(absl::Span<const uint8_t> ike_message) {
  std::vector<uint8_t> out(kNonEspMarkerSize + ike_message.size());
  WriteIkeDatagram(ike_message, absl::MakeSpan(out));
  return out;
}

}  // namespace stow::esp
