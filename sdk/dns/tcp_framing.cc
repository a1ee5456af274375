#include "sdk/dns/tcp_framing.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sdk/dns/message.h"

namespace stow::dns {

absl::StatusOr<std::vector<uint8_t>> FrameTcpMessage(
    absl::Span<const uint8_t> message) {
  if (message.size() > kMaxTcpMessage) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS message of ", message.size(),
                     " bytes is too long for TCP framing"));
  }
  std::vector<uint8_t> out;
  out.reserve(2 + message.size());
  out.push_back(static_cast<uint8_t>(message.size() >> 8));
  out.push_back(static_cast<uint8_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

size_t TcpMessageReader::Feed(absl::Span<const uint8_t> bytes) {
  if (state_ != State::kNeedMore) return 0;
  size_t used = 0;
  while (!have_length_ && used < bytes.size()) {
    prefix_[prefix_bytes_++] = bytes[used++];
    if (prefix_bytes_ == 2) {
      have_length_ = true;
      length_ = static_cast<size_t>(prefix_[0]) << 8 | prefix_[1];
      if (length_ < kHeaderSize) {
        state_ = State::kError;
        error_ = absl::StrCat("DNS over TCP length ", length_,
                              " is shorter than a DNS header");
        return used;
      }
      body_.reserve(length_);
    }
  }
  if (!have_length_) return used;
  const size_t take = std::min(length_ - body_.size(), bytes.size() - used);
  body_.insert(body_.end(), bytes.begin() + used, bytes.begin() + used + take);
  used += take;
  if (body_.size() == length_) state_ = State::kComplete;
  return used;
}

void TcpMessageReader::Reset() {
  state_ = State::kNeedMore;
  prefix_bytes_ = 0;
  have_length_ = false;
  length_ = 0;
  body_.clear();
  error_.clear();
}

}  // namespace stow::dns
