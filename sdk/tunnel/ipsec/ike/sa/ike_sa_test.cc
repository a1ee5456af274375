#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa_test_pair.h"

namespace stow::ike {
namespace {

using namespace testing_pair;  // NOLINT: the test harness.
using Kind = IkeEvent::Kind;

TEST(IkeSaTest, PskEstablishesWithConfigAndSelectors) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.remote_id = Fqdn("gw.test");
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.local_ts = {SelectorForPrefix(*IpAddress::Parse("10.200.2.0"), 24)};
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last();
  ASSERT_EQ(p.responder->state(), IkeSa::State::kEstablished) << p.gw.Last();
  EXPECT_TRUE(p.client.Saw(Kind::kEstablished));
  EXPECT_TRUE(p.gw.Saw(Kind::kEstablished));
  EXPECT_EQ(p.initiator->assigned_config().ipv4->ToString(), "10.99.100.7");
  ASSERT_EQ(p.initiator->assigned_config().dns.size(), 1u);
  EXPECT_EQ(p.gw.assign_calls, 1);
  ExpectMirrored(p.client, p.gw);
  ASSERT_EQ(p.client.children.size(), 1u);
  const ChildSaInfo& c = p.client.children.begin()->second;
  ASSERT_EQ(c.local_ts.size(), 1u);
  EXPECT_EQ(DescribeSelector(c.local_ts[0]), "10.99.100.7/32");
  ASSERT_EQ(c.remote_ts.size(), 1u);
  EXPECT_EQ(DescribeSelector(c.remote_ts[0]), "10.200.2.0/24");
  EXPECT_EQ(c.esp_role, ipsec::EspRole::kInitiator);
  EXPECT_EQ(p.initiator->spi_i(), p.responder->spi_i());
  EXPECT_EQ(p.initiator->spi_r(), p.responder->spi_r());
  EXPECT_EQ(p.initiator->Describe(), p.responder->Describe());
  EXPECT_EQ(p.initiator->Describe(), "AES_GCM_16_256/PRF_HMAC_SHA2_256/" +
                                          std::string(crypto::DhGroupName(
                                              crypto::DhGroup::kCurve25519)));
}

TEST(IkeSaTest, Ipv4AndIpv6VirtualAddressesAndSelectors) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.config_request.ipv4 = true;
  ic.config_request.ipv6 = true;
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.local_ts = {SelectorForPrefix(*IpAddress::Parse("10.200.2.0"), 24),
                 SelectorForPrefix(*IpAddress::Parse("fd99::"), 64)};
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last();
  const AssignedConfig& a = p.initiator->assigned_config();
  ASSERT_TRUE(a.ipv4 && a.ipv6);
  EXPECT_EQ(a.ipv4->ToString(), "10.99.100.7");
  EXPECT_EQ(a.ipv6->ToString(), "fd99::100:7");
  EXPECT_EQ(a.ipv6_prefix_len, 64);
  ASSERT_EQ(a.dns.size(), 2u);
  const ChildSaInfo& c = p.client.children.begin()->second;
  std::vector<std::string> local, remote;
  for (const auto& ts : c.local_ts) local.push_back(DescribeSelector(ts));
  for (const auto& ts : c.remote_ts) remote.push_back(DescribeSelector(ts));
  EXPECT_EQ(local, (std::vector<std::string>{"10.99.100.7/32",
                                             "fd99::100:7/128"}));
  EXPECT_EQ(remote,
            (std::vector<std::string>{"10.200.2.0/24", "fd99::/64"}));
  ExpectMirrored(p.client, p.gw);
}

