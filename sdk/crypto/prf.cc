#include "sdk/crypto/prf.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sdk/crypto/hmac.h"

namespace stow::crypto {

absl::optional<PrfAlgorithm> PrfFromTransformId(uint16_t transform_id) {
  switch (transform_id) {
    case static_cast<uint16_t>(PrfAlgorithm::kHmacSha256):
      return PrfAlgorithm::kHmacSha256;
    case static_cast<uint16_t>(PrfAlgorithm::kHmacSha384):
      return PrfAlgorithm::kHmacSha384;
    case static_cast<uint16_t>(PrfAlgorithm::kHmacSha512):
      return PrfAlgorithm::kHmacSha512;
  }
  return absl::nullopt;
}

absl::string_view PrfName(PrfAlgorithm prf) {
  switch (prf) {
    case PrfAlgorithm::kHmacSha256:
      return "PRF_HMAC_SHA2_256";
    case PrfAlgorithm::kHmacSha384:
      return "PRF_HMAC_SHA2_384";
    case PrfAlgorithm::kHmacSha512:
      return "PRF_HMAC_SHA2_512";
  }
  return "unknown";
}

HashAlgorithm PrfHash(PrfAlgorithm prf) {
  switch (prf) {
    case PrfAlgorithm::kHmacSha256:
      return HashAlgorithm::kSha256;
    case PrfAlgorithm::kHmacSha384:
      return HashAlgorithm::kSha384;
    case PrfAlgorithm::kHmacSha512:
      return HashAlgorithm::kSha512;
  }
  // Not a valid enumerator: the strongest hash keeps behaviour defined.
  return HashAlgorithm::kSha512;
}

size_t PrfOutputLength(PrfAlgorithm prf) { return HashLength(PrfHash(prf)); }

std::vector<uint8_t> Prf(PrfAlgorithm prf, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> data) {
  return Hmac(PrfHash(prf), key, data);
}

size_t PrfPlusMaxLength(PrfAlgorithm prf) {
  return kPrfPlusMaxIterations * PrfOutputLength(prf);
}

absl::StatusOr<std::vector<uint8_t>> PrfPlus(PrfAlgorithm prf,
                                             absl::Span<const uint8_t> key,
                                             absl::Span<const uint8_t> seed,
                                             size_t length) {
  if (length > PrfPlusMaxLength(prf)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prf+ with ", PrfName(prf), " yields at most ", PrfPlusMaxLength(prf),
        " bytes (", kPrfPlusMaxIterations, " iterations), asked for ",
        length));
  }
  std::vector<uint8_t> out(length);
  if (length == 0) return out;
  HmacContext context(PrfHash(prf), key);
  const size_t block = context.length();
  std::vector<uint8_t> t(block);  // T(n-1), then T(n).
  size_t written = 0;
  for (int n = 1; written < length; ++n) {
    if (n > 1) context.Update(t);
    context.Update(seed);
    const uint8_t counter = static_cast<uint8_t>(n);
    context.Update(absl::MakeConstSpan(&counter, 1));
    context.Finish(absl::MakeSpan(t));
    size_t take = std::min(block, length - written);
    std::copy(t.begin(), t.begin() + take, out.begin() + written);
    written += take;
  }
  return out;
}

}  // namespace stow::crypto
