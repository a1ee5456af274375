#include "tests/integration/services.h"

#include <algorithm>

namespace stow::testing {

using netstack::TcpConnection;
using netstack::testing::BulkReceiver;
using netstack::testing::BulkSender;

std::array<uint8_t, 16> SourceRequest(uint64_t total, uint64_t seed) {
  std::array<uint8_t, 16> out;
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(total >> (56 - 8 * i));
    out[8 + i] = static_cast<uint8_t>(seed >> (56 - 8 * i));
  }
  return out;
}

// One accepted connection, serving the sink or the source protocol.
class TestServices::Session : public TcpConnection::Delegate {
 public:
  Session(TestServices* owner, std::unique_ptr<TcpConnection> conn)
      : owner_(owner), conn_(std::move(conn)) {
    sink_ = conn_->local_address().port() == kSinkPort;
    conn_->set_delegate(this);
    if (sink_) receiver_.Use(conn_.get());
  }

  void OnReadable() override {
    if (sink_) {
      receiver_.OnReadable();
      if (receiver_.eof() && !replied_) {
        replied_ = true;
        crypto::Sha256::Digest d = receiver_.digest();
        // 32 bytes always fit in a fresh send buffer.
        (void)conn_->Write(d);
        (void)conn_->Shutdown();
      }
      MaybeFinish();
      return;
    }
    if (sender_ == nullptr) {
      request_len_ += conn_->Read(absl::MakeSpan(request_).subspan(
          request_len_, request_.size() - request_len_));
      if (request_len_ < request_.size()) {
        if (conn_->peer_closed()) owner_->Finish(this);
        return;
      }
      uint64_t total = 0, seed = 0;
      for (int i = 0; i < 8; ++i) {
        total = total << 8 | request_[i];
        seed = seed << 8 | request_[8 + i];
      }
      sender_ = std::make_unique<BulkSender>(total, seed);
      sender_->Use(conn_.get());
    } else {
      sender_->OnReadable();
    }
    MaybeFinish();
  }

  void OnWritable() override {
    if (sender_ != nullptr) sender_->OnWritable();
    MaybeFinish();
  }

  void OnError(absl::Status) override { owner_->Finish(this); }

 private:
  void MaybeFinish() {
    const bool sent = sink_ ? replied_ : (sender_ && sender_->done());
    if (sent && conn_->peer_closed()) owner_->Finish(this);
  }

  TestServices* const owner_;  // Not owned.
  std::unique_ptr<TcpConnection> conn_;
  bool sink_ = false;
  BulkReceiver receiver_;
  bool replied_ = false;
  std::array<uint8_t, 16> request_{};
  size_t request_len_ = 0;
  std::unique_ptr<BulkSender> sender_;
};

TestServices::TestServices(netstack::Stack* stack) : stack_(stack) {}

TestServices::~TestServices() {
  sessions_.clear();
  listeners_.clear();
  echo_.clear();
}

absl::Status TestServices::Start(const IpAddress& ip) {
  for (uint16_t port : {kSinkPort, kSourcePort}) {
    absl::StatusOr<std::unique_ptr<netstack::TcpListener>> l =
        netstack::TcpListener::Listen(stack_, SocketAddress(ip, port), this);
    if (!l.ok()) return l.status();
    listeners_.push_back(std::move(*l));
  }
  auto echo = std::make_unique<Echo>();
  absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> e =
      netstack::UdpEndpoint::Bind(stack_, SocketAddress(ip, kEchoPort),
                                  echo.get());
  if (!e.ok()) return e.status();
  echo->endpoint = std::move(*e);
  echo_.push_back(std::move(echo));
  if (reaper_ != nullptr) return absl::OkStatus();
  reaper_ = stack_->loop()->NewTimer([this] {
    // Sessions finish inside their own callbacks; delete them afterwards.
    for (Session* s : finished_) {
      sessions_.remove_if(
          [s](const std::unique_ptr<Session>& p) { return p.get() == s; });
    }
    finished_.clear();
  });
  return absl::OkStatus();
}

void TestServices::OnAccept(std::unique_ptr<TcpConnection> connection) {
  sessions_.push_back(std::make_unique<Session>(this, std::move(connection)));
}

void TestServices::Finish(Session* session) {
  if (std::find(finished_.begin(), finished_.end(), session) !=
      finished_.end()) {
    return;
  }
  finished_.push_back(session);
  reaper_->Start(absl::ZeroDuration());
}

void SinkClient::Start(TcpConnection* conn) {
  conn_ = conn;
  conn->set_delegate(this);
  sender_.Use(conn);
}

void SinkClient::OnReadable() {
  reply_len_ += conn_->Read(
      absl::MakeSpan(reply_).subspan(reply_len_, reply_.size() - reply_len_));
  if (!done_ && reply_len_ == reply_.size() && conn_->peer_closed()) {
    done_ = true;
    on_done_();
  }
}

void SinkClient::OnError(absl::Status status) {
  sender_.OnError(std::move(status));
  if (!done_) {
    done_ = true;
    on_done_();
  }
}

void SourceClient::Start(TcpConnection* conn) {
  conn_ = conn;
  conn->set_delegate(this);
  receiver_.Use(conn);
  OnConnected();  // Writing while connecting is queued by the stack.
}

void SourceClient::OnConnected() {
  if (requested_) return;
  requested_ = true;
  std::array<uint8_t, 16> request = SourceRequest(total_, seed_);
  absl::StatusOr<size_t> n = conn_->Write(request);
  if (!n.ok() || *n != request.size()) {
    error_ = n.ok() ? absl::InternalError("short request write") : n.status();
    Finish();
    return;
  }
  (void)conn_->Shutdown();
}

void SourceClient::OnReadable() {
  receiver_.OnReadable();
  if (receiver_.eof()) Finish();
}

void SourceClient::OnError(absl::Status status) {
  error_ = std::move(status);
  Finish();
}

void SourceClient::Finish() {
  if (done_) return;
  done_ = true;
  on_done_();
}

}  // namespace stow::testing
