// The C API's contract, written against the public header only (plus a
// helper that starts our gateway as a child process): errors, lifetimes,
// threads, and real traffic through an IKEv2 session to samples/gateway.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/include/stowaway/stowaway.h"
#include "tests/integration/peer_process.h"

namespace {

using stow::testing::PeerProcess;
using stow::testing::RunfilePath;

constexpr auto kTimeout = std::chrono::seconds(20);
constexpr char kPsk[] = "capi-test-psk-0123456789";

// A flag set on the network thread and waited for on the test's.
class Event {
 public:
  void Set() {
    std::lock_guard<std::mutex> lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }
  bool IsSet() {
    std::lock_guard<std::mutex> lock(mu_);
    return set_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// FNV-1a: enough to compare streams here (the header is all we use).
uint64_t Fnv(const std::vector<uint8_t>& data) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : data) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::string ProfileJson(const std::string& gateway,
                        const std::string& extra = "") {
  return "{\"name\": \"capi\", \"gateway\": \"" + gateway +
         "\",\n \"local_id\": \"email:capi@stowaway.test\",\n"
         " \"remote_id\": \"fqdn:gw.stowaway.test\",\n"
         " \"auth\": {\"psk\": \"" +
         kPsk + "\"}" + extra + "}";
}

// Session callbacks recorded.
struct SessionLog {
  std::mutex mu;
  std::vector<int32_t> states;
  Event connected;
  Event closed;
  stow_status closed_status = 1;
  int32_t closed_category = -1;
  int32_t closed_retry = 0;
  std::string closed_message;
  int closed_calls = 0;

