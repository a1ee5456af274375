#include "sdk/crypto/hash.h"

#include <openssl/digest.h>

#include <cstdio>
#include <cstdlib>

#include "sdk/crypto/evp_md.h"

namespace stow::crypto {
namespace internal {

const EVP_MD* EvpMd(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha1:
      return EVP_sha1();
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha384:
      return EVP_sha384();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
  }
  std::fprintf(stderr, "stow::crypto: bad HashAlgorithm %d\n",
               static_cast<int>(algorithm));
  std::abort();
}

void CheckOk(int rc, const char* what) {
  if (rc == 1) return;
  std::fprintf(stderr, "stow::crypto: %s failed\n", what);
  std::abort();
}

}  // namespace internal

using internal::CheckOk;

size_t HashLength(HashAlgorithm algorithm) {
  return EVP_MD_size(internal::EvpMd(algorithm));
}

absl::string_view HashName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha1:
      return "SHA-1";
    case HashAlgorithm::kSha256:
      return "SHA-256";
    case HashAlgorithm::kSha384:
      return "SHA-384";
    case HashAlgorithm::kSha512:
      return "SHA-512";
  }
  return "unknown";
}

std::vector<uint8_t> Hash(HashAlgorithm algorithm,
                          absl::Span<const uint8_t> data) {
  const EVP_MD* md = internal::EvpMd(algorithm);
  std::vector<uint8_t> out(EVP_MD_size(md));
  unsigned int length = 0;
  CheckOk(EVP_Digest(data.data(), data.size(), out.data(), &length, md,
                     nullptr),
          "EVP_Digest");
  return out;
}

struct Hasher::State {
  bssl::ScopedEVP_MD_CTX ctx;
};

Hasher::Hasher(HashAlgorithm algorithm)
    : algorithm_(algorithm), state_(std::make_unique<State>()) {
  CheckOk(EVP_DigestInit_ex(state_->ctx.get(), internal::EvpMd(algorithm_), nullptr),
          "EVP_DigestInit_ex");
}

Hasher::~Hasher() = default;

void Hasher::Update(absl::Span<const uint8_t> data) {
  CheckOk(EVP_DigestUpdate(state_->ctx.get(), data.data(), data.size()),
          "EVP_DigestUpdate");
}

std::vector<uint8_t> Hasher::Finish() {
  std::vector<uint8_t> out(HashLength(algorithm_));
  unsigned int length = 0;
  CheckOk(EVP_DigestFinal_ex(state_->ctx.get(), out.data(), &length),
          "EVP_DigestFinal_ex");
  CheckOk(EVP_DigestInit_ex(state_->ctx.get(), internal::EvpMd(algorithm_), nullptr),
          "EVP_DigestInit_ex");
  return out;
}

}  // namespace stow::crypto
