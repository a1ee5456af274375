// Cryptographically secure random bytes from BoringSSL's RAND_bytes (the
// kernel's getrandom(), expanded by BoringSSL's per-thread DRBG).
//
// Thread-safe. These never fail: BoringSSL aborts the process if the
// system's entropy source is unusable, which is the only failure it has.
#ifndef STOWAWAY_SDK_CRYPTO_RANDOM_H_
#define STOWAWAY_SDK_CRYPTO_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace stow::crypto {

// Fills `out` with random bytes. An empty span is a no-op.
void RandomBytes(absl::Span<uint8_t> out);

// Returns `length` random bytes (e.g. an IKE nonce).
std::vector<uint8_t> RandomVector(size_t length);

// A uniformly random 32- or 64-bit value (e.g. an ESP SPI or IKE SPI; callers
// that must avoid reserved values such as zero redraw).
uint32_t RandomUint32();
uint64_t RandomUint64();

}  // namespace stow::crypto

#endif  // STOWAWAY_SDK_CRYPTO_RANDOM_H_