// Hex of the first CHILD SA's i2r key material on `side`.
std::string ChildKeyHex(const Side& side) {
  const auto& k = side.children.begin()->second.keys.i2r.key_material;
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

TEST(IkeSaTest, SecretsAppearInEventsOnlyWhenAskedFor) {
  for (bool log : {false, true}) {
    IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
    ic.log_secrets = log;
    Pair p(std::move(ic),
           BaseConfig(Role::kResponder, "secret-psk-1234567890"));
    p.Start();
    p.Pump();
    p.initiator->RekeyIke(p.now);
    p.Pump();
    ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished);
    const std::string key = ChildKeyHex(p.gw);
    int with_key = 0, with_sk = 0;
    for (const Side* side : {&p.client, &p.gw}) {
      for (const IkeEvent& e : side->events) {
        with_key += e.detail.find(key) != std::string::npos;
        with_sk += e.detail.find("SK_ei") != std::string::npos;
        EXPECT_EQ(e.detail.find("secret-psk"), std::string::npos);
      }
    }
    // Asked for: the initiator's IKE SA, its rekeyed IKE SA and the CHILD
    // SA. Not asked for (and never on the responder): nothing.
    EXPECT_EQ(with_key, log ? 1 : 0) << log;
    EXPECT_EQ(with_sk, log ? 2 : 0) << log;
  }
}

TEST(IkeSaTest, WrongPskFailsOnBothSidesWithCause) {
  Pair p(BaseConfig(Role::kInitiator, "client-psk-aaaaaaaaaaaa"),
         BaseConfig(Role::kResponder, "gateway-psk-bbbbbbbbbbb"));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  EXPECT_EQ(p.responder->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.gw.Saw(Kind::kAuthFailed)) << p.gw.Last();
  EXPECT_NE(p.gw.events.back().detail.find("PSK does not match"),
            std::string::npos)
      << p.gw.Last();
  ASSERT_TRUE(p.client.Saw(Kind::kAuthFailed)) << p.client.Last();
  EXPECT_NE(p.client.events.back().detail.find("AUTHENTICATION_FAILED"),
            std::string::npos);
  EXPECT_TRUE(p.client.children.empty());
  EXPECT_TRUE(p.gw.children.empty());
}

TEST(IkeSaTest, WrongGatewayIdentityIsAnAuthFailure) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.remote_id = Fqdn("other.test");
  Pair p(std::move(ic), BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kAuthFailed));
  EXPECT_NE(p.client.Last().find("expected fqdn:other.test"),
            std::string::npos)
      << p.client.Last();
}

TEST(IkeSaTest, NoProposalChosenListsBothSides) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.ike = *ParseIkeAlgorithms("aes128gcm16-prfsha512-ecp384");
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.ike = *ParseIkeAlgorithms("aes256gcm16-prfsha256-x25519");
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kNoProposalChosen)) << p.client.Last();
  EXPECT_NE(p.client.Last().find("AES_GCM_16_128"), std::string::npos)
      << p.client.Last();
  ASSERT_TRUE(p.gw.Saw(Kind::kNoProposalChosen)) << p.gw.Last();
  // The responder's event names what it accepts too.
  EXPECT_NE(p.gw.Last().find("AES_GCM_16_256"), std::string::npos)
      << p.gw.Last();
}

TEST(IkeSaTest, InvalidKeRetryWithTheRespondersGroup) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.ike = *ParseIkeAlgorithms("aes256gcm16-prfsha256-ecp256-x25519");
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.ike = *ParseIkeAlgorithms("aes256gcm16-prfsha256-x25519-ecp256");
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last();
  EXPECT_NE(p.initiator->Describe().find(std::string(
                crypto::DhGroupName(crypto::DhGroup::kCurve25519))),
            std::string::npos);
  ExpectMirrored(p.client, p.gw);
}

