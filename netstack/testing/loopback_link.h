// In-memory test double for the link seam.
#ifndef STOWAWAY_NETSTACK_TESTING_LOOPBACK_LINK_H_
#define STOWAWAY_NETSTACK_TESTING_LOOPBACK_LINK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "netstack/link.h"
#include "sdk/event/loop.h"

namespace stow::netstack::testing {

// A link that hands every packet the stack sends back to the stack, on a
// later turn of the loop (never re-entrantly). With one interface whose
// address the app connects to, both ends of a connection live in one stack,
// and every segment crosses this link. A filter can drop, corrupt or capture
// packets. Loop thread only.
class LoopbackLink : public Link {
 public:
  // Returns false to drop the packet; may modify it.
  using Filter = std::function<bool(std::vector<uint8_t>& packet)>;

  explicit LoopbackLink(event::Loop* loop, int mtu = 1500);
  ~LoopbackLink() override = default;

  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

  void set_filter(Filter filter) { filter_ = std::move(filter); }
  // Delivers `packet` to the stack now, as if it had arrived.
  void Inject(absl::Span<const uint8_t> packet);

  uint64_t sent_packets() const { return sent_packets_; }
  uint64_t dropped_packets() const { return dropped_packets_; }

 private:
  void Deliver();

  const int mtu_;
  Receiver* receiver_ = nullptr;  // Not owned.
  Filter filter_;
  std::deque<std::vector<uint8_t>> queue_;
  std::unique_ptr<event::Timer> deliver_;
  uint64_t sent_packets_ = 0;
  uint64_t dropped_packets_ = 0;
};

}  // namespace stow::netstack::testing

#endif  // STOWAWAY_NETSTACK_TESTING_LOOPBACK_LINK_H_