  static void OnEvent(void* ctx, stow_session*, const stow_session_event* e) {
    auto* self = static_cast<SessionLog*>(ctx);
    {
      std::lock_guard<std::mutex> lock(self->mu);
      self->states.push_back(e->state);
    }
    if (e->state == STOW_SESSION_CONNECTED) self->connected.Set();
  }
  static void OnClosed(void* ctx, stow_session*, const stow_error* e) {
    auto* self = static_cast<SessionLog*>(ctx);
    {
      std::lock_guard<std::mutex> lock(self->mu);
      self->closed_calls++;
      self->closed_status = e->status;
      self->closed_category = e->category;
      self->closed_retry = e->retry_after_ms;
      self->closed_message = e->message;
    }
    self->closed.Set();
  }
  stow_session_callbacks Callbacks() {
    stow_session_callbacks cb{};
    cb.struct_size = sizeof(cb);
    cb.context = this;
    cb.on_event = &OnEvent;
    cb.on_closed = &OnClosed;
    return cb;
  }
};

TEST(CapiBasics, VersionAndStatusNames) {
  EXPECT_STREQ(stow_version(), "0.5.0");
  EXPECT_EQ(stow_api_version(), STOW_API_VERSION);
  EXPECT_STREQ(stow_status_name(STOW_OK), "STOW_OK");
  EXPECT_STREQ(stow_status_name(STOW_ERR_EOF), "STOW_ERR_EOF");
  EXPECT_STREQ(stow_status_name(STOW_ERR_NAME_NOT_FOUND),
               "STOW_ERR_NAME_NOT_FOUND");
  EXPECT_STREQ(stow_status_name(-12345), "STOW_ERR_UNKNOWN");
  EXPECT_STREQ(stow_status_string(STOW_ERR_WOULD_BLOCK),
               "nothing to read or no room to write now");
  // Bands.
  EXPECT_LE(STOW_ERR_BAD_PROFILE, -100);
  EXPECT_GT(STOW_ERR_BAD_PROFILE, -200);
  EXPECT_LE(STOW_ERR_WOULD_BLOCK, -300);
  EXPECT_GT(STOW_ERR_WOULD_BLOCK, -400);
}

TEST(CapiBasics, NullAndDestroyedHandlesAreErrors) {
  stow_engine* engine = nullptr;
  // Without an engine every handle is dead.
  EXPECT_EQ(stow_session_start(reinterpret_cast<stow_session*>(0x1232)),
            STOW_ERR_BAD_HANDLE);
  ASSERT_EQ(stow_engine_create(&engine), STOW_OK);
  stow_engine* second = nullptr;
  EXPECT_EQ(stow_engine_create(&second), STOW_ERR_ENGINE_EXISTS);
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(std::string(stow_last_error_message()).find("one per process"),
            std::string::npos);

  EXPECT_EQ(stow_session_start(nullptr), STOW_ERR_NULL_HANDLE);
  EXPECT_EQ(stow_tcp_close(nullptr), STOW_ERR_NULL_HANDLE);
  stow_tcp_destroy(nullptr);
  stow_udp_destroy(nullptr);
  stow_session_destroy(nullptr);
  stow_tcp_listener_destroy(nullptr);
  EXPECT_EQ(stow_engine_destroy(nullptr), STOW_OK);

  const std::string json = ProfileJson("127.0.0.1:9");
  stow_session* session = nullptr;
  ASSERT_EQ(stow_session_create(engine, json.data(), json.size(), nullptr,
                                &session),
            STOW_OK);
  // A session handle is not a TCP handle, and garbage is nothing.
  uint8_t buf[4];
  size_t n = 0;
  EXPECT_EQ(stow_tcp_read(reinterpret_cast<stow_tcp*>(session), buf,
                          sizeof(buf), &n),
            STOW_ERR_BAD_HANDLE);
  EXPECT_EQ(stow_session_start(reinterpret_cast<stow_session*>(0xdead0)),
            STOW_ERR_BAD_HANDLE);
  stow_session_destroy(session);
  // Destroyed: an error, not a crash; destroying twice is harmless.
  int32_t state = 0;
  EXPECT_EQ(stow_session_state(session, &state), STOW_ERR_BAD_HANDLE);
  stow_session_destroy(session);
  ASSERT_EQ(stow_engine_destroy(engine), STOW_OK);
  // The engine's handles die with it.
  EXPECT_EQ(stow_engine_set_log(engine, STOW_LOG_INFO, nullptr, nullptr),
            STOW_ERR_BAD_HANDLE);
  EXPECT_EQ(stow_engine_destroy(engine), STOW_ERR_BAD_HANDLE);
}

TEST(CapiBasics, MalformedProfilesNameTheFieldAndLine) {
  stow_engine* engine = nullptr;
  ASSERT_EQ(stow_engine_create(&engine), STOW_OK);
  stow_session* session = nullptr;
  const std::string syntax = "{\"name\": \"x\",\n \"gateway\": }";
  EXPECT_EQ(stow_session_create(engine, syntax.data(), syntax.size(), nullptr,
                                &session),
            STOW_ERR_BAD_PROFILE);
  EXPECT_EQ(session, nullptr);
  EXPECT_NE(std::string(stow_last_error_message()).find("line 2"),
            std::string::npos)
      << stow_last_error_message();

  const std::string field = ProfileJson(
      "127.0.0.1:4500", ",\n \"timers\": {\"dpd_delay_s\": \"soon\"}");
  EXPECT_EQ(stow_session_create(engine, field.data(), field.size(), nullptr,
                                &session),
            STOW_ERR_BAD_PROFILE);
  const std::string message = stow_last_error_message();
  EXPECT_NE(message.find("profile line 5"), std::string::npos) << message;
  EXPECT_NE(message.find("timers.dpd_delay_s"), std::string::npos) << message;

  stow_session_callbacks bad{};
  bad.struct_size = 3;
  const std::string ok = ProfileJson("127.0.0.1:4500");
  EXPECT_EQ(stow_session_create(engine, ok.data(), ok.size(), &bad, &session),
            STOW_ERR_BAD_STRUCT_SIZE);
  ASSERT_EQ(stow_engine_destroy(engine), STOW_OK);
}

TEST(CapiBasics, CreateAndDestroyInALoop) {
  for (int i = 0; i < 20; ++i) {
    stow_engine* engine = nullptr;
    ASSERT_EQ(stow_engine_create(&engine), STOW_OK) << i;
    const std::string json = ProfileJson("127.0.0.1:9");
    stow_session* session = nullptr;
    ASSERT_EQ(stow_session_create(engine, json.data(), json.size(), nullptr,
                                  &session),
              STOW_OK);
    if (i % 2 == 0) ASSERT_EQ(stow_session_start(session), STOW_OK);
    if (i % 4 == 0) stow_session_destroy(session);
    ASSERT_EQ(stow_engine_destroy(engine), STOW_OK) << i;
  }
}

// Our gateway as a child process, and a connected session.
class CapiGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto peer = PeerProcess::Start(
        {RunfilePath("samples/gateway/gateway"), "--listen=127.0.0.1:0",
         "--ike", std::string("--psk=") + kPsk, "--max_connections=2000",
         "--dns_record=files.stowaway.test=10.99.0.1,"
         "files.stowaway.test=fd99::1",
         "--stop_on_stdin_eof"});
    ASSERT_TRUE(peer.ok()) << peer.status();
    gateway_ = *std::move(peer);
    ASSERT_EQ(stow_engine_create(&engine_), STOW_OK);
  }
  void TearDown() override {
    if (session_ != nullptr) stow_session_destroy(session_);
    EXPECT_EQ(stow_engine_destroy(engine_), STOW_OK);
    if (gateway_ != nullptr) EXPECT_EQ(gateway_->Stop(), 0);
  }

  void Connect() {
    const std::string json = ProfileJson(gateway_->ready_line());
    stow_session_callbacks cb = log_.Callbacks();
    ASSERT_EQ(stow_session_create(engine_, json.data(), json.size(), &cb,
                                  &session_),
              STOW_OK)
        << stow_last_error_message();
    ASSERT_EQ(stow_session_start(session_), STOW_OK);
    ASSERT_TRUE(log_.connected.Wait()) << "no CONNECTED event";
  }

  std::unique_ptr<PeerProcess> gateway_;
  stow_engine* engine_ = nullptr;
  stow_session* session_ = nullptr;
  SessionLog log_;
};

// Echoes `data` through a TCP connection to the gateway's echo service,
// with the callbacks driving writes and reads (flow control both ways).
class EchoClient {
 public:
  explicit EchoClient(std::vector<uint8_t> data) : data_(std::move(data)) {}

  stow_status Start(stow_session* session, const char* host, uint16_t port) {
    stow_tcp_callbacks cb{};
    cb.struct_size = sizeof(cb);
    cb.context = this;
    cb.on_connected = [](void* c, stow_tcp* t) {
      static_cast<EchoClient*>(c)->connected_calls_++;
      static_cast<EchoClient*>(c)->Pump(t);
    };
    cb.on_writable = [](void* c, stow_tcp* t) {
      static_cast<EchoClient*>(c)->Pump(t);
    };
    cb.on_readable = [](void* c, stow_tcp* t) {
      static_cast<EchoClient*>(c)->Drain(t);
    };
    cb.on_closed = [](void* c, stow_tcp*, const stow_error* e) {
      auto* self = static_cast<EchoClient*>(c);
      self->closed_calls_++;
      self->closed_status_ = e->status;
      self->closed_message_ = e->message;
      if (e->status != STOW_OK) self->error_ = e->status;
      self->closed_.Set();
      self->done_.Set();
    };
    return stow_tcp_connect(session, host, port, &cb, &tcp_);
  }

