// A plain UDP link for tests and benchmarks: two processes' netstacks
// exchange raw IP packets in UDP datagrams over loopback, unencrypted, with
// an optional impairment stage on the sending side.
#ifndef STOWAWAY_NETSTACK_LINKS_UDP_LINK_H_
#define STOWAWAY_NETSTACK_LINKS_UDP_LINK_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "netstack/link.h"
#include "netstack/links/impairment.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"

namespace stow::netstack {

// Loop thread only.
class UdpLink : public Link, private event::UdpSocket::Delegate {
 public:
  struct Counters {
    uint64_t tx_packets = 0;
    uint64_t rx_packets = 0;
    uint64_t send_failed = 0;
    uint64_t rx_foreign = 0;  // Datagrams not from the peer: dropped.
  };

  // Binds `local` (port 0: ephemeral). Until set_peer(), sends are dropped.
  static absl::StatusOr<std::unique_ptr<UdpLink>> Create(
      event::UvLoop* loop, const SocketAddress& local, int mtu,
      const Impairment& impairment);
  ~UdpLink() override;

  void set_peer(const SocketAddress& peer) { peer_ = peer; }
  SocketAddress local_address() const { return local_; }
  const Counters& counters() const { return counters_; }
  // What the impairment stage did (zeros without one).
  ImpairmentStage::Counters impairment_counters() const {
    return stage_ ? stage_->counters() : ImpairmentStage::Counters();
  }

  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

 private:
  UdpLink(event::UvLoop* loop, int mtu);
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  void Transmit(absl::Span<const absl::Span<const uint8_t>> fragments);

  event::UvLoop* const loop_;  // Not owned.
  const int mtu_;
  std::unique_ptr<event::UdpSocket> socket_;
  SocketAddress local_;
  SocketAddress peer_;
  Receiver* receiver_ = nullptr;  // Not owned.
  std::unique_ptr<ImpairmentStage> stage_;  // Null without impairment.
  Counters counters_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_LINKS_UDP_LINK_H_