TEST(IkeSaTest, LostMessagesAreRetransmittedAndTheSaStillComesUp) {
  Pair p(BaseConfig(Role::kInitiator, "secret-psk-1234567890"),
         BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  // Lose the first IKE_SA_INIT request and the first IKE_AUTH response.
  p.drop_to_gw = [](int i, const Bytes&) { return i == 0; };
  p.drop_to_client = [](int i, const Bytes&) { return i == 1; };
  p.Start();
  p.Pump();
  for (int i = 0; i < 10 && p.initiator->state() != IkeSa::State::kEstablished;
       ++i) {
    p.Step();
  }
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last();
  EXPECT_EQ(p.initiator->counters().retransmits, 2u);
  // The responder answered the repeated IKE_AUTH from its stored response.
  EXPECT_EQ(p.responder->counters().rx_retransmits, 1u);
  ExpectMirrored(p.client, p.gw);
}

TEST(IkeSaTest, UnansweredInitGivesUpAfterBoundedTries) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.timers.retransmit_base = absl::Milliseconds(500);
  ic.timers.retransmit_tries = 5;
  ic.timers.setup_timeout = absl::Minutes(5);
  Pair p(std::move(ic), BaseConfig(Role::kResponder, "x-secret-psk-123456"));
  p.drop_to_gw = [](int, const Bytes&) { return true; };
  absl::Duration start = p.now;
  p.Start();
  p.Pump();
  while (p.Step()) {
  }
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kPeerDead)) << p.client.Last();
  EXPECT_NE(p.client.Last().find("after 5 tries"), std::string::npos)
      << p.client.Last();
  EXPECT_EQ(p.initiator->counters().tx_messages, 5u);
  // 0.5 + 1 + 2 + 4 + 8 s.
  EXPECT_EQ(p.now - start, absl::Milliseconds(15500));
}

TEST(IkeSaTest, ResponderHalfOpenTimesOut) {
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.timers.setup_timeout = absl::Seconds(30);
  Pair p(BaseConfig(Role::kInitiator, "secret-psk-1234567890"), std::move(rc));
  // IKE_AUTH never arrives.
  p.drop_to_gw = [](int i, const Bytes&) { return i >= 1; };
  p.Start();
  p.Pump();
  p.RunFor(absl::Seconds(31));
  EXPECT_EQ(p.responder->state(), IkeSa::State::kClosed);
  EXPECT_TRUE(p.gw.Saw(Kind::kFailed)) << p.gw.Last();
}