  void Pump(stow_tcp* t) {
    while (sent_ < data_.size()) {
      size_t n = 0;
      stow_status s = stow_tcp_write(t, data_.data() + sent_,
                                     data_.size() - sent_, &n);
      sent_ += n;
      if (s == STOW_ERR_WOULD_BLOCK) return;
      if (s != STOW_OK) {
        error_ = s;
        done_.Set();
        return;
      }
    }
  }
  void Drain(stow_tcp* t) {
    uint8_t buf[16384];
    while (true) {
      size_t n = 0;
      stow_status s = stow_tcp_read(t, buf, sizeof(buf), &n);
      if (s == STOW_OK) {
        received_.insert(received_.end(), buf, buf + n);
        if (received_.size() == data_.size()) done_.Set();
        continue;
      }
      if (s != STOW_ERR_WOULD_BLOCK) {
        if (s != STOW_ERR_EOF) error_ = s;
        done_.Set();
      }
      return;
    }
  }

  stow_tcp* tcp() const { return tcp_; }
  bool intact() const { return received_ == data_; }
  Event& done() { return done_; }
  Event& closed() { return closed_; }
  const std::vector<uint8_t>& received() const { return received_; }
  stow_status error() const { return error_; }
  stow_status closed_status() const { return closed_status_; }
  const std::string& closed_message() const { return closed_message_; }
  int closed_calls() const { return closed_calls_; }
  int connected_calls() const { return connected_calls_; }

 private:
  const std::vector<uint8_t> data_;
  stow_tcp* tcp_ = nullptr;
  size_t sent_ = 0;
  std::vector<uint8_t> received_;
  std::atomic<stow_status> error_{STOW_OK};
  Event done_;
  Event closed_;
  std::atomic<int> closed_calls_{0};
  std::atomic<int> connected_calls_{0};
  stow_status closed_status_ = 1;
  std::string closed_message_;
};

TEST_F(CapiGatewayTest, ConnectsAndReportsAddresses) {
  Connect();
  char address[64];
  ASSERT_EQ(stow_session_address(session_, STOW_FAMILY_IPV4, address,
                                 sizeof(address)),
            STOW_OK);
  EXPECT_EQ(std::string(address).rfind("10.99.100.", 0), 0u) << address;
  char tiny[4];
  EXPECT_EQ(stow_session_address(session_, STOW_FAMILY_IPV4, tiny,
                                 sizeof(tiny)),
            STOW_ERR_BUFFER_TOO_SMALL);
  int32_t state = 0;
  ASSERT_EQ(stow_session_state(session_, &state), STOW_OK);
  EXPECT_EQ(state, STOW_SESSION_CONNECTED);
  {
    std::lock_guard<std::mutex> lock(log_.mu);
    ASSERT_GE(log_.states.size(), 2u);
    EXPECT_EQ(log_.states[0], STOW_SESSION_CONNECTING);
  }
  char stats[8192];
  size_t len = 0;
  ASSERT_EQ(stow_session_stats(session_, stats, sizeof(stats), &len), STOW_OK);
  EXPECT_EQ(strlen(stats), len);
  EXPECT_NE(std::string(stats).find("\"esp_tx_packets\": "),
            std::string::npos)
      << stats;
  EXPECT_EQ(stow_session_start(session_), STOW_ERR_ALREADY_STARTED);
}

TEST_F(CapiGatewayTest, FourMiBEchoedIntact) {
  Connect();
  const std::vector<uint8_t> data = RandomBytes(4 << 20, 1);
  EchoClient client(data);
  ASSERT_EQ(client.Start(session_, "10.99.0.1", 7), STOW_OK);
  ASSERT_TRUE(client.done().Wait(std::chrono::seconds(60)))
      << "received " << client.received().size();
  EXPECT_EQ(client.error(), STOW_OK);
  EXPECT_EQ(client.received().size(), data.size());
  EXPECT_EQ(Fnv(client.received()), Fnv(data));
  EXPECT_EQ(client.connected_calls(), 1);
  // Close: exactly one on_closed, with STOW_OK, later.
  ASSERT_EQ(stow_tcp_close(client.tcp()), STOW_OK);
  EXPECT_EQ(stow_tcp_close(client.tcp()), STOW_ERR_CLOSED);
  ASSERT_TRUE(client.closed().Wait());
  EXPECT_EQ(client.closed_status(), STOW_OK);
  size_t n = 0;
  EXPECT_EQ(stow_tcp_write(client.tcp(), data.data(), 10, &n),
            STOW_ERR_CLOSED);
  stow_tcp_destroy(client.tcp());
  EXPECT_EQ(client.closed_calls(), 1);
}

