#include "sdk/tunnel/tls/cstp.h"

#include <algorithm>

#include "absl/status/status.h"

namespace stow::tunnel::tls {
namespace {

constexpr uint8_t kMagic[4] = {'S', 'T', 'F', 0x01};

std::vector<uint8_t> EmptyFrame(CstpType type) {
  std::vector<uint8_t> out;
  AppendCstpHeader(static_cast<uint8_t>(type), 0, &out);
  return out;
}

}  // namespace

bool IsKnownCstpType(uint8_t type) {
  switch (static_cast<CstpType>(type)) {
    case CstpType::kData:
    case CstpType::kDpdRequest:
    case CstpType::kDpdResponse:
    case CstpType::kDisconnect:
    case CstpType::kKeepalive:
    case CstpType::kCompressedData:
    case CstpType::kTerminate:
      return true;
  }
  return false;
}

const char* CstpTypeName(uint8_t type) {
  switch (static_cast<CstpType>(type)) {
    case CstpType::kData: return "DATA";
    case CstpType::kDpdRequest: return "DPD-REQ";
    case CstpType::kDpdResponse: return "DPD-RESP";
    case CstpType::kDisconnect: return "DISCONNECT";
    case CstpType::kKeepalive: return "KEEPALIVE";
    case CstpType::kCompressedData: return "COMPRESSED";
    case CstpType::kTerminate: return "TERMINATE";
  }
  return "UNKNOWN";
}

CstpReader::CstpReader(size_t max_payload)
    : max_payload_(std::min(max_payload, kCstpMaxPayload)) {}

void CstpReader::Append(absl::Span<const uint8_t> bytes) {
  if (error_ != CstpReadResult::kNeedMore || bytes.empty()) return;
  // Drop consumed bytes before growing, so the buffer stays bounded by one
  // frame plus the latest piece.
  if (start_ > 0 && (start_ == buffer_.size() || start_ >= 4096)) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + start_);
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

CstpReadResult CstpReader::Next(CstpFrame* out) {
  if (error_ != CstpReadResult::kNeedMore) return error_;
  const size_t avail = buffered();
  const uint8_t* p = buffer_.data() + start_;
  // Check the magic on as many bytes as are present, to fail early.
  for (size_t i = 0; i < std::min<size_t>(avail, 4); ++i) {
    if (p[i] != kMagic[i]) return error_ = CstpReadResult::kBadMagic;
  }
  if (avail < kCstpHeaderSize) return CstpReadResult::kNeedMore;
  const size_t len = (static_cast<size_t>(p[4]) << 8) | p[5];
  if (len > max_payload_) return error_ = CstpReadResult::kTooLarge;
  if (avail < kCstpHeaderSize + len) return CstpReadResult::kNeedMore;
  out->type = p[6];
  out->payload.assign(p + kCstpHeaderSize, p + kCstpHeaderSize + len);
  start_ += kCstpHeaderSize + len;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return CstpReadResult::kFrame;
}

void AppendCstpHeader(uint8_t type, size_t payload_len,
                      std::vector<uint8_t>* out) {
  out->insert(out->end(), kMagic, kMagic + 4);
  out->push_back(static_cast<uint8_t>((payload_len >> 8) & 0xFF));
  out->push_back(static_cast<uint8_t>(payload_len & 0xFF));
  out->push_back(type);
  out->push_back(0);
}

absl::StatusOr<std::vector<uint8_t>> BuildCstpFrame(
    uint8_t type, absl::Span<const uint8_t> payload) {
  if (payload.size() > kCstpMaxPayload) {
    return absl::InvalidArgumentError("CSTP payload longer than 65535 bytes");
  }
  std::vector<uint8_t> out;
  out.reserve(kCstpHeaderSize + payload.size());
  AppendCstpHeader(type, payload.size(), &out);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

absl::StatusOr<std::vector<uint8_t>> BuildCstpData(
    absl::Span<const uint8_t> packet) {
  return BuildCstpFrame(static_cast<uint8_t>(CstpType::kData), packet);
}

std::vector<uint8_t> BuildCstpDpdRequest() {
  return EmptyFrame(CstpType::kDpdRequest);
}
std::vector<uint8_t> BuildCstpDpdResponse() {
  return EmptyFrame(CstpType::kDpdResponse);
}
std::vector<uint8_t> BuildCstpKeepalive() {
  return EmptyFrame(CstpType::kKeepalive);
}
std::vector<uint8_t> BuildCstpTerminate() {
  return EmptyFrame(CstpType::kTerminate);
}

std::vector<uint8_t> BuildCstpDisconnect(absl::string_view reason) {
  reason = reason.substr(0, 255);
  std::vector<uint8_t> out;
  AppendCstpHeader(static_cast<uint8_t>(CstpType::kDisconnect),
                   1 + reason.size(), &out);
  out.push_back(kCstpDisconnectReasonClient);
  out.insert(out.end(), reason.begin(), reason.end());
  return out;
}

CstpDisconnect ParseCstpDisconnect(absl::Span<const uint8_t> payload) {
  CstpDisconnect d;
  if (payload.empty()) return d;
  d.has_code = true;
  d.code = payload[0];
  d.text.assign(payload.begin() + 1, payload.end());
  return d;
}

}  // namespace stow::tunnel::tls
