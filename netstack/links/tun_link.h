// A link to a Linux TUN device: the kernel is the netstack's peer. For tests
// and benchmarks (needs CAP_NET_ADMIN); the SDK's real links are tunnels.
#ifndef STOWAWAY_NETSTACK_LINKS_TUN_LINK_H_
#define STOWAWAY_NETSTACK_LINKS_TUN_LINK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netstack/link.h"
#include "sdk/event/fd_watcher.h"
#include "sdk/event/uv_loop.h"

namespace stow::netstack {

// Creates TUN device `name` (IFF_TUN | IFF_NO_PI, non-blocking) in the
// calling thread's network namespace and returns its descriptor.
// kPermissionDenied without CAP_NET_ADMIN; kUnavailable without /dev/net/tun.
absl::StatusOr<int> OpenTunDevice(const std::string& name);

// Packets to and from a TUN descriptor (owned; closed on destruction).
// Loop thread only.
class TunLink : public Link {
 public:
  struct Counters {
    uint64_t rx_packets = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_dropped = 0;  // The device queue was full.
  };

  static absl::StatusOr<std::unique_ptr<TunLink>> Create(event::UvLoop* loop,
                                                         int fd, int mtu);
  ~TunLink() override;

  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }
  const Counters& counters() const { return counters_; }

 private:
  TunLink(int fd, int mtu);
  void OnReadable();

  const int fd_;
  const int mtu_;
  Receiver* receiver_ = nullptr;  // Not owned.
  std::unique_ptr<event::FdWatcher> watcher_;
  std::vector<uint8_t> buffer_;
  Counters counters_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_LINKS_TUN_LINK_H_