TEST_F(CapiGatewayTest, RefusedConnectionEndsOnceWithPeerCategory) {
  Connect();
  EchoClient client({1, 2, 3});
  ASSERT_EQ(client.Start(session_, "10.99.0.1", 4444), STOW_OK);
  ASSERT_TRUE(client.closed().Wait());
  EXPECT_EQ(client.closed_status(), STOW_ERR_CONNECTION_REFUSED);
  EXPECT_EQ(client.connected_calls(), 0);
  stow_tcp_destroy(client.tcp());
  EXPECT_EQ(client.closed_calls(), 1);
}

TEST_F(CapiGatewayTest, UdpEchoAndPing) {
  Connect();
  struct Udp {
    Event got;
    std::vector<uint8_t> data;
    std::string from;
    uint16_t port = 0;
  } u;
  stow_udp_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = &u;
  cb.on_datagram = [](void* c, stow_udp*, const uint8_t* d, size_t n,
                      const char* from, uint16_t port) {
    auto* self = static_cast<Udp*>(c);
    self->data.assign(d, d + n);
    self->from = from;
    self->port = port;
    self->got.Set();
  };
  stow_udp* udp = nullptr;
  ASSERT_EQ(stow_udp_bind(session_, nullptr, 0, &cb, &udp), STOW_OK);
  uint16_t local_port = 0;
  ASSERT_EQ(stow_udp_local_port(udp, &local_port), STOW_OK);
  EXPECT_NE(local_port, 0);
  const std::vector<uint8_t> payload = RandomBytes(1200, 2);
  ASSERT_EQ(stow_udp_send_to(udp, "10.99.0.1", 7, payload.data(),
                             payload.size()),
            STOW_OK);
  ASSERT_TRUE(u.got.Wait());
  EXPECT_EQ(u.data, payload);
  EXPECT_EQ(u.from, "10.99.0.1");
  EXPECT_EQ(u.port, 7);
  std::vector<uint8_t> huge(70000);
  EXPECT_EQ(stow_udp_send_to(udp, "10.99.0.1", 7, huge.data(), huge.size()),
            STOW_ERR_MESSAGE_TOO_LONG);
  EXPECT_EQ(stow_udp_send_to(udp, "gateway", 7, huge.data(), 1),
            STOW_ERR_BAD_ADDRESS);
  stow_udp_destroy(udp);

  struct Ping {
    Event done;
    stow_status status = 1;
    uint32_t rtt = 0;
  } p;
  ASSERT_EQ(stow_ping(session_, "10.99.0.1", 5000,
                      [](void* c, const stow_error* e, uint32_t rtt) {
                        auto* self = static_cast<Ping*>(c);
                        self->status = e->status;
                        self->rtt = rtt;
                        self->done.Set();
                      },
                      &p),
            STOW_OK);
  ASSERT_TRUE(p.done.Wait());
  EXPECT_EQ(p.status, STOW_OK);
  EXPECT_GT(p.rtt, 0u);
}

TEST_F(CapiGatewayTest, ListenNeedsAnAddressAndRefusesAPortInUse) {
  const std::string json = ProfileJson(gateway_->ready_line());
  ASSERT_EQ(stow_session_create(engine_, json.data(), json.size(), nullptr,
                                &session_),
            STOW_OK);
  stow_tcp_listener* listener = nullptr;
  EXPECT_EQ(stow_tcp_listen(session_, nullptr, 8080, nullptr, &listener),
            STOW_ERR_NOT_CONNECTED);
  stow_session_destroy(session_);
  session_ = nullptr;
  Connect();
  ASSERT_EQ(stow_tcp_listen(session_, nullptr, 8080, nullptr, &listener),
            STOW_OK);
  stow_tcp_listener* second = nullptr;
  EXPECT_EQ(stow_tcp_listen(session_, nullptr, 8080, nullptr, &second),
            STOW_ERR_ADDRESS_IN_USE);
  EXPECT_EQ(stow_tcp_listen(session_, "not-an-ip", 8081, nullptr, &second),
            STOW_ERR_BAD_ADDRESS);
  stow_tcp_listener_destroy(listener);
}

// Destroying the session aborts its connections: each gets one on_closed
// with STOW_ERR_ABORTED; their handles stay valid until destroyed.
TEST_F(CapiGatewayTest, DestroyingTheSessionAbortsItsConnections) {
  Connect();
  std::vector<std::unique_ptr<EchoClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<EchoClient>(RandomBytes(1024, i)));
    ASSERT_EQ(clients.back()->Start(session_, "10.99.0.1", 7), STOW_OK);
    ASSERT_TRUE(clients.back()->done().Wait());
  }
  stow_session_destroy(session_);
  session_ = nullptr;
  for (auto& c : clients) {
    ASSERT_TRUE(c->closed().Wait());
    EXPECT_EQ(c->closed_status(), STOW_ERR_ABORTED);
    size_t n = 0;
    uint8_t b = 0;
    EXPECT_EQ(stow_tcp_write(c->tcp(), &b, 1, &n), STOW_ERR_CLOSED);
    stow_tcp_destroy(c->tcp());
    EXPECT_EQ(c->closed_calls(), 1);
  }
  // The session's end was not reported: it was destroyed, not stopped.
  EXPECT_FALSE(log_.closed.IsSet());
}

TEST_F(CapiGatewayTest, StopReportsClosedOnceWithLocalCategory) {
  Connect();
  ASSERT_EQ(stow_session_stop(session_), STOW_OK);
  ASSERT_TRUE(log_.closed.Wait());
  std::lock_guard<std::mutex> lock(log_.mu);
  EXPECT_EQ(log_.closed_calls, 1);
  EXPECT_EQ(log_.closed_status, STOW_OK);
  EXPECT_EQ(log_.closed_category, STOW_CATEGORY_LOCAL);
}

