#include "sdk/crypto/random.h"

#include <openssl/rand.h>

#include <cstring>

namespace stow::crypto {

void RandomBytes(absl::Span<uint8_t> out) {
  if (out.empty()) return;
  // RAND_bytes always returns 1 in BoringSSL: it aborts rather than fail.
  RAND_bytes(out.data(), out.size());
}

std::vector<uint8_t> RandomVector(size_t length) {
  std::vector<uint8_t> out(length);
  RandomBytes(absl::MakeSpan(out));
  return out;
}

uint32_t RandomUint32() {
  uint8_t bytes[sizeof(uint32_t)];
  RandomBytes(absl::MakeSpan(bytes));
  uint32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

uint64_t RandomUint64() {
  uint8_t bytes[sizeof(uint64_t)];
  RandomBytes(absl::MakeSpan(bytes));
  uint64_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

}  // namespace stow::crypto
