// AEAD seal/open over BoringSSL's EVP_AEAD: AES-128-GCM, AES-256-GCM and
// ChaCha20-Poly1305 (RFC 8439), each with a 12-byte nonce and a 16-byte tag.
//
// An Aead holds one key's expanded context, set up once by Create; Seal and
// Open then run without allocating, into caller buffers, in place if the
// caller wants. They are the per-packet primitives of ESP (RFC 4106, RFC
// 7634) and of the TLS/DTLS data channel.
#ifndef STOWAWAY_SDK_CRYPTO_AEAD_H_
#define STOWAWAY_SDK_CRYPTO_AEAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace stow::crypto {

enum class AeadAlgorithm : uint8_t {
  kAes128Gcm,
  kAes256Gcm,
  kChaCha20Poly1305,
};

// "aes-128-gcm", "aes-256-gcm", "chacha20-poly1305".
const char* AeadAlgorithmName(AeadAlgorithm algorithm);

// One AEAD key. Seal and Open are const and keep no per-call state, so one
// Aead may be used from several threads at once; creation and destruction
// belong to one owner. Movable, not copyable.
//
// Buffers: Seal may run in place when `out` starts at `plaintext` (the
// ciphertext overwrites the plaintext, the tag follows it); Open may run in
// place when `out` starts at the ciphertext. Any other overlap between inputs
// and outputs is not allowed.
//
// Failure: every call returns false on bad sizes (nonce not kNonceSize, out
// too short); Open also returns false when the tag does not verify, and then
// `out` holds zeros, never unauthenticated plaintext (BoringSSL clears it).
class Aead {
 public:
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kMaxKeySize = 32;

  // 16 for AES-128-GCM, 32 for the others.
  static size_t KeySize(AeadAlgorithm algorithm);

  // kInvalidArgument if `key` is not KeySize(algorithm) bytes.
  static absl::StatusOr<Aead> Create(AeadAlgorithm algorithm,
                                     absl::Span<const uint8_t> key);

  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  AeadAlgorithm algorithm() const { return algorithm_; }

  // Encrypts `plaintext`, authenticates it and `ad`, writes ciphertext||tag
  // (plaintext.size() + kTagSize bytes) at the start of `out`.
  bool Seal(absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> ad,
            absl::Span<const uint8_t> plaintext, absl::Span<uint8_t> out) const;

  // Seal with the ciphertext and the tag in separate places: writes
  // plaintext.size() bytes of ciphertext to `out` (which may equal
  // `plaintext`) and the tag to `tag` (kTagSize bytes, overlapping nothing).
  bool SealDetached(absl::Span<const uint8_t> nonce,
                    absl::Span<const uint8_t> ad,
                    absl::Span<const uint8_t> plaintext,
                    absl::Span<uint8_t> out, absl::Span<uint8_t> tag) const;

  // Verifies and decrypts ciphertext||tag: writes sealed.size() - kTagSize
  // bytes of plaintext at the start of `out`. False if `sealed` is shorter
  // than a tag or the tag does not verify.
  bool Open(absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> ad,
            absl::Span<const uint8_t> sealed, absl::Span<uint8_t> out) const;

  // Open with the tag apart: writes ciphertext.size() bytes of plaintext to
  // `out` (which may equal `ciphertext`). `tag` must be kTagSize bytes.
  bool OpenDetached(absl::Span<const uint8_t> nonce,
                    absl::Span<const uint8_t> ad,
                    absl::Span<const uint8_t> ciphertext,
                    absl::Span<const uint8_t> tag,
                    absl::Span<uint8_t> out) const;

 private:
  struct Context;  // Wraps EVP_AEAD_CTX; keeps openssl out of this header.
  Aead(AeadAlgorithm algorithm, std::unique_ptr<Context> ctx);

  AeadAlgorithm algorithm_;
  std::unique_ptr<Context> ctx_;
};

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_AEAD_H_
