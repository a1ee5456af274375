#include "sdk/tunnel/ipsec/ike/crypto/sk_payload.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::ike {
namespace {

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void WriteBigEndian32(uint32_t value, uint8_t* p) {
  p[0] = static_cast<uint8_t>(value >> 24);
  p[1] = static_cast<uint8_t>(value >> 16);
  p[2] = static_cast<uint8_t>(value >> 8);
  p[3] = static_cast<uint8_t>(value);
}

}  // namespace

size_t EncryptedPayloadHeaderSize(SkKind kind) {
  return kind == SkKind::kSkf ? kSkfHeaderSize
                                        : kSkGenericHeaderSize;
}

absl::StatusOr<SkCipher> SkCipher::Create(
    EncrAlgorithm encr, absl::Span<const uint8_t> key_material) {
  if (key_material.size() != EncrKeyMaterialSize(encr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        EncrName(encr), " SK_e must be ", EncrKeyMaterialSize(encr),
        " bytes, got ", key_material.size()));
  }
  const size_t key_size = EncrKeySize(encr);
  absl::StatusOr<crypto::Aead> aead =
      crypto::Aead::Create(EncrAead(encr), key_material.subspan(0, key_size));
  if (!aead.ok()) return aead.status();
  return SkCipher(encr, *std::move(aead), key_material.subspan(key_size));
}

SkCipher::SkCipher(EncrAlgorithm encr, crypto::Aead aead,
                   absl::Span<const uint8_t> salt)
    : encr_(encr), aead_(std::move(aead)) {
  std::memcpy(salt_, salt.data(), kAeadSaltSize);
}

SkCipher::SkCipher(SkCipher&&) noexcept = default;
SkCipher& SkCipher::operator=(SkCipher&&) noexcept = default;
SkCipher::~SkCipher() { WipeBytes(absl::MakeSpan(salt_)); }

void SkCipher::MakeNonce(absl::Span<const uint8_t> iv, uint8_t* nonce) const {
  std::memcpy(nonce, salt_, kAeadSaltSize);
  std::memcpy(nonce + kAeadSaltSize, iv.data(), kSkIvSize);
}

absl::Status SkCipher::SealBody(absl::Span<const uint8_t> associated_data,
                                absl::Span<const uint8_t> inner,
                                absl::Span<uint8_t> out) {
  if (out.size() != SealedBodySize(inner.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("SK body buffer is ", out.size(), " bytes, need ",
                     SealedBodySize(inner.size())));
  }
  if (next_iv_ == 0) {
    return absl::ResourceExhaustedError("SK IV counter exhausted: rekey");
  }
  const uint64_t iv_value = next_iv_++;
  uint8_t* iv = out.data();
  for (size_t i = 0; i < kSkIvSize; ++i) {
    iv[i] = static_cast<uint8_t>(iv_value >> (8 * (kSkIvSize - 1 - i)));
  }
  uint8_t nonce[crypto::Aead::kNonceSize];
  MakeNonce(absl::MakeConstSpan(iv, kSkIvSize), nonce);

  // Plaintext: inner | Pad Length (0), encrypted where it lies in `out`.
  uint8_t* text = out.data() + kSkIvSize;
  const size_t text_size = inner.size() + 1;
  if (!inner.empty()) std::memcpy(text, inner.data(), inner.size());
  text[inner.size()] = 0;
  if (!aead_.SealDetached(nonce, associated_data,
                          absl::MakeConstSpan(text, text_size),
                          absl::MakeSpan(text, text_size),
                          absl::MakeSpan(text + text_size, kSkIcvSize))) {
    WipeBytes(out);
    return absl::InternalError("AEAD seal failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> SkCipher::OpenBody(
    absl::Span<const uint8_t> associated_data,
    absl::Span<const uint8_t> body) const {
  if (body.size() < kSkBodyOverhead) {
    return absl::InvalidArgumentError(
        absl::StrCat("SK body of ", body.size(), " bytes is shorter than ",
                     kSkBodyOverhead));
  }
  uint8_t nonce[crypto::Aead::kNonceSize];
  MakeNonce(body.subspan(0, kSkIvSize), nonce);
  const size_t text_size = body.size() - kSkIvSize - kSkIcvSize;
  std::vector<uint8_t> text(text_size);
  if (!aead_.OpenDetached(nonce, associated_data,
                          body.subspan(kSkIvSize, text_size),
                          body.subspan(kSkIvSize + text_size), absl::MakeSpan(text))) {
    return absl::DataLossError("SK payload integrity check failed");
  }
  const size_t pad_length = text.back();
  if (pad_length + 1 > text_size) {
    WipeBytes(absl::MakeSpan(text));
    return absl::InvalidArgumentError(
        absl::StrCat("SK Pad Length ", pad_length, " exceeds the ",
                     text_size, "-byte plaintext"));
  }
  text.resize(text_size - pad_length - 1);
  return text;
}

absl::Status SkCipher::SealMessage(SkKind kind,
                                   std::vector<uint8_t>* message,
                                   size_t payload_offset,
                                   absl::Span<const uint8_t> inner) {
  const size_t header_size = EncryptedPayloadHeaderSize(kind);
  if (payload_offset < kIkeHeaderSize ||
      message->size() != payload_offset + header_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", message->size(), " bytes does not end with a ",
        header_size, "-byte encrypted payload header at offset ",
        payload_offset));
  }
  const size_t payload_length = header_size + SealedBodySize(inner.size());
  const size_t message_length = payload_offset + payload_length;
  if (payload_length > 0xFFFF || inner.size() > 0xFFFF) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encrypted payload of ", payload_length, " bytes exceeds 65535"));
  }
  uint8_t* header = message->data() + payload_offset;
  header[2] = static_cast<uint8_t>(payload_length >> 8);
  header[3] = static_cast<uint8_t>(payload_length);
  WriteBigEndian32(static_cast<uint32_t>(message_length),
                   message->data() + kIkeHeaderLengthOffset);
  message->resize(message_length);
  const size_t body_offset = payload_offset + header_size;
  absl::Status status = SealBody(
      absl::MakeConstSpan(message->data(), body_offset), inner,
      absl::MakeSpan(message->data() + body_offset,
                     message_length - body_offset));
  if (!status.ok()) message->resize(body_offset);
  return status;
}

absl::StatusOr<std::vector<uint8_t>> SkCipher::OpenMessage(
    SkKind kind, absl::Span<const uint8_t> message,
    size_t payload_offset) const {
  const size_t header_size = EncryptedPayloadHeaderSize(kind);
  if (payload_offset < kIkeHeaderSize || payload_offset > message.size() ||
      message.size() - payload_offset < header_size + kSkBodyOverhead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no room for an encrypted payload at offset ", payload_offset,
        " of a ", message.size(), "-byte message"));
  }
  const uint32_t ike_length =
      ReadBigEndian32(message.data() + kIkeHeaderLengthOffset);
  if (ike_length != message.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("IKE header Length ", ike_length, " but message has ",
                     message.size(), " bytes"));
  }
  const uint8_t* header = message.data() + payload_offset;
  const size_t payload_length = (size_t{header[2]} << 8) | header[3];
  if (payload_length != message.size() - payload_offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encrypted payload Length ", payload_length, " but ",
        message.size() - payload_offset, " bytes follow its offset"));
  }
  const size_t body_offset = payload_offset + header_size;
  return OpenBody(message.subspan(0, body_offset),
                  message.subspan(body_offset));
}

}  // namespace stow::ike
