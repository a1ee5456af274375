#include "tests/interop/iperf3_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "sdk/crypto/random.h"

namespace stow::interop {
namespace {

// iperf3's control states (one signed byte each on the control connection).
constexpr int8_t kTestStart = 1;
constexpr int8_t kTestRunning = 2;
constexpr int8_t kTestEnd = 4;
constexpr int8_t kParamExchange = 9;
constexpr int8_t kCreateStreams = 10;
constexpr int8_t kServerTerminate = 11;
constexpr int8_t kExchangeResults = 13;
constexpr int8_t kDisplayResults = 14;
constexpr int8_t kIperfStart = 15;
constexpr int8_t kIperfDone = 16;
constexpr int8_t kAccessDenied = -1;
constexpr int8_t kServerError = -2;

// 36 characters and a terminating NUL, sent as 37 bytes.
constexpr size_t kCookieLength = 36;
constexpr size_t kCookieWireSize = 37;
// Control JSON larger than this is refused (iperf3's are a few KiB).
constexpr uint32_t kMaxJson = 1 << 20;
// How long, after the duration, sending waits for the transport to deliver
// what it holds, and the reverse test waits for the server's FIN.
constexpr absl::Duration kMaxDrain = absl::Seconds(2);
constexpr absl::Duration kDrainPoll = absl::Milliseconds(2);

// ---- Host TCP sockets.

class KernelStream : public ByteStream, public event::TcpSocket::Delegate {
 public:
  static constexpr size_t kLow = 256 * 1024;
  static constexpr size_t kHigh = 1024 * 1024;

  KernelStream(event::UvLoop* loop, ByteStream::Delegate* delegate)
      : delegate_(delegate), socket_(loop, this) {
    socket_.SetWriteWatermarks(kLow, kHigh);
  }

  absl::Status Connect(const SocketAddress& remote) {
    return socket_.Connect(remote);
  }

  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data) override {
    if (socket_.QueuedBytes() > kHigh) return 0;  // OnWritable() follows.
    absl::Status status = socket_.Write(data);
    if (!status.ok()) return status;
    return data.size();
  }
  size_t PendingBytes() const override { return socket_.QueuedBytes(); }

  void OnConnected(absl::Status status) override {
    delegate_->OnConnected(std::move(status));
  }
  void OnData(absl::Span<const uint8_t> data) override {
    delegate_->OnData(data);
  }
  void OnEof() override { delegate_->OnClosed(absl::OkStatus()); }
  void OnWritable() override { delegate_->OnWritable(); }
  void OnError(absl::Status status) override {
    delegate_->OnClosed(std::move(status));
  }

 private:
  ByteStream::Delegate* const delegate_;  // Not owned.
  event::TcpSocket socket_;
};

// ---- Netstack TCP connections.

class NetstackStream : public ByteStream,
                       public netstack::TcpConnection::Delegate {
 public:
  explicit NetstackStream(ByteStream::Delegate* delegate)
      : delegate_(delegate), buffer_(64 * 1024) {}

  void set_connection(std::unique_ptr<netstack::TcpConnection> conn) {
    conn_ = std::move(conn);
  }

  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data) override {
    return conn_->Write(data);
  }
  size_t PendingBytes() const override { return conn_->unacked_bytes(); }

  void OnConnected() override {
    connected_ = true;
    delegate_->OnConnected(absl::OkStatus());
  }
  void OnReadable() override {
    Drain();
    if (conn_->peer_closed() && conn_->readable_bytes() == 0 && !closed_) {
      closed_ = true;
      delegate_->OnClosed(absl::OkStatus());
    }
  }
  void OnWritable() override { delegate_->OnWritable(); }
  void OnError(absl::Status status) override {
    if (!connected_) {
      delegate_->OnConnected(std::move(status));
      return;
    }
    Drain();
    if (!closed_) {
      closed_ = true;
      delegate_->OnClosed(std::move(status));
    }
  }