// Closing and destroying from inside callbacks.
TEST_F(CapiGatewayTest, CloseAndDestroyInsideCallbacks) {
  Connect();
  struct Ctx {
    Event closed;
    Event destroyed;
    std::atomic<int> closed_calls{0};
  } ctx;
  stow_tcp_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = &ctx;
  cb.on_connected = [](void*, stow_tcp* t) {
    const uint8_t hello[] = "hello";
    size_t n = 0;
    stow_tcp_write(t, hello, 5, &n);
  };
  cb.on_readable = [](void*, stow_tcp* t) {
    uint8_t b[16];
    size_t n = 0;
    while (stow_tcp_read(t, b, sizeof(b), &n) == STOW_OK) {
    }
    stow_tcp_close(t);  // inside the callback
  };
  cb.on_closed = [](void* c, stow_tcp* t, const stow_error*) {
    auto* self = static_cast<Ctx*>(c);
    self->closed_calls++;
    stow_tcp_destroy(t);  // inside the terminal callback
    self->closed.Set();
  };
  stow_tcp* tcp = nullptr;
  ASSERT_EQ(stow_tcp_connect(session_, "10.99.0.1", 7, &cb, &tcp), STOW_OK);
  ASSERT_TRUE(ctx.closed.Wait());
  size_t n = 0;
  uint8_t b[1];
  EXPECT_EQ(stow_tcp_read(tcp, b, 1, &n), STOW_ERR_BAD_HANDLE);
  EXPECT_EQ(ctx.closed_calls.load(), 1);
}

// Threads calling in while callbacks run, then destroying.
TEST_F(CapiGatewayTest, CallsFromOtherThreadsRaceCallbacks) {
  Connect();
  std::vector<std::unique_ptr<EchoClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<EchoClient>(RandomBytes(256 << 10, i)));
    ASSERT_EQ(clients.back()->Start(session_, "10.99.0.1", 7), STOW_OK);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      char buf[4096];
      size_t len = 0;
      while (!stop.load()) {
        stow_session_stats(session_, buf, sizeof(buf), &len);
        int32_t state;
        stow_session_state(session_, &state);
        uint16_t port;
        stow_tcp_local_address(clients[t]->tcp(), buf, sizeof(buf), &port);
      }
    });
  }
  for (auto& c : clients) {
    ASSERT_TRUE(c->done().Wait(std::chrono::seconds(60)));
    EXPECT_EQ(c->error(), STOW_OK);
  }
  // Destroy half from other threads while the threads above still call.
  std::vector<std::thread> destroyers;
  for (int i = 0; i < 4; ++i) {
    destroyers.emplace_back([&, i] { stow_tcp_destroy(clients[i]->tcp()); });
  }
  for (auto& d : destroyers) d.join();
  stop = true;
  for (auto& t : threads) t.join();
  for (int i = 4; i < 8; ++i) stow_tcp_destroy(clients[i]->tcp());
}

TEST_F(CapiGatewayTest, BlockingCallOnTheNetworkThreadIsRefused) {
  Connect();
  struct Ctx {
    Event done;
    stow_status destroy_status = 1;
    stow_engine* engine = nullptr;
  } ctx;
  ctx.engine = engine_;
  ASSERT_EQ(stow_ping(session_, "10.99.0.1", 5000,
                      [](void* c, const stow_error*, uint32_t) {
                        auto* self = static_cast<Ctx*>(c);
                        self->destroy_status = stow_engine_destroy(self->engine);
                        self->done.Set();
                      },
                      &ctx),
            STOW_OK);
  ASSERT_TRUE(ctx.done.Wait());
  EXPECT_EQ(ctx.destroy_status, STOW_ERR_WRONG_THREAD);
}

TEST_F(CapiGatewayTest, UnreachableGatewayEndsWithNetworkCategory) {
  // A port nobody answers on, and short retransmissions.
  const std::string json = ProfileJson(
      "127.0.0.1:9",
      ",\n \"timers\": {\"retransmit_base_ms\": 50, \"retransmit_tries\": 2}");
  stow_session_callbacks cb = log_.Callbacks();
  ASSERT_EQ(stow_session_create(engine_, json.data(), json.size(), &cb,
                                &session_),
            STOW_OK);
  ASSERT_EQ(stow_session_start(session_), STOW_OK);
  ASSERT_TRUE(log_.closed.Wait());
  std::lock_guard<std::mutex> lock(log_.mu);
  EXPECT_EQ(log_.closed_status, STOW_ERR_GATEWAY_UNREACHABLE);
  EXPECT_EQ(log_.closed_category, STOW_CATEGORY_NETWORK);
  EXPECT_GT(log_.closed_retry, 0);
  EXPECT_EQ(log_.closed_calls, 1);
}

TEST_F(CapiGatewayTest, WrongPskIsAnAuthErrorWithoutRetryHint) {
  std::string json = ProfileJson(gateway_->ready_line());
  json.replace(json.find(kPsk), strlen(kPsk), "not-the-right-key-at-all");
  stow_session_callbacks cb = log_.Callbacks();
  ASSERT_EQ(stow_session_create(engine_, json.data(), json.size(), &cb,
                                &session_),
            STOW_OK);
  ASSERT_EQ(stow_session_start(session_), STOW_OK);
  ASSERT_TRUE(log_.closed.Wait());
  std::lock_guard<std::mutex> lock(log_.mu);
  EXPECT_EQ(log_.closed_status, STOW_ERR_AUTH_FAILED);
  EXPECT_EQ(log_.closed_category, STOW_CATEGORY_AUTH);
  EXPECT_EQ(log_.closed_retry, -1);
}

