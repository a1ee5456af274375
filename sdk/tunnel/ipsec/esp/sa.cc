#include "sdk/tunnel/ipsec/esp/sa.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"

namespace stow::esp {
namespace {

constexpr uint64_t kMaxSeq32 = 0xFFFFFFFFull;
constexpr uint64_t kMaxSeq64 = ~uint64_t{0};
// Rekey while 2^24 (without ESN) or 2^32 (with) sequence numbers remain.
constexpr uint64_t kSoftSeq32 = (uint64_t{1} << 32) - (uint64_t{1} << 24);
constexpr uint64_t kSoftSeq64 = kMaxSeq64 - (uint64_t{1} << 32) + 1;

inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline void StoreBe64(uint8_t* p, uint64_t v) {
  StoreBe32(p, static_cast<uint32_t>(v >> 32));
  StoreBe32(p + 4, static_cast<uint32_t>(v));
}

inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

inline uint16_t LoadBe16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// Validates the config and builds the AEAD from the key half of KEYMAT.
absl::StatusOr<crypto::Aead> MakeAead(const SaConfig& config,
                                      absl::Span<const uint8_t> key_material) {
  if (config.spi == 0) {
    return absl::InvalidArgumentError("ESP SPI 0 is reserved");
  }
  switch (config.algorithm) {
    case Algorithm::kAes128Gcm16:
    case Algorithm::kAes256Gcm16:
    case Algorithm::kChaCha20Poly1305:
      break;
    default:
      return absl::InvalidArgumentError("unknown ESP algorithm");
  }
  if (key_material.size() != KeyMaterialSize(config.algorithm)) {
    return absl::InvalidArgumentError("ESP key material has the wrong size");
  }
  return crypto::Aead::Create(
      AeadAlgorithmOf(config.algorithm),
      key_material.first(key_material.size() - kSaltSize));
}

inline bool IsTunnelNextHeader(uint8_t next_header) {
  return next_header == kNextHeaderIpv4 || next_header == kNextHeaderIpv6 ||
         next_header == kNextHeaderNone;
}

}  // namespace

const char* SealResultName(SealResult result) {
  switch (result) {
    case SealResult::kOk:
      return "ok";
    case SealResult::kBufferTooSmall:
      return "buffer_too_small";
    case SealResult::kBadNextHeader:
      return "bad_next_header";
    case SealResult::kSequenceExhausted:
      return "sequence_exhausted";
    case SealResult::kExpired:
      return "expired";
    case SealResult::kCryptoError:
      return "crypto_error";
  }
  return "unknown";
}

const char* OpenResultName(OpenResult result) {
  switch (result) {
    case OpenResult::kOk:
      return "ok";
    case OpenResult::kDummy:
      return "dummy";
    case OpenResult::kReplay:
      return "replay";
    case OpenResult::kTooOld:
      return "too_old";
    case OpenResult::kAuthFailed:
      return "auth_failed";
    case OpenResult::kMalformed:
      return "malformed";
    case OpenResult::kWrongSpi:
      return "wrong_spi";
    case OpenResult::kBadPadding:
      return "bad_padding";
    case OpenResult::kBadNextHeader:
      return "bad_next_header";
    case OpenResult::kExpired:
      return "expired";
    case OpenResult::kBufferTooSmall:
      return "buffer_too_small";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// OutboundSa

absl::StatusOr<std::unique_ptr<OutboundSa>> OutboundSa::Create(
    const SaConfig& config, absl::Span<const uint8_t> key_material) {
  absl::StatusOr<crypto::Aead> aead = MakeAead(config, key_material);
  if (!aead.ok()) return aead.status();
  return std::unique_ptr<OutboundSa>(
      new OutboundSa(config, std::move(*aead), key_material.last(kSaltSize)));
}

OutboundSa::OutboundSa(const SaConfig& config, crypto::Aead aead,
                       absl::Span<const uint8_t> salt)
    : spi_(config.spi),
      algorithm_(config.algorithm),
      esn_(config.esn),
      max_seq_(config.esn ? kMaxSeq64 : kMaxSeq32),
      soft_seq_(config.esn ? kSoftSeq64 : kSoftSeq32),
      aead_(std::move(aead)),
      lifetime_(config.lifetime, config.created) {
  std::memcpy(salt_, salt.data(), kSaltSize);
}

SealResult OutboundSa::Precheck(size_t inner_size, uint8_t next_header,
                                size_t out_capacity) {
  if (last_seq_ >= max_seq_) {
    lifetime_.Expire();
    ++counters_.sequence_exhausted;
    return SealResult::kSequenceExhausted;
  }
  if (lifetime_.expired()) {
    ++counters_.expired;
    return SealResult::kExpired;
  }
  if (!IsTunnelNextHeader(next_header)) {
    ++counters_.bad_next_header;
    return SealResult::kBadNextHeader;
  }
  if (out_capacity < SealedSize(inner_size)) {
    ++counters_.buffer_too_small;
    return SealResult::kBufferTooSmall;
  }
  if (!lifetime_.Admit(inner_size)) {
    ++counters_.expired;
    return SealResult::kExpired;
  }
  return SealResult::kOk;
}

SealResult OutboundSa::Seal(absl::Span<const uint8_t> inner,
                            uint8_t next_header, absl::Span<uint8_t> out,
                            size_t* out_size) {
  *out_size = 0;
  SealResult r = Precheck(inner.size(), next_header, out.size());
  if (r != SealResult::kOk) return r;
  uint8_t* payload = out.data() + kHeadroom;
  if (inner.data() != payload && !inner.empty()) {
    std::memmove(payload, inner.data(), inner.size());  // May overlap.
  }
  return SealInPlace(inner.size(), next_header, out, out_size);
}

SealResult OutboundSa::Seal(
    absl::Span<const absl::Span<const uint8_t>> fragments, uint8_t next_header,
    absl::Span<uint8_t> out, size_t* out_size) {
  *out_size = 0;
  size_t total = 0;
  for (absl::Span<const uint8_t> f : fragments) total += f.size();
  SealResult r = Precheck(total, next_header, out.size());
  if (r != SealResult::kOk) return r;
  uint8_t* p = out.data() + kHeadroom;
  for (absl::Span<const uint8_t> f : fragments) {
    if (!f.empty()) std::memcpy(p, f.data(), f.size());
    p += f.size();
  }
  return SealInPlace(total, next_header, out, out_size);
}

SealResult OutboundSa::SealInPlace(size_t inner_size, uint8_t next_header,
                                   absl::Span<uint8_t> out, size_t* out_size) {
  const uint64_t seq = ++last_seq_;
  uint8_t* p = out.data();
  StoreBe32(p, spi_);
  StoreBe32(p + kSpiSize, static_cast<uint32_t>(seq));
  StoreBe64(p + kSpiSize + kSequenceSize, seq);  // IV = sequence number.

  // RFC 4303 section 2.4: pad so that payload + padding + trailer is a
  // multiple of 4, with the monotonic bytes 1, 2, 3.
  uint8_t* payload = p + kHeaderSize;
  const size_t pad = (4 - ((inner_size + kTrailerSize) & 3)) & 3;
  uint8_t* trailer = payload + inner_size;
  for (size_t i = 0; i < pad; ++i) trailer[i] = static_cast<uint8_t>(i + 1);
  trailer[pad] = static_cast<uint8_t>(pad);
  trailer[pad + 1] = next_header;
  const size_t text_size = inner_size + pad + kTrailerSize;

  uint8_t nonce[kSaltSize + kIvSize];
  std::memcpy(nonce, salt_, kSaltSize);
  std::memcpy(nonce + kSaltSize, p + kSpiSize + kSequenceSize, kIvSize);
  uint8_t aad_esn[12];
  absl::Span<const uint8_t> aad(p, kSpiSize + kSequenceSize);
  if (esn_) {
    StoreBe32(aad_esn, spi_);
    StoreBe64(aad_esn + 4, seq);
    aad = absl::MakeConstSpan(aad_esn);
  }
  absl::Span<uint8_t> text(payload, text_size);
  if (!aead_.SealDetached(nonce, aad, text, text,
                          absl::MakeSpan(payload + text_size, kIcvSize))) {
    ++counters_.crypto_error;
    return SealResult::kCryptoError;
  }
  lifetime_.Record(inner_size);
  if (seq >= soft_seq_) lifetime_.MarkSoft();
  if (seq >= max_seq_) lifetime_.Expire();
  ++counters_.packets;
  counters_.bytes += inner_size;
  *out_size = kHeaderSize + text_size + kIcvSize;
  return SealResult::kOk;
}

// ---------------------------------------------------------------------------
// InboundSa

absl::StatusOr<std::unique_ptr<InboundSa>> InboundSa::Create(
    const SaConfig& config, absl::Span<const uint8_t> key_material) {
  absl::StatusOr<crypto::Aead> aead = MakeAead(config, key_material);
  if (!aead.ok()) return aead.status();
  return std::unique_ptr<InboundSa>(
      new InboundSa(config, std::move(*aead), key_material.last(kSaltSize)));
}

InboundSa::InboundSa(const SaConfig& config, crypto::Aead aead,
                     absl::Span<const uint8_t> salt)
    : spi_(config.spi),
      algorithm_(config.algorithm),
      aead_(std::move(aead)),
      window_(config.replay_window, config.esn),
      lifetime_(config.lifetime, config.created) {
  std::memcpy(salt_, salt.data(), kSaltSize);
}

OpenResult InboundSa::Count(OpenResult result) {
  switch (result) {
    case OpenResult::kOk:
      break;  // Counted with its bytes by OpenImpl.
    case OpenResult::kDummy:
      ++counters_.dummy;
      break;
    case OpenResult::kReplay:
      ++counters_.replay;
      break;
    case OpenResult::kTooOld:
      ++counters_.too_old;
      break;
    case OpenResult::kAuthFailed:
      ++counters_.auth_failed;
      break;
    case OpenResult::kMalformed:
      ++counters_.malformed;
      break;
    case OpenResult::kWrongSpi:
      ++counters_.wrong_spi;
      break;
    case OpenResult::kBadPadding:
      ++counters_.bad_padding;
      break;
    case OpenResult::kBadNextHeader:
      ++counters_.bad_next_header;
      break;
    case OpenResult::kExpired:
      ++counters_.expired;
      break;
    case OpenResult::kBufferTooSmall:
      ++counters_.buffer_too_small;
      break;
  }
  return result;
}

OpenResult InboundSa::OpenInPlace(absl::Span<uint8_t> packet,
                                  OpenedPacket* out) {
  *out = OpenedPacket{};
  if (packet.size() < kMinPacketSize) return Count(OpenResult::kMalformed);
  return OpenImpl(packet.data(), packet.size(), packet.data() + kHeaderSize,
                  out);
}

OpenResult InboundSa::Open(absl::Span<const uint8_t> packet,
                           absl::Span<uint8_t> buffer, OpenedPacket* out) {
  *out = OpenedPacket{};
  if (packet.size() < kMinPacketSize) return Count(OpenResult::kMalformed);
  if (buffer.size() < MaxOpenedSize(packet.size())) {
    return Count(OpenResult::kBufferTooSmall);
  }
  return OpenImpl(packet.data(), packet.size(), buffer.data(), out);
}

OpenResult InboundSa::OpenImpl(const uint8_t* packet, size_t size,
                               uint8_t* plain, OpenedPacket* out) {
  if (lifetime_.expired()) return Count(OpenResult::kExpired);
  const size_t text_size = size - kHeaderSize - kIcvSize;
  if (text_size % 4 != 0) return Count(OpenResult::kMalformed);
  if (LoadBe32(packet) != spi_) return Count(OpenResult::kWrongSpi);

  uint64_t seq = 0;
  switch (window_.Check(LoadBe32(packet + kSpiSize), &seq)) {
    case ReplayWindow::Verdict::kOk:
      break;
    case ReplayWindow::Verdict::kReplay:
      return Count(OpenResult::kReplay);
    case ReplayWindow::Verdict::kTooOld:
      return Count(OpenResult::kTooOld);
  }

  uint8_t nonce[kSaltSize + kIvSize];
  std::memcpy(nonce, salt_, kSaltSize);
  std::memcpy(nonce + kSaltSize, packet + kSpiSize + kSequenceSize, kIvSize);
  uint8_t aad_esn[12];
  absl::Span<const uint8_t> aad(packet, kSpiSize + kSequenceSize);
  if (window_.esn()) {
    std::memcpy(aad_esn, packet, kSpiSize);
    StoreBe64(aad_esn + kSpiSize, seq);
    aad = absl::MakeConstSpan(aad_esn);
  }
  const uint8_t* text = packet + kHeaderSize;
  if (!aead_.OpenDetached(nonce, aad, absl::MakeConstSpan(text, text_size),
                          absl::MakeConstSpan(text + text_size, kIcvSize),
                          absl::MakeSpan(plain, text_size))) {
    return Count(OpenResult::kAuthFailed);
  }
  // Authentic: only now may the window move (RFC 4303 section 3.4.3).
  window_.Update(seq);

  const size_t pad = plain[text_size - 2];
  const uint8_t next_header = plain[text_size - 1];
  if (pad + kTrailerSize > text_size) return Count(OpenResult::kBadPadding);
  size_t inner_size = text_size - kTrailerSize - pad;
  for (size_t i = 0; i < pad; ++i) {
    if (plain[inner_size + i] != static_cast<uint8_t>(i + 1)) {
      return Count(OpenResult::kBadPadding);
    }
  }
  if (next_header == kNextHeaderNone) return Count(OpenResult::kDummy);
  if (next_header == kNextHeaderIpv4) {
    // Trim TFC padding (RFC 4303 section 2.7) past the IPv4 total length.
    if (inner_size >= 20 && (plain[0] >> 4) == 4) {
      const size_t total = LoadBe16(plain + 2);
      if (total >= 20 && total < inner_size) inner_size = total;
    }
  } else if (next_header == kNextHeaderIpv6) {
    // The same with the IPv6 payload length (0 means a jumbogram: keep).
    if (inner_size >= 40 && (plain[0] >> 4) == 6) {
      const size_t payload = LoadBe16(plain + 4);
      if (payload != 0 && 40 + payload < inner_size) inner_size = 40 + payload;
    }
  } else {
    return Count(OpenResult::kBadNextHeader);
  }
  if (!lifetime_.Admit(inner_size)) return Count(OpenResult::kExpired);
  lifetime_.Record(inner_size);
  ++counters_.packets;
  counters_.bytes += inner_size;
  out->inner = absl::MakeSpan(plain, inner_size);
  out->next_header = next_header;
  out->sequence = seq;
  return OpenResult::kOk;
}

}  // namespace stow::esp
