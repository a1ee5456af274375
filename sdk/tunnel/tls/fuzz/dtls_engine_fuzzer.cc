// Feeds arbitrary datagrams to DTLS engines: a fresh server, a client in
// its handshake, and both ends of an established pair. The input is a
// sequence of datagrams, each a 2-byte big-endian length and its bytes (a
// short tail is the last datagram).
//
// Invariant checked: after the handshake, no datagram an off-path sender
// can forge (it does not know the keys) disturbs the connection: the engine
// stays established and a genuine record still gets through, both ways.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "sdk/tunnel/tls/dtls_engine.h"

using stow::tunnel::tls::DtlsClientOptions;
using stow::tunnel::tls::DtlsEngine;
using stow::tunnel::tls::DtlsServerOptions;

namespace {

using Datagrams = std::vector<std::vector<uint8_t>>;

const std::vector<uint8_t>& Psk() {
  static const auto* psk = new std::vector<uint8_t>(32, 0x5a);
  return *psk;
}

absl::Time FixedNow() { return absl::FromUnixSeconds(1763800000); }

std::unique_ptr<DtlsEngine> NewServer() {
  DtlsServerOptions o;
  o.clock = FixedNow;
  auto s = DtlsEngine::Server(
      [](absl::Span<const uint8_t> id) -> absl::optional<std::vector<uint8_t>> {
        // Refuse ids starting with 0xff, to exercise both paths.
        if (!id.empty() && id[0] == 0xff) return absl::nullopt;
        return Psk();
      },
      o);
  if (!s.ok()) abort();
  return *std::move(s);
}

std::unique_ptr<DtlsEngine> NewClient(bool plain) {
  DtlsClientOptions o;
  o.psk = Psk();
  o.session_id = std::vector<uint8_t>(32, 0x11);
  o.clock = FixedNow;
  o.plain_psk_only = plain;
  auto c = DtlsEngine::Client(o);
  if (!c.ok()) abort();
  return *std::move(c);
}

void Pump(DtlsEngine* a, DtlsEngine* b) {
  for (int i = 0; i < 20; ++i) {
    Datagrams x, y;
    a->TakeDatagrams(&x);
    b->TakeDatagrams(&y);
    if (x.empty() && y.empty()) return;
    for (auto& d : x) b->FeedDatagram(d);
    for (auto& d : y) a->FeedDatagram(d);
  }
}

void Exercise(DtlsEngine* e) {
  Datagrams out;
  e->TakeDatagrams(&out);
  (void)e->NextTimeout();
  e->OnTimer();
  std::vector<uint8_t> r;
  while (e->ReadRecord(&r)) {
  }
  (void)e->cipher();
  (void)e->max_record_payload();
}

// A genuine record from `from` must arrive intact at `to`.
void CheckStillWorks(DtlsEngine* from, DtlsEngine* to) {
  if (from->state() != DtlsEngine::State::kEstablished ||
      to->state() != DtlsEngine::State::kEstablished) {
    abort();
  }
  std::vector<uint8_t> drain;
  while (to->ReadRecord(&drain)) {
  }
  const std::vector<uint8_t> payload = {0x00, 0x45, 0x00, 0x00, 0x14};
  if (!from->WriteRecord(payload).ok()) abort();
  Datagrams out;
  from->TakeDatagrams(&out);
  if (out.size() != 1) abort();
  to->FeedDatagram(out[0]);
  std::vector<uint8_t> got;
  if (!to->ReadRecord(&got) || got != payload) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Datagrams in;
  size_t pos = 0;
  while (pos < size && in.size() < 64) {
    size_t len = pos + 2 <= size ? (data[pos] << 8 | data[pos + 1]) : 0;
    pos = std::min(pos + 2, size);
    len = std::min(len, size - pos);
    in.emplace_back(data + pos, data + pos + len);
    pos += len;
  }
  const bool plain = size > 0 && (data[size - 1] & 1);

  // A fresh server parsing ClientHellos (and anything else).
  auto server = NewServer();
  for (auto& d : in) server->FeedDatagram(d);
  Exercise(server.get());

  // A client mid-handshake parsing server flights.
  auto client = NewClient(plain);
  client->Start();
  for (auto& d : in) client->FeedDatagram(d);
  Exercise(client.get());

  // An established pair: forged datagrams to either end change nothing.
  auto c = NewClient(plain);
  auto s = NewServer();
  c->Start();
  Pump(c.get(), s.get());
  if (c->state() != DtlsEngine::State::kEstablished ||
      s->state() != DtlsEngine::State::kEstablished) {
    abort();
  }
  for (auto& d : in) {
    c->FeedDatagram(d);
    s->FeedDatagram(d);
  }
  Exercise(c.get());
  Exercise(s.get());
  CheckStillWorks(s.get(), c.get());
  CheckStillWorks(c.get(), s.get());
  return 0;
}