class EstablishedTest : public ::testing::Test {
 protected:
  void SetUpPair(IkeConfig ic, IkeConfig rc) {
    p = std::make_unique<Pair>(std::move(ic), std::move(rc));
    p->Start();
    p->Pump();
    ASSERT_EQ(p->initiator->state(), IkeSa::State::kEstablished)
        << p->client.Last();
    ASSERT_EQ(p->responder->state(), IkeSa::State::kEstablished)
        << p->gw.Last();
  }
  void SetUp() override {
    SetUpPair(BaseConfig(Role::kInitiator, "secret-psk-1234567890"),
              BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  }
  std::unique_ptr<Pair> p;
};

TEST_F(EstablishedTest, ChildRekeyByInitiatorReplacesAndDeletesTheOld) {
  uint32_t old_in = p->client.children.begin()->first;
  p->initiator->RekeyChild(p->now);
  p->Pump();
  ASSERT_EQ(p->client.children.size(), 1u);
  EXPECT_NE(p->client.children.begin()->first, old_in);
  EXPECT_EQ(p->client.children.begin()->second.replaces_inbound_spi, old_in);
  EXPECT_EQ(p->client.downs, std::vector<uint32_t>{old_in});
  ExpectMirrored(p->client, p->gw);
  EXPECT_TRUE(p->client.Saw(Kind::kChildRekeyed));
  EXPECT_TRUE(p->gw.Saw(Kind::kChildRekeyed));
}

TEST_F(EstablishedTest, ChildRekeyByResponderWithPfs) {
  uint32_t old_in = p->client.children.begin()->first;
  p->responder->RekeyChild(p->now);
  p->Pump();
  ASSERT_EQ(p->client.children.size(), 1u);
  EXPECT_NE(p->client.children.begin()->first, old_in);
  // The responder started the exchange, so it is the ESP "initiator" of
  // the new pair.
  EXPECT_EQ(p->client.children.begin()->second.esp_role,
            ipsec::EspRole::kResponder);
  ExpectMirrored(p->client, p->gw);
}

TEST_F(EstablishedTest, IkeRekeyByEitherSideKeepsChildrenAndWorks) {
  uint64_t old_spi = p->initiator->spi_i();
  p->initiator->RekeyIke(p->now);
  p->Pump();
  EXPECT_NE(p->initiator->spi_i(), old_spi);
  EXPECT_EQ(p->initiator->spi_i(), p->responder->spi_i());
  EXPECT_EQ(p->initiator->spi_r(), p->responder->spi_r());
  EXPECT_TRUE(p->client.Saw(Kind::kIkeRekeyed));
  EXPECT_TRUE(p->gw.Saw(Kind::kIkeRekeyed));
  ASSERT_EQ(p->client.children.size(), 1u);
  // The new SA carries requests: a CHILD rekey over it, then the responder
  // rekeys the IKE SA again.
  p->initiator->RekeyChild(p->now);
  p->Pump();
  ExpectMirrored(p->client, p->gw);
  uint64_t second = p->initiator->spi_i();
  p->responder->RekeyIke(p->now);
  p->Pump();
  // After the responder's IKE rekey, the roles of the IKE SA are swapped,
  // but TSi in a CREATE_CHILD_SA are still the exchange initiator's.
  p->initiator->RekeyChild(p->now);
  p->Pump();
  ExpectMirrored(p->client, p->gw);
  p->responder->RekeyChild(p->now);
  p->Pump();
  ExpectMirrored(p->client, p->gw);
  EXPECT_NE(p->initiator->spi_i(), second);
  EXPECT_EQ(p->initiator->spi_r(), p->responder->spi_r());
  EXPECT_EQ(p->initiator->counters().ike_rekeys, 2u);
  p->initiator->CheckLiveness(p->now);
  p->Pump();
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kEstablished);
  EXPECT_FALSE(p->initiator->OwnsSpis(old_spi, 0));
}

TEST_F(EstablishedTest, SimultaneousChildRekeysLeaveOnePairOnEachSide) {
  p->initiator->RekeyChild(p->now);
  p->responder->RekeyChild(p->now);
  p->Pump();
  p->RunFor(absl::Seconds(20));
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kEstablished);
  ASSERT_EQ(p->client.children.size(), 1u) << p->client.Last();
  ExpectMirrored(p->client, p->gw);
  EXPECT_EQ(p->initiator->counters().rekey_collisions +
                p->responder->counters().rekey_collisions,
            2u);
}

TEST_F(EstablishedTest, SimultaneousIkeRekeysResolve) {
  p->initiator->RekeyIke(p->now);
  p->responder->RekeyIke(p->now);
  p->Pump();
  p->RunFor(absl::Seconds(30));
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kEstablished);
  EXPECT_EQ(p->responder->state(), IkeSa::State::kEstablished);
  EXPECT_EQ(p->initiator->spi_i(), p->responder->spi_i());
  EXPECT_EQ(p->initiator->spi_r(), p->responder->spi_r());
  ExpectMirrored(p->client, p->gw);
}

TEST_F(EstablishedTest, TimersRekeyRepeatedly) {
  // Rebuild with short timers.
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.timers.child_rekey = absl::Seconds(60);
  ic.timers.ike_rekey = absl::Seconds(150);
  SetUpPair(std::move(ic),
            BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  p->RunFor(absl::Minutes(10));
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kEstablished);
  EXPECT_GE(p->initiator->counters().child_rekeys, 9u);
  EXPECT_GE(p->initiator->counters().ike_rekeys, 3u);
  ASSERT_EQ(p->client.children.size(), 1u);
  ExpectMirrored(p->client, p->gw);
}

