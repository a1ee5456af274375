#include "sdk/tunnel/ipsec/ike/crypto/fragmentation.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/tunnel/ipsec/ike/crypto/sk_payload.h"

namespace stow::ike {

absl::optional<SkfHeader> ParseSkfHeader(absl::Span<const uint8_t> message,
                                         size_t offset) {
  if (offset > message.size() || message.size() - offset < kSkfHeaderSize) {
    return absl::nullopt;
  }
  const uint8_t* p = message.data() + offset;
  SkfHeader header;
  header.next_payload = p[0];
  header.payload_length = static_cast<uint16_t>((p[2] << 8) | p[3]);
  header.fragment_number = static_cast<uint16_t>((p[4] << 8) | p[5]);
  header.total_fragments = static_cast<uint16_t>((p[6] << 8) | p[7]);
  return header;
}

void AppendSkfHeader(uint8_t next_payload, uint16_t fragment_number,
                     uint16_t total_fragments, std::vector<uint8_t>* out) {
  const uint8_t header[kSkfHeaderSize] = {
      next_payload,
      0,
      0,
      0,
      static_cast<uint8_t>(fragment_number >> 8),
      static_cast<uint8_t>(fragment_number),
      static_cast<uint8_t>(total_fragments >> 8),
      static_cast<uint8_t>(total_fragments)};
  out->insert(out->end(), header, header + kSkfHeaderSize);
}

size_t MaxFragmentPlaintext(size_t max_message_size) {
  const size_t overhead = kIkeHeaderSize + kSkfHeaderSize + kSkBodyOverhead;
  return max_message_size > overhead ? max_message_size - overhead : 0;
}

absl::StatusOr<std::vector<FragmentPlaintext>> SplitIntoFragments(
    uint8_t first_payload, absl::Span<const uint8_t> inner,
    size_t max_fragment_data) {
  if (inner.empty()) {
    return absl::InvalidArgumentError("nothing to fragment");
  }
  if (max_fragment_data == 0) {
    return absl::InvalidArgumentError("fragment size 0");
  }
  if (inner.size() > kMaxReassembledSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", inner.size(), " bytes exceeds ", kMaxReassembledSize));
  }
  const size_t count =
      (inner.size() + max_fragment_data - 1) / max_fragment_data;
  if (count > kMaxFragments) {
    return absl::InvalidArgumentError(
        absl::StrCat(inner.size(), " bytes in fragments of ",
                     max_fragment_data, " would need ", count,
                     " fragments, more than ", kMaxFragments));
  }
  std::vector<FragmentPlaintext> fragments(count);
  for (size_t i = 0; i < count; ++i) {
    FragmentPlaintext& f = fragments[i];
    f.next_payload = i == 0 ? first_payload : 0;
    f.fragment_number = static_cast<uint16_t>(i + 1);
    f.total_fragments = static_cast<uint16_t>(count);
    const size_t begin = i * max_fragment_data;
    const size_t end = std::min(inner.size(), begin + max_fragment_data);
    f.data.assign(inner.begin() + begin, inner.begin() + end);
  }
  return fragments;
}

const char* FragmentReassembler::ResultName(Result result) {
  switch (result) {
    case Result::kStored:
      return "stored";
    case Result::kComplete:
      return "complete";
    case Result::kRestarted:
      return "restarted";
    case Result::kDuplicate:
      return "duplicate";
    case Result::kBadNumber:
      return "bad-number";
    case Result::kInconsistentTotal:
      return "inconsistent-total";
    case Result::kOtherMessage:
      return "other-message";
    case Result::kTooManyFragments:
      return "too-many-fragments";
    case Result::kTooLarge:
      return "too-large";
  }
  return "?";
}

FragmentReassembler::Result FragmentReassembler::Count(Result result) {
  switch (result) {
    case Result::kStored:
      ++counters_.stored;
      break;
    case Result::kComplete:
      ++counters_.completed;
      break;
    case Result::kRestarted:
      ++counters_.restarted;
      break;
    case Result::kDuplicate:
      ++counters_.duplicate;
      break;
    case Result::kBadNumber:
      ++counters_.bad_number;
      break;
    case Result::kInconsistentTotal:
      ++counters_.inconsistent_total;
      break;
    case Result::kOtherMessage:
      ++counters_.other_message;
      break;
    case Result::kTooManyFragments:
      ++counters_.too_many_fragments;
      break;
    case Result::kTooLarge:
      ++counters_.too_large;
      break;
  }
  return result;
}

void FragmentReassembler::Reset() {
  message_id_.reset();
  total_ = 0;
  first_payload_ = 0;
  stored_count_ = 0;
  stored_bytes_ = 0;
  fragments_.clear();
  present_.clear();
  complete_ = false;
}

FragmentReassembler::Result FragmentReassembler::Add(
    uint32_t message_id, uint16_t fragment_number, uint16_t total_fragments,
    uint8_t next_payload, absl::Span<const uint8_t> data) {
  if (total_fragments == 0 || fragment_number == 0 ||
      fragment_number > total_fragments) {
    return Count(Result::kBadNumber);
  }
  if (total_fragments > kMaxFragments) {
    return Count(Result::kTooManyFragments);
  }
  if (data.size() > kMaxReassembledSize) return Count(Result::kTooLarge);
  if (message_id_.has_value() && *message_id_ != message_id) {
    return Count(Result::kOtherMessage);
  }
  if (complete_) {
    // Whole already and not yet taken: a late copy changes nothing.
    return Count(Result::kDuplicate);
  }

  bool restarted = false;
  if (message_id_.has_value()) {
    if (total_fragments < total_) return Count(Result::kInconsistentTotal);
    if (total_fragments > total_) {
      Reset();
      restarted = true;
    }
  }
  if (!message_id_.has_value()) {
    message_id_ = message_id;
    total_ = total_fragments;
    fragments_.assign(total_fragments, std::vector<uint8_t>());
    present_.assign(total_fragments, false);
  }

  const size_t index = fragment_number - 1;
  if (present_[index]) return Count(Result::kDuplicate);
  if (stored_bytes_ + data.size() > kMaxReassembledSize) {
    return Count(Result::kTooLarge);
  }
  fragments_[index].assign(data.begin(), data.end());
  present_[index] = true;
  ++stored_count_;
  stored_bytes_ += data.size();
  if (fragment_number == 1) first_payload_ = next_payload;

  if (stored_count_ == total_) {
    complete_ = true;
    return Count(Result::kComplete);
  }
  return Count(restarted ? Result::kRestarted : Result::kStored);
}

std::vector<uint8_t> FragmentReassembler::TakeMessage(uint8_t* first_payload) {
  std::vector<uint8_t> message;
  if (!complete_) return message;
  message.reserve(stored_bytes_);
  for (const std::vector<uint8_t>& fragment : fragments_) {
    message.insert(message.end(), fragment.begin(), fragment.end());
  }
  if (first_payload != nullptr) *first_payload = first_payload_;
  Reset();
  return message;
}

}  // namespace stow::ike
