#include "netstack/packet_check.h"

#include <algorithm>
#include <cstddef>

namespace stow::netstack {
namespace {

constexpr size_t kIpv6HeaderLen = 40;
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kRouting = 43;
constexpr uint8_t kFragment = 44;
constexpr size_t kFragmentHeaderLen = 8;
// In the Fragment header's second 16-bit word: the offset in 8-byte units
// (already shifted left by 3) and the M ("more fragments") flag.
constexpr uint16_t kOffsetMask = 0xfff8;
constexpr uint16_t kMoreFlag = 0x0001;
constexpr uint8_t kDestOptions = 60;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kRouterAdvertisement = 134;
constexpr uint8_t kRedirect = 137;
// More extension headers than any real packet carries.
constexpr int kMaxExtensionHeaders = 16;

// Options of a hop-by-hop or destination options header occupy
// [begin, end): each is Pad1 (one zero byte) or type, length, data.
bool OptionsValid(absl::Span<const uint8_t> packet, size_t begin,
                  size_t end) {
  size_t at = begin;
  while (at < end) {
    if (packet[at] == 0) {  // Pad1
      at += 1;
      continue;
    }
    if (end - at < 2) return false;
    const size_t data_len = packet[at + 1];
    if (end - at - 2 < data_len) return false;
    at += 2 + data_len;
  }
  return true;
}

}  // namespace

PacketVerdict CheckIpv6(absl::Span<const uint8_t> packet) {
  if (packet.size() < kIpv6HeaderLen || packet[0] >> 4 != 6) {
    return PacketVerdict::kMalformed;
  }
  const size_t payload_len = (size_t{packet[4]} << 8) | packet[5];
  if (packet.size() - kIpv6HeaderLen < payload_len) {
    return PacketVerdict::kMalformed;
  }
  const size_t end = kIpv6HeaderLen + payload_len;
  uint8_t next = packet[6];
  size_t at = kIpv6HeaderLen;
  bool seen_fragment_header = false;
  // Whether lwIP will queue this packet for reassembly.
  bool fragment = false;
  for (int i = 0; i < kMaxExtensionHeaders; ++i) {
    switch (next) {
      case kHopByHop:
      case kDestOptions:
      case kRouting: {
        if (end - at < 8) return PacketVerdict::kMalformed;
        const size_t len = 8 * (size_t{packet[at + 1]} + 1);
        if (end - at < len) return PacketVerdict::kMalformed;
        if (next != kRouting && !OptionsValid(packet, at + 2, at + len)) {
          return PacketVerdict::kMalformed;
        }
        next = packet[at];
        at += len;
        break;
      }
      case kFragment: {
        if (end - at < kFragmentHeaderLen || seen_fragment_header) {
          return PacketVerdict::kMalformed;
        }
        seen_fragment_header = true;
        const uint16_t offset_and_flags =
            static_cast<uint16_t>((packet[at + 2] << 8) | packet[at + 3]);
        const bool atomic = (offset_and_flags & (kOffsetMask | kMoreFlag)) == 0;
        if (!atomic) {
          // lwIP would queue [offset, offset) and then drop the real
          // fragment at that offset as a duplicate.
          if (end - at == kFragmentHeaderLen) return PacketVerdict::kMalformed;
          fragment = true;
          // Only the first fragment carries the upper-layer header.
          if ((offset_and_flags & kOffsetMask) != 0) {
            return PacketVerdict::kFragment;
          }
        }
        next = packet[at];
        at += kFragmentHeaderLen;
        break;
      }
      case kIcmpv6:
        if (end - at >= 1 && (packet[at] == kRouterAdvertisement ||
                              packet[at] == kRedirect)) {
          return PacketVerdict::kIgnored;
        }
        return fragment ? PacketVerdict::kFragment : PacketVerdict::kPass;
      default:
        return fragment ? PacketVerdict::kFragment : PacketVerdict::kPass;
    }
  }
  return PacketVerdict::kMalformed;
}

}  // namespace stow::netstack