TEST_F(EstablishedTest, DpdAnsweredKeepsTheSaUp) {
  p->RunFor(absl::Minutes(5));
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kEstablished);
  EXPECT_GE(p->initiator->counters().dpd_sent, 5u);
}

TEST_F(EstablishedTest, DpdFailureDeclaresThePeerDead) {
  p->drop_to_client = [](int, const Bytes&) { return true; };
  p->drop_to_gw = [](int, const Bytes&) { return true; };
  p->RunFor(absl::Minutes(5));
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p->client.Saw(Kind::kPeerDead)) << p->client.Last();
  EXPECT_NE(p->client.Last().find("liveness"), std::string::npos)
      << p->client.Last();
  EXPECT_TRUE(p->client.children.empty());
}

TEST_F(EstablishedTest, CloseDeletesOnThePeer) {
  p->initiator->Close(p->now, "app asked");
  p->Pump();
  EXPECT_EQ(p->initiator->state(), IkeSa::State::kClosed);
  EXPECT_EQ(p->responder->state(), IkeSa::State::kClosed);
  EXPECT_TRUE(p->gw.Saw(Kind::kClosed));
  EXPECT_TRUE(p->gw.children.empty());
  EXPECT_TRUE(p->client.children.empty());
}

TEST_F(EstablishedTest, ForgedReplayedAndForeignMessagesAreCounted) {
  // A DPD request captured, then replayed twice and tampered with.
  p->initiator->CheckLiveness(p->now);
  ASSERT_EQ(p->client.outbox.size(), 1u);
  Bytes request = p->client.outbox.front();
  p->Pump();
  auto before = p->responder->counters();
  p->responder->OnMessage(request, *SocketAddress::Parse("192.0.2.2:40000"),
                          p->now);
  EXPECT_EQ(p->responder->counters().rx_retransmits,
            before.rx_retransmits + 1);
  p->gw.outbox.clear();
  Bytes forged = request;
  forged[forged.size() - 3] ^= 1;
  p->responder->OnMessage(forged, *SocketAddress::Parse("192.0.2.2:40000"),
                          p->now);
  EXPECT_EQ(p->responder->counters().rx_auth_failed,
            before.rx_auth_failed + 1);
  Bytes foreign = request;
  foreign[0] ^= 0xff;  // SPIi of another SA.
  p->responder->OnMessage(foreign, *SocketAddress::Parse("192.0.2.2:40000"),
                          p->now);
  EXPECT_EQ(p->responder->counters().rx_bad_spi, before.rx_bad_spi + 1);
  Bytes future = request;
  future[23] += 5;  // Message ID far ahead.
  p->responder->OnMessage(future, *SocketAddress::Parse("192.0.2.2:40000"),
                          p->now);
  EXPECT_EQ(p->responder->counters().rx_bad_message_id,
            before.rx_bad_message_id + 1);
  for (size_t cut = 0; cut < request.size(); cut += 7) {
    Bytes truncated(request.begin(), request.begin() + cut);
    p->responder->OnMessage(truncated,
                            *SocketAddress::Parse("192.0.2.2:40000"), p->now);
  }
  EXPECT_TRUE(p->gw.outbox.empty());
  EXPECT_EQ(p->responder->state(), IkeSa::State::kEstablished);
}

TEST(IkeSaTest, FragmentedIkeAuth) {
  IkeConfig ic = BaseConfig(Role::kInitiator, "secret-psk-1234567890");
  ic.fragment_size = 200;
  IkeConfig rc = BaseConfig(Role::kResponder, "secret-psk-1234567890");
  rc.fragment_size = 200;
  Pair p(std::move(ic), std::move(rc));
  p.Start();
  p.Pump();
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last() << " / " << p.gw.Last();
  EXPECT_GT(p.initiator->counters().tx_fragments, 1u);
  EXPECT_GT(p.responder->counters().tx_fragments, 1u);
  EXPECT_GT(p.responder->counters().rx_fragments, 1u);
  ExpectMirrored(p.client, p.gw);
}

