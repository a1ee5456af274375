// IKEv2 message codec (RFC 7296 section 3; RFC 7383 for SKF): parses a
// datagram into a header and an ordered list of typed payloads, and
// serializes them back, computing every length and the Next Payload chain.
//
// Pure code: bytes in, structures out; no sockets, no clock, no crypto. The
// Encrypted (SK) and Encrypted Fragment (SKF) payloads are kept opaque; the
// caller decrypts them using EncryptedLayout's byte ranges and parses the
// plaintext with ParsePayloadChain().
//
// Errors: every malformed input gives absl::StatusCode::kInvalidArgument with a
// message naming the payload and the field, e.g.
// "SA payload: transform length 7 < 8". The one exception is an IKE header
// whose major version is greater than 2: ParseMessage() returns
// absl::StatusCode::kUnimplemented (see IsUnsupportedMajorVersion()) so that a
// responder can answer INVALID_MAJOR_VERSION (RFC 7296 2.5) using the SPIs
// and message ID from ParseHeader(), which does not check the version.
// Parsing never reads outside the input span.
//
// Limits (each exceeding input is an error; chosen well above anything a
// real peer sends, to bound work and memory per datagram):
//   kMaxPayloads payloads per chain, kMaxProposals proposals per SA payload,
//   kMaxTransforms transforms per proposal, kMaxAttributes attributes per
//   transform, kMaxTrafficSelectors per TS payload, kMaxConfigAttributes per
//   CP payload, kMaxDeleteSpis SPIs per Delete payload.
//
// Thread-compatible: plain values and free functions.
#ifndef STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_MESSAGE_H_
#define STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "absl/types/variant.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/ike/codec/constants.h"

namespace stow {
namespace ike {

inline constexpr size_t kMaxPayloads = 64;
inline constexpr size_t kMaxProposals = 16;
inline constexpr size_t kMaxTransforms = 64;
inline constexpr size_t kMaxAttributes = 16;
inline constexpr size_t kMaxTrafficSelectors = 64;
inline constexpr size_t kMaxConfigAttributes = 64;
inline constexpr size_t kMaxDeleteSpis = 1024;
inline constexpr size_t kMinNonceSize = 16;
inline constexpr size_t kMaxNonceSize = 256;
// The IKE header's Length field is 32 bits, but a message travels in one UDP
// datagram (RFC 7296 2; TCP encapsulation is not supported here).
inline constexpr size_t kMaxMessageSize = 65535;

using Bytes = std::vector<uint8_t>;

// The fixed IKE header (RFC 7296 3.1). `length` is the total message length
// as read from the wire; Serialize*() ignores it and writes the real one.
struct Header {
  uint64_t spi_i = 0;
  uint64_t spi_r = 0;
  PayloadType next_payload = PayloadType::kNone;
  uint8_t major_version = kMajorVersion;
  uint8_t minor_version = kMinorVersion;
  ExchangeType exchange_type = ExchangeType::kIkeSaInit;
  bool initiator = false;       // I flag (0x08).
  bool higher_version = false;  // V flag (0x10).
  bool response = false;        // R flag (0x20).
  uint32_t message_id = 0;
  uint32_t length = 0;
};

// A transform attribute (RFC 7296 3.3.5). TV attributes (AF bit set) carry
// exactly 2 value bytes; TLV ones any number up to 65535.
struct TransformAttribute {
  uint16_t type = 0;  // 15 bits.
  bool tv = true;
  Bytes value;
};

struct Transform {
  TransformType type = TransformType::kEncr;
  uint16_t id = 0;
  std::vector<TransformAttribute> attributes;

