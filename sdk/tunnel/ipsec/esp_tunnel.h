// The client's ESP tunnel: a netstack link whose packets travel as ESP in
// UDP (RFC 3948) to one gateway, over a libuv UDP socket.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_TUNNEL_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_TUNNEL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::ipsec {

// Sends every packet the netstack hands it, sealed, to the gateway; opens
// what the gateway sends and hands the inner packets to the netstack.
// Datagrams from any other address are dropped and counted. While nothing
// is sent for the profile's keepalive interval, a NAT keepalive (0xFF) goes
// out so that NAT bindings stay open.
//
// Threading: loop thread only, construction and destruction included.
class EspTunnel : public tunnel::Tunnel,
                  private event::UdpSocket::Delegate {
 public:
  // Binds a UDP socket of the gateway's family on an ephemeral port.
  // kInvalidArgument for keys that do not fit, or the socket's error.
  static absl::StatusOr<std::unique_ptr<EspTunnel>> Create(
      event::UvLoop* loop, const EspProfile& profile,
      EventCallback on_event = nullptr);
  ~EspTunnel() override;

  // netstack::Link
  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

  tunnel::CounterList Counters() const override;
  SocketAddress local_address() const { return local_; }

 private:
  EspTunnel(event::UvLoop* loop, const EspProfile& profile,
            EventCallback on_event);
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  void ArmKeepalive();
  void OnKeepaliveTimer();
  void ReportEvents();

  event::UvLoop* const loop_;  // Not owned.
  const SocketAddress gateway_;
  const int mtu_;
  const absl::Duration keepalive_interval_;
  EventCallback on_event_;
  Receiver* receiver_ = nullptr;  // Not owned.
  std::unique_ptr<EspPeer> peer_;
  std::unique_ptr<event::UdpSocket> socket_;
  SocketAddress local_;
  std::unique_ptr<event::Timer> keepalive_timer_;
  absl::Duration last_send_;
  bool peer_up_ = false;
  std::vector<uint8_t> tx_buffer_;
  std::vector<uint8_t> rx_buffer_;
  uint64_t rx_foreign_ = 0;
  uint64_t rx_keepalives_ = 0;
  uint64_t rx_ike_ = 0;
  uint64_t rx_malformed_ = 0;
  uint64_t rx_unknown_spi_ = 0;
  uint64_t tx_keepalives_ = 0;
  uint64_t tx_send_failed_ = 0;
  uint64_t rx_no_receiver_ = 0;
};

}  // namespace stow::ipsec

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_TUNNEL_H_
