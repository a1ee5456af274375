// The iperf3 client against a real `iperf3 -s` on 127.0.0.1 over kernel TCP
// sockets, and its netstack adapter over a LoopbackLink.
#include "tests/interop/iperf3_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "sdk/event/manual_loop.h"
#include "sdk/event/test_util.h"
#include "sdk/event/uv_loop.h"

namespace stow::interop {
namespace {

using ::stow::event::testing::Notification;

// The iperf3 binary on PATH (or /usr/bin), or "".
std::string FindIperf3() {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/bin:/usr/local/bin";
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/iperf3");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A free TCP port on 127.0.0.1 (the kernel's pick, released at once).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(sa.sin_port);
}

// `iperf3 -s -1` on 127.0.0.1 as a child process, its output in a pipe.
class Iperf3Server {
 public:
  ~Iperf3Server() {
    if (pid_ > 0) {
      // -1: the server exits after one test; give it a moment, then kill.
      ReadOutput(absl::Seconds(10), "");
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  // Starts the server and waits until it listens.
  absl::Status Start(const std::string& binary) {
    port_ = FreePort();
    if (port_ <= 0) return absl::InternalError("no free port");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
    const std::string port = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      execl(binary.c_str(), "iperf3", "-s", "-B", "127.0.0.1", "-p",
            port.c_str(), "-1", "--forceflush", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
    if (pid_ < 0) return absl::InternalError("fork");
    if (!ReadOutput(absl::Seconds(10), "Server listening")) {
      return absl::DeadlineExceededError(
          absl::StrCat("iperf3 did not start listening: ", output_));
    }
    return absl::OkStatus();
  }

  // Reads the child's output until it contains `want` (or, with "", until
  // EOF) or `timeout` passes. Returns whether it got there.
  bool ReadOutput(absl::Duration timeout, const std::string& want) {
    const absl::Time end = absl::Now() + timeout;
    while (want.empty() || output_.find(want) == std::string::npos) {
      const absl::Duration left = end - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
          0) {
        return false;
      }
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) return want.empty();
      output_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  int port() const { return port_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  std::string output_;
};

class Iperf3KernelTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    binary_ = FindIperf3();
    ASSERT_FALSE(binary_.empty())
        << "iperf3 is not installed: tools/setup.sh installs the Debian "
           "package `iperf3` (apt-get install -y iperf3)";
    absl::StatusOr<std::unique_ptr<event::UvLoop>> loop =
        event::UvLoop::Start();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  void TearDown() override {
    if (loop_) {
      ASSERT_TRUE(loop_->RunSync([this] { client_.reset(); }).ok());
      EXPECT_TRUE(loop_->Shutdown().ok());
    }
  }

  std::string binary_;
  std::unique_ptr<event::UvLoop> loop_;
  std::unique_ptr<KernelTcpConnector> connector_;
  std::unique_ptr<Iperf3Client> client_;
};

TEST_P(Iperf3KernelTest, TwoSecondsAgainstRealIperf3) {
  const bool reverse = GetParam();
  Iperf3Server server;
  ASSERT_TRUE(server.Start(binary_).ok()) << server.output();

  Iperf3Options options;
  options.server = SocketAddress(IpAddress::V4(127, 0, 0, 1),
                                 static_cast<uint16_t>(server.port()));
  options.duration = absl::Seconds(2);
  options.reverse = reverse;
  Notification done;
  absl::StatusOr<Iperf3Result> result = absl::UnknownError("no result");
  ASSERT_TRUE(loop_
                  ->RunSync([&] {
                    connector_ =
                        std::make_unique<KernelTcpConnector>(loop_.get());
                    client_ = std::make_unique<Iperf3Client>(
                        loop_.get(), connector_.get(), options);
                    absl::Status s =
                        client_->Start([&](absl::StatusOr<Iperf3Result> r) {
                          result = std::move(r);
                          done.Notify();
                        });
                    EXPECT_TRUE(s.ok()) << s;
                    if (!s.ok()) done.Notify();
                  })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  server.ReadOutput(absl::Seconds(10), "");  // Until the server exits.
  ASSERT_TRUE(result.ok()) << result.status() << "\nserver output:\n"
                           << server.output();
  std::printf(
      "iperf3 %s: ours %llu bytes in %s = %.1f Mbit/s; server %llu "
      "bytes in %.3f s = %.1f Mbit/s\n",
      reverse ? "reverse" : "normal",
      static_cast<unsigned long long>(result->bytes),
      absl::FormatDuration(result->elapsed).c_str(), result->mbits_per_second,
      static_cast<unsigned long long>(result->server_bytes.value_or(0)),
      result->server_seconds.value_or(0),
      result->server_mbits_per_second.value_or(0));
  EXPECT_GT(result->bytes, 0u);
  // The server times the test; in reverse our clock starts at the first
  // byte, a little after its start, so ours may end just short of 2 s.
  EXPECT_GE(result->elapsed, absl::Milliseconds(1900));
  EXPECT_LT(result->elapsed, absl::Seconds(5));
  EXPECT_GT(result->mbits_per_second, 0);
  ASSERT_TRUE(result->server_bytes.has_value()) << result->server_results_json;
  const double ours = static_cast<double>(result->bytes);
  const double theirs = static_cast<double>(*result->server_bytes);
  EXPECT_LT(std::fabs(ours - theirs) / ours, 0.03)
      << "ours " << result->bytes << " server " << *result->server_bytes << "\n"
      << result->server_results_json << "\n"
      << server.output();
}

INSTANTIATE_TEST_SUITE_P(Directions, Iperf3KernelTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Reverse" : "Normal";
                         });

// The netstack adapter: a stream through a LoopbackLink to a listener that
// echoes what it reads, on a fake clock.
TEST(NetstackTcpConnectorTest, ConnectsWritesReadsAndSeesEof) {
  event::ManualLoop loop;
  std::unique_ptr<netstack::Stack> stack = *netstack::Stack::Create(&loop);
  netstack::testing::LoopbackLink link(&loop);
  netstack::InterfaceConfig config;
  config.ipv4 = IpAddress::V4(10, 0, 0, 1);
  std::unique_ptr<netstack::Interface> iface =
      *stack->AddInterface(&link, config);

  struct Echo : netstack::TcpListener::Delegate,
                netstack::TcpConnection::Delegate {
    void OnAccept(std::unique_ptr<netstack::TcpConnection> c) override {
      conn = std::move(c);
      conn->set_delegate(this);
    }
    void OnReadable() override {
      uint8_t buf[1024];
      size_t n;
      while ((n = conn->Read(absl::MakeSpan(buf))) > 0) {
        ASSERT_EQ(*conn->Write(absl::MakeConstSpan(buf, n)), n);
      }
      if (conn->peer_closed()) (void)conn->Shutdown();
    }
    void OnError(absl::Status) override {}
    std::unique_ptr<netstack::TcpConnection> conn;
  } echo;
  std::unique_ptr<netstack::TcpListener> listener =
      *netstack::TcpListener::Listen(
          stack.get(), SocketAddress(IpAddress::V4(10, 0, 0, 1), 5201), &echo);

  struct Recorder : ByteStream::Delegate {
    void OnConnected(absl::Status s) override { connected = s; }
    void OnData(absl::Span<const uint8_t> d) override {
      data.insert(data.end(), d.begin(), d.end());
    }
    void OnWritable() override {}
    void OnClosed(absl::Status s) override { closed = s; }
    absl::optional<absl::Status> connected, closed;
    std::vector<uint8_t> data;
  } recorder;
  NetstackTcpConnector connector(stack.get());
  absl::StatusOr<std::unique_ptr<ByteStream>> stream = connector.Connect(
      SocketAddress(IpAddress::V4(10, 0, 0, 1), 5201), &recorder);
  ASSERT_TRUE(stream.ok()) << stream.status();
  auto run_until = [&](const std::function<bool()>& f) {
    for (int i = 0; i < 5000 && !f(); ++i) {
      loop.RunUntilIdle();
      if (!f()) loop.AdvanceBy(absl::Milliseconds(2));
    }
    return f();
  };
  ASSERT_TRUE(run_until([&] { return recorder.connected.has_value(); }));
  ASSERT_TRUE(recorder.connected->ok()) << *recorder.connected;
  const std::vector<uint8_t> hello = {'h', 'e', 'l', 'l', 'o'};
  ASSERT_EQ(*(*stream)->Write(hello), hello.size());
  ASSERT_TRUE(run_until([&] { return recorder.data.size() == 5; }));
  EXPECT_EQ(recorder.data, hello);
  EXPECT_TRUE(run_until([&] { return (*stream)->PendingBytes() == 0; }));
  // The server side finishes sending: the stream reports EOF.
  (void)echo.conn->Shutdown();
  ASSERT_TRUE(run_until([&] { return recorder.closed.has_value(); }));
  EXPECT_TRUE(recorder.closed->ok()) << *recorder.closed;

  stream->reset();
  echo.conn.reset();
  listener.reset();
  iface.reset();
  stack->AbortOrphanedConnections();
  loop.RunUntilIdle();
  EXPECT_TRUE(stack->Resources().IsEmpty()) << stack->Resources().ToString();
}

}  // namespace
}  // namespace stow::interop
