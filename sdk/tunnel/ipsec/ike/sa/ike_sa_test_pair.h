// Test harness: two IkeSa joined by queues under a fake clock.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_TEST_PAIR_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_TEST_PAIR_H_
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace stow::ike {
namespace testing_pair {

using Kind = IkeEvent::Kind;

inline IdPayload Fqdn(const std::string& name) {
  IdPayload id;
  id.id_type = IdType::kFqdn;
  id.data.assign(name.begin(), name.end());
  return id;
}

// One side of a test connection: records everything the SA tells it.
class Side : public IkeSa::Delegate {
 public:
  std::string name;
  std::deque<Bytes> outbox;
  std::vector<IkeEvent> events;
  std::map<uint32_t, ChildSaInfo> children;  // By inbound SPI.
  std::vector<uint32_t> downs;
  bool nat_t_seen = false;
  int assign_calls = 0;
  bool refuse_address = false;

  void SendIke(absl::Span<const uint8_t> m, bool nat_t) override {
    outbox.emplace_back(m.begin(), m.end());
    nat_t_seen |= nat_t;
  }
  void OnIkeEvent(const IkeEvent& e) override { events.push_back(e); }
  void OnChildSaUp(const ChildSaInfo& c) override {
    children[c.inbound_spi] = c;
  }
  void OnChildSaDown(uint32_t spi) override {
    downs.push_back(spi);
    children.erase(spi);
  }
  absl::StatusOr<AssignedConfig> AssignConfig(const ConfigRequest& r,
                                              const IdPayload&) override {
    ++assign_calls;
    if (refuse_address) return absl::ResourceExhaustedError("pool empty");
    AssignedConfig a;
    if (r.ipv4) a.ipv4 = *IpAddress::Parse("10.99.100.7");
    if (r.ipv6) {
      a.ipv6 = *IpAddress::Parse("fd99::100:7");
      a.ipv6_prefix_len = 64;
      a.dns.push_back(*IpAddress::Parse("fd99::1"));
    }
    a.dns.push_back(*IpAddress::Parse("10.99.0.1"));
    return a;
  }

  bool Saw(Kind kind) const {
    for (const auto& e : events)
      if (e.kind == kind) return true;
    return false;
  }
  std::string Last() const {
    return events.empty() ? std::string("(none)")
                          : absl::StrCat(IkeEventKindName(events.back().kind),
                                         ": ", events.back().detail);
  }
};

inline IkeConfig BaseConfig(Role role, const std::string& psk) {
  IkeConfig c;
  c.role = role;
  c.local_id = Fqdn(role == Role::kInitiator ? "client.test" : "gw.test");
  auto creds = PskCredentials::Create(psk);
  c.credentials = *creds;
  c.peer_authenticator = *creds;
  c.timers.dpd_delay = absl::Seconds(30);
  c.timers.ike_rekey = absl::ZeroDuration();
  c.timers.child_rekey = absl::ZeroDuration();
  return c;
}

// Two SAs joined by queues and a fake clock.
class Pair {
 public:
  Pair(IkeConfig ic, IkeConfig rc)
      : rc_(std::move(rc)),
        client_addr_(*SocketAddress::Parse("192.0.2.2:40000")),
        gw_addr_(*SocketAddress::Parse("192.0.2.1:500")) {
    client.name = "client";
    gw.name = "gw";
    initiator = IkeSa::CreateInitiator(std::move(ic), &client, client_addr_,
                                       gw_addr_);
  }

  // Drop rules: return true to lose a datagram (index counts per side).
  std::function<bool(int index, const Bytes&)> drop_to_gw;
  std::function<bool(int index, const Bytes&)> drop_to_client;

  void Start() { initiator->Start(now); }

  // Delivers queued datagrams until both outboxes are empty.
  void Pump(int max_rounds = 100) {
    for (int round = 0; round < max_rounds; ++round) {
      bool moved = false;
      while (!client.outbox.empty()) {
        Bytes m = std::move(client.outbox.front());
        client.outbox.pop_front();
        moved = true;
        int index = to_gw_++;
        if (drop_to_gw && drop_to_gw(index, m)) continue;
        DeliverToGw(m);
      }
      while (!gw.outbox.empty()) {
        Bytes m = std::move(gw.outbox.front());
        gw.outbox.pop_front();
        moved = true;
        int index = to_client_++;
        if (drop_to_client && drop_to_client(index, m)) continue;
        if (initiator) initiator->OnMessage(m, gw_addr_, now);
      }
      if (!moved) return;
    }
  }

  void DeliverToGw(const Bytes& m) {
    if (responder == nullptr) {
      auto parsed = ParseMessage(m);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      responder = IkeSa::CreateResponder(rc_, &gw, gw_addr_, client_addr_, m,
                                         *parsed, false, now);
      if (responder->state() == IkeSa::State::kClosed) {
        closed_responders_.push_back(std::move(responder));
      }
      return;
    }
    responder->OnMessage(m, client_addr_, now);
  }

  // Advances the clock to the next deadline of either side (at most
  // `limit` later) and fires timers, then pumps.
  bool Step(absl::Duration limit = absl::Hours(48)) {
    absl::Duration next = absl::InfiniteDuration();
    if (initiator) next = std::min(next, initiator->NextDeadline());
    if (responder) next = std::min(next, responder->NextDeadline());
    if (next == absl::InfiniteDuration() || next > now + limit) return false;
    if (next > now) now = next;
    if (initiator) initiator->OnTimer(now);
    if (responder) responder->OnTimer(now);
    Pump();
    return true;
  }

  void RunFor(absl::Duration d) {
    absl::Duration end = now + d;
    while (Step(end - now)) {
    }
    now = end;
  }

  absl::Duration now = absl::Seconds(1);
  Side client, gw;
  std::unique_ptr<IkeSa> initiator, responder;

 private:
  IkeConfig rc_;
  SocketAddress client_addr_, gw_addr_;
  int to_gw_ = 0, to_client_ = 0;
  std::vector<std::unique_ptr<IkeSa>> closed_responders_;
};

// Both sides hold the same CHILD SAs, mirrored.
inline void ExpectMirrored(const Side& a, const Side& b) {
  ASSERT_EQ(a.children.size(), b.children.size());
  for (const auto& [spi, ca] : a.children) {
    bool found = false;
    for (const auto& [spi2, cb] : b.children) {
      if (cb.outbound_spi != spi) continue;
      found = true;
      EXPECT_EQ(cb.inbound_spi, ca.outbound_spi);
      EXPECT_NE(ca.esp_role, cb.esp_role);
      EXPECT_EQ(ca.keys.i2r.spi, cb.keys.i2r.spi);
      EXPECT_EQ(ca.keys.r2i.spi, cb.keys.r2i.spi);
      EXPECT_EQ(ca.keys.i2r.key_material, cb.keys.i2r.key_material);
      EXPECT_EQ(ca.keys.r2i.key_material, cb.keys.r2i.key_material);
      EXPECT_EQ(ca.keys.transform, cb.keys.transform);
      ASSERT_EQ(ca.local_ts.size(), cb.remote_ts.size());
      for (size_t i = 0; i < ca.local_ts.size(); ++i)
        EXPECT_EQ(DescribeSelector(ca.local_ts[i]),
                  DescribeSelector(cb.remote_ts[i]));
    }
    EXPECT_TRUE(found) << "no peer SA for inbound " << spi;
  }
}

}  // namespace testing_pair
}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_SA_IKE_SA_TEST_PAIR_H_
