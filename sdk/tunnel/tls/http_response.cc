#include "sdk/tunnel/tls/http_response.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stow::tunnel::tls {
namespace {

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
         absl::string_view::npos;
}

bool IsFieldValueChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7F);
}

}  // namespace

const std::string* HttpResponse::Find(absl::string_view name) const {
  for (const auto& h : headers) {
    if (absl::EqualsIgnoreCase(h.first, name)) return &h.second;
  }
  return nullptr;
}

std::vector<std::string> HttpResponse::FindAll(absl::string_view name) const {
  std::vector<std::string> out;
  for (const auto& h : headers) {
    if (absl::EqualsIgnoreCase(h.first, name)) out.push_back(h.second);
  }
  return out;
}

const std::string* HttpResponse::FindSetCookie(absl::string_view name,
                                               std::string* storage) const {
  bool found = false;
  for (const auto& h : headers) {
    if (!absl::EqualsIgnoreCase(h.first, "Set-Cookie")) continue;
    absl::string_view pair = h.second;
    pair = pair.substr(0, pair.find(';'));
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) continue;
    if (absl::StripAsciiWhitespace(pair.substr(0, eq)) != name) continue;
    *storage = std::string(absl::StripAsciiWhitespace(pair.substr(eq + 1)));
    found = true;
  }
  return found ? storage : nullptr;
}

HttpResponseParser::HttpResponseParser(Mode mode, HttpLimits limits)
    : mode_(mode), limits_(limits) {}

absl::Status HttpResponseParser::Fail(absl::Status status) {
  state_ = State::kError;
  error_ = status;
  return status;
}

absl::Status HttpResponseParser::Feed(absl::string_view data,
                                      size_t* consumed) {
  *consumed = 0;
  if (state_ == State::kError) return error_;
  if (state_ == State::kHead) {
    const size_t old_size = head_.size();
    // Look for CRLFCRLF, starting a few bytes back to catch a split one.
    const size_t take = std::min(data.size(),
                                 limits_.max_head_bytes + 1 - old_size);
    head_.append(data.data(), take);
    const size_t from = old_size >= 3 ? old_size - 3 : 0;
    const size_t end = head_.find("\r\n\r\n", from);
    if (end == std::string::npos) {
      if (head_.size() > limits_.max_head_bytes) {
        return Fail(absl::ResourceExhaustedError(
            absl::StrCat("HTTP response head longer than ",
                         limits_.max_head_bytes, " bytes")));
      }
      *consumed = take;
      return absl::OkStatus();
    }
    const size_t head_len = end + 4;
    *consumed = head_len - old_size;
    head_.resize(head_len);
    absl::Status status = ParseHead(absl::string_view(head_).substr(0, end));
    if (!status.ok()) return Fail(status);
    data.remove_prefix(*consumed);
  }
  if (state_ == State::kBody) {
    const size_t take = std::min(data.size(), body_remaining_);
    response_.body.append(data.data(), take);
    body_remaining_ -= take;
    *consumed += take;
    if (body_remaining_ == 0) state_ = State::kDone;
  }
  return absl::OkStatus();
}

absl::Status HttpResponseParser::ParseHead(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  // Status line: HTTP/1.x SP 3DIGIT SP reason
  absl::string_view status_line = lines[0];
  if (status_line.size() < 12 || !absl::StartsWith(status_line, "HTTP/1.") ||
      (status_line[7] != '0' && status_line[7] != '1') ||
      status_line[8] != ' ') {
    return absl::InvalidArgumentError("malformed HTTP status line");
  }
  response_.version_minor = status_line[7] - '0';
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(status_line[i]))) {
      return absl::InvalidArgumentError("malformed HTTP status code");
    }
    code = code * 10 + (status_line[i] - '0');
  }
  if (code < 100) return absl::InvalidArgumentError("HTTP status below 100");
  response_.status = code;
  if (status_line.size() > 12) {
    if (status_line[12] != ' ') {
      return absl::InvalidArgumentError("malformed HTTP status line");
    }
    absl::string_view reason = status_line.substr(13);
    for (char c : reason) {
      if (!IsFieldValueChar(c)) {
        return absl::InvalidArgumentError("control character in reason");
      }
    }
    response_.reason = std::string(reason);
  }
  if (lines.size() - 1 > limits_.max_headers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", limits_.max_headers, " HTTP headers"));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.find('\n') != absl::string_view::npos ||
        line.find('\r') != absl::string_view::npos) {
      return absl::InvalidArgumentError("bare CR or LF in HTTP head");
    }
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      return absl::InvalidArgumentError("obsolete header line folding");
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError("malformed HTTP header line");
    }
    absl::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(c)) {
        return absl::InvalidArgumentError("invalid HTTP header name");
      }
    }
    absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    for (char c : value) {
      if (!IsFieldValueChar(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("control character in header ", name));
      }
    }
    response_.headers.emplace_back(std::string(name), std::string(value));
  }
  // Body framing.
  if (response_.Find("Transfer-Encoding") != nullptr) {
    return absl::UnimplementedError("Transfer-Encoding is not supported");
  }
  const std::vector<std::string> lengths = response_.FindAll("Content-Length");
  const bool no_body_status =
      code < 200 || code == 204 || code == 304 ||
      (mode_ == Mode::kConnect && code >= 200 && code < 300);
  if (lengths.empty()) {
    if (no_body_status || mode_ == Mode::kConnect) {
      state_ = State::kDone;
      return absl::OkStatus();
    }
    return absl::UnimplementedError(
        "response without Content-Length (read-until-close unsupported)");
  }
  for (const std::string& l : lengths) {
    if (l != lengths[0]) {
      return absl::InvalidArgumentError("conflicting Content-Length headers");
    }
  }
  uint64_t length = 0;
  if (lengths[0].empty() || lengths[0].size() > 19 ||
      !std::all_of(lengths[0].begin(), lengths[0].end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(lengths[0], &length)) {
    return absl::InvalidArgumentError("malformed Content-Length");
  }
  if (no_body_status) {
    // A 2xx CONNECT reply switches to the tunnel; a body would be ambiguous.
    if (length != 0 && mode_ == Mode::kConnect) {
      return absl::InvalidArgumentError("CONNECT 2xx reply with a body");
    }
    state_ = State::kDone;
    return absl::OkStatus();
  }
  if (length > limits_.max_body_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HTTP body of ", length, " bytes exceeds ",
                     limits_.max_body_bytes));
  }
  body_remaining_ = static_cast<size_t>(length);
  state_ = body_remaining_ == 0 ? State::kDone : State::kBody;
  return absl::OkStatus();
}

}  // namespace stow::tunnel::tls
