// A minimal iperf3 client: one TCP stream, either direction, against a real
// `iperf3 -s` (3.x control protocol). It runs over an abstract byte stream so
// the same code drives a kernel TCP socket (to check the client against
// iperf3 on 127.0.0.1) and a netstack TCP connection (through the tunnel).
//
// The iperf3 control protocol, as documented by iperf3's sources:
//  - the client opens the control connection and sends a 37-byte cookie
//    (36 characters and a NUL) naming the test;
//  - the server drives the test with one-byte states: PARAM_EXCHANGE (9),
//    CREATE_STREAMS (10), TEST_START (1), TEST_RUNNING (2),
//    EXCHANGE_RESULTS (13), DISPLAY_RESULTS (14); the client sends
//    TEST_END (4) when its timer expires and IPERF_DONE (16) at the end.
//    SERVER_TERMINATE (11), ACCESS_DENIED (-1) and SERVER_ERROR (-2, then
//    two 32-bit error numbers) end a test early;
//  - parameters and results are JSON objects framed by a 4-byte big-endian
//    length;
//  - each data connection starts with the same cookie; then one side writes
//    blocks as fast as it can until TEST_END.
#ifndef STOWAWAY_TESTS_INTEROP_IPERF3_CLIENT_H_
#define STOWAWAY_TESTS_INTEROP_IPERF3_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/loop.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/uv_loop.h"

namespace stow::interop {

// A TCP connection as the iperf3 client sees it.
// Threading: loop thread only. A stream is never destroyed by its owner from
// inside one of its own callbacks.
class ByteStream {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // The connection is up (OK) or failed (terminal).
    virtual void OnConnected(absl::Status status) = 0;
    // Bytes arrived; valid only during the call.
    virtual void OnData(absl::Span<const uint8_t> data) = 0;
    // Write() may accept bytes again after returning 0.
    virtual void OnWritable() = 0;
    // The peer finished sending (OK) or the connection failed. Terminal.
    virtual void OnClosed(absl::Status status) = 0;
  };

  virtual ~ByteStream() = default;
  // Accepts a prefix of `data` and returns its length; 0 means "full, wait
  // for OnWritable()".
  virtual absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data) = 0;
  // Bytes accepted by Write() that the transport has not delivered yet (as
  // far as it knows: unacknowledged for the netstack, not yet handed to the
  // kernel for host sockets).
  virtual size_t PendingBytes() const = 0;
};

// Opens ByteStreams. Loop thread only.
class StreamConnector {
 public:
  virtual ~StreamConnector() = default;
  // Starts connecting; OnConnected() follows unless this fails.
  virtual absl::StatusOr<std::unique_ptr<ByteStream>> Connect(
      const SocketAddress& remote, ByteStream::Delegate* delegate) = 0;
};

// Host TCP sockets (sdk/event TcpSocket) on a UvLoop.
class KernelTcpConnector : public StreamConnector {
 public:
  explicit KernelTcpConnector(event::UvLoop* loop) : loop_(loop) {}
  absl::StatusOr<std::unique_ptr<ByteStream>> Connect(
      const SocketAddress& remote, ByteStream::Delegate* delegate) override;

 private:
  event::UvLoop* const loop_;  // Not owned.
};

// TCP connections of the netstack (through the tunnel).
class NetstackTcpConnector : public StreamConnector {
 public:
  explicit NetstackTcpConnector(netstack::Stack* stack) : stack_(stack) {}
  absl::StatusOr<std::unique_ptr<ByteStream>> Connect(
      const SocketAddress& remote, ByteStream::Delegate* delegate) override;

 private:
  netstack::Stack* const stack_;  // Not owned.
};

struct Iperf3Options {
  SocketAddress server;
  // Test length, sent to the server in whole seconds (rounded up).
  absl::Duration duration = absl::Seconds(10);
  // False: we send, the server receives (iperf3 -c). True: the server sends
  // (iperf3 -c -R).
  bool reverse = false;
  // Write size, and the "len" parameter.
  size_t block_size = 128 * 1024;
  // After `duration`, how long the rest (draining, results) may take before
  // the test fails with kDeadlineExceeded.
  absl::Duration grace = absl::Seconds(15);
};

