// Both directions of a manually keyed or negotiated CHILD SA with one peer:
// seals outbound inner packets, opens inbound ESP packets, counts every
// drop, and turns lifetime thresholds into tunnel events. Shared by the
// client tunnel and the gateway. Pure: no sockets; the clock is passed in.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_PEER_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_PEER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::ipsec {

enum class EspRole {
  kInitiator,  // The client: sends with i2r, receives with r2i.
  kResponder,  // The gateway: sends with r2i, receives with i2r.
};

// The source and destination addresses of an IP packet given as fragments
// (the header may straddle them). False for anything but a complete IPv4 or
// IPv6 header.
bool ReadIpAddresses(absl::Span<const absl::Span<const uint8_t>> fragments,
                     IpAddress* source, IpAddress* destination);

// Threading: one owner on one thread (the loop thread).
class EspPeer {
 public:
  // kInvalidArgument if the keys do not fit the transform.
  static absl::StatusOr<std::unique_ptr<EspPeer>> Create(
      const ChildSaKeys& keys, EspRole role, absl::Duration now);
  ~EspPeer();
  EspPeer(const EspPeer&) = delete;
  EspPeer& operator=(const EspPeer&) = delete;

  uint32_t inbound_spi() const;
  uint32_t outbound_spi() const;

  // Seals the concatenation of `inner` (one IPv4 or IPv6 packet) into
  // `buffer` and returns the ESP packet, or an empty span when the packet
  // is dropped (counted: not IP, SA expired or out of sequence numbers).
  absl::Span<const uint8_t> Seal(
      absl::Span<const absl::Span<const uint8_t>> inner,
      std::vector<uint8_t>* buffer, absl::Duration now);

  // Opens an ESP packet (starting with the SPI) into `buffer` and returns
  // the inner IP packet, or an empty span when it is dropped (counted: short,
  // authentication failure, replay, bad padding, unexpected next header,
  // dummy packet, inner version not matching the next header).
  absl::Span<const uint8_t> Open(absl::Span<const uint8_t> esp,
                                 std::vector<uint8_t>* buffer,
                                 absl::Duration now);

  // Events raised since the last call (rekey needed, expired), each once.
  std::vector<tunnel::TunnelEvent> TakeEvents();

  tunnel::CounterList Counters() const;
  uint64_t rx_packets() const;
  uint64_t tx_packets() const;

 private:
  struct State;
  explicit EspPeer(std::unique_ptr<State> state);
  void CheckLifetime(absl::Duration now);
  std::unique_ptr<State> state_;
};

}  // namespace stow::ipsec

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_PEER_H_
