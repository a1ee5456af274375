// The client's IKEv2 tunnel: a netstack link whose packets travel as ESP in
// UDP (RFC 3948) to one gateway, keyed by an IKE SA (RFC 7296) that this
// tunnel drives over the same UDP socket.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_TUNNEL_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_TUNNEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"
#include "sdk/tunnel/ipsec/ike_profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::ipsec {

// One UDP socket towards the gateway carries everything:
//   - IKE to the gateway's port 500 without marker until the IKE SA moves to
//     NAT-T, then to its NAT-T port (4500) after the 4-byte zero non-ESP
//     marker (a profile with another gateway port uses that port with the
//     marker from the start);
//   - ESP in UDP to the NAT-T port, sealed with the newest CHILD SA; inbound
//     ESP is opened by the CHILD SA whose inbound SPI it carries (after a
//     rekey the replaced SA keeps receiving until the IKE SA deletes it);
//   - NAT keepalives (0xFF) while NAT-T is in use and nothing else was sent
//     for the profile's keepalive interval.
// Datagrams from any address but the gateway's two ports are dropped and
// counted. One libuv timer follows IkeSa::NextDeadline().
//
// Connect() starts an IKE SA; when it ends (failure, dead peer, deleted by
// the gateway) the delegate hears OnTunnelDown once, and the owner decides
// whether to Connect() again (IkeSession does, with backoff). The socket,
// and so the link and the netstack interface on it, stay across
// reconnects. Packets the netstack sends while no CHILD SA is up are
// dropped and counted (TCP retransmits them).
//
// Threading: loop thread only, construction and destruction included. The
// delegate is called from the loop, never from inside a call into the
// tunnel except where noted, and must not destroy the tunnel while being
// called (defer it).
class IkeTunnel : public tunnel::Tunnel,
                  private event::UdpSocket::Delegate,
                  private ike::IkeSa::Delegate {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Every event of the IKE SA, as it happens (log lines, progress). Called
    // while the IKE SA is busy: do not call Connect() or Close() from here.
    virtual void OnIkeEvent(const ike::IkeEvent& event) = 0;
    // The IKE SA and a CHILD SA are up: assigned_config() and remote_ts()
    // are valid. Once per Connect().
    virtual void OnTunnelUp() = 0;
    // The IKE SA ended: `kind` is the event that ended it (kAuthFailed,
    // kNoProposalChosen, kPeerDead, kFailed or kClosed), `detail` why. Once
    // per Connect(); not after Close(). Connect() may be called from here.
    virtual void OnTunnelDown(ike::IkeEvent::Kind kind,
                              const std::string& detail) = 0;
    // ESP lifetime events and the first authenticated ESP packet.
    virtual void OnTunnelEvent(const tunnel::TunnelEvent& /*event*/) {}
  };

  // Binds a UDP socket of the gateway's family on an ephemeral port (on the
  // local address the kernel would use towards the gateway, so that NAT
  // detection sees our real address). The socket's error otherwise.
  static absl::StatusOr<std::unique_ptr<IkeTunnel>> Create(
      event::UvLoop* loop, const IkeProfile& profile, Delegate* delegate);
  ~IkeTunnel() override;

  // Starts a new IKE SA (IKE_SA_INIT), dropping the previous one and its
  // CHILD SAs without telling the gateway.
  void Connect();
  // Deletes the IKE SA (INFORMATIONAL with DELETE, sent once) and drops
  // the CHILD SAs. No OnTunnelDown follows. A no-op when not connected.
  void Close(const std::string& reason);

  // Rekeys now, as the timers would (tests, app request).
  void RekeyChild();
  void RekeyIke();
  void CheckLiveness();

  // netstack::Link
  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

  // IKE SA counters, ESP counters (summed over current and past CHILD SAs
  // of this tunnel), then the tunnel's own.
  tunnel::CounterList Counters() const override;

  // True between OnTunnelUp and the end of that IKE SA.
  bool up() const { return up_; }
  // kIdle before the first Connect().
  ike::IkeSa::State ike_state() const;
  // The IKE SA (null before Connect()); for descriptions and tests.
  const ike::IkeSa* ike_sa() const { return sa_.get(); }
  // What the gateway assigned, and the remote traffic selectors of the
  // newest CHILD SA. Valid once up.
  const ike::AssignedConfig& assigned_config() const;
  const std::vector<ike::TrafficSelector>& remote_ts() const {
    return remote_ts_;
  }
  // Number of CHILD SAs able to receive (1, or 2 during a rekey).
  size_t child_sa_count() const { return children_.size(); }
  SocketAddress local_address() const { return local_; }
  const IkeProfile& profile() const { return profile_; }

 private:
  struct Child {
    std::unique_ptr<EspPeer> peer;
    bool rekey_requested = false;
  };

  IkeTunnel(event::UvLoop* loop, const IkeProfile& profile,
            Delegate* delegate);

  // event::UdpSocket::Delegate
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  // ike::IkeSa::Delegate
  void SendIke(absl::Span<const uint8_t> message, bool nat_t) override;
  void OnIkeEvent(const ike::IkeEvent& event) override;
  void OnChildSaUp(const ike::ChildSaInfo& child) override;
  void OnChildSaDown(uint32_t inbound_spi) override;

  // Runs `call` on the IKE SA, then settles: re-arms the timer, reports the
  // tunnel up or down, runs a deferred rekey.
  template <typename Call>
  void Drive(Call call);
  void AfterDrive();
  void ArmIkeTimer();
  void OnIkeTimer();
  void ArmKeepalive();
  void OnKeepaliveTimer();
  void OnEsp(absl::Span<const uint8_t> datagram, uint32_t spi);
  void ReportEspEvents(Child* child);
  void RetireChild(std::vector<Child>::iterator it);
  void DropChildren();
  Child* Newest();
  absl::Status Send(absl::Span<const absl::Span<const uint8_t>> fragments,
                    const SocketAddress& to);

  event::UvLoop* const loop_;  // Not owned.
  const IkeProfile profile_;
  Delegate* const delegate_;  // Not owned.
  const int mtu_;
  Receiver* receiver_ = nullptr;  // Not owned.
  std::unique_ptr<event::UdpSocket> socket_;
  SocketAddress local_;
  std::unique_ptr<event::Timer> ike_timer_;
  std::unique_ptr<event::Timer> keepalive_timer_;

  std::unique_ptr<ike::IkeSa> sa_;
  // The CHILD SAs able to receive; the last one sends.
  std::vector<Child> children_;
  std::vector<ike::TrafficSelector> remote_ts_;
  // Counters of IKE SAs and CHILD SAs already dropped, by name.
  tunnel::CounterList retired_ike_;
  tunnel::CounterList retired_esp_;
  bool driving_ = false;
  bool up_ = false;
  bool down_reported_ = true;  // Nothing to report before Connect().
  bool closing_ = false;
  bool rekey_child_pending_ = false;
  ike::IkeEvent::Kind end_kind_ = ike::IkeEvent::Kind::kFailed;
  std::string end_detail_;
  absl::Duration last_send_;
  std::vector<uint8_t> tx_buffer_;
  std::vector<uint8_t> rx_buffer_;

  uint64_t connects_ = 0;
  uint64_t ike_sent_ = 0;
  uint64_t ike_received_ = 0;
  uint64_t rx_foreign_ = 0;
  uint64_t rx_keepalives_ = 0;
  uint64_t rx_malformed_ = 0;
  uint64_t rx_ike_no_sa_ = 0;
  uint64_t rx_unknown_spi_ = 0;
  uint64_t rx_no_receiver_ = 0;
  uint64_t tx_no_sa_ = 0;
  uint64_t tx_keepalives_ = 0;
  uint64_t tx_send_failed_ = 0;
  uint64_t esp_create_failed_ = 0;
  bool peer_up_reported_ = false;
};

}  // namespace stow::ipsec

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_TUNNEL_H_
