// UDP endpoints over the netstack.
#ifndef STOWAWAY_NETSTACK_UDP_H_
#define STOWAWAY_NETSTACK_UDP_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"

struct udp_pcb;
struct raw_pcb;
struct pbuf;

namespace stow::netstack {

// A UDP socket on the netstack. Datagrams larger than the interface MTU are
// fragmented by IP and reassembled on receipt.
// Threading: loop thread only; the delegate may call any method from
// OnDatagram() but must not destroy the endpoint there.
class UdpEndpoint {
 public:
  // The largest payloads: 65535 minus the IP and UDP headers.
  static constexpr size_t kMaxPayloadV4 = 65507;
  static constexpr size_t kMaxPayloadV6 = 65487;

  class Delegate {
   public:
    virtual ~Delegate() = default;
    // `payload` is valid only during the call.
    virtual void OnDatagram(absl::Span<const uint8_t> payload,
                            const SocketAddress& from) = 0;
  };

  // Binds to `local` (port 0: an ephemeral port; "::" takes both families).
  // kAlreadyExists naming the address when the port is in use.
  static absl::StatusOr<std::unique_ptr<UdpEndpoint>> Bind(
      Stack* stack, const SocketAddress& local, Delegate* delegate);
  ~UdpEndpoint();
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;

  // Only datagrams from `remote` are delivered afterwards; Send() goes there.
  absl::Status Connect(const SocketAddress& remote);
  // kInvalidArgument for a payload over kMaxPayloadV4/V6 or a bad address,
  // kUnavailable with no route, kFailedPrecondition for Send() unconnected.
  absl::Status SendTo(absl::Span<const uint8_t> payload,
                      const SocketAddress& to);
  absl::Status Send(absl::Span<const uint8_t> payload);

  SocketAddress local_address() const;

 private:
  UdpEndpoint(Stack* stack, struct udp_pcb* pcb, Delegate* delegate);
  friend struct UdpThunks;

  Stack* const stack_;       // Not owned.
  struct udp_pcb* pcb_;      // Owned.
  Delegate* const delegate_;  // Not owned.
  bool connected_ = false;
  std::vector<uint8_t> scratch_;  // Linearizes chained datagrams.
};

// Sends ICMP/ICMPv6 echo requests and reports replies with their RTT
// (measured on the loop clock). The stack itself answers echo requests.
// Threading: loop thread only.
class Pinger {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    virtual void OnEchoReply(const IpAddress& from, uint16_t sequence,
                             absl::Duration rtt) = 0;
  };

  static absl::StatusOr<std::unique_ptr<Pinger>> Create(
      Stack* stack, IpAddress::Family family, Delegate* delegate);
  ~Pinger();
  Pinger(const Pinger&) = delete;
  Pinger& operator=(const Pinger&) = delete;

  // Sends one echo request with `payload_size` bytes of payload.
  absl::Status Send(const IpAddress& to, uint16_t sequence,
                    size_t payload_size = 56);
  uint16_t identifier() const { return identifier_; }

 private:
  Pinger(Stack* stack, struct raw_pcb* pcb, IpAddress::Family family,
         Delegate* delegate, uint16_t identifier);
  friend struct UdpThunks;
  // Returns true if `p` (an IP packet) was a reply to this pinger.
  bool HandlePacket(struct pbuf* p);

  Stack* const stack_;        // Not owned.
  struct raw_pcb* pcb_;       // Owned.
  const IpAddress::Family family_;
  Delegate* const delegate_;  // Not owned.
  const uint16_t identifier_;
  // Send times by sequence number.
  std::vector<std::pair<uint16_t, absl::Duration>> outstanding_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_UDP_H_
