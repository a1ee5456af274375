#include "sdk/gateway/tls/dtls_client_hello.h"

#include <algorithm>

namespace stow::gateway::tls {
namespace {

// RFC 6347 4.1: type(1) version(2) epoch(2) sequence_number(6) length(2).
constexpr size_t kRecordHeader = 13;
// RFC 6347 4.2.2: msg_type(1) length(3) message_seq(2) fragment_offset(3)
// fragment_length(3).
constexpr size_t kHandshakeHeader = 12;
constexpr uint8_t kHandshakeContentType = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kDtlsVersionMajor = 0xfe;  // DTLS 1.0 0xfeff, 1.2 0xfefd.
constexpr size_t kMaxSessionId = 32;

uint32_t Be24(const uint8_t* p) {
  return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
}

}  // namespace

absl::optional<DtlsClientHelloInfo> ParseDtlsClientHello(
    absl::Span<const uint8_t> d) {
  if (d.size() < kRecordHeader + kHandshakeHeader) return absl::nullopt;
  if (d[0] != kHandshakeContentType || d[1] != kDtlsVersionMajor ||
      d[3] != 0 || d[4] != 0) {
    return absl::nullopt;
  }
  const size_t record_length = (size_t{d[11]} << 8) | d[12];
  if (record_length > d.size() - kRecordHeader ||
      record_length < kHandshakeHeader) {
    return absl::nullopt;
  }
  const uint8_t* h = d.data() + kRecordHeader;
  if (h[0] != kClientHello || Be24(h + 6) != 0) return absl::nullopt;
  const size_t fragment_length = Be24(h + 9);
  if (fragment_length > record_length - kHandshakeHeader ||
      fragment_length > Be24(h + 1)) {
    return absl::nullopt;
  }
  // ClientHello: client_version(2) random(32) session_id<0..32>.
  absl::Span<const uint8_t> body =
      d.subspan(kRecordHeader + kHandshakeHeader, fragment_length);
  if (body.size() < 2 + 32 + 1) return absl::nullopt;
  const size_t id_length = body[34];
  if (id_length > kMaxSessionId || body.size() < 35 + id_length) {
    return absl::nullopt;
  }
  DtlsClientHelloInfo info;
  std::copy(body.begin() + 2, body.begin() + 34, info.random.begin());
  info.session_id.assign(body.begin() + 35, body.begin() + 35 + id_length);
  return info;
}

}  // namespace stow::gateway::tls
