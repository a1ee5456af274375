#include "sdk/tunnel/tls/dtls_engine.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

using Datagrams = std::vector<std::vector<uint8_t>>;
using State = DtlsEngine::State;

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 7 * i);
  return v;
}

// The session_id of a DTLS 1.2 ClientHello in `d` (RFC 6347 4.1 record
// header, 4.2.2 handshake header, RFC 5246 7.4.1.2 body); nullopt if `d` is
// not an unfragmented ClientHello.
absl::optional<std::vector<uint8_t>> ClientHelloSessionId(
    const std::vector<uint8_t>& d) {
  constexpr size_t kRecord = 13, kHandshake = 12;
  if (d.size() < kRecord + kHandshake + 2 + 32 + 1) return absl::nullopt;
  if (d[0] != 22 || d[kRecord] != 1) return absl::nullopt;  // handshake, CH
  size_t pos = kRecord + kHandshake + 2 + 32;
  size_t len = d[pos];
  if (pos + 1 + len > d.size()) return absl::nullopt;
  return std::vector<uint8_t>(d.begin() + pos + 1, d.begin() + pos + 1 + len);
}

class DtlsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    psk_ = Bytes(32, 1);
    app_id_ = Bytes(32, 99);
  }

  std::function<absl::Time()> Clock() {
    return [this] { return now_; };
  }

  void Make(bool plain_psk_only = false,
            absl::optional<std::vector<uint8_t>> server_psk = absl::nullopt,
            size_t mtu = 1400) {
    DtlsClientOptions o;
    o.psk = psk_;
    o.session_id = app_id_;
    o.mtu = mtu;
    o.clock = Clock();
    o.plain_psk_only = plain_psk_only;
    auto c = DtlsEngine::Client(o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    std::vector<uint8_t> key = server_psk.value_or(psk_);
    DtlsServerOptions so;
    so.mtu = mtu;
    so.clock = Clock();
    so.plain_psk_only = plain_psk_only;
    auto s = DtlsEngine::Server(
        [this, key](absl::Span<const uint8_t> id)
            -> absl::optional<std::vector<uint8_t>> {
          ++lookups_;
          if (std::vector<uint8_t>(id.begin(), id.end()) != app_id_) {
            return absl::nullopt;
          }
          return key;
        },
        so);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  // Moves datagrams both ways until none are left; `filter` sees each
  // (from_client, datagram) and returns false to drop it.
  void Pump(const std::function<bool(bool, const std::vector<uint8_t>&)>&
                filter = nullptr) {
    for (int round = 0; round < 100; ++round) {
      Datagrams c, s;
      client_->TakeDatagrams(&c);
      server_->TakeDatagrams(&s);
      if (c.empty() && s.empty()) return;
      for (auto& d : c) {
        EXPECT_LE(d.size(), client_mtu_);
        if (!filter || filter(true, d)) server_->FeedDatagram(d);
      }
      for (auto& d : s) {
        EXPECT_LE(d.size(), client_mtu_);
        if (!filter || filter(false, d)) client_->FeedDatagram(d);
      }
    }
    FAIL() << "datagrams never stopped";
  }

  // Fires whichever engine's timer is due first, advancing the fake clock.
  bool FireNextTimer() {
    auto tc = client_->NextTimeout();
    auto ts = server_->NextTimeout();
    if (!tc && !ts) return false;
    absl::Duration d = std::min(tc.value_or(absl::InfiniteDuration()),
                                ts.value_or(absl::InfiniteDuration()));
    now_ += d;
    client_->OnTimer();
    server_->OnTimer();
    return true;
  }

  void Handshake() {
    client_->Start();
    Pump();
    ASSERT_EQ(client_->state(), State::kEstablished) << client_->error();
    ASSERT_EQ(server_->state(), State::kEstablished) << server_->error();
  }

  // Writes `payload` on `from`, delivers the one datagram, expects it back.
  void RoundTrip(DtlsEngine* from, DtlsEngine* to,
                 const std::vector<uint8_t>& payload) {
    ASSERT_TRUE(from->WriteRecord(payload).ok());
    Datagrams out;
    from->TakeDatagrams(&out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_LE(out[0].size(), client_mtu_);
    to->FeedDatagram(out[0]);
    std::vector<uint8_t> got;
    ASSERT_TRUE(to->ReadRecord(&got));
    EXPECT_EQ(got, payload);
    EXPECT_FALSE(to->ReadRecord(&got));
  }

  absl::Time now_ = absl::FromUnixSeconds(1763800000);
  std::vector<uint8_t> psk_, app_id_;
  int lookups_ = 0;
  size_t client_mtu_ = 1400;
  std::unique_ptr<DtlsEngine> client_, server_;
};

TEST_F(DtlsEngineTest, HandshakeCarriesAppIdAsSessionId) {
  Make();
  client_->Start();
  Datagrams hello;
  client_->TakeDatagrams(&hello);
  ASSERT_EQ(hello.size(), 1u);
  auto id = ClientHelloSessionId(hello[0]);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, app_id_);
  server_->FeedDatagram(hello[0]);
  Pump();
  ASSERT_EQ(client_->state(), State::kEstablished) << client_->error();
  ASSERT_EQ(server_->state(), State::kEstablished) << server_->error();
  EXPECT_EQ(server_->session_id_seen(), app_id_);
  EXPECT_EQ(client_->session_id_seen(), app_id_);
  EXPECT_EQ(lookups_, 1);
  EXPECT_EQ(client_->cipher(), "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(server_->cipher(), client_->cipher());
  EXPECT_FALSE(client_->NextTimeout().has_value());
  EXPECT_FALSE(server_->NextTimeout().has_value());
  EXPECT_EQ(client_->dropped(), 0u);
  EXPECT_EQ(server_->dropped(), 0u);
}

TEST_F(DtlsEngineTest, PlainPskNegotiatesAes256CbcLikeOcserv) {
  Make(/*plain_psk_only=*/true);
  Handshake();
  EXPECT_EQ(client_->cipher(), "TLS_PSK_WITH_AES_256_CBC_SHA");
  // CBC overhead: header 13 + IV 16 + MAC 20 + padding <= 16.
  EXPECT_GE(client_->max_record_payload(), 1300u);
  EXPECT_LT(client_->max_record_payload(), 1400u - 13 - 16 - 20);
  std::vector<uint8_t> big = Bytes(client_->max_record_payload(), 3);
  RoundTrip(client_.get(), server_.get(), big);
  RoundTrip(server_.get(), client_.get(), big);
}

TEST_F(DtlsEngineTest, RecordsBothWaysRandomSizes) {
  for (bool plain : {false, true}) {
    Make(plain);
    Handshake();
    std::mt19937 rng(plain ? 7 : 8);
    size_t max = client_->max_record_payload();
    ASSERT_EQ(max, server_->max_record_payload());
    ASSERT_GT(max, 1300u);
    for (int i = 0; i < 300; ++i) {
      std::vector<uint8_t> p(1 + rng() % max);
      for (auto& b : p) b = static_cast<uint8_t>(rng());
      if (i % 50 == 0) p.resize(max);
      bool up = i % 2 == 0;
      RoundTrip(up ? client_.get() : server_.get(),
                up ? server_.get() : client_.get(), p);
      if (HasFatalFailure()) return;
    }
    EXPECT_EQ(client_->dropped(), 0u);
    EXPECT_EQ(server_->dropped(), 0u);
  }
}

TEST_F(DtlsEngineTest, ManyRecordsQueuedThenRead) {
  Make();
  Handshake();
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 40; ++i) {
    sent.push_back(Bytes(1 + i * 13, static_cast<uint8_t>(i)));
    ASSERT_TRUE(client_->WriteRecord(sent.back()).ok());
  }
  Datagrams out;
  client_->TakeDatagrams(&out);
  ASSERT_EQ(out.size(), sent.size());
  for (auto& d : out) server_->FeedDatagram(d);
  for (auto& want : sent) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(server_->ReadRecord(&got));
    EXPECT_EQ(got, want);
  }
}

