#include "sdk/crypto/sha256.h"

#include <openssl/sha.h>

namespace stow::crypto {

struct Sha256::State {
  SHA256_CTX ctx;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  SHA256_Init(&state_->ctx);
}

Sha256::~Sha256() = default;

void Sha256::Update(absl::Span<const uint8_t> data) {
  SHA256_Update(&state_->ctx, data.data(), data.size());
}

Sha256::Digest Sha256::Finish() {
  Digest out;
  SHA256_Final(out.data(), &state_->ctx);
  SHA256_Init(&state_->ctx);
  return out;
}

Sha256::Digest Sha256::Hash(absl::Span<const uint8_t> data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

std::string Sha256::Hex(const Digest& digest) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0F]);
  }
  return out;
}

}  // namespace stow::crypto