  // The Key Length attribute (14), if present.
  absl::optional<uint16_t> KeyLength() const;
  // Appends a Key Length attribute (TV).
  void SetKeyLength(uint16_t bits);
};

// A proposal substructure (RFC 7296 3.3.1). `spi` is 0, 4 or 8 bytes.
struct Proposal {
  uint8_t number = 1;
  ProtocolId protocol = ProtocolId::kIke;
  Bytes spi;
  std::vector<Transform> transforms;
};

struct SaPayload {
  std::vector<Proposal> proposals;
};

struct KePayload {
  uint16_t group = 0;
  Bytes data;
};

// IDi and IDr (RFC 7296 3.5); the payload type tells them apart.
struct IdPayload {
  IdType id_type = IdType::kFqdn;
  Bytes data;
};

// CERT and CERTREQ (RFC 7296 3.6, 3.7); the payload type tells them apart.
struct CertPayload {
  CertEncoding encoding = CertEncoding::kX509Signature;
  Bytes data;
};

struct AuthPayload {
  AuthMethod method = AuthMethod::kSharedKeyMic;
  Bytes data;
};

// Nonce data is 16..256 bytes (RFC 7296 3.9).
struct NoncePayload {
  Bytes data;
};

struct NotifyPayload {
  ProtocolId protocol = ProtocolId::kNone;
  Bytes spi;  // 0..255 bytes; 0 for the IKE SA, 4 for ESP/AH.
  NotifyType type = NotifyType::kInitialContact;
  Bytes data;
};

// Delete (RFC 7296 3.11). Every SPI has `spi_size` bytes; the IKE SA is
// deleted with protocol kIke, spi_size 0 and no SPIs.
struct DeletePayload {
  ProtocolId protocol = ProtocolId::kEsp;
  uint8_t spi_size = 4;
  std::vector<Bytes> spis;
};

struct VendorIdPayload {
  Bytes data;
};

// One traffic selector (RFC 7296 3.13.1): TS_IPV4_ADDR_RANGE when both
// addresses are IPv4, TS_IPV6_ADDR_RANGE when both are IPv6.
struct TrafficSelector {
  uint8_t ip_protocol = 0;  // 0 = any.
  uint16_t start_port = 0;
  uint16_t end_port = 65535;
  IpAddress start_address;
  IpAddress end_address;
};

// TSi and TSr; the payload type tells them apart.
struct TsPayload {
  std::vector<TrafficSelector> selectors;
};

// SK (RFC 7296 3.14): `body` is IV | ciphertext | padding | ICV, opaque.
// `first_inner` is the Next Payload field of the SK header: the type of the
// first payload inside.
struct EncryptedPayload {
  PayloadType first_inner = PayloadType::kNone;
  Bytes body;
};

// SKF (RFC 7383 2.5): `body` is IV | ciphertext | padding | ICV. The first
// fragment's `first_inner` is the first inner payload type, others' 0.
struct EncryptedFragmentPayload {
  PayloadType first_inner = PayloadType::kNone;
  uint16_t fragment_number = 1;
  uint16_t total_fragments = 1;
  Bytes body;
};

// A configuration attribute (RFC 7296 3.15.1). Values of the attributes the
// SDK uses are length-checked when parsed and serialized: INTERNAL_IP4_*
// address/netmask/DNS 0 or 4 bytes, INTERNAL_IP6_ADDRESS 0 or 17 (address +
// prefix length), INTERNAL_IP6_DNS 0 or 16. Others are held raw.
struct ConfigAttribute {
  CfgAttributeType type = CfgAttributeType::kInternalIp4Address;  // 15 bits.
  Bytes value;

  // The address in an INTERNAL_IP4_ADDRESS/NETMASK/DNS or INTERNAL_IP6_DNS /
  // INTERNAL_IP6_ADDRESS value; nullopt when the value is empty (a request).
  absl::optional<IpAddress> Address() const;
  // The prefix length of an INTERNAL_IP6_ADDRESS value.
  absl::optional<uint8_t> Ip6PrefixLength() const;
  static ConfigAttribute Ip4(CfgAttributeType type, const IpAddress& a);
  static ConfigAttribute Ip6Address(const IpAddress& a, uint8_t prefix_len);
  static ConfigAttribute Ip6Dns(const IpAddress& a);
  // An empty attribute, as in a CFG_REQUEST.
  static ConfigAttribute Empty(CfgAttributeType type);
};

struct ConfigPayload {
  CfgType cfg_type = CfgType::kRequest;
  std::vector<ConfigAttribute> attributes;
};

// EAP (RFC 7296 3.16): the EAP message, raw.
struct EapPayload {
  Bytes data;
};

// A payload of a type this codec does not know: its body as received, so
// that the caller can answer UNSUPPORTED_CRITICAL_PAYLOAD when `critical` is
// set (RFC 7296 2.5) and skip it otherwise.
struct UnknownPayload {
  Bytes data;
};

using PayloadBody =
    absl::variant<UnknownPayload, SaPayload, KePayload, IdPayload, CertPayload,
                  AuthPayload, NoncePayload, NotifyPayload, DeletePayload,
                  VendorIdPayload, TsPayload, EncryptedPayload,
                  EncryptedFragmentPayload, ConfigPayload, EapPayload>;

// One payload: its type, the critical bit and the body. The body alternative
// must match the type (IDi/IDr -> IdPayload, CERT/CERTREQ -> CertPayload,
// TSi/TSr -> TsPayload, unknown types -> UnknownPayload).
struct Payload {
  PayloadType type = PayloadType::kNone;
  bool critical = false;
  PayloadBody body;

