#include "sdk/crypto/aead.h"

#include <openssl/aead.h>
#include <openssl/err.h>

#include <utility>

#include "absl/status/status.h"

namespace stow::crypto {
namespace {

const EVP_AEAD* EvpAead(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kAes128Gcm:
      return EVP_aead_aes_128_gcm();
    case AeadAlgorithm::kAes256Gcm:
      return EVP_aead_aes_256_gcm();
    case AeadAlgorithm::kChaCha20Poly1305:
      return EVP_aead_chacha20_poly1305();
  }
  return nullptr;
}

}  // namespace

struct Aead::Context {
  Context() { EVP_AEAD_CTX_zero(&ctx); }
  ~Context() { EVP_AEAD_CTX_cleanup(&ctx); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  EVP_AEAD_CTX ctx;
};

const char* AeadAlgorithmName(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kAes128Gcm:
      return "aes-128-gcm";
    case AeadAlgorithm::kAes256Gcm:
      return "aes-256-gcm";
    case AeadAlgorithm::kChaCha20Poly1305:
      return "chacha20-poly1305";
  }
  return "unknown";
}

size_t Aead::KeySize(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::kAes128Gcm ? 16 : 32;
}

absl::StatusOr<Aead> Aead::Create(AeadAlgorithm algorithm,
                                  absl::Span<const uint8_t> key) {
  const EVP_AEAD* aead = EvpAead(algorithm);
  if (aead == nullptr) return absl::InvalidArgumentError("unknown AEAD");
  if (key.size() != KeySize(algorithm) ||
      key.size() != EVP_AEAD_key_length(aead)) {
    return absl::InvalidArgumentError("AEAD key has the wrong length");
  }
  auto ctx = std::make_unique<Context>();
  if (EVP_AEAD_CTX_init(&ctx->ctx, aead, key.data(), key.size(), kTagSize,
                        nullptr) != 1) {
    ERR_clear_error();
    return absl::InternalError("EVP_AEAD_CTX_init failed");
  }
  return Aead(algorithm, std::move(ctx));
}

Aead::Aead(AeadAlgorithm algorithm, std::unique_ptr<Context> ctx)
    : algorithm_(algorithm), ctx_(std::move(ctx)) {}
Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() = default;

bool Aead::Seal(absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> ad,
                absl::Span<const uint8_t> plaintext,
                absl::Span<uint8_t> out) const {
  if (out.size() < plaintext.size() ||
      out.size() - plaintext.size() < kTagSize) {
    return false;
  }
  return SealDetached(nonce, ad, plaintext, out.first(plaintext.size()),
                      out.subspan(plaintext.size(), kTagSize));
}

bool Aead::SealDetached(absl::Span<const uint8_t> nonce,
                        absl::Span<const uint8_t> ad,
                        absl::Span<const uint8_t> plaintext,
                        absl::Span<uint8_t> out,
                        absl::Span<uint8_t> tag) const {
  if (nonce.size() != kNonceSize || out.size() < plaintext.size() ||
      tag.size() < kTagSize) {
    return false;
  }
  size_t tag_len = 0;
  if (EVP_AEAD_CTX_seal_scatter(&ctx_->ctx, out.data(), tag.data(), &tag_len,
                                kTagSize, nonce.data(), nonce.size(),
                                plaintext.data(), plaintext.size(), nullptr, 0,
                                ad.data(), ad.size()) != 1) {
    ERR_clear_error();
    return false;
  }
  return tag_len == kTagSize;
}

bool Aead::Open(absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> ad,
                absl::Span<const uint8_t> sealed,
                absl::Span<uint8_t> out) const {
  if (sealed.size() < kTagSize) return false;
  const size_t n = sealed.size() - kTagSize;
  return OpenDetached(nonce, ad, sealed.first(n), sealed.subspan(n), out);
}

bool Aead::OpenDetached(absl::Span<const uint8_t> nonce,
                        absl::Span<const uint8_t> ad,
                        absl::Span<const uint8_t> ciphertext,
                        absl::Span<const uint8_t> tag,
                        absl::Span<uint8_t> out) const {
  if (nonce.size() != kNonceSize || tag.size() != kTagSize ||
      out.size() < ciphertext.size()) {
    return false;
  }
  // On failure BoringSSL zeroes `out` (no unauthenticated plaintext leaks) and
  // pushes an error; clear it so the thread's error queue stays empty.
  if (EVP_AEAD_CTX_open_gather(&ctx_->ctx, out.data(), nonce.data(),
                               nonce.size(), ciphertext.data(),
                               ciphertext.size(), tag.data(), tag.size(),
                               ad.data(), ad.size()) != 1) {
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace stow::crypto
