// ESP (RFC 4303) wire constants, algorithms and small helpers shared by the
// outbound and inbound SAs (sa.h), the UDP encapsulation (udp_encap.h) and
// the tunnel that owns the SA table.
//
// Packet layout, tunnel mode, AEAD only (RFC 4106 AES-GCM-16, RFC 7634
// ChaCha20-Poly1305):
//
//   SPI(4) | Sequence(4) | IV(8) | ciphertext of
//     [inner IP packet | padding 1,2,3.. | pad length(1) | next header(1)]
//   | ICV(16)
//
// The nonce is salt(4) || IV(8); the IV is the SA's 64-bit sequence number.
// The AAD is SPI || sequence (8 bytes) or SPI || sequence high || sequence low
// (12 bytes) with extended sequence numbers (RFC 4106 section 5, RFC 7634
// section 2.1).
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_ESP_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_ESP_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/crypto/aead.h"

namespace stow::esp {

inline constexpr size_t kSpiSize = 4;
inline constexpr size_t kSequenceSize = 4;
inline constexpr size_t kIvSize = 8;
inline constexpr size_t kIcvSize = 16;
inline constexpr size_t kSaltSize = 4;
// SPI + sequence + IV: the bytes in front of the (encrypted) inner packet.
inline constexpr size_t kHeaderSize = kSpiSize + kSequenceSize + kIvSize;
// Pad length + next header.
inline constexpr size_t kTrailerSize = 2;
// The shortest valid ESP packet: header, 4 bytes of ciphertext (an empty
// payload, 2 bytes of padding, the trailer), ICV.
inline constexpr size_t kMinPacketSize = kHeaderSize + 4 + kIcvSize;

// Next header values (IANA protocol numbers) an SA carries in tunnel mode.
inline constexpr uint8_t kNextHeaderIpv4 = 4;
inline constexpr uint8_t kNextHeaderIpv6 = 41;
// RFC 4303 section 2.6: a dummy packet, dropped by the receiver.
inline constexpr uint8_t kNextHeaderNone = 59;

// The AEAD transforms ESP uses here.
enum class Algorithm : uint8_t {
  kAes128Gcm16,       // ENCR_AES_GCM_16, 128-bit key (RFC 4106).
  kAes256Gcm16,       // ENCR_AES_GCM_16, 256-bit key (RFC 4106).
  kChaCha20Poly1305,  // ENCR_CHACHA20_POLY1305 (RFC 7634).
};

// Every Algorithm, for lookups by name.
inline constexpr Algorithm kAlgorithms[] = {
    Algorithm::kAes128Gcm16, Algorithm::kAes256Gcm16,
    Algorithm::kChaCha20Poly1305};

// The BoringSSL AEAD of an ESP algorithm.
crypto::AeadAlgorithm AeadAlgorithmOf(Algorithm algorithm);

// IKEv2 transform IDs (IANA "Transform Type 1").
inline constexpr uint16_t kIkeEncrAesGcm16 = 20;
inline constexpr uint16_t kIkeEncrChaCha20Poly1305 = 28;

// Maps an IKEv2 ENCR transform (with its key length attribute in bits; 0 when
// absent, as for ChaCha20-Poly1305) to an Algorithm, or nullopt.
absl::optional<Algorithm> AlgorithmFromIke(uint16_t transform_id,
                                           uint16_t key_bits);

const char* AlgorithmName(Algorithm algorithm);

// Bytes of KEYMAT an SA takes: the cipher key followed by the 4-byte salt
// (RFC 4106 section 8.1, RFC 7634 section 2): 20, 36 or 36.
size_t KeyMaterialSize(Algorithm algorithm);

// The SPI of an ESP packet, for finding its SA: nullopt when the packet is
// shorter than an ESP header or the SPI is 0 (reserved, never sent).
absl::optional<uint32_t> PeekSpi(absl::Span<const uint8_t> esp_packet);

// The size of the ESP packet sealing an inner packet of `inner_size` bytes
// with the minimum padding (payload + padding + trailer a multiple of 4).
constexpr size_t SealedSize(size_t inner_size) {
  return kHeaderSize + ((inner_size + kTrailerSize + 3) & ~size_t{3}) +
         kIcvSize;
}

// The most an ESP packet adds to its inner packet (header, 3 bytes of
// padding, trailer, ICV): 37 bytes. A tunnel MTU is the path MTU minus this
// minus the outer IP/UDP headers.
inline constexpr size_t kMaxOverhead =
    kHeaderSize + 3 + kTrailerSize + kIcvSize;

}  // namespace stow::esp

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_ESP_H_
