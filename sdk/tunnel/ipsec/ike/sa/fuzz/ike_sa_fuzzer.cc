// Fuzz target for the IKE SA state machine's handling of unencrypted
// messages from the network: an IKE_SA_INIT request reaching a new
// responder (CreateResponder), the same bytes again (the retransmission
// path), and the bytes as the IKE_SA_INIT response to a started initiator
// (its SPIi patched in so that the message is looked at). Invariants: no
// crash, no hang, every answer the SA sends parses back, and a message
// that was refused leaves no CHILD SA.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/types/span.h"
#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

namespace stow::ike {
namespace {

class Sink : public IkeSa::Delegate {
 public:
  void SendIke(absl::Span<const uint8_t> m, bool) override {
    if (!ParseHeader(m).ok()) std::abort();  // We only send what we parse.
    ++sent;
  }
  void OnIkeEvent(const IkeEvent&) override {}
  void OnChildSaUp(const ChildSaInfo&) override { ++children; }
  void OnChildSaDown(uint32_t) override {}
  int sent = 0;
  int children = 0;
};

IkeConfig Config(Role role) {
  IkeConfig c;
  c.role = role;
  c.local_id.id_type = IdType::kFqdn;
  c.local_id.data = {'g', 'w'};
  auto psk = *PskCredentials::Create("fuzz-psk-0123456789");
  c.credentials = psk;
  c.peer_authenticator = psk;
  c.fragment_size = 300;
  return c;
}

}  // namespace
}  // namespace stow::ike

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stow;       // NOLINT
  using namespace stow::ike;  // NOLINT
  const auto local = *SocketAddress::Parse("192.0.2.1:500");
  const auto remote = *SocketAddress::Parse("192.0.2.2:500");
  absl::Span<const uint8_t> bytes(data, size);
  absl::Duration now = absl::Seconds(1);

  // A responder for a first request.
  auto parsed = ParseMessage(bytes);
  if (parsed.ok() && parsed->header.exchange_type == ExchangeType::kIkeSaInit &&
      !parsed->header.response) {
    Sink sink;
    auto sa = IkeSa::CreateResponder(Config(Role::kResponder), &sink, local,
                                     remote, bytes, *parsed, false, now);
    sa->OnMessage(bytes, remote, now);
    sa->OnTimer(now + absl::Minutes(5));
    if (sink.children != 0) std::abort();  // No IKE_AUTH was seen.
  }

  // The bytes as the response to a started initiator.
  if (size >= 8) {
    Sink sink;
    auto sa = IkeSa::CreateInitiator(Config(Role::kInitiator), &sink, remote,
                                     local);
    sa->Start(now);
    std::vector<uint8_t> patched(data, data + size);
    const uint64_t spi = sa->spi_i();
    for (int i = 0; i < 8; ++i)
      patched[i] = static_cast<uint8_t>(spi >> (56 - 8 * i));
    sa->OnMessage(patched, local, now);
    // At most: IKE_SA_INIT, a retry (COOKIE / INVALID_KE) or IKE_AUTH.
    if (sink.sent > 2) std::abort();
    if (sink.children != 0) std::abort();
    sa->OnTimer(now + absl::Minutes(5));
  }
  return 0;
}
