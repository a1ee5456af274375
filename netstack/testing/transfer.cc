#include "netstack/testing/transfer.h"

#include <algorithm>
#include <cstring>

namespace stow::netstack::testing {
namespace {
constexpr size_t kChunk = 256 * 1024;
}  // namespace

BulkSender::BulkSender(uint64_t total, uint64_t seed)
    : total_(total), pattern_(seed), chunk_(kChunk) {}

void BulkSender::Start(TcpConnection* conn) {
  conn->set_delegate(this);
  Use(conn);
}

void BulkSender::Use(TcpConnection* conn) {
  conn_ = conn;
  started_ = true;
  Pump();
}

void BulkSender::OnConnected() {
  connected_ = true;
  if (started_) Pump();
}

void BulkSender::OnReadable() {
  // Discard anything the peer sends (e.g. its FIN).
  uint8_t sink[4096];
  while (conn_ != nullptr && conn_->Read(absl::MakeSpan(sink)) > 0) {
  }
}

void BulkSender::Pump() {
  if (conn_ == nullptr || !conn_->is_open() || finished_) return;
  while (sent_ < total_) {
    if (chunk_offset_ == chunk_len_) {
      chunk_len_ =
          static_cast<size_t>(std::min<uint64_t>(kChunk, total_ - sent_));
      pattern_.Fill(absl::MakeSpan(chunk_.data(), chunk_len_));
      hash_.Update(absl::MakeConstSpan(chunk_.data(), chunk_len_));
      chunk_offset_ = 0;
    }
    absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(
        chunk_.data() + chunk_offset_, chunk_len_ - chunk_offset_));
    if (!n.ok()) {
      error_ = n.status();
      return;
    }
    if (*n == 0) return;  // OnWritable() resumes.
    chunk_offset_ += *n;
    sent_ += *n;
  }
  finished_ = true;
  digest_ = hash_.Finish();
  absl::Status status = conn_->Shutdown();
  if (!status.ok()) error_ = status;
}

BulkReceiver::BulkReceiver() : buffer_(kChunk) {}

void BulkReceiver::Attach(TcpConnection* conn) {
  conn->set_delegate(this);
  Use(conn);
}

void BulkReceiver::Use(TcpConnection* conn) {
  conn_ = conn;
  Drain();
}

void BulkReceiver::set_paused(bool paused) {
  paused_ = paused;
  if (!paused_) Drain();
}

void BulkReceiver::Drain() {
  if (paused_ || conn_ == nullptr) return;
  while (true) {
    size_t n = conn_->Read(absl::MakeSpan(buffer_));
    if (n == 0) break;
    hash_.Update(absl::MakeConstSpan(buffer_.data(), n));
    received_ += n;
  }
  if (conn_->peer_closed() && conn_->readable_bytes() == 0 && !eof_) {
    eof_ = true;
    digest_ = hash_.Finish();
  }
}

crypto::Sha256::Digest PatternDigest(uint64_t total, uint64_t seed) {
  PatternStream pattern(seed);
  crypto::Sha256 hash;
  std::vector<uint8_t> chunk(kChunk);
  for (uint64_t done = 0; done < total;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, total - done));
    pattern.Fill(absl::MakeSpan(chunk.data(), n));
    hash.Update(absl::MakeConstSpan(chunk.data(), n));
    done += n;
  }
  return hash.Finish();
}

}  // namespace stow::netstack::testing