struct Resolution {
  Event done;
  stow_status status = 1;
  int32_t category = -1;
  std::string message;
  std::vector<std::string> addresses;
  static void Fn(void* ctx, const stow_error* e, const char* const* a,
                 size_t n) {
    auto* self = static_cast<Resolution*>(ctx);
    self->status = e->status;
    self->category = e->category;
    self->message = e->message;
    for (size_t i = 0; i < n; ++i) self->addresses.push_back(a[i]);
    self->done.Set();
  }
};

TEST_F(CapiGatewayTest, ResolvesThroughThePushedDnsServer) {
  Connect();
  char dns[64];
  ASSERT_EQ(stow_session_dns_server(session_, 0, dns, sizeof(dns)), STOW_OK);
  EXPECT_STREQ(dns, "10.99.0.1");
  EXPECT_EQ(stow_session_dns_server(session_, 1, dns, sizeof(dns)),
            STOW_ERR_INVALID_ARGUMENT);
  Resolution both;
  ASSERT_EQ(stow_resolve(session_, "files.stowaway.test", STOW_FAMILY_ANY,
                         &Resolution::Fn, &both),
            STOW_OK);
  ASSERT_TRUE(both.done.Wait());
  EXPECT_EQ(both.status, STOW_OK) << both.message;
  EXPECT_EQ(both.addresses,
            (std::vector<std::string>{"10.99.0.1", "fd99::1"}));
  Resolution v6;
  ASSERT_EQ(stow_resolve(session_, "FILES.stowaway.test", STOW_FAMILY_IPV6,
                         &Resolution::Fn, &v6),
            STOW_OK);
  ASSERT_TRUE(v6.done.Wait());
  EXPECT_EQ(v6.addresses, (std::vector<std::string>{"fd99::1"}));
  Resolution missing;
  ASSERT_EQ(stow_resolve(session_, "nope.stowaway.test", STOW_FAMILY_ANY,
                         &Resolution::Fn, &missing),
            STOW_OK);
  ASSERT_TRUE(missing.done.Wait());
  EXPECT_EQ(missing.status, STOW_ERR_NAME_NOT_FOUND);
  EXPECT_EQ(missing.category, STOW_CATEGORY_DNS);
  EXPECT_NE(missing.message.find("no such name: nope.stowaway.test"),
            std::string::npos)
      << missing.message;
  EXPECT_TRUE(missing.addresses.empty());
  Resolution bad;
  EXPECT_EQ(stow_resolve(session_, "bad..name", STOW_FAMILY_ANY,
                         &Resolution::Fn, &bad),
            STOW_ERR_BAD_NAME);
  EXPECT_FALSE(bad.done.Wait(std::chrono::milliseconds(200)))
      << "a failed call called back";
}

TEST_F(CapiGatewayTest, SearchDomainsFromTheProfile) {
  const std::string json = ProfileJson(
      gateway_->ready_line(), ",\n \"dns_search\": [\"stowaway.test\"]");
  stow_session_callbacks cb = log_.Callbacks();
  ASSERT_EQ(stow_session_create(engine_, json.data(), json.size(), &cb,
                                &session_),
            STOW_OK)
      << stow_last_error_message();
  ASSERT_EQ(stow_session_start(session_), STOW_OK);
  ASSERT_TRUE(log_.connected.Wait());
  Resolution r;
  ASSERT_EQ(stow_resolve(session_, "files", STOW_FAMILY_IPV4, &Resolution::Fn,
                         &r),
            STOW_OK);
  ASSERT_TRUE(r.done.Wait());
  EXPECT_EQ(r.status, STOW_OK) << r.message;
  EXPECT_EQ(r.addresses, (std::vector<std::string>{"10.99.0.1"}));
}

// Shutdown sends FIN after the queued bytes: the echo service finishes and
// closes, so the reader sees every byte and then EOF.
TEST_F(CapiGatewayTest, ShutdownThenReadToEof) {
  Connect();
  struct Ctx {
    std::vector<uint8_t> data;
    std::vector<uint8_t> got;
    size_t sent = 0;
    bool shut = false;
    Event eof;
    stow_status shutdown_status = 1;
  } ctx;
  ctx.data = RandomBytes(300000, 31);
  stow_tcp_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = &ctx;
  auto pump = [](void* c, stow_tcp* t) {
    auto* self = static_cast<Ctx*>(c);
    while (self->sent < self->data.size()) {
      size_t n = 0;
      if (stow_tcp_write(t, self->data.data() + self->sent,
                         self->data.size() - self->sent, &n) != STOW_OK) {
        return;
      }
      self->sent += n;
    }
    if (!self->shut) {
      self->shut = true;
      self->shutdown_status = stow_tcp_shutdown(t);
    }
  };
  cb.on_connected = pump;
  cb.on_writable = pump;
  cb.on_readable = [](void* c, stow_tcp* t) {
    auto* self = static_cast<Ctx*>(c);
    uint8_t buf[8192];
    while (true) {
      size_t n = 0;
      stow_status s = stow_tcp_read(t, buf, sizeof(buf), &n);
      if (s == STOW_OK) {
        self->got.insert(self->got.end(), buf, buf + n);
        continue;
      }
      if (s == STOW_ERR_EOF) self->eof.Set();
      return;
    }
  };
  stow_tcp* tcp = nullptr;
  ASSERT_EQ(stow_tcp_connect(session_, "10.99.0.1", 7, &cb, &tcp), STOW_OK);
  ASSERT_TRUE(ctx.eof.Wait());
  EXPECT_EQ(ctx.shutdown_status, STOW_OK);
  EXPECT_EQ(ctx.got, ctx.data);
  size_t n = 0;
  EXPECT_EQ(stow_tcp_write(tcp, ctx.data.data(), 1, &n), STOW_ERR_CLOSED);
  EXPECT_EQ(stow_tcp_shutdown(tcp), STOW_ERR_CLOSED);
  stow_tcp_destroy(tcp);
}