  // Builders that pick the type from the body.
  static Payload Sa(SaPayload p);
  static Payload Ke(KePayload p);
  static Payload Idi(IdPayload p);
  static Payload Idr(IdPayload p);
  static Payload Cert(CertPayload p);
  static Payload CertReq(CertPayload p);
  static Payload Auth(AuthPayload p);
  static Payload Nonce(NoncePayload p);
  static Payload Notify(NotifyPayload p);
  static Payload Delete(DeletePayload p);
  static Payload VendorId(VendorIdPayload p);
  static Payload Tsi(TsPayload p);
  static Payload Tsr(TsPayload p);
  static Payload Encrypted(EncryptedPayload p);
  static Payload EncryptedFragment(EncryptedFragmentPayload p);
  static Payload Config(ConfigPayload p);
  static Payload Eap(EapPayload p);
  static Payload Unknown(PayloadType type, bool critical, Bytes data);

  // True when the codec has no structure for `type` (it is parsed into an
  // UnknownPayload).
  static bool IsKnownType(PayloadType type);
};

// Where the SK or SKF payload lies in a serialized message, as offsets from
// the first byte of the IKE header (after any non-ESP marker):
//   associated data (RFC 5282 5.1, RFC 7383 2.5) = [0, associated_data_end):
//     the IKE header through the end of the SK generic payload header, and
//     for SKF also the Fragment Number and Total Fragments fields;
//   encrypted body (IV | ciphertext | padding | ICV) = [body_begin, body_end),
//     body_begin == associated_data_end, body_end == message length.
struct EncryptedLayout {
  PayloadType type = PayloadType::kEncrypted;  // or kEncryptedFragment
  size_t payload_begin = 0;  // the SK/SKF generic header
  size_t associated_data_end = 0;
  size_t body_begin = 0;
  size_t body_end = 0;
};

struct Message {
  Header header;
  std::vector<Payload> payloads;

  // The first payload of `type`, or nullptr.
  const Payload* Find(PayloadType type) const;
  // The first Notify payload of `type`, or nullptr.
  const NotifyPayload* FindNotify(NotifyType type) const;
  // Unknown payloads with the critical bit set: the first one's type is what
  // an UNSUPPORTED_CRITICAL_PAYLOAD notify reports.
  std::vector<PayloadType> UnsupportedCriticalPayloads() const;
};

// Parses the 28-byte IKE header at the start of `data` without judging the
// version, exchange type or payloads; checks only that 28 bytes are present
// and that the Length field equals data.size() (the datagram's length after
// any non-ESP marker).
absl::StatusOr<Header> ParseHeader(absl::Span<const uint8_t> data);

// Parses a whole message. `data` is exactly the datagram after any non-ESP
// marker. If `layout` is not null and the message ends with SK or SKF, it
// receives where they are (otherwise it is reset to nullopt).
absl::StatusOr<Message> ParseMessage(
    absl::Span<const uint8_t> data,
    absl::optional<EncryptedLayout>* layout = nullptr);

// True for the status ParseMessage() gives for a major version > 2.
bool IsUnsupportedMajorVersion(const absl::Status& status);

// Parses a payload chain that starts with a payload of type `first` and
// fills `data` exactly: the decrypted content of an SK payload (without
// padding), with `first` = EncryptedPayload::first_inner.
absl::StatusOr<std::vector<Payload>> ParsePayloadChain(
    PayloadType first, absl::Span<const uint8_t> data);

// Serializes a message: header.next_payload and header.length are computed
// (the values in `message.header` are ignored), as is each payload's Next
// Payload field. An SK/SKF payload must be the last one; its Next Payload
// field is its `first_inner`. Fails with kInvalidArgument when a value does
// not fit its field or breaks a rule the parser enforces (so everything
// serialized parses back), or when the type/body pair is inconsistent.
absl::StatusOr<Bytes> SerializeMessage(const Message& message,
                                       EncryptedLayout* layout = nullptr);

// Serializes a payload chain (e.g. the plaintext of an SK payload); the
// first payload's type is payloads.front().type (kNone if empty).
absl::StatusOr<Bytes> SerializePayloadChain(
    absl::Span<const Payload> payloads);

// Finds the SK/SKF payload of a serialized message by walking its generic
// headers only (for an encryptor that serialized with a placeholder body of
// the final size, or a decryptor that has not parsed the rest). Fails with
// kInvalidArgument for a malformed header or chain, kNotFound when the
// message has no SK/SKF payload.
absl::StatusOr<EncryptedLayout> LocateEncrypted(
    absl::Span<const uint8_t> message);

}  // namespace ike
}  // namespace stow

#endif  // STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_MESSAGE_H_
