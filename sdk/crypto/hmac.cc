#include "sdk/crypto/hmac.h"

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sdk/crypto/evp_md.h"

namespace stow::crypto {

using internal::CheckOk;

std::vector<uint8_t> Hmac(HashAlgorithm algorithm,
                          absl::Span<const uint8_t> key,
                          absl::Span<const uint8_t> data) {
  const EVP_MD* md = internal::EvpMd(algorithm);
  std::vector<uint8_t> out(EVP_MD_size(md));
  unsigned int length = 0;
  if (HMAC(md, key.data(), key.size(), data.data(), data.size(), out.data(),
           &length) == nullptr) {
    CheckOk(0, "HMAC");
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> HmacTruncated(
    HashAlgorithm algorithm, absl::Span<const uint8_t> key,
    absl::Span<const uint8_t> data, size_t length) {
  size_t full = HashLength(algorithm);
  if (length == 0 || length > full) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC-", HashName(algorithm), " truncated to ", length,
                     " bytes: must be 1 to ", full));
  }
  std::vector<uint8_t> out = Hmac(algorithm, key, data);
  out.resize(length);
  return out;
}

bool HmacVerify(HashAlgorithm algorithm, absl::Span<const uint8_t> key,
                absl::Span<const uint8_t> data,
                absl::Span<const uint8_t> tag) {
  size_t full = HashLength(algorithm);
  if (tag.size() < full / 2 || tag.size() > full) return false;
  std::vector<uint8_t> mac = Hmac(algorithm, key, data);
  bool equal = CRYPTO_memcmp(mac.data(), tag.data(), tag.size()) == 0;
  OPENSSL_cleanse(mac.data(), mac.size());
  return equal;
}

bool ConstantTimeEquals(absl::Span<const uint8_t> a,
                        absl::Span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct HmacContext::State {
  bssl::ScopedHMAC_CTX ctx;
};

HmacContext::HmacContext(HashAlgorithm algorithm,
                         absl::Span<const uint8_t> key)
    : algorithm_(algorithm), state_(std::make_unique<State>()) {
  // A null key pointer means "reuse the previous key" to HMAC_Init_ex, so an
  // empty key must still pass a non-null pointer.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_data = key.empty() ? &kEmpty : key.data();
  CheckOk(HMAC_Init_ex(state_->ctx.get(), key_data, key.size(), internal::EvpMd(algorithm),
                       nullptr),
          "HMAC_Init_ex");
}

HmacContext::~HmacContext() = default;

void HmacContext::Update(absl::Span<const uint8_t> data) {
  CheckOk(HMAC_Update(state_->ctx.get(), data.data(), data.size()),
          "HMAC_Update");
}

void HmacContext::Finish(absl::Span<uint8_t> out) {
  if (out.size() != length()) {
    std::fprintf(stderr, "stow::crypto: HmacContext::Finish into %zu bytes\n",
                 out.size());
    std::abort();
  }
  unsigned int written = 0;
  CheckOk(HMAC_Final(state_->ctx.get(), out.data(), &written), "HMAC_Final");
  // Same key, same hash: only the precomputed pads are restored.
  CheckOk(HMAC_Init_ex(state_->ctx.get(), nullptr, 0, nullptr, nullptr),
          "HMAC_Init_ex");
}

std::vector<uint8_t> HmacContext::Finish() {
  std::vector<uint8_t> out(length());
  Finish(absl::MakeSpan(out));
  return out;
}

}  // namespace stow::crypto