TEST_F(CapiGatewayTest, ConnectsByName) {
  Connect();
  const std::vector<uint8_t> data = RandomBytes(64 << 10, 9);
  EchoClient client(data);
  ASSERT_EQ(client.Start(session_, "files.stowaway.test", 7), STOW_OK);
  ASSERT_TRUE(client.done().Wait());
  EXPECT_EQ(client.error(), STOW_OK);
  EXPECT_TRUE(client.intact());
  char remote[64];
  uint16_t port = 0;
  ASSERT_EQ(stow_tcp_remote_address(client.tcp(), remote, sizeof(remote),
                                    &port),
            STOW_OK);
  EXPECT_STREQ(remote, "10.99.0.1");
  EXPECT_EQ(port, 7);
  stow_tcp_destroy(client.tcp());

  EchoClient nowhere({1});
  ASSERT_EQ(nowhere.Start(session_, "nope.stowaway.test", 7), STOW_OK);
  ASSERT_TRUE(nowhere.closed().Wait());
  EXPECT_EQ(nowhere.closed_status(), STOW_ERR_NAME_NOT_FOUND);
  EXPECT_EQ(nowhere.connected_calls(), 0);
  stow_tcp_destroy(nowhere.tcp());
}

// Host-side socket helpers for the proxy, forward and bridge tests.
int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const uint8_t* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads until `len` bytes, EOF or 20 s without data.
std::vector<uint8_t> ReadUpTo(int fd, size_t len) {
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  while (out.size() < len) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20000) <= 0) break;
    ssize_t n = read(fd, buf, std::min(sizeof(buf), len - out.size()));
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

// Echoes `data` through `fd` with a writer thread (the socket buffers are
// smaller than the data).
std::vector<uint8_t> EchoThrough(int fd, const std::vector<uint8_t>& data) {
  std::thread writer([&] { WriteAll(fd, data.data(), data.size()); });
  std::vector<uint8_t> back = ReadUpTo(fd, data.size());
  writer.join();
  return back;
}

TEST_F(CapiGatewayTest, Socks5ProxyConnectsByNameAndEchoes) {
  Connect();
  stow_proxy* proxy = nullptr;
  ASSERT_EQ(stow_proxy_start(session_, nullptr, "user", "secret", &proxy),
            STOW_OK)
      << stow_last_error_message();
  uint16_t port = 0;
  ASSERT_EQ(stow_proxy_port(proxy, &port), STOW_OK);
  int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const uint8_t greeting[] = {5, 1, 2};
  ASSERT_TRUE(WriteAll(fd, greeting, sizeof(greeting)));
  EXPECT_EQ(ReadUpTo(fd, 2), (std::vector<uint8_t>{5, 2}));
  std::vector<uint8_t> auth = {1, 4, 'u', 's', 'e', 'r', 6,
                               's', 'e', 'c', 'r', 'e', 't'};
  ASSERT_TRUE(WriteAll(fd, auth.data(), auth.size()));
  EXPECT_EQ(ReadUpTo(fd, 2), (std::vector<uint8_t>{1, 0}));
  const std::string name = "files.stowaway.test";
  std::vector<uint8_t> request = {5, 1, 0, 3,
                                  static_cast<uint8_t>(name.size())};
  request.insert(request.end(), name.begin(), name.end());
  request.push_back(0);
  request.push_back(7);
  ASSERT_TRUE(WriteAll(fd, request.data(), request.size()));
  std::vector<uint8_t> reply = ReadUpTo(fd, 10);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], 0) << "SOCKS reply " << int{reply[1]};
  const std::vector<uint8_t> data = RandomBytes(1 << 20, 21);
  EXPECT_EQ(Fnv(EchoThrough(fd, data)), Fnv(data));
  close(fd);

  // A name that does not exist: reply 4 (host unreachable), then closed.
  fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, greeting, sizeof(greeting)));
  ReadUpTo(fd, 2);
  ASSERT_TRUE(WriteAll(fd, auth.data(), auth.size()));
  ReadUpTo(fd, 2);
  const std::string missing = "nope.stowaway.test";
  std::vector<uint8_t> bad = {5, 1, 0, 3, static_cast<uint8_t>(missing.size())};
  bad.insert(bad.end(), missing.begin(), missing.end());
  bad.push_back(0);
  bad.push_back(7);
  ASSERT_TRUE(WriteAll(fd, bad.data(), bad.size()));
  reply = ReadUpTo(fd, 64);
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], 4);
  close(fd);
  stow_proxy_destroy(proxy);
  EXPECT_EQ(stow_proxy_port(proxy, &port), STOW_ERR_BAD_HANDLE);
}

