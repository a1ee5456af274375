#include "sdk/tunnel/ipsec/esp/esp.h"

namespace stow::esp {

absl::optional<Algorithm> AlgorithmFromIke(uint16_t transform_id,
                                           uint16_t key_bits) {
  if (transform_id == kIkeEncrAesGcm16) {
    if (key_bits == 128) return Algorithm::kAes128Gcm16;
    if (key_bits == 256) return Algorithm::kAes256Gcm16;
    return absl::nullopt;
  }
  // RFC 7634 section 3: no key length attribute.
  if (transform_id == kIkeEncrChaCha20Poly1305 && key_bits == 0) {
    return Algorithm::kChaCha20Poly1305;
  }
  return absl::nullopt;
}

const char* AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kAes128Gcm16:
      return "aes128gcm16";
    case Algorithm::kAes256Gcm16:
      return "aes256gcm16";
    case Algorithm::kChaCha20Poly1305:
      return "chacha20poly1305";
  }
  return "unknown";
}

crypto::AeadAlgorithm AeadAlgorithmOf(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kAes128Gcm16:
      return crypto::AeadAlgorithm::kAes128Gcm;
    case Algorithm::kAes256Gcm16:
      return crypto::AeadAlgorithm::kAes256Gcm;
    case Algorithm::kChaCha20Poly1305:
      return crypto::AeadAlgorithm::kChaCha20Poly1305;
  }
  return crypto::AeadAlgorithm::kAes128Gcm;
}

size_t KeyMaterialSize(Algorithm algorithm) {
  return (algorithm == Algorithm::kAes128Gcm16 ? 16 : 32) + kSaltSize;
}

absl::optional<uint32_t> PeekSpi(absl::Span<const uint8_t> esp_packet) {
  if (esp_packet.size() < kSpiSize + kSequenceSize) return absl::nullopt;
  const uint32_t spi = (uint32_t{esp_packet[0]} << 24) |
                       (uint32_t{esp_packet[1]} << 16) |
                       (uint32_t{esp_packet[2]} << 8) | esp_packet[3];
  if (spi == 0) return absl::nullopt;
  return spi;
}

}  // namespace stow::esp
