#include "sdk/tunnel/ipsec/esp_peer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/tunnel/ipsec/esp/esp.h"
#include "sdk/tunnel/ipsec/esp/sa.h"

namespace stow::ipsec {
namespace {

// The loop's monotonic clock as the absl::Time the SAs count lifetimes in.
absl::Time ToTime(absl::Duration now) { return absl::UnixEpoch() + now; }

// Rekeying is asked for at 90 % of a configured lifetime, as gateways
// commonly leave a margin before the hard limit.
esp::LifetimeLimits ToLimits(const EspLifetime& lifetime) {
  esp::LifetimeLimits limits;
  if (lifetime.packets != 0) {
    limits.hard_packets = lifetime.packets;
    limits.soft_packets = lifetime.packets - lifetime.packets / 10;
  }
  if (lifetime.bytes != 0) {
    limits.hard_bytes = lifetime.bytes;
    limits.soft_bytes = lifetime.bytes - lifetime.bytes / 10;
  }
  if (lifetime.time != absl::ZeroDuration()) {
    limits.hard_time = lifetime.time;
    limits.soft_time = lifetime.time * 0.9;
  }
  return limits;
}

// Copies the first `n` bytes of the concatenated fragments into `out`.
size_t Gather(absl::Span<const absl::Span<const uint8_t>> fragments,
              uint8_t* out, size_t n) {
  size_t got = 0;
  for (absl::Span<const uint8_t> f : fragments) {
    const size_t take = std::min(n - got, f.size());
    std::memcpy(out + got, f.data(), take);
    got += take;
    if (got == n) break;
  }
  return got;
}

}  // namespace

bool ReadIpAddresses(absl::Span<const absl::Span<const uint8_t>> fragments,
                     IpAddress* source, IpAddress* destination) {
  uint8_t header[40];
  const size_t got = Gather(fragments, header, sizeof(header));
  if (got >= 20 && header[0] >> 4 == 4) {
    *source = IpAddress::V4(header[12], header[13], header[14], header[15]);
    *destination =
        IpAddress::V4(header[16], header[17], header[18], header[19]);
    return true;
  }
  if (got == 40 && header[0] >> 4 == 6) {
    *source = *IpAddress::FromBytes(absl::MakeConstSpan(header + 8, 16));
    *destination = *IpAddress::FromBytes(absl::MakeConstSpan(header + 24, 16));
    return true;
  }
  return false;
}

struct EspPeer::State {
  std::unique_ptr<esp::OutboundSa> out;
  std::unique_ptr<esp::InboundSa> in;
  std::vector<tunnel::TunnelEvent> events;
  bool out_expired_reported = false;
  bool in_expired_reported = false;
  uint64_t tx_not_ip = 0;
  uint64_t rx_inner_mismatch = 0;
};

absl::StatusOr<std::unique_ptr<EspPeer>> EspPeer::Create(
    const ChildSaKeys& keys, EspRole role, absl::Duration now) {
  const bool initiator = role == EspRole::kInitiator;
  const EspDirection& send = initiator ? keys.i2r : keys.r2i;
  const EspDirection& receive = initiator ? keys.r2i : keys.i2r;
  esp::SaConfig config;
  config.algorithm = keys.transform;
  config.esn = keys.esn;
  config.lifetime = ToLimits(keys.lifetime);
  config.created = ToTime(now);
  auto state = std::make_unique<State>();
  config.spi = send.spi;
  auto out = esp::OutboundSa::Create(config, send.key_material);
  if (!out.ok()) return out.status();
  config.spi = receive.spi;
  auto in = esp::InboundSa::Create(config, receive.key_material);
  if (!in.ok()) return in.status();
  state->out = *std::move(out);
  state->in = *std::move(in);
  return std::unique_ptr<EspPeer>(new EspPeer(std::move(state)));
}

EspPeer::EspPeer(std::unique_ptr<State> state) : state_(std::move(state)) {}
EspPeer::~EspPeer() = default;

uint32_t EspPeer::inbound_spi() const { return state_->in->spi(); }
uint32_t EspPeer::outbound_spi() const { return state_->out->spi(); }
uint64_t EspPeer::rx_packets() const { return state_->in->counters().packets; }
uint64_t EspPeer::tx_packets() const {
  return state_->out->counters().packets;
}

absl::Span<const uint8_t> EspPeer::Seal(
    absl::Span<const absl::Span<const uint8_t>> inner,
    std::vector<uint8_t>* buffer, absl::Duration now) {
  CheckLifetime(now);
  size_t size = 0;
  for (absl::Span<const uint8_t> f : inner) size += f.size();
  uint8_t first = 0;
  Gather(inner, &first, 1);
  const int version = size == 0 ? 0 : first >> 4;
  if (version != 4 && version != 6) {
    state_->tx_not_ip++;
    return {};
  }
  const size_t needed = esp::SealedSize(size);
  if (buffer->size() < needed) buffer->resize(std::max<size_t>(needed, 2048));
  size_t sealed = 0;
  const esp::SealResult result = state_->out->Seal(
      inner, version == 4 ? esp::kNextHeaderIpv4 : esp::kNextHeaderIpv6,
      absl::MakeSpan(*buffer), &sealed);
  CheckLifetime(now);
  if (result != esp::SealResult::kOk) return {};  // Counted by the SA.
  return absl::MakeConstSpan(buffer->data(), sealed);
}

absl::Span<const uint8_t> EspPeer::Open(absl::Span<const uint8_t> esp,
                                        std::vector<uint8_t>* buffer,
                                        absl::Duration now) {
  CheckLifetime(now);
  const size_t needed = esp::InboundSa::MaxOpenedSize(esp.size());
  if (buffer->size() < needed) buffer->resize(std::max<size_t>(needed, 2048));
  esp::OpenedPacket opened;
  const esp::OpenResult result =
      state_->in->Open(esp, absl::MakeSpan(*buffer), &opened);
  CheckLifetime(now);
  if (result != esp::OpenResult::kOk) return {};  // Counted by the SA.
  // The next header must match the inner packet's IP version.
  const int version = opened.inner.empty() ? 0 : opened.inner[0] >> 4;
  if ((opened.next_header == esp::kNextHeaderIpv4 && version != 4) ||
      (opened.next_header == esp::kNextHeaderIpv6 && version != 6)) {
    state_->rx_inner_mismatch++;
    return {};
  }
  return opened.inner;
}

void EspPeer::CheckLifetime(absl::Duration now) {
  State& s = *state_;
  const absl::Time t = ToTime(now);
  s.out->CheckLifetime(t);
  s.in->CheckLifetime(t);
  if (s.out->TakeRekeyNeeded()) {
    s.events.push_back({tunnel::TunnelEvent::Kind::kRekeyNeeded,
                        absl::StrCat("outbound SA 0x",
                                     absl::Hex(s.out->spi(), absl::kZeroPad8),
                                     " after ", s.out->last_sequence(),
                                     " packets")});
  }
  if (s.in->TakeRekeyNeeded()) {
    s.events.push_back({tunnel::TunnelEvent::Kind::kRekeyNeeded,
                        absl::StrCat("inbound SA 0x",
                                     absl::Hex(s.in->spi(), absl::kZeroPad8))});
  }
  if (!s.out_expired_reported && s.out->state() == esp::SaState::kExpired) {
    s.out_expired_reported = true;
    s.events.push_back({tunnel::TunnelEvent::Kind::kExpired,
                        absl::StrCat("outbound SA 0x",
                                     absl::Hex(s.out->spi(), absl::kZeroPad8))});
  }
  if (!s.in_expired_reported && s.in->state() == esp::SaState::kExpired) {
    s.in_expired_reported = true;
    s.events.push_back({tunnel::TunnelEvent::Kind::kExpired,
                        absl::StrCat("inbound SA 0x",
                                     absl::Hex(s.in->spi(), absl::kZeroPad8))});
  }
}

std::vector<tunnel::TunnelEvent> EspPeer::TakeEvents() {
  return std::exchange(state_->events, {});
}

tunnel::CounterList EspPeer::Counters() const {
  const esp::OutboundCounters& o = state_->out->counters();
  const esp::InboundCounters& i = state_->in->counters();
  return {
      {"esp_tx_packets", o.packets},
      {"esp_tx_bytes", o.bytes},
      {"esp_tx_not_ip", state_->tx_not_ip},
      {"esp_tx_expired", o.expired + o.sequence_exhausted},
      {"esp_tx_errors", o.buffer_too_small + o.bad_next_header +
                            o.crypto_error},
      {"esp_rx_packets", i.packets},
      {"esp_rx_bytes", i.bytes},
      {"esp_rx_auth_failed", i.auth_failed},
      {"esp_rx_replay", i.replay},
      {"esp_rx_too_old", i.too_old},
      {"esp_rx_malformed", i.malformed + i.wrong_spi},
      {"esp_rx_bad_padding", i.bad_padding},
      {"esp_rx_bad_next_header", i.bad_next_header},
      {"esp_rx_inner_mismatch", state_->rx_inner_mismatch},
      {"esp_rx_dummy", i.dummy},
      {"esp_rx_expired", i.expired},
  };
}

}  // namespace stow::ipsec