TEST_F(DtlsEngineTest, RejectsBadWrites) {
  Make();
  EXPECT_EQ(client_->WriteRecord(Bytes(10, 0)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->max_record_payload(), 0u);
  Handshake();
  EXPECT_EQ(client_->WriteRecord({}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      client_->WriteRecord(Bytes(client_->max_record_payload() + 1, 0)).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->state(), State::kEstablished);
}

TEST_F(DtlsEngineTest, RejectsBadOptions) {
  DtlsClientOptions o;
  o.psk = psk_;
  o.session_id = app_id_;
  EXPECT_TRUE(DtlsEngine::Client(o).ok());
  o.session_id.push_back(0);  // 33 bytes
  EXPECT_EQ(DtlsEngine::Client(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.session_id.clear();
  EXPECT_EQ(DtlsEngine::Client(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.session_id = app_id_;
  o.psk.clear();
  EXPECT_EQ(DtlsEngine::Client(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.psk = psk_;
  o.mtu = 100;
  EXPECT_EQ(DtlsEngine::Client(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DtlsEngine::Server(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DtlsEngineTest, WrongPskFailsBothSidesByTimeout) {
  Make(false, Bytes(32, 2));
  client_->Start();
  Pump();
  int timers = 0;
  while (client_->state() == State::kHandshaking ||
         server_->state() == State::kHandshaking) {
    ASSERT_TRUE(FireNextTimer()) << "an engine is stuck with no timer";
    Pump();
    ASSERT_LT(++timers, 100);
  }
  EXPECT_EQ(client_->state(), State::kFailed);
  EXPECT_EQ(server_->state(), State::kFailed);
  EXPECT_EQ(client_->error().code(), absl::StatusCode::kDeadlineExceeded)
      << client_->error();
  EXPECT_FALSE(client_->NextTimeout().has_value());
  EXPECT_FALSE(server_->NextTimeout().has_value());
}

TEST_F(DtlsEngineTest, UnknownSessionIdIsRefused) {
  Make();
  app_id_ = Bytes(32, 5);  // The server now knows a different id.
  client_->Start();
  Pump();
  EXPECT_EQ(lookups_, 1);
  EXPECT_EQ(server_->state(), State::kFailed);
  EXPECT_EQ(server_->error().code(), absl::StatusCode::kPermissionDenied)
      << server_->error();
  EXPECT_EQ(server_->session_id_seen(), Bytes(32, 99));
  // The handshake_failure alert reached the client.
  EXPECT_EQ(client_->state(), State::kFailed);
  EXPECT_EQ(client_->error().code(), absl::StatusCode::kUnavailable);
}

TEST_F(DtlsEngineTest, HandshakeLossRecoveredByRetransmission) {
  for (int drop_index = 0; drop_index < 6; ++drop_index) {
    SCOPED_TRACE(drop_index);
    Make(drop_index % 2 == 1);
    int seen = 0;
    auto lose_one = [&](bool, const std::vector<uint8_t>&) {
      return seen++ != drop_index;
    };
    client_->Start();
    Pump(lose_one);
    int timers = 0;
    while (client_->state() != State::kEstablished ||
           server_->state() != State::kEstablished) {
      ASSERT_EQ(client_->state() == State::kFailed, false) << client_->error();
      ASSERT_EQ(server_->state() == State::kFailed, false) << server_->error();
      ASSERT_TRUE(FireNextTimer());
      Pump(lose_one);
      ASSERT_LT(++timers, 10);
    }
    RoundTrip(client_.get(), server_.get(), Bytes(100, 1));
    RoundTrip(server_.get(), client_.get(), Bytes(100, 2));
  }
}

TEST_F(DtlsEngineTest, RetransmittedClientHelloKeepsSessionId) {
  Make();
  client_->Start();
  Datagrams first;
  client_->TakeDatagrams(&first);
  ASSERT_TRUE(client_->NextTimeout().has_value());
  EXPECT_EQ(*client_->NextTimeout(), absl::Seconds(1));
  now_ += absl::Seconds(1);
  client_->OnTimer();
  Datagrams again;
  client_->TakeDatagrams(&again);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(ClientHelloSessionId(again[0]), app_id_);
}

TEST_F(DtlsEngineTest, GarbageAndReplaysAfterHandshakeAreDroppedAndCounted) {
  Make();
  Handshake();
  ASSERT_TRUE(client_->WriteRecord(Bytes(200, 9)).ok());
  Datagrams real;
  client_->TakeDatagrams(&real);
  ASSERT_EQ(real.size(), 1u);
  server_->FeedDatagram(real[0]);
  std::vector<uint8_t> got;
  ASSERT_TRUE(server_->ReadRecord(&got));

  std::mt19937 rng(42);
  std::vector<std::vector<uint8_t>> bad;
  bad.push_back(real[0]);  // replay
  std::vector<uint8_t> flipped = real[0];
  flipped[flipped.size() / 2] ^= 0x40;  // fails authentication
  bad.push_back(flipped);
  bad.push_back(std::vector<uint8_t>(real[0].begin(), real[0].begin() + 20));
  bad.push_back({});
  bad.push_back({23, 0xfe, 0xfd});
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> g(rng() % 1500);
    for (auto& b : g) b = static_cast<uint8_t>(rng());
    if (i % 2 == 0 && g.size() > 13) {  // plausible record header
      g[0] = static_cast<uint8_t>(20 + i % 4);
      g[1] = 0xfe;
      g[2] = 0xfd;
    }
    bad.push_back(g);
  }
  for (auto& d : bad) server_->FeedDatagram(d);
  EXPECT_EQ(server_->dropped(), bad.size());
  EXPECT_EQ(server_->state(), State::kEstablished) << server_->error();
  EXPECT_FALSE(server_->ReadRecord(&got));
  Datagrams replies;
  server_->TakeDatagrams(&replies);
  EXPECT_TRUE(replies.empty());
  // Still works both ways.
  RoundTrip(client_.get(), server_.get(), Bytes(300, 4));
  RoundTrip(server_.get(), client_.get(), Bytes(300, 5));
}

TEST_F(DtlsEngineTest, ReorderedRecordsAreAllDelivered) {
  Make();
  Handshake();
  std::vector<std::vector<uint8_t>> sent;
  Datagrams out;
  for (int i = 0; i < 48; ++i) {
    sent.push_back(Bytes(10 + i, static_cast<uint8_t>(i)));
    ASSERT_TRUE(server_->WriteRecord(sent.back()).ok());
  }
  server_->TakeDatagrams(&out);
  ASSERT_EQ(out.size(), sent.size());
  std::mt19937 rng(3);
  std::shuffle(out.begin(), out.end(), rng);
  std::reverse(out.begin(), out.begin() + 10);
  for (auto& d : out) client_->FeedDatagram(d);
  std::vector<std::vector<uint8_t>> got;
  std::vector<uint8_t> r;
  while (client_->ReadRecord(&r)) got.push_back(r);
  EXPECT_EQ(got.size(), sent.size());
  std::sort(got.begin(), got.end());
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(got, sent);
  EXPECT_EQ(client_->dropped(), 0u);
}

TEST_F(DtlsEngineTest, SmallMtuKeepsDatagramsSmall) {
  client_mtu_ = 300;
  Make(false, absl::nullopt, 300);
  Handshake();
  EXPECT_GT(client_->max_record_payload(), 200u);
  EXPECT_LE(client_->max_record_payload(), 300u - 13);
  RoundTrip(client_.get(), server_.get(),
            Bytes(client_->max_record_payload(), 1));
}

TEST_F(DtlsEngineTest, CloseNotifyClosesPeer) {
  Make();
  Handshake();
  client_->Close();
  EXPECT_EQ(client_->state(), State::kClosed);
  Pump();
  EXPECT_EQ(server_->state(), State::kClosed);
  EXPECT_EQ(server_->WriteRecord(Bytes(5, 0)).code(),
            absl::StatusCode::kFailedPrecondition);
  uint64_t before = server_->dropped();
  server_->FeedDatagram(Bytes(40, 0));
  EXPECT_EQ(server_->dropped(), before + 1);
}

TEST_F(DtlsEngineTest, SystemClockWhenNoneGiven) {
  DtlsClientOptions o;
  o.psk = psk_;
  o.session_id = app_id_;
  auto c = DtlsEngine::Client(o);
  ASSERT_TRUE(c.ok());
  auto s = DtlsEngine::Server(
      [this](absl::Span<const uint8_t>)
          -> absl::optional<std::vector<uint8_t>> { return psk_; });
  ASSERT_TRUE(s.ok());
  client_ = *std::move(c);
  server_ = *std::move(s);
  Handshake();
  RoundTrip(client_.get(), server_.get(), Bytes(64, 1));
}

}  // namespace
}  // namespace stow::tunnel::tls
