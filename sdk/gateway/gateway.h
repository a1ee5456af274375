// The gateway: a user-space ESP responder that needs no root. It receives
// ESP in UDP from clients, routes their decrypted packets into its own
// netstack (which hosts the built-in services and port forwards on its
// virtual address) and sends the netstack's replies back, encrypted, to the
// client that owns the destination address.
#ifndef STOWAWAY_SDK_GATEWAY_GATEWAY_H_
#define STOWAWAY_SDK_GATEWAY_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/services/port_forward.h"
#include "sdk/gateway/services/services.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::gateway {

struct GatewayConfig {
  // UDP address for ESP-in-UDP (and later IKE). Port 0 picks a free port.
  SocketAddress listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 4500);
  // The gateway's own virtual addresses; clients' addresses must lie in
  // these prefixes.
  IpAddress ipv4 = IpAddress::V4(10, 99, 0, 1);
  int ipv4_prefix_len = 16;
  absl::optional<IpAddress> ipv6;  // e.g. fd99::1 (prefix /64)
  int mtu = 1400;
  // Clients with manually keyed SAs (profiles as the clients use them).
  std::vector<ipsec::EspProfile> clients;
  ServicesConfig services;  // addresses filled from ipv4/ipv6 when empty
  std::vector<ForwardSpec> forwards;
  // One line per client event. Runs on the loop thread.
  absl::AnyInvocable<void(const std::string&)> log;
};

// Gateway-wide counters. Per-client ones are in the status page.
struct GatewayCounters {
  uint64_t rx_datagrams = 0;
  uint64_t rx_keepalives = 0;
  uint64_t rx_ike = 0;          // IKE messages (no IKE responder yet).
  uint64_t rx_unknown_spi = 0;
  uint64_t rx_malformed = 0;    // Not ESP, IKE or a keepalive.
  uint64_t rx_spoofed = 0;      // Inner source not the client's address.
  uint64_t tx_no_client = 0;    // Netstack packets for no known client.
  uint64_t tx_no_peer = 0;      // For a client not heard from yet.
  uint64_t tx_send_failed = 0;  // Socket buffer full.
};

// Threading: everything, construction and destruction included, on the
// loop thread. Ownership: the loop and the stack outlive the gateway.
class Gateway : private event::UdpSocket::Delegate, private netstack::Link {
 public:
  // Errors: kInvalidArgument naming the client or field (duplicate SPI or
  // virtual address, address outside the gateway's prefix), kAlreadyExists
  // naming the address when the UDP port is in use, or the errors of the
  // services and forwards.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      event::UvLoop* loop, netstack::Stack* stack, GatewayConfig config);
  ~Gateway() override;

  // The bound UDP address (with the actual port).
  SocketAddress local_address() const { return local_; }
  const GatewayCounters& counters() const { return counters_; }
  // The status page: clients with their addresses and counters, gateway and
  // service counters.
  std::string StatusText() const;
  const Services& services() const { return *services_; }

 private:
  struct Client;

  Gateway(event::UvLoop* loop, netstack::Stack* stack, GatewayConfig config);
  absl::Status Init();
  void Log(const std::string& line);

  // event::UdpSocket::Delegate
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  // netstack::Link: packets the gateway's netstack sends to clients.
  int mtu() const override { return config_.mtu; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

  void OnEsp(uint32_t spi, absl::Span<const uint8_t> data,
             const SocketAddress& from);
  void ReportEvents(Client* client);

  event::UvLoop* const loop_;     // Not owned.
  netstack::Stack* const stack_;  // Not owned.
  GatewayConfig config_;
  SocketAddress local_;
  Receiver* receiver_ = nullptr;  // Not owned: the interface.
  std::unique_ptr<event::UdpSocket> socket_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::unordered_map<uint32_t, Client*> by_spi_;
  std::vector<std::pair<IpAddress, Client*>> by_address_;
  std::unique_ptr<netstack::Interface> interface_;
  std::unique_ptr<Services> services_;
  std::vector<std::unique_ptr<PortForward>> forwards_;
  std::vector<uint8_t> buffer_;  // Sealing and opening scratch.
  GatewayCounters counters_;
};

// Parses "--client" style options: a profile file per client. Kept here so
// the sample and the tests share it.
absl::StatusOr<GatewayConfig> GatewayConfigFromFlags(
    const std::string& listen, const std::vector<std::string>& client_files,
    const std::vector<std::string>& forward_specs, const std::string& ipv4,
    const std::string& ipv6);

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_GATEWAY_H_
