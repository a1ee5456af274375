// A fake IKEv2 gateway for the client's tests: one IKE responder
// (ike::IkeSa) on two loopback UDP sockets (an "IKE port" taking plain IKE
// and a "NAT-T port" taking IKE after the non-ESP marker and ESP in UDP),
// with a PSK, an address assignment and traffic selectors. ESP packets
// are opened and reflected: IPv4 source and destination swapped, UDP ports
// swapped, ICMP echo requests answered. Knobs make it silent (a dead
// peer), forget its state (a restart), delete the SA or rekey.
//
// Threading: loop thread only, construction and destruction included.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_TESTING_IKE_TEST_GATEWAY_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_TESTING_IKE_TEST_GATEWAY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

namespace stow::ipsec::testing {

class IkeTestGateway {
 public:
  struct Options {
    std::string psk = "test-psk-0123456789";
    std::string fqdn = "gw.test";  // IDr
    ike::IkeAlgorithms ike = ike::DefaultIkeAlgorithms();
    ike::EspAlgorithms esp = ike::DefaultEspAlgorithms();
    IpAddress virtual_ipv4 = IpAddress::V4(10, 9, 0, 2);
    IpAddress dns = IpAddress::V4(10, 9, 0, 53);
    // The TSr the gateway allows (narrowing what the client asks for).
    IpAddress ts_prefix = IpAddress::V4(10, 9, 1, 0);
    int ts_prefix_len = 24;
    ike::IkeTimers timers;
  };

  static absl::StatusOr<std::unique_ptr<IkeTestGateway>> Create(
      event::UvLoop* loop, Options options);
  ~IkeTestGateway();

  SocketAddress ike_address() const { return ike_address_; }
  SocketAddress nat_t_address() const { return nat_t_address_; }

  // Ignores everything received (a dead or unreachable gateway).
  void set_silent(bool silent) { silent_ = silent; }
  // Forgets the SA and its ESP state without telling anyone (a restart).
  void Restart();
  // Deletes the IKE SA (INFORMATIONAL with DELETE to the client).
  void DeleteIkeSa();
  // Gateway-initiated CREATE_CHILD_SA rekey of the CHILD SA.
  void RekeyChild();
  // The address the next client gets.
  void set_virtual_ipv4(const IpAddress& ip) { options_.virtual_ipv4 = ip; }

  // Null before the first IKE_SA_INIT.
  const ike::IkeSa* sa() const { return sa_.get(); }
  size_t child_sas() const { return peers_.size(); }

  uint64_t init_requests() const { return init_requests_; }
  uint64_t established() const { return established_; }
  uint64_t ike_plain_received() const { return ike_plain_received_; }
  uint64_t ike_marker_received() const { return ike_marker_received_; }
  uint64_t esp_received() const { return esp_received_; }
  uint64_t esp_reflected() const { return esp_reflected_; }
  uint64_t keepalives_received() const { return keepalives_received_; }
  uint64_t closed() const { return closed_; }

 private:
  class Port;
  class SaDelegate;
  IkeTestGateway(event::UvLoop* loop, Options options);

  void OnDatagram(bool nat_t_port, absl::Span<const uint8_t> data,
                  const SocketAddress& from);
  void OnIke(bool via_marker, absl::Span<const uint8_t> message,
             const SocketAddress& from);
  void OnEsp(absl::Span<const uint8_t> datagram, uint32_t spi,
             const SocketAddress& from);
  void SendIke(absl::Span<const uint8_t> message, bool nat_t);
  void Arm();
  ike::IkeConfig Config() const;

  event::UvLoop* const loop_;  // Not owned.
  Options options_;
  std::unique_ptr<Port> ike_port_;
  std::unique_ptr<Port> nat_t_port_;
  SocketAddress ike_address_;
  SocketAddress nat_t_address_;
  std::unique_ptr<SaDelegate> sa_delegate_;
  std::unique_ptr<ike::IkeSa> sa_;
  SocketAddress client_;
  std::unique_ptr<event::Timer> timer_;
  // Inbound SPI -> CHILD SA; the highest `order` sends.
  struct Peer {
    std::unique_ptr<EspPeer> peer;
    uint64_t order = 0;
  };
  std::map<uint32_t, Peer> peers_;
  uint64_t next_order_ = 0;
  std::vector<uint8_t> rx_buffer_;
  std::vector<uint8_t> tx_buffer_;
  bool silent_ = false;
  uint64_t init_requests_ = 0;
  uint64_t established_ = 0;
  uint64_t ike_plain_received_ = 0;
  uint64_t ike_marker_received_ = 0;
  uint64_t esp_received_ = 0;
  uint64_t esp_reflected_ = 0;
  uint64_t keepalives_received_ = 0;
  uint64_t closed_ = 0;
};

}  // namespace stow::ipsec::testing

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_TESTING_IKE_TEST_GATEWAY_H_
