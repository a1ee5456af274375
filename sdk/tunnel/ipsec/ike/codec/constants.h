// IKEv2 (RFC 7296) protocol numbers used by the message codec and the IKE
// state machines. Values are from the IANA "Internet Key Exchange Version 2
// (IKEv2) Parameters" registry; the RFC defining each group is named.
//
// Each enum has a fixed underlying type equal to the field's wire width, so a
// value received from the network that has no enumerator is still held
// exactly (e.g. `static_cast<NotifyType>(40000)`) and serialized back as is.
#ifndef STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_CONSTANTS_H_
#define STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_CONSTANTS_H_

#include <cstdint>

namespace stow {
namespace ike {

// IKE header (RFC 7296 3.1).
inline constexpr int kHeaderSize = 28;
inline constexpr int kGenericPayloadHeaderSize = 4;
inline constexpr uint8_t kMajorVersion = 2;
inline constexpr uint8_t kMinorVersion = 0;
inline constexpr uint8_t kFlagInitiator = 0x08;
inline constexpr uint8_t kFlagVersion = 0x10;
inline constexpr uint8_t kFlagResponse = 0x20;
inline constexpr uint8_t kCriticalBit = 0x80;

// Exchange types (RFC 7296 3.1).
enum class ExchangeType : uint8_t {
  kIkeSaInit = 34,
  kIkeAuth = 35,
  kCreateChildSa = 36,
  kInformational = 37,
};

// Next Payload values (RFC 7296 3.2, RFC 7383 2.5).
enum class PayloadType : uint8_t {
  kNone = 0,
  kSa = 33,
  kKe = 34,
  kIdi = 35,
  kIdr = 36,
  kCert = 37,
  kCertReq = 38,
  kAuth = 39,
  kNonce = 40,
  kNotify = 41,
  kDelete = 42,
  kVendorId = 43,
  kTsi = 44,
  kTsr = 45,
  kEncrypted = 46,  // SK
  kConfig = 47,     // CP
  kEap = 48,
  kEncryptedFragment = 53,  // SKF (RFC 7383)
};

// Security protocol IDs in proposals, notifies and deletes (RFC 7296 3.3.1).
enum class ProtocolId : uint8_t {
  kNone = 0,  // Notify: not about a particular SA.
  kIke = 1,
  kAh = 2,
  kEsp = 3,
};

// Transform types (RFC 7296 3.3.2).
enum class TransformType : uint8_t {
  kEncr = 1,
  kPrf = 2,
  kInteg = 3,
  kDh = 4,
  kEsn = 5,
};

// Transform IDs the SDK negotiates (RFC 7296 3.3.2, RFC 4106, RFC 5282,
// RFC 7634, RFC 4868, RFC 8031, RFC 5903, RFC 3526). Other IDs are held as
// plain numbers.
inline constexpr uint16_t kEncrAesCbc = 12;
inline constexpr uint16_t kEncrAesGcm16 = 20;
inline constexpr uint16_t kEncrChaCha20Poly1305 = 28;
inline constexpr uint16_t kPrfHmacSha2_256 = 5;
inline constexpr uint16_t kPrfHmacSha2_384 = 6;
inline constexpr uint16_t kPrfHmacSha2_512 = 7;
inline constexpr uint16_t kIntegNone = 0;
inline constexpr uint16_t kIntegHmacSha2_256_128 = 12;
inline constexpr uint16_t kIntegHmacSha2_384_192 = 13;
inline constexpr uint16_t kIntegHmacSha2_512_256 = 14;
inline constexpr uint16_t kDhNone = 0;
inline constexpr uint16_t kDhModp2048 = 14;
inline constexpr uint16_t kDhEcp256 = 19;
inline constexpr uint16_t kDhEcp384 = 20;
inline constexpr uint16_t kDhCurve25519 = 31;
inline constexpr uint16_t kEsnNone = 0;
inline constexpr uint16_t kEsnYes = 1;

// Transform attribute types (RFC 7296 3.3.5). Key Length is always TV.
inline constexpr uint16_t kAttributeKeyLength = 14;

// Identification types (RFC 7296 3.5).
enum class IdType : uint8_t {
  kIpv4Addr = 1,
  kFqdn = 2,
  kRfc822Addr = 3,
  kIpv6Addr = 5,
  kDerAsn1Dn = 9,
  kDerAsn1Gn = 10,
  kKeyId = 11,
};

// Certificate encodings (RFC 7296 3.6).
enum class CertEncoding : uint8_t {
  kX509Signature = 4,
  kHashAndUrlX509 = 12,
};

// Authentication methods (RFC 7296 3.8, RFC 7427 3).
enum class AuthMethod : uint8_t {
  kRsaSignature = 1,
  kSharedKeyMic = 2,
  kDssSignature = 3,
  kEcdsaSha256P256 = 9,
  kEcdsaSha384P384 = 10,
  kEcdsaSha512P521 = 11,
  kDigitalSignature = 14,
};

// Notify message types (RFC 7296 3.10.1; RFC 7383, RFC 7427, RFC 4555,
// RFC 5685, RFC 6989, RFC 7296 2.4). Types below 16384 are errors.
enum class NotifyType : uint16_t {
  kUnsupportedCriticalPayload = 1,
  kInvalidIkeSpi = 4,
  kInvalidMajorVersion = 5,
  kInvalidSyntax = 7,
  kInvalidMessageId = 9,
  kInvalidSpi = 11,
  kNoProposalChosen = 14,
  kInvalidKePayload = 17,
  kAuthenticationFailed = 24,
  kSinglePairRequired = 34,
  kNoAdditionalSas = 35,
  kInternalAddressFailure = 36,
  kFailedCpRequired = 37,
  kTsUnacceptable = 38,
  kInvalidSelectors = 39,
  kTemporaryFailure = 43,
  kChildSaNotFound = 44,
  kInitialContact = 16384,
  kSetWindowSize = 16385,
  kAdditionalTsPossible = 16386,
  kIpcompSupported = 16387,
  kNatDetectionSourceIp = 16388,
  kNatDetectionDestinationIp = 16389,
  kCookie = 16390,
  kUseTransportMode = 16391,
  kHttpCertLookupSupported = 16392,
  kRekeySa = 16393,
  kEspTfcPaddingNotSupported = 16394,
  kNonFirstFragmentsAlso = 16395,
  kMobikeSupported = 16396,
  kAdditionalIp4Address = 16397,
  kAdditionalIp6Address = 16398,
  kNoAdditionalAddresses = 16399,
  kUpdateSaAddresses = 16400,
  kCookie2 = 16401,
  kNoNatsAllowed = 16402,
  kRedirectSupported = 16406,
  kMultipleAuthSupported = 16404,
  kEapOnlyAuthentication = 16417,
  kChildlessIkev2Supported = 16418,
  kIkev2FragmentationSupported = 16430,
  kSignatureHashAlgorithms = 16431,
};

// True for the error notify types (RFC 7296 3.10.1: 0..16383).
inline constexpr bool IsErrorNotify(NotifyType type) {
  return static_cast<uint16_t>(type) < 16384;
}

// Traffic selector types (RFC 7296 3.13.1).
enum class TsType : uint8_t {
  kIpv4AddrRange = 7,
  kIpv6AddrRange = 8,
};

// Configuration payload types (RFC 7296 3.15).
enum class CfgType : uint8_t {
  kRequest = 1,
  kReply = 2,
  kSet = 3,
  kAck = 4,
};

// Configuration attribute types (RFC 7296 3.15.1). Others are held raw.
enum class CfgAttributeType : uint16_t {
  kInternalIp4Address = 1,
  kInternalIp4Netmask = 2,
  kInternalIp4Dns = 3,
  kInternalIp4Nbns = 4,
  kInternalIp4Dhcp = 6,
  kApplicationVersion = 7,
  kInternalIp6Address = 8,
  kInternalIp6Dns = 10,
  kInternalIp6Dhcp = 12,
  kInternalIp4Subnet = 13,
  kSupportedAttributes = 14,
  kInternalIp6Subnet = 15,
};

}  // namespace ike
}  // namespace stow

#endif  // STOW_SDK_TUNNEL_IPSEC_IKE_CODEC_CONSTANTS_H_
