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
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"

namespace stow::netstack {

// What the sending side does to packets. Percentages are of packets sent.
struct Impairment {
  double loss_percent = 0;       // Dropped.
  double duplicate_percent = 0;  // Sent twice.
  double reorder_percent = 0;    // Held back and sent after the next one.
  absl::Duration delay;          // Added to every packet (order kept).
  uint64_t seed = 1;

  bool IsNone() const {
    return loss_percent == 0 && duplicate_percent == 0 &&
           reorder_percent == 0 && delay == absl::ZeroDuration();
  }
};

// Loop thread only.
class UdpLink : public Link, private event::UdpSocket::Delegate {
 public:
  struct Counters {
    uint64_t tx_packets = 0;
    uint64_t rx_packets = 0;
    uint64_t impaired_lost = 0;
    uint64_t impaired_duplicated = 0;
    uint64_t impaired_reordered = 0;
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

  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

 private:
  UdpLink(event::UvLoop* loop, int mtu, const Impairment& impairment);
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  // Sends now, or after the configured delay.
  void Emit(std::vector<uint8_t> packet);
  void Transmit(absl::Span<const uint8_t> packet);
  void OnDelayTimer();
  void FlushHeld();
  bool Roll(double percent);

  event::UvLoop* const loop_;  // Not owned.
  const int mtu_;
  const Impairment impairment_;
  std::mt19937_64 rng_;
  std::unique_ptr<event::UdpSocket> socket_;
  SocketAddress local_;
  SocketAddress peer_;
  Receiver* receiver_ = nullptr;  // Not owned.
  // A packet held back for reordering, released after the next one (or by
  // the timer if none follows).
  std::vector<uint8_t> held_;
  bool holding_ = false;
  std::unique_ptr<event::Timer> held_timer_;
  std::deque<std::pair<absl::Duration, std::vector<uint8_t>>> delayed_;
  std::unique_ptr<event::Timer> delay_timer_;
  Counters counters_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_LINKS_UDP_LINK_H_