TEST_F(CapiGatewayTest, HttpProxyFetchesAnAbsoluteUri) {
  Connect();
  stow_proxy* proxy = nullptr;
  ASSERT_EQ(stow_proxy_start(session_, "127.0.0.1:0", nullptr, nullptr, &proxy),
            STOW_OK);
  uint16_t port = 0;
  ASSERT_EQ(stow_proxy_port(proxy, &port), STOW_OK);
  int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const std::string get =
      "GET http://files.stowaway.test/ HTTP/1.1\r\n"
      "Host: files.stowaway.test\r\n\r\n";
  ASSERT_TRUE(WriteAll(fd, reinterpret_cast<const uint8_t*>(get.data()),
                       get.size()));
  std::vector<uint8_t> response = ReadUpTo(fd, 1 << 20);
  const std::string text(response.begin(), response.end());
  EXPECT_EQ(text.rfind("HTTP/1.1 200", 0), 0u) << text.substr(0, 200);
  EXPECT_NE(text.find("Stowaway gateway"), std::string::npos);
  close(fd);

  fd = ConnectLoopback(port);
  const std::string junk = "NONSENSE\r\n\r\n";
  ASSERT_TRUE(WriteAll(fd, reinterpret_cast<const uint8_t*>(junk.data()),
                       junk.size()));
  response = ReadUpTo(fd, 4096);
  EXPECT_EQ(std::string(response.begin(), response.end()).rfind("HTTP/1.1 400", 0),
            0u);
  close(fd);
  stow_proxy_destroy(proxy);
}

TEST_F(CapiGatewayTest, LocalForwardCarriesAnEcho) {
  Connect();
  stow_forward* forward = nullptr;
  ASSERT_EQ(stow_forward_local(session_, nullptr, "files.stowaway.test", 7,
                               &forward),
            STOW_OK)
      << stow_last_error_message();
  uint16_t port = 0;
  ASSERT_EQ(stow_forward_port(forward, &port), STOW_OK);
  int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const std::vector<uint8_t> data = RandomBytes(1 << 20, 22);
  EXPECT_EQ(Fnv(EchoThrough(fd, data)), Fnv(data));
  close(fd);
  stow_forward_destroy(forward);
  stow_forward* remote = nullptr;
  EXPECT_EQ(stow_forward_remote(session_, 8022, "not an address", &remote),
            STOW_ERR_BAD_ADDRESS);
  ASSERT_EQ(stow_forward_remote(session_, 8022, "127.0.0.1:22", &remote),
            STOW_OK);
  ASSERT_EQ(stow_forward_port(remote, &port), STOW_OK);
  EXPECT_EQ(port, 8022);
  stow_forward_destroy(remote);
}

TEST_F(CapiGatewayTest, BridgedDescriptorWorksWithBlockingSocketCode) {
  Connect();
  struct End {
    Event done;
    stow_status status = 1;
  } end;
  int fd = -1;
  ASSERT_EQ(stow_bridge_connect(
                session_, "10.99.0.1", 7,
                [](void* c, const stow_error* e) {
                  static_cast<End*>(c)->status = e->status;
                  static_cast<End*>(c)->done.Set();
                },
                &end, &fd),
            STOW_OK);
  ASSERT_GE(fd, 0);
  const std::vector<uint8_t> data = RandomBytes(1 << 20, 23);
  EXPECT_EQ(Fnv(EchoThrough(fd, data)), Fnv(data));
  close(fd);
  ASSERT_TRUE(end.done.Wait());
  EXPECT_EQ(end.status, STOW_OK);

  End failed;
  ASSERT_EQ(stow_bridge_connect(
                session_, "nope.stowaway.test", 7,
                [](void* c, const stow_error* e) {
                  static_cast<End*>(c)->status = e->status;
                  static_cast<End*>(c)->done.Set();
                },
                &failed, &fd),
            STOW_OK);
  EXPECT_TRUE(ReadUpTo(fd, 10).empty()) << "expected EOF";
  ASSERT_TRUE(failed.done.Wait());
  EXPECT_EQ(failed.status, STOW_ERR_NAME_NOT_FOUND);
  close(fd);
}

// 1000 tunnelled TCP connections open at once through one session, each
// echoing 1 KiB intact.
TEST_F(CapiGatewayTest, ThousandConcurrentConnections) {
  Connect();
  constexpr int kConnections = 1000;
  std::vector<std::unique_ptr<EchoClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<EchoClient>(RandomBytes(1024, 100 + i)));
    ASSERT_EQ(clients.back()->Start(session_, "10.99.0.1", 7), STOW_OK) << i;
  }
  // One deadline for all of them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int ok = 0, finished = 0, connected = 0;
  for (auto& c : clients) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (c->done().Wait(std::max(left, std::chrono::milliseconds(0)))) {
      ++finished;
      if (c->error() == STOW_OK && c->intact()) ++ok;
    }
    if (c->connected_calls() > 0) ++connected;
  }
  EXPECT_EQ(ok, kConnections) << finished << " finished, " << connected
                              << " connected";
  char stats[8192];
  size_t len = 0;
  ASSERT_EQ(stow_session_stats(session_, stats, sizeof(stats), &len), STOW_OK);
  EXPECT_NE(std::string(stats).find("\"capi_open_children\": 1000"),
            std::string::npos)
      << stats;
  for (auto& c : clients) stow_tcp_destroy(c->tcp());
}

}  // namespace
