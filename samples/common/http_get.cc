#include "samples/common/http_get.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stow::samples {
namespace {
constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

absl::StatusOr<std::unique_ptr<HttpGet>> HttpGet::Start(
    netstack::Stack* stack, const SocketAddress& server,
    const std::string& path, Callbacks callbacks, std::string post_body) {
  std::string host = server.ip().is_v6()
                         ? absl::StrCat("[", server.ip().ToString(), "]")
                         : server.ip().ToString();
  std::string request =
      absl::StrCat(post_body.empty() ? "GET " : "POST ", path,
                   " HTTP/1.1\r\nHost: ", host, "\r\nConnection: close\r\n");
  if (!post_body.empty()) {
    absl::StrAppend(&request, "Content-Length: ", post_body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", post_body);
  std::unique_ptr<HttpGet> get(
      new HttpGet(std::move(callbacks), std::move(request)));
  auto connection = netstack::TcpConnection::Connect(stack, server, get.get());
  if (!connection.ok()) return connection.status();
  get->connection_ = *std::move(connection);
  return get;
}

HttpGet::HttpGet(Callbacks callbacks, std::string request)
    : callbacks_(std::move(callbacks)), request_(std::move(request)) {}

HttpGet::~HttpGet() {
  if (connection_ != nullptr) connection_->Abort();  // No-op once closed.
}

void HttpGet::OnConnected() { SendMore(); }

void HttpGet::OnWritable() { SendMore(); }

void HttpGet::SendMore() {
  while (request_sent_ < request_.size()) {
    auto n = connection_->Write(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(request_.data()) + request_sent_,
        request_.size() - request_sent_));
    if (!n.ok()) return Finish(n.status());
    if (*n == 0) return;  // OnWritable() follows.
    request_sent_ += *n;
  }
}

bool HttpGet::ParseHead() {
  const size_t end = head_buffer_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (head_buffer_.size() > kMaxHead) {
      Finish(absl::InvalidArgumentError("response head too long"));
    }
    return false;
  }
  std::vector<std::string> lines =
      absl::StrSplit(head_buffer_.substr(0, end), "\r\n");
  // Status line: HTTP/1.1 200 OK
  std::vector<std::string> status =
      absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &head_.status)) {
    Finish(absl::InvalidArgumentError(
        absl::StrCat("bad status line: ", lines[0])));
    return false;
  }
  head_.reason = status.size() > 2 ? status[2] : "";
  bool have_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    if (absl::EqualsIgnoreCase(lines[i].substr(0, colon), "content-length")) {
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (!absl::SimpleAtoi(value, &head_.content_length)) {
        Finish(absl::InvalidArgumentError("bad Content-Length"));
        return false;
      }
      have_length = true;
    }
  }
  if (!have_length) {
    Finish(absl::InvalidArgumentError("response without Content-Length"));
    return false;
  }
  have_head_ = true;
  std::string rest = head_buffer_.substr(end + 4);
  head_buffer_.clear();
  if (callbacks_.on_head) callbacks_.on_head(head_);
  if (done_) return false;
  if (!rest.empty()) {
    const size_t take =
        std::min<uint64_t>(rest.size(), head_.content_length);
    body_received_ += take;
    if (callbacks_.on_body) {
      callbacks_.on_body(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(rest.data()), take));
    }
  }
  return true;
}

void HttpGet::OnReadable() {
  std::vector<uint8_t> buffer(kReadChunk);
  while (!done_) {
    const size_t n = connection_->Read(absl::MakeSpan(buffer));
    if (n == 0) break;
    if (!have_head_) {
      head_buffer_.append(reinterpret_cast<const char*>(buffer.data()), n);
      if (!ParseHead()) continue;
    } else {
      const size_t take = std::min<uint64_t>(
          n, head_.content_length - body_received_);
      body_received_ += take;
      if (callbacks_.on_body && take > 0) {
        callbacks_.on_body(absl::MakeConstSpan(buffer.data(), take));
      }
    }
    if (have_head_ && body_received_ == head_.content_length) {
      return Finish(absl::OkStatus());
    }
  }
  if (!done_ && connection_->peer_closed() &&
      connection_->readable_bytes() == 0) {
    Finish(absl::DataLossError(absl::StrCat(
        "connection closed after ", body_received_, " of ",
        head_.content_length, " body bytes")));
  }
}

void HttpGet::OnError(absl::Status status) {
  Finish(std::move(status));
}

void HttpGet::Finish(absl::Status status) {
  if (done_) return;
  done_ = true;
  connection_->Close();  // A no-op on a dead connection.
  if (callbacks_.on_done) callbacks_.on_done(std::move(status));
}

}  // namespace stow::samples
