// IKEv2 negotiation (RFC 7296 sections 2.7, 2.9, 2.19, 3.3, 3.13, 3.15):
// building SA proposals from configured algorithm lists, choosing among a
// peer's proposals (responder) or checking the responder's choice
// (initiator), traffic-selector narrowing, and configuration payloads.
//
// Pure functions over codec structures; callable from any thread.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_NEGOTIATION_NEGOTIATION_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_NEGOTIATION_NEGOTIATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
#include "sdk/crypto/dh.h"
#include "sdk/crypto/prf.h"
#include "sdk/tunnel/ipsec/esp/esp.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

namespace stow::ike {

// ---------------------------------------------------------------------------
// Algorithm lists, in preference order (first = most preferred).

struct IkeAlgorithms {
  std::vector<EncrAlgorithm> encr;
  std::vector<crypto::PrfAlgorithm> prf;
  std::vector<crypto::DhGroup> dh;  // Must not be empty.
};

struct EspAlgorithms {
  std::vector<esp::Algorithm> encr;
  // Groups for PFS in CREATE_CHILD_SA. Empty: no PFS (we offer/accept no
  // KE). `pfs_optional` adds DH "NONE" (0) after the groups, so a peer may
  // choose not to do PFS (strongSwan's "-none").
  std::vector<crypto::DhGroup> dh;
  bool pfs_optional = true;
  bool esn = false;  // Offer ESN (then "No ESN" as the second choice).
};

// The defaults: IKE AES-GCM-256, AES-GCM-128, ChaCha20-Poly1305 / PRF
// SHA2-256, 384, 512 / X25519, P-256, P-384, MODP-2048. ESP AES-GCM-256,
// AES-GCM-128, ChaCha20; PFS X25519, P-256, MODP-2048, optional; no ESN.
IkeAlgorithms DefaultIkeAlgorithms();
EspAlgorithms DefaultEspAlgorithms();

// Parses strongSwan-style proposal strings, e.g.
// "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-x25519-ecp256"
// for IKE and "aes256gcm16-chacha20poly1305-x25519-none" for ESP ("none"
// sets pfs_optional when groups are listed, means no PFS when alone;
// "esn"/"noesn" set esn). Names: aes128gcm16 aes256gcm16 chacha20poly1305
// prfsha256 prfsha384 prfsha512 modp2048 ecp256 ecp384 x25519 (also
// curve25519). InvalidArgument naming the unknown token or the missing
// kind ("IKE proposal 'aes256gcm16': no PRF").
absl::StatusOr<IkeAlgorithms> ParseIkeAlgorithms(absl::string_view text);
absl::StatusOr<EspAlgorithms> ParseEspAlgorithms(absl::string_view text);
std::string IkeAlgorithmsToString(const IkeAlgorithms& algorithms);
std::string EspAlgorithmsToString(const EspAlgorithms& algorithms);

// The negotiated IKE suite and group.
struct IkeChoice {
  IkeSuite suite;
  crypto::DhGroup dh = crypto::DhGroup::kCurve25519;
  // The peer's 8-byte SPI from its proposal when rekeying the IKE SA (the
  // new SA's SPIi for a responder, SPIr for an initiator); 0 in
  // IKE_SA_INIT, whose proposals carry no SPI.
  uint64_t peer_spi = 0;
};

// The negotiated ESP transform. `dh` is set when the exchange does PFS.
struct EspChoice {
  esp::Algorithm encr = esp::Algorithm::kAes256Gcm16;
  bool esn = false;
  absl::optional<crypto::DhGroup> dh;
  uint32_t peer_spi = 0;  // The SPI in the peer's proposal (inbound for it).
};

// ---------------------------------------------------------------------------
// Proposals.

// One IKE proposal (number 1) with every algorithm of each type; `spi` is
// empty in IKE_SA_INIT and the 8-byte new SPI when rekeying the IKE SA.
SaPayload BuildIkeProposal(const IkeAlgorithms& algorithms,
                           const Bytes& spi = {});
// One ESP proposal (number 1) with our inbound SPI. `with_dh` false leaves
// out the DH transforms (IKE_AUTH: the first CHILD SA carries no KE;
// RFC 7296 1.2); true puts them in (and NONE if pfs_optional).
SaPayload BuildEspProposal(const EspAlgorithms& algorithms, uint32_t spi,
                           bool with_dh);

// Responder: picks, in OUR preference order (strongSwan's
// prefer_configured_proposals), the first combination that some proposal
// of the peer offers in full (one transform of each type present in it;
// proposals with unknown mandatory transforms or other protocols are
// skipped; AES-GCM without key length or with 192 is skipped). Within a
// proposal each type gets our most preferred transform the peer lists;
// across proposals the best ENCR wins, then PRF, INTEG, DH, ESN; equal
// ones go to the peer's earlier proposal. INTEG is acceptable only absent
// or NONE (AEAD only). `reply` gets the single chosen proposal as it must
// be sent back (the peer's proposal number and SPI, one transform per
// type). For an IKE SA rekey (8-byte SPIs) the caller replaces the reply's
// SPI with its own new SPI; the peer's is IkeChoice::peer_spi. IKE
// proposals must have an SPI of 0 or 8 nonzero bytes, ESP ones 4 nonzero
// bytes; others are skipped. For ESP, `our_spi` is put into the reply's
// proposal. `require_dh` true says the exchange carries a KE
// (CREATE_CHILD_SA with PFS): the DH transform is matched, our groups
// first, then NONE (or a proposal without DH) if we accept no PFS
// (`dh` empty or `pfs_optional`), which leaves EspChoice::dh unset and the
// peer's KE unused. `require_dh` false (IKE_AUTH, where RFC 7296 1.2 says
// DH transforms are ignored) ignores DH transforms: a proposal listing
// only groups, even ones we lack, is acceptable, and the reply has no DH.
// InvalidArgument if `our_spi` is 0. NotFound with a message listing both
// sides (and why proposals were skipped), e.g.
// "no proposal chosen: peer offered [AES_CBC_128/HMAC_SHA2_256_128/
// PRF_HMAC_SHA2_256/MODP_1024], we accept [AES_GCM_16_256/...]".
absl::StatusOr<IkeChoice> SelectIkeProposal(const SaPayload& offered,
                                            const IkeAlgorithms& ours,
                                            SaPayload* reply);
absl::StatusOr<EspChoice> SelectEspProposal(const SaPayload& offered,
                                            const EspAlgorithms& ours,
                                            uint32_t our_spi, bool require_dh,
                                            SaPayload* reply);

// Initiator: checks the responder's SA payload: exactly one proposal, one
// transform of each type, each of which we offered (`offered` is what we
// sent). InvalidArgument naming what is wrong otherwise. For ESP the
// proposal's SPI must be 4 bytes and nonzero; it becomes peer_spi.
absl::StatusOr<IkeChoice> AcceptIkeProposal(const SaPayload& chosen,
                                            const SaPayload& offered);
absl::StatusOr<EspChoice> AcceptEspProposal(const SaPayload& chosen,
                                            const SaPayload& offered);

// Human-readable text of an SA payload for events and logs, e.g.
// "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519" with proposals
// separated by ", ".
std::string DescribeSa(const SaPayload& sa);

// ---------------------------------------------------------------------------
// Traffic selectors.

// A traffic selector for a whole prefix, any protocol and port.
TrafficSelector SelectorForPrefix(const IpAddress& address, int prefix_len);
// 0.0.0.0/0 and ::/0.
TrafficSelector AnyIpv4Selector();
TrafficSelector AnyIpv6Selector();

// Responder narrowing (RFC 7296 2.9): intersects each of the peer's
// selectors with each of ours (address ranges, ports, protocols) and
// returns the non-empty intersections (each must be expressible as one
// range). `offered` is the peer's TS payload, `allowed` ours for that
// side. The first selector of the peer's TSi/TSr may be the packet that
// triggered the request; it is treated like any other. NotFound ("TS
// unacceptable: ...") when nothing is left.
absl::StatusOr<std::vector<TrafficSelector>> NarrowSelectors(
    const std::vector<TrafficSelector>& offered,
    const std::vector<TrafficSelector>& allowed);

// Initiator: checks that every selector the responder returned lies within
// one we proposed. InvalidArgument otherwise.
absl::Status CheckNarrowed(const std::vector<TrafficSelector>& proposed,
                           const std::vector<TrafficSelector>& returned);

// An address range as the prefixes that cover it exactly (for routes): a
// selector 10.200.2.0-10.200.2.255 gives 10.200.2.0/24; a range that is
// not a prefix gives several. Ports and protocol are ignored.
struct Prefix {
  IpAddress address;
  int length = 0;
};
std::vector<Prefix> SelectorToPrefixes(const TrafficSelector& ts);

// "10.200.2.0/24" or "10.0.0.1-10.0.0.5", with " proto 17 port 53" when
// narrowed by protocol/port.
std::string DescribeSelector(const TrafficSelector& ts);

// ---------------------------------------------------------------------------
// Configuration payloads (RFC 7296 2.19, 3.15).

struct ConfigRequest {
  bool ipv4 = true;  // INTERNAL_IP4_ADDRESS + INTERNAL_IP4_DNS
  bool ipv6 = false; // INTERNAL_IP6_ADDRESS + INTERNAL_IP6_DNS
};
ConfigPayload BuildConfigRequest(const ConfigRequest& request);

// What the responder assigned.
struct AssignedConfig {
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  int ipv6_prefix_len = 128;
  std::vector<IpAddress> dns;  // Both families, in the order received.
};
// Reads a CFG_REPLY. Ignores attributes it does not know. InvalidArgument
// for a payload that is not a CFG_REPLY or an unparseable address.
absl::StatusOr<AssignedConfig> ParseConfigReply(const ConfigPayload& reply);
// What a responder saw requested: which families (an address attribute
// present, empty or with a suggested address).
ConfigRequest ParseConfigRequest(const ConfigPayload& request);
// A CFG_REPLY for `assigned`: the addresses (IPv6 with its prefix length)
// and every DNS server of a requested family.
ConfigPayload BuildConfigReply(const AssignedConfig& assigned);

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_NEGOTIATION_NEGOTIATION_H_