struct Iperf3Result {
  // Data bytes measured by us: written and delivered (normal), or read
  // until the server closed the data connection (reverse).
  uint64_t bytes = 0;
  // From TEST_RUNNING until the last of those bytes.
  absl::Duration elapsed;
  double mbits_per_second = 0;
  // The server's figures from the results it sent, if it sent any we could
  // read: its byte count (received, or sent with reverse) and its seconds.
  absl::optional<uint64_t> server_bytes;
  absl::optional<double> server_seconds;
  absl::optional<double> server_mbits_per_second;
  std::string server_results_json;
};

// Runs one test. Threading: loop thread only (construction, Start() and
// destruction included); the callback runs on the loop thread, never inside
// Start(), and must not destroy the client (post that). Destroying the
// client aborts the test without a callback.
class Iperf3Client {
 public:
  using DoneCallback = absl::AnyInvocable<void(absl::StatusOr<Iperf3Result>)>;

  // `connector` (not owned) must outlive the client.
  Iperf3Client(event::Loop* loop, StreamConnector* connector,
               Iperf3Options options);
  ~Iperf3Client();
  Iperf3Client(const Iperf3Client&) = delete;
  Iperf3Client& operator=(const Iperf3Client&) = delete;

  // Connects and runs the test; `done` gets the result once. Errors now
  // (no callback): kFailedPrecondition if already started, those of the
  // connector.
  absl::Status Start(DoneCallback done);

  // The cookie this test uses (36 characters).
  const std::string& cookie() const { return cookie_; }

 private:
  class Control;
  class Data;
  enum class Phase {
    kIdle,
    kConnecting,
    kWaiting,      // for the next state byte
    kServerError,  // reading SERVER_ERROR's two error numbers
    kResults,      // reading the server's results JSON
    kClosing,      // IPERF_DONE sent; until the server closes
    kDone,
  };

  // Control stream events.
  void OnControlConnected(absl::Status status);
  void OnControlData(absl::Span<const uint8_t> data);
  void OnControlClosed(absl::Status status);
  // Data stream events.
  void OnDataConnected(absl::Status status);
  void OnDataBytes(size_t n);
  void OnDataWritable();
  void OnDataClosed(absl::Status status);

  void Process();
  void HandleState(int8_t state);
  absl::Status SendControl(absl::Span<const uint8_t> bytes);
  absl::Status SendJson(const std::string& json);
  std::string ParametersJson() const;
  std::string ResultsJson() const;
  void StartRunning();
  void Pump();
  void OnDurationElapsed();
  void CheckDrained();
  void EndTest();
  void MaybeSendResults();
  void ParseServerResults(const std::string& json);
  void Fail(absl::Status status);
  void Finish(absl::StatusOr<Iperf3Result> result);

  event::Loop* const loop_;           // Not owned.
  StreamConnector* const connector_;  // Not owned.
  const Iperf3Options options_;
  std::string cookie_;
  DoneCallback done_;
  Phase phase_ = Phase::kIdle;

  std::unique_ptr<Control> control_delegate_;
  std::unique_ptr<Data> data_delegate_;
  std::unique_ptr<ByteStream> control_;
  std::unique_ptr<ByteStream> data_;
  // Control bytes not yet written (the stream was full), and received but
  // not yet processed.
  std::vector<uint8_t> control_out_;
  std::vector<uint8_t> control_in_;

  std::vector<uint8_t> block_;
  bool running_ = false;     // between TEST_RUNNING and the end of sending
  bool test_ended_ = false;  // TEST_END sent
  bool data_eof_ = false;    // the server closed the data connection
  bool results_requested_ = false;
  bool results_sent_ = false;
  bool fin_wait_over_ = false;  // reverse: stopped waiting for the FIN
  absl::Duration started_at_;
  absl::Duration last_byte_at_;
  uint64_t bytes_ = 0;
  Iperf3Result result_;

  std::unique_ptr<event::Timer> duration_timer_;
  std::unique_ptr<event::Timer> drain_timer_;
  std::unique_ptr<event::Timer> deadline_timer_;
  absl::Duration drain_deadline_;
  // Runs the callback on its own turn, after the streams are closed.
  std::unique_ptr<event::Timer> finish_timer_;
  absl::optional<absl::StatusOr<Iperf3Result>> outcome_;
};

}  // namespace stow::interop

#endif  // STOWAWAY_TESTS_INTEROP_IPERF3_CLIENT_H_