 private:
  void Drain() {
    while (!closed_) {
      const size_t n = conn_->Read(absl::MakeSpan(buffer_));
      if (n == 0) break;
      delegate_->OnData(absl::MakeConstSpan(buffer_.data(), n));
    }
  }

  ByteStream::Delegate* const delegate_;  // Not owned.
  std::unique_ptr<netstack::TcpConnection> conn_;
  std::vector<uint8_t> buffer_;
  bool connected_ = false;
  bool closed_ = false;
};

uint32_t ReadBe32(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 |
         static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

std::string MakeCookie() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t random[kCookieLength];
  crypto::RandomBytes(absl::MakeSpan(random));
  std::string cookie;
  for (uint8_t r : random) cookie.push_back(kAlphabet[r % 32]);
  return cookie;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ByteStream>> KernelTcpConnector::Connect(
    const SocketAddress& remote, ByteStream::Delegate* delegate) {
  auto stream = std::make_unique<KernelStream>(loop_, delegate);
  absl::Status status = stream->Connect(remote);
  if (!status.ok()) return status;
  return std::unique_ptr<ByteStream>(std::move(stream));
}

absl::StatusOr<std::unique_ptr<ByteStream>> NetstackTcpConnector::Connect(
    const SocketAddress& remote, ByteStream::Delegate* delegate) {
  auto stream = std::make_unique<NetstackStream>(delegate);
  absl::StatusOr<std::unique_ptr<netstack::TcpConnection>> conn =
      netstack::TcpConnection::Connect(stack_, remote, stream.get());
  if (!conn.ok()) return conn.status();
  stream->set_connection(std::move(*conn));
  return std::unique_ptr<ByteStream>(std::move(stream));
}

// ---- The client.

class Iperf3Client::Control : public ByteStream::Delegate {
 public:
  explicit Control(Iperf3Client* client) : client_(client) {}
  void OnConnected(absl::Status status) override {
    client_->OnControlConnected(std::move(status));
  }
  void OnData(absl::Span<const uint8_t> data) override {
    client_->OnControlData(data);
  }
  void OnWritable() override { (void)client_->SendControl({}); }
  void OnClosed(absl::Status status) override {
    client_->OnControlClosed(std::move(status));
  }

 private:
  Iperf3Client* const client_;  // Not owned.
};

class Iperf3Client::Data : public ByteStream::Delegate {
 public:
  explicit Data(Iperf3Client* client) : client_(client) {}
  void OnConnected(absl::Status status) override {
    client_->OnDataConnected(std::move(status));
  }
  void OnData(absl::Span<const uint8_t> data) override {
    client_->OnDataBytes(data.size());
  }
  void OnWritable() override { client_->OnDataWritable(); }
  void OnClosed(absl::Status status) override {
    client_->OnDataClosed(std::move(status));
  }

 private:
  Iperf3Client* const client_;  // Not owned.
};

Iperf3Client::Iperf3Client(event::Loop* loop, StreamConnector* connector,
                           Iperf3Options options)
    : loop_(loop),
      connector_(connector),
      options_(std::move(options)),
      cookie_(MakeCookie()),
      control_delegate_(std::make_unique<Control>(this)),
      data_delegate_(std::make_unique<Data>(this)),
      block_(options_.block_size) {
  for (size_t i = 0; i < block_.size(); ++i) {
    block_[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  duration_timer_ = loop_->NewTimer([this] { OnDurationElapsed(); });
  drain_timer_ = loop_->NewTimer([this] {
    if (!test_ended_) {
      CheckDrained();
    } else {
      fin_wait_over_ = true;  // Stop waiting for the server's FIN.
      MaybeSendResults();
    }
  });
  deadline_timer_ = loop_->NewTimer([this] {
    Fail(absl::DeadlineExceededError(absl::StrCat(
        "iperf3 test with ", options_.server.ToString(),
        " did not finish within ",
        absl::FormatDuration(options_.duration + options_.grace))));
  });
  finish_timer_ = loop_->NewTimer([this] {
    control_.reset();
    data_.reset();
    DoneCallback done = std::move(done_);
    absl::StatusOr<Iperf3Result> outcome = std::move(*outcome_);
    outcome_.reset();
    done(std::move(outcome));
  });
}

Iperf3Client::~Iperf3Client() {
  control_.reset();
  data_.reset();
}

absl::Status Iperf3Client::Start(DoneCallback done) {
  if (phase_ != Phase::kIdle) {
    return absl::FailedPreconditionError("iperf3 client already started");
  }
  if (options_.block_size == 0 || options_.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("iperf3: empty blocks or duration");
  }
  absl::StatusOr<std::unique_ptr<ByteStream>> control =
      connector_->Connect(options_.server, control_delegate_.get());
  if (!control.ok()) return control.status();
  control_ = std::move(*control);
  done_ = std::move(done);
  phase_ = Phase::kConnecting;
  deadline_timer_->Start(options_.duration + options_.grace);
  return absl::OkStatus();
}

void Iperf3Client::OnControlConnected(absl::Status status) {
  if (phase_ != Phase::kConnecting) return;
  if (!status.ok()) {
    Fail(status);
    return;
  }
  phase_ = Phase::kWaiting;
  std::vector<uint8_t> cookie(cookie_.begin(), cookie_.end());
  cookie.resize(kCookieWireSize, 0);
  if (absl::Status s = SendControl(cookie); !s.ok()) Fail(s);
}

absl::Status Iperf3Client::SendControl(absl::Span<const uint8_t> bytes) {
  control_out_.insert(control_out_.end(), bytes.begin(), bytes.end());
  if (!control_) return absl::OkStatus();
  while (!control_out_.empty()) {
    absl::StatusOr<size_t> n = control_->Write(control_out_);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    control_out_.erase(control_out_.begin(), control_out_.begin() + *n);
  }
  return absl::OkStatus();
}

absl::Status Iperf3Client::SendJson(const std::string& json) {
  const uint32_t n = static_cast<uint32_t>(json.size());
  std::vector<uint8_t> frame = {
      static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
      static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  frame.insert(frame.end(), json.begin(), json.end());
  return SendControl(frame);
}

void Iperf3Client::OnControlData(absl::Span<const uint8_t> data) {
  if (phase_ == Phase::kDone || phase_ == Phase::kClosing) return;
  control_in_.insert(control_in_.end(), data.begin(), data.end());
  Process();
}

void Iperf3Client::Process() {
  while (true) {
    switch (phase_) {
      case Phase::kWaiting: {
        if (control_in_.empty()) return;
        const int8_t state = static_cast<int8_t>(control_in_.front());
        control_in_.erase(control_in_.begin());
        HandleState(state);
        break;
      }
      case Phase::kServerError: {
        if (control_in_.size() < 8) return;
        const int32_t ierr = static_cast<int32_t>(ReadBe32(control_in_, 0));
        const int32_t err = static_cast<int32_t>(ReadBe32(control_in_, 4));
        Fail(absl::InternalError(absl::StrCat("iperf3 server error: i_errno ",
                                              ierr, ", errno ", err)));
        return;
      }
      case Phase::kResults: {
        if (control_in_.size() < 4) return;
        const uint32_t n = ReadBe32(control_in_, 0);
        if (n > kMaxJson) {
          Fail(absl::InvalidArgumentError(
              absl::StrCat("iperf3 results of ", n, " bytes")));
          return;
        }
        if (control_in_.size() < 4 + size_t{n}) return;
        std::string json(control_in_.begin() + 4, control_in_.begin() + 4 + n);
        control_in_.erase(control_in_.begin(), control_in_.begin() + 4 + n);
        phase_ = Phase::kWaiting;
        ParseServerResults(json);
        break;
      }
      default:
        return;
    }
  }
}

void Iperf3Client::HandleState(int8_t state) {
  switch (state) {
    case kParamExchange:
      if (absl::Status s = SendJson(ParametersJson()); !s.ok()) Fail(s);
      return;
    case kCreateStreams: {
      if (data_) {
        Fail(absl::InvalidArgumentError("iperf3: CREATE_STREAMS twice"));
        return;
      }
      absl::StatusOr<std::unique_ptr<ByteStream>> data =
          connector_->Connect(options_.server, data_delegate_.get());
      if (!data.ok()) {
        Fail(data.status());
        return;
      }
      data_ = std::move(*data);
      return;
    }
    case kTestStart:
    case kIperfStart:
      return;
    case kTestRunning:
      StartRunning();
      return;
    case kExchangeResults:
      results_requested_ = true;
      MaybeSendResults();
      return;
    case kDisplayResults: {
      phase_ = Phase::kClosing;  // Until the server closes the control.
      const uint8_t done = static_cast<uint8_t>(kIperfDone);
      if (absl::Status s = SendControl({&done, 1}); !s.ok()) Fail(s);
      return;
    }
    case kServerTerminate:
      Fail(absl::AbortedError("iperf3 server terminated the test"));
      return;
    case kAccessDenied:
      Fail(absl::PermissionDeniedError("iperf3 server denied access (busy?)"));
      return;
    case kServerError:
      phase_ = Phase::kServerError;
      return;
    default:
      Fail(absl::InvalidArgumentError(
          absl::StrCat("iperf3: unexpected state ", static_cast<int>(state))));
      return;
  }
}

std::string Iperf3Client::ParametersJson() const {
  nlohmann::json p;
  p["tcp"] = true;
  p["omit"] = 0;
  p["time"] =
      static_cast<int64_t>(absl::ToDoubleSeconds(options_.duration) + 0.999);
  p["num"] = 0;
  p["blockcount"] = 0;
  p["parallel"] = 1;
  if (options_.reverse) p["reverse"] = true;
  p["len"] = options_.block_size;
  p["pacing_timer"] = 1000;
  p["client_version"] = "3.12";
  return p.dump();
}

std::string Iperf3Client::ResultsJson() const {
  nlohmann::json stream;
  stream["id"] = 1;  // The first (only) stream.
  stream["bytes"] = result_.bytes;
  stream["retransmits"] = 0;
  stream["jitter"] = 0;
  stream["errors"] = 0;
  stream["packets"] = 0;
  stream["start_time"] = 0;
  stream["end_time"] = absl::ToDoubleSeconds(result_.elapsed);
  nlohmann::json r;
  r["cpu_util_total"] = 0;
  r["cpu_util_user"] = 0;
  r["cpu_util_system"] = 0;
  r["sender_has_retransmits"] = 0;
  r["streams"] = nlohmann::json::array({stream});
  return r.dump();
}

void Iperf3Client::OnDataConnected(absl::Status status) {
  if (phase_ == Phase::kDone) return;
  if (!status.ok()) {
    Fail(status);
    return;
  }
  std::vector<uint8_t> cookie(cookie_.begin(), cookie_.end());
  cookie.resize(kCookieWireSize, 0);
  absl::StatusOr<size_t> n = data_->Write(cookie);
  if (!n.ok() || *n != cookie.size()) {
    Fail(n.ok() ? absl::InternalError("iperf3: data cookie not accepted")
                : n.status());
  }
}

void Iperf3Client::StartRunning() {
  if (!data_) {
    Fail(absl::InvalidArgumentError("iperf3: TEST_RUNNING before streams"));
    return;
  }
  running_ = true;
  started_at_ = loop_->Now();
  last_byte_at_ = started_at_;
  duration_timer_->Start(options_.duration);
  Pump();
}

void Iperf3Client::Pump() {
  if (!running_ || options_.reverse || !data_ || phase_ == Phase::kDone) {
    return;
  }
  while (true) {
    absl::StatusOr<size_t> n = data_->Write(block_);
    if (!n.ok()) {
      Fail(n.status());
      return;
    }
    if (*n == 0) return;  // OnWritable() follows.
    bytes_ += *n;
  }
}

void Iperf3Client::OnDataWritable() { Pump(); }

void Iperf3Client::OnDataBytes(size_t n) {
  if (!options_.reverse || phase_ == Phase::kDone) return;
  bytes_ += n;
  last_byte_at_ = loop_->Now();
}

void Iperf3Client::OnDurationElapsed() {
  running_ = false;
  if (options_.reverse) {
    EndTest();
    return;
  }
  drain_deadline_ = loop_->Now() + kMaxDrain;
  CheckDrained();
}

void Iperf3Client::CheckDrained() {
  if (data_->PendingBytes() == 0 || loop_->Now() >= drain_deadline_) {
    last_byte_at_ = loop_->Now();
    EndTest();
    return;
  }
  drain_timer_->Start(kDrainPoll);
}

void Iperf3Client::EndTest() {
  test_ended_ = true;
  const uint8_t end = static_cast<uint8_t>(kTestEnd);
  if (absl::Status s = SendControl({&end, 1}); !s.ok()) Fail(s);
}

void Iperf3Client::OnDataClosed(absl::Status status) {
  if (phase_ == Phase::kDone) return;
  data_eof_ = true;
  // The server closes (or resets) the data connection when the test ends;
  // before that, a closed data connection is a failure.
  if (!test_ended_ && !results_requested_) {
    Fail(status.ok() ? absl::UnavailableError(
                           "iperf3 server closed the data connection early")
                     : status);
    return;
  }
  MaybeSendResults();
}

void Iperf3Client::MaybeSendResults() {
  if (!results_requested_ || results_sent_ || phase_ != Phase::kWaiting) {
    return;
  }
  // In reverse, count what the server sent until it closed the stream, so
  // both sides count the same bytes; wait for that a bounded time.
  if (options_.reverse && !data_eof_ && !fin_wait_over_) {
    if (!drain_timer_->IsArmed()) drain_timer_->Start(kMaxDrain);
    return;
  }
  drain_timer_->Stop();
  results_sent_ = true;
  result_.bytes = bytes_;
  result_.elapsed = last_byte_at_ - started_at_;
  const double seconds = absl::ToDoubleSeconds(result_.elapsed);
  result_.mbits_per_second =
      seconds > 0 ? static_cast<double>(bytes_) * 8 / seconds / 1e6 : 0;
  if (absl::Status s = SendJson(ResultsJson()); !s.ok()) {
    Fail(s);
    return;
  }
  phase_ = Phase::kResults;
  Process();
}

void Iperf3Client::ParseServerResults(const std::string& json) {
  result_.server_results_json = json;
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  auto streams = j.find("streams");
  if (streams == j.end() || !streams->is_array() || streams->empty()) return;
  const nlohmann::json& s = (*streams)[0];
  if (!s.is_object()) return;
  auto bytes = s.find("bytes");
  if (bytes != s.end() && bytes->is_number()) {
    result_.server_bytes = bytes->is_number_unsigned()
                               ? bytes->get<uint64_t>()
                               : static_cast<uint64_t>(bytes->get<double>());
  }
  auto start = s.find("start_time");
  auto end = s.find("end_time");
  if (start != s.end() && end != s.end() && start->is_number() &&
      end->is_number()) {
    result_.server_seconds = end->get<double>() - start->get<double>();
    if (result_.server_bytes.has_value() && *result_.server_seconds > 0) {
      result_.server_mbits_per_second =
          static_cast<double>(*result_.server_bytes) * 8 /
          *result_.server_seconds / 1e6;
    }
  }
}

void Iperf3Client::OnControlClosed(absl::Status status) {
  if (phase_ == Phase::kDone) return;
  if (phase_ == Phase::kClosing) {
    Finish(result_);
    return;
  }
  Fail(status.ok() ? absl::UnavailableError(
                         "iperf3 server closed the control connection")
                   : status);
}

void Iperf3Client::Fail(absl::Status status) { Finish(std::move(status)); }

void Iperf3Client::Finish(absl::StatusOr<Iperf3Result> outcome) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  running_ = false;
  duration_timer_->Stop();
  drain_timer_->Stop();
  deadline_timer_->Stop();
  outcome_ = std::move(outcome);
  finish_timer_->Start(absl::ZeroDuration());
}

}  // namespace stow::interop
