#include "sdk/gateway/tls/http_request_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::gateway::tls {

HttpRequestReader::HttpRequestReader(HttpRequestLimits limits)
    : limits_(limits) {}

void HttpRequestReader::Append(absl::Span<const uint8_t> bytes) {
  if (error_status_ != 0) return;
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

RequestReadResult HttpRequestReader::Fail(int status, std::string error) {
  error_status_ = status;
  error_ = std::move(error);
  buffer_.clear();
  buffer_.shrink_to_fit();
  return RequestReadResult::kError;
}

RequestReadResult HttpRequestReader::Next(HttpRequest* request,
                                          std::string* body) {
  if (error_status_ != 0) return RequestReadResult::kError;
  if (buffer_.empty()) return RequestReadResult::kNeedMore;
  HttpParseResult head = ParseHttpRequest(buffer_, limits_.max_head_bytes);
  switch (head.state) {
    case HttpParseState::kNeedMore:
      return RequestReadResult::kNeedMore;
    case HttpParseState::kError:
      return Fail(head.error_status, head.error);
    case HttpParseState::kComplete:
      break;
  }
  if (head.request.has_transfer_encoding) {
    return Fail(501, "Transfer-Encoding is not supported");
  }
  const uint64_t length = head.request.content_length.value_or(0);
  if (length > limits_.max_body_bytes) {
    return Fail(413, absl::StrCat("body of ", length, " bytes is above ",
                                  limits_.max_body_bytes));
  }
  if (buffer_.size() - head.head_bytes < length) {
    return RequestReadResult::kNeedMore;
  }
  const auto body_begin = buffer_.begin() + head.head_bytes;
  body->assign(body_begin, body_begin + length);
  buffer_.erase(buffer_.begin(), body_begin + length);
  *request = std::move(head.request);
  return RequestReadResult::kRequest;
}

std::vector<uint8_t> HttpRequestReader::TakeRemaining() {
  std::vector<uint8_t> out;
  out.swap(buffer_);
  return out;
}

}  // namespace stow::gateway::tls
