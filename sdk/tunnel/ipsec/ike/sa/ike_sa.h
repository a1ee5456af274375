// One IKEv2 SA (RFC 7296) with its CHILD SAs, as initiator (the SDK) or
// responder (the gateway): IKE_SA_INIT with NAT detection, COOKIE and
// INVALID_KE retries; IKE_AUTH with a PSK or certificates, the
// configuration payload and traffic selectors; CREATE_CHILD_SA rekeying of
// CHILD and IKE SAs by either side (collisions included); INFORMATIONAL
// liveness checks and deletes; retransmission with exponential backoff and
// a bounded number of tries; RFC 7383 fragmentation both ways.
//
// Pure: bytes and a clock in, bytes and events out through the Delegate.
// No sockets, no timers of its own: the owner calls OnTimer() at
// NextDeadline(). Randomness (SPIs, nonces, DH keys) comes from
// sdk/crypto/random.
//
// Threading: one owner on one thread; the delegate is called synchronously
// from within the calls below and must not destroy the IkeSa there (it may
// note that it wants to, and do it after the call returns).
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/esp/esp.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::ike {

enum class Role : uint8_t { kInitiator, kResponder };

struct IkeTimers {
  // Retransmission: the first wait, doubled after each try, at most
  // `retransmit_tries` sends in all (RFC 7296 2.1). 0.5 s and 7 tries give
  // up after 63.5 s.
  absl::Duration retransmit_base = absl::Milliseconds(500);
  int retransmit_tries = 7;
  // A liveness check (empty INFORMATIONAL) after this long without any
  // message from the peer; 0 disables.
  absl::Duration dpd_delay = absl::Seconds(30);
  // Rekey the IKE SA / each CHILD SA after this long (minus up to
  // `rekey_jitter` of it, chosen at random, so that both sides rarely
  // collide); 0 disables.
  absl::Duration ike_rekey = absl::Hours(4);
  absl::Duration child_rekey = absl::Hours(1);
  double rekey_jitter = 0.1;
  // An IKE SA that is not established after this long is given up (the
  // responder's half-open timeout, too).
  absl::Duration setup_timeout = absl::Seconds(30);
};

struct IkeConfig {
  Role role = Role::kInitiator;
  IkeAlgorithms ike = DefaultIkeAlgorithms();
  EspAlgorithms esp = DefaultEspAlgorithms();
  IdPayload local_id;
  // Initiator: sent as IDr and required of the responder. Responder: if
  // set, the IDi it requires.
  absl::optional<IdPayload> remote_id;
  std::shared_ptr<const Credentials> credentials;
  std::shared_ptr<const PeerAuthenticator> peer_authenticator;
  // Initiator: which virtual addresses to ask for (none: no CP payload).
  ConfigRequest config_request;
  bool request_config = true;
  // Initiator: proposed TSi (empty: 0.0.0.0/0 and ::/0 for the families
  // asked for in config_request, else both) and TSr (empty: 0.0.0.0/0 and
  // ::/0). Responder: local_ts is the TSr it allows, remote_ts the TSi
  // (both empty: everything; an assigned virtual address replaces
  // remote_ts with that address).
  std::vector<TrafficSelector> local_ts;
  std::vector<TrafficSelector> remote_ts;
  // Initiator: use UDP 4500 with the non-ESP marker from the first message
  // (the gateway listens on a NAT-T port only), and keep NAT-T even when no
  // NAT is detected. Responder: pretend to be behind a NAT (a NAT-D hash
  // that cannot match) so that the initiator puts ESP in UDP.
  bool force_nat_t = false;
  // Largest IKE message (UDP payload, marker excluded) before RFC 7383
  // fragmentation, when both sides support it.
  size_t fragment_size = 1280;
  // ESP lifetimes put on the CHILD SAs.
  ipsec::EspLifetime esp_lifetime;
  IkeTimers timers;
  // Wall clock for certificate validity.
  std::function<absl::Time()> wall_clock = [] { return absl::Now(); };
  // Puts the keys of every IKE and CHILD SA (SK_d, SK_e*, SK_p*, ESP key
  // material, in hex) into kInfo events, e.g. to decrypt a capture. Off:
  // no event or log line ever carries a secret.
  bool log_secrets = false;
};

// A CHILD SA pair ready for ESP. Keys as ipsec::ChildSaKeys: i2r is the
// direction from the initiator of the exchange that created it, and
// `esp_role` says whether that was us (kInitiator: we send with i2r).
struct ChildSaInfo {
  ipsec::ChildSaKeys keys;
  ipsec::EspRole esp_role = ipsec::EspRole::kInitiator;
  uint32_t inbound_spi = 0;
  uint32_t outbound_spi = 0;
  std::vector<TrafficSelector> local_ts;
  std::vector<TrafficSelector> remote_ts;
  // Rekeying: the inbound SPI of the CHILD SA this one replaces (which is
  // deleted separately), or 0.
  uint32_t replaces_inbound_spi = 0;
};

struct IkeEvent {
  enum class Kind : uint8_t {
    kConnecting,        // IKE_SA_INIT sent / received.
    kAuthenticating,    // IKE_AUTH sent / received.
    kEstablished,       // IKE SA and the first CHILD SA are up.
    kChildRekeyed,      // A CHILD SA was replaced.
    kIkeRekeyed,        // The IKE SA was replaced; CHILD SAs moved over.
    kNatDetected,       // Switching to UDP encapsulation on port 4500.
    kAuthFailed,        // Either side's authentication failed.
    kNoProposalChosen,  // No common algorithms (both sides' lists).
    kPeerDead,          // A request went unanswered after every retry.
    kFailed,            // Any other error that ends the SA.
    kClosed,            // Deleted by us or by the peer.
    kInfo,              // Worth a log line; no state change.
  };
  Kind kind = Kind::kInfo;
  std::string detail;
};
const char* IkeEventKindName(IkeEvent::Kind kind);

class IkeSa {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // Sends one IKE message (a datagram without non-ESP marker). `nat_t`:
    // to the peer's NAT-T port (4500) with the 4-byte zero marker.
    virtual void SendIke(absl::Span<const uint8_t> message, bool nat_t) = 0;
    virtual void OnIkeEvent(const IkeEvent& event) = 0;
    // A CHILD SA is ready (initial or rekeyed). The addresses are those of
    // the initial IKE_AUTH (AssignedConfig on the initiator, what
    // AssignConfig gave on the responder).
    virtual void OnChildSaUp(const ChildSaInfo& child) = 0;
    // A CHILD SA is gone: drop the ESP state with this inbound SPI.
    virtual void OnChildSaDown(uint32_t inbound_spi) = 0;
    // Responder: virtual addresses for a peer's CP request; an error
    // answers INTERNAL_ADDRESS_FAILURE. The default assigns none.
    virtual absl::StatusOr<AssignedConfig> AssignConfig(
        const ConfigRequest& /*request*/, const IdPayload& /*peer*/) {
      return AssignedConfig();
    }
  };

  enum class State : uint8_t {
    kIdle,
    kInitSent,      // Initiator: IKE_SA_INIT request out.
    kAuthSent,      // Initiator: IKE_AUTH request out.
    kInitReplied,   // Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    kEstablished,
    kClosed,        // Terminal: see close_reason().
  };
  static const char* StateName(State state);

  struct Counters {
    uint64_t rx_messages = 0;
    uint64_t tx_messages = 0;
    uint64_t retransmits = 0;         // Our requests sent again.
    uint64_t rx_retransmits = 0;      // Peer requests answered again.
    uint64_t rx_bad_message_id = 0;   // Dropped: not the expected ID.
    uint64_t rx_bad_spi = 0;          // Dropped: SPIs of no SA of ours.
    uint64_t rx_malformed = 0;        // Dropped: codec refused it.
    uint64_t rx_auth_failed = 0;      // Dropped: SK/SKF did not verify.
    uint64_t rx_unexpected = 0;       // Dropped: wrong exchange for state.
    uint64_t rx_fragments = 0;
    uint64_t tx_fragments = 0;
    uint64_t dpd_sent = 0;
    uint64_t rx_liveness_checks = 0;  // Empty INFORMATIONALs answered.
    uint64_t child_rekeys = 0;
    uint64_t ike_rekeys = 0;
    uint64_t rekey_collisions = 0;
  };

  // Does nothing until Start().
  static std::unique_ptr<IkeSa> CreateInitiator(IkeConfig config,
                                                Delegate* delegate,
                                                const SocketAddress& local,
                                                const SocketAddress& remote);
  // A responder for a first IKE_SA_INIT request (already parsed, SPIr 0,
  // checked by the caller's COOKIE logic). Answers it at once: the SA is
  // kInitReplied, or kClosed when the request is refused (the error reply
  // has been sent; discard the SA).
  static std::unique_ptr<IkeSa> CreateResponder(
      IkeConfig config, Delegate* delegate, const SocketAddress& local,
      const SocketAddress& remote, absl::Span<const uint8_t> request,
      const Message& parsed, bool nat_t, absl::Duration now);

  ~IkeSa();
  IkeSa(const IkeSa&) = delete;
  IkeSa& operator=(const IkeSa&) = delete;

  // Initiator: sends IKE_SA_INIT.
  void Start(absl::Duration now);
  // One IKE message for this SA (the marker already removed), from
  // `from` (which updates the peer's address for replies when the message
  // authenticates: NAT rebinding). `via_nat_t`: it came with the non-ESP
  // marker (a responder then answers with one).
  void OnMessage(absl::Span<const uint8_t> message, const SocketAddress& from,
                 absl::Duration now, bool via_nat_t = false);
  // When the next timer is due (InfiniteDuration if none).
  absl::Duration NextDeadline() const;
  void OnTimer(absl::Duration now);
  // Deletes the IKE SA (INFORMATIONAL with D, one try) and closes.
  void Close(absl::Duration now, const std::string& reason);
  // Starts a CHILD / IKE rekey now (as the timers would).
  void RekeyChild(absl::Duration now);
  void RekeyIke(absl::Duration now);
  // Sends a liveness check now.
  void CheckLiveness(absl::Duration now);

  Role role() const;
  State state() const;
  const std::string& close_reason() const;
  // The current IKE SPIs (after a rekey, the new SA's).
  uint64_t spi_i() const;
  uint64_t spi_r() const;
  // True if the IKE SPIs belong to this SA (current or the one being
  // replaced).
  bool OwnsSpis(uint64_t spi_i, uint64_t spi_r) const;
  bool nat_t() const;
  const SocketAddress& remote() const;
  const AssignedConfig& assigned_config() const;
  const IdPayload& peer_id() const;
  std::string Describe() const;  // "AES_GCM_16_256/PRF_HMAC_SHA2_256/..."
  const Counters& counters() const;
  tunnel::CounterList CounterList() const;

 private:
  struct Impl;
  explicit IkeSa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_H_
