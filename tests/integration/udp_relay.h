// A UDP relay on 127.0.0.1 between one client and an upstream address, with
// an impairment stage in each direction: puts loss, duplication and
// reordering between an SDK tunnel and the gateway, on the encrypted
// datagrams (so anti-replay and the inner TCP both see them).
#ifndef STOWAWAY_TESTS_INTEGRATION_UDP_RELAY_H_
#define STOWAWAY_TESTS_INTEGRATION_UDP_RELAY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "netstack/links/impairment.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"

namespace stow::testing {

// The first datagram from an address other than the upstream makes that
// address the client; later datagrams from elsewhere are dropped.
// Loop thread only.
class UdpRelay : private event::UdpSocket::Delegate {
 public:
  static absl::StatusOr<std::unique_ptr<UdpRelay>> Create(
      event::UvLoop* loop, const SocketAddress& upstream,
      const netstack::Impairment& to_upstream,
      const netstack::Impairment& to_client);
  ~UdpRelay() override;

  // Where clients send.
  SocketAddress address() const { return address_; }
  const netstack::ImpairmentStage::Counters& upstream_counters() const {
    return up_->counters();
  }
  const netstack::ImpairmentStage::Counters& client_counters() const {
    return down_->counters();
  }

 private:
  UdpRelay(const SocketAddress& upstream) : upstream_(upstream) {}
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;

  const SocketAddress upstream_;
  SocketAddress address_;
  SocketAddress client_;
  std::unique_ptr<event::UdpSocket> socket_;
  std::unique_ptr<netstack::ImpairmentStage> up_;
  std::unique_ptr<netstack::ImpairmentStage> down_;
};

}  // namespace stow::testing

#endif  // STOWAWAY_TESTS_INTEGRATION_UDP_RELAY_H_