TEST(IkeSaTest, PoolExhaustionFailsTheConnection) {
  Pair p(BaseConfig(Role::kInitiator, "secret-psk-1234567890"),
         BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  p.gw.refuse_address = true;
  p.Start();
  p.Pump();
  EXPECT_EQ(p.initiator->state(), IkeSa::State::kClosed);
  ASSERT_TRUE(p.client.Saw(Kind::kFailed));
  EXPECT_NE(p.client.Last().find("INTERNAL_ADDRESS_FAILURE"),
            std::string::npos)
      << p.client.Last();
  EXPECT_EQ(p.responder->state(), IkeSa::State::kClosed);
}

TEST(IkeSaTest, CookieIsEchoedFirst) {
  Pair p(BaseConfig(Role::kInitiator, "secret-psk-1234567890"),
         BaseConfig(Role::kResponder, "secret-psk-1234567890"));
  Bytes cookie(24, 0x5a);
  bool asked = false;
  bool echoed = false;
  p.drop_to_gw = [&](int i, const Bytes& m) {
    if (i == 1) {
      auto retry = ParseMessage(m);
      const auto* n = retry.ok() && !retry->payloads.empty()
                          ? absl::get_if<NotifyPayload>(
                                &retry->payloads.front().body)
                          : nullptr;
      echoed = n != nullptr && n->type == NotifyType::kCookie &&
               n->data == cookie;
    }
    if (i != 0) return false;
    // Answer the first request with N(COOKIE) ourselves.
    auto req = ParseMessage(m);
    Message r;
    r.header.spi_i = req->header.spi_i;
    r.header.exchange_type = ExchangeType::kIkeSaInit;
    r.header.response = true;
    NotifyPayload n;
    n.type = NotifyType::kCookie;
    n.data = cookie;
    r.payloads.push_back(Payload::Notify(n));
    p.initiator->OnMessage(*SerializeMessage(r),
                           *SocketAddress::Parse("192.0.2.1:500"), p.now);
    asked = true;
    return true;
  };
  p.Start();
  p.Pump();
  ASSERT_TRUE(asked);
  EXPECT_TRUE(echoed);
  ASSERT_EQ(p.initiator->state(), IkeSa::State::kEstablished)
      << p.client.Last();
}

}  // namespace
}  // namespace stow::ike

namespace stow::ike {
namespace {

TEST(IkeSaTest, UnknownCriticalPayloadIsAnsweredAndRefused) {
  testing_pair::Side gw;
  Message m;
  m.header.spi_i = 0x1122334455667788ull;
  m.header.exchange_type = ExchangeType::kIkeSaInit;
  m.header.initiator = true;
  m.payloads.push_back(Payload::Unknown(static_cast<PayloadType>(200),
                                        /*critical=*/true, {1, 2, 3}));
  m.payloads.push_back(Payload::Sa(BuildIkeProposal(DefaultIkeAlgorithms())));
  Bytes bytes = *SerializeMessage(m);
  auto parsed = ParseMessage(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto sa = IkeSa::CreateResponder(
      testing_pair::BaseConfig(Role::kResponder, "secret-psk-1234567890"), &gw,
      *SocketAddress::Parse("192.0.2.1:500"),
      *SocketAddress::Parse("192.0.2.2:500"), bytes, *parsed, false,
      absl::Seconds(1));
  EXPECT_EQ(sa->state(), IkeSa::State::kClosed);
  ASSERT_EQ(gw.outbox.size(), 1u);
  auto reply = ParseMessage(gw.outbox.front());
  ASSERT_TRUE(reply.ok());
  const NotifyPayload* n =
      reply->FindNotify(NotifyType::kUnsupportedCriticalPayload);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->data, Bytes{200});
  EXPECT_EQ(reply->header.spi_i, m.header.spi_i);
  EXPECT_TRUE(reply->header.response);
}

}  // namespace
}  // namespace stow::ike
