// Fuzz target: bytes into an inbound ESP SA with a fixed key. See
// fuzz_targets.h for the input format.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "sdk/crypto/aead.h"
#include "sdk/tunnel/ipsec/esp/fuzz/fuzz_targets.h"
#include "sdk/tunnel/ipsec/esp/sa.h"

namespace stow::esp::fuzz {
namespace {

constexpr uint32_t kSpi = 0x0BADCAFE;
const absl::Time kCreated = absl::FromUnixSeconds(1600000000);

std::array<uint64_t, 16> result_counts;

// A harness invariant broke: a real bug, reported as a crash.
void Check(bool condition) {
  if (!condition) std::abort();
}

class Session {
 public:
  explicit Session(uint8_t config_byte) {
    config_.spi = kSpi;
    config_.algorithm = static_cast<Algorithm>(config_byte % 3);
    config_.esn = (config_byte & 0x04) != 0;
    config_.replay_window = (config_byte & 0x08) ? 64 : 4096;
    config_.created = kCreated;
    if (config_byte & 0x10) {
      config_.lifetime.soft_packets = 20;
      config_.lifetime.hard_packets = 50;
      config_.lifetime.soft_bytes = 10000;
      config_.lifetime.hard_bytes = 30000;
      config_.lifetime.soft_time = absl::Seconds(100);
      config_.lifetime.hard_time = absl::Seconds(200);
    }
    key_.resize(KeyMaterialSize(config_.algorithm));
    for (size_t i = 0; i < key_.size(); ++i) key_[i] = uint8_t(0x30 + i);
    auto out = OutboundSa::Create(config_, key_);
    auto in = InboundSa::Create(config_, key_);
    auto aead = crypto::Aead::Create(
        AeadAlgorithmOf(config_.algorithm),
        absl::MakeConstSpan(key_.data(), key_.size() - kSaltSize));
    Check(out.ok() && in.ok() && aead.ok());
    out_ = std::move(*out);
    in_ = std::move(*in);
    aead_ = std::make_unique<crypto::Aead>(std::move(*aead));
    // Start close to the end of the 32-bit space sometimes, to reach the
    // ESN wrap and the exhaustion of plain sequence numbers quickly.
    if (config_byte & 0x20) {
      if (config_.esn) {
        // The receiver infers the high half from what it has seen: show it
        // the middle of the space first (RFC 4303 A2).
        out_->set_next_sequence_for_testing(uint64_t{1} << 31);
        Deliver(SealBody({}, kNextHeaderNone), true, {}, kNextHeaderNone);
      }
      out_->set_next_sequence_for_testing((uint64_t{1} << 32) - 40);
    }
  }

  // Opens `packet`, alternating the two entry points; records the result.
  OpenResult Open(const std::vector<uint8_t>& packet, bool in_place,
                  std::vector<uint8_t>* inner) {
    OpenedPacket opened;
    OpenResult r;
    std::vector<uint8_t> copy = packet;
    if (in_place) {
      r = in_->OpenInPlace(absl::MakeSpan(copy), &opened);
      if (r == OpenResult::kOk) {
        Check(opened.inner.data() == copy.data() + kHeaderSize);
      }
    } else {
      std::vector<uint8_t> buffer(InboundSa::MaxOpenedSize(packet.size()));
      r = in_->Open(packet, absl::MakeSpan(buffer), &opened);
      Check(copy == packet);  // Not modified.
      if (r == OpenResult::kOk) {
        Check(opened.inner.data() >= buffer.data() &&
              opened.inner.data() + opened.inner.size() <=
                  buffer.data() + buffer.size());
      }
      copy = std::move(buffer);
    }
    ++result_counts[static_cast<size_t>(r) & 15];
    if (r == OpenResult::kOk) {
      Check(opened.next_header == kNextHeaderIpv4 ||
            opened.next_header == kNextHeaderIpv6);
      Check(opened.inner.size() + kMinPacketSize - 4 <= packet.size());
      if (inner != nullptr)
        inner->assign(opened.inner.begin(), opened.inner.end());
    } else {
      Check(opened.inner.empty());
    }
    return r;
  }

  std::vector<uint8_t> SealBody(absl::Span<const uint8_t> body,
                                uint8_t next_header) {
    std::vector<uint8_t> packet(SealedSize(body.size()));
    size_t size = 0;
    SealResult r = out_->Seal(body, next_header, absl::MakeSpan(packet), &size);
    packet.resize(size);
    if (r != SealResult::kOk) packet.clear();
    return packet;
  }

  // A sealed, unmodified packet must open to its bytes (or be a dummy, or be
  // refused by an expired receiver), and then be a replay.
  void Deliver(const std::vector<uint8_t>& packet, bool in_place,
               absl::Span<const uint8_t> body = {}, uint8_t next_header = 0) {
    if (packet.empty()) return;
    std::vector<uint8_t> inner;
    OpenResult r = Open(packet, in_place, &inner);
    if (r == OpenResult::kExpired) return;
    if (next_header == kNextHeaderNone) {
      Check(r == OpenResult::kDummy);
    } else {
      Check(r == OpenResult::kOk);
      // TFC trimming may shorten it to the length its IP header claims.
      Check(inner.size() <= body.size() &&
            std::equal(inner.begin(), inner.end(), body.begin()));
    }
    // Again: a replay, unless that packet used up the receiver's lifetime.
    const OpenResult again = Open(packet, !in_place, nullptr);
    Check(again == OpenResult::kReplay ||
          (again == OpenResult::kExpired && in_->state() == SaState::kExpired));
  }

  // Encrypts `plaintext` as the whole ESP payload (inner packet, padding and
  // trailer as given) with the SA's key and the next sequence number.
  std::vector<uint8_t> Craft(absl::Span<const uint8_t> plaintext) {
    const uint64_t seq = out_->last_sequence() + 1;
    if (seq == 0 || (!config_.esn && seq > 0xFFFFFFFFu)) return {};
    out_->set_next_sequence_for_testing(seq + 1);
    std::vector<uint8_t> packet(kHeaderSize + plaintext.size() + kIcvSize);
    uint8_t* p = packet.data();
    const uint64_t fields[] = {kSpi, seq & 0xFFFFFFFFu, seq >> 32,
                               seq & 0xFFFFFFFFu};
    for (int f = 0; f < 4; ++f) {
      for (int b = 0; b < 4; ++b)
        p[f * 4 + b] = uint8_t(fields[f] >> (24 - 8 * b));
    }
    uint8_t nonce[12];
    std::memcpy(nonce, key_.data() + key_.size() - kSaltSize, kSaltSize);
    std::memcpy(nonce + kSaltSize, p + 8, kIvSize);
    uint8_t aad[12];
    std::memcpy(aad, p, 4);
    size_t aad_size = 8;
    if (config_.esn) {
      std::memcpy(aad + 4, p + 8, 8);
      aad_size = 12;
    } else {
      std::memcpy(aad + 4, p + 4, 4);
    }
    Check(aead_->Seal(nonce, absl::MakeConstSpan(aad, aad_size), plaintext,
                      absl::MakeSpan(packet).subspan(kHeaderSize)));
    return packet;
  }

  void Jump(uint64_t by) {
    // Forward only, and never more than 2^31 past what the receiver has
    // seen, so its ESN inference (RFC 4303 A2) stays right.
    const uint64_t last = out_->last_sequence();
    uint64_t next = last + 1 + by;
    if (next <= last) return;
    const uint64_t limit = in_->replay_window().top() + (uint64_t{1} << 31);
    if (next > limit) next = limit;
    if (next > last) out_->set_next_sequence_for_testing(next);
  }

  void CheckLifetimes(absl::Duration age) {
    out_->CheckLifetime(kCreated + age);
    in_->CheckLifetime(kCreated + age);
    out_->TakeRekeyNeeded();
    in_->TakeRekeyNeeded();
  }

  const InboundSa& in() const { return *in_; }

 private:
  SaConfig config_;
  std::vector<uint8_t> key_;
  std::unique_ptr<OutboundSa> out_;
  std::unique_ptr<InboundSa> in_;
  std::unique_ptr<crypto::Aead> aead_;
};

}  // namespace

const std::array<uint64_t, 16>& EspDecapResultCounts() { return result_counts; }

int EspDecap(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Session session(data[0]);
  size_t pos = 1;
  int records = 0;
  while (pos + 2 <= size && records++ < 64) {
    const uint8_t control = data[pos];
    size_t length = data[pos + 1] | (size_t{control} & 0x30) << 4;  // < 1024.
    pos += 2;
    if (length > size - pos) length = size - pos;
    absl::Span<const uint8_t> body(data + pos, length);
    pos += length;
    const bool in_place = (control & 0x04) != 0;
    switch (control & 0x03) {
      case 0: {  // A raw packet.
        session.Open(std::vector<uint8_t>(body.begin(), body.end()), in_place,
                     nullptr);
        break;
      }
      case 1: {  // Sealed by the matching outbound SA, maybe tampered with.
        static constexpr uint8_t kNextHeaders[] = {
            kNextHeaderIpv4, kNextHeaderIpv6, kNextHeaderNone, 6};
        const uint8_t nh = kNextHeaders[(control >> 2) & 3];
        std::vector<uint8_t> packet = session.SealBody(body, nh);
        if (packet.empty()) break;  // Refused (bad next header, expired...).
        if (control & 0x40) {
          // Flip one bit chosen by the body: must never open.
          size_t bit = length * 31 + (length > 1 ? body[0] * 256 + body[1] : 7);
          bit %= packet.size() * 8;
          packet[bit / 8] ^= uint8_t(1u << (bit % 8));
          Check(session.Open(packet, in_place, nullptr) != OpenResult::kOk);
        } else {
          session.Deliver(packet, in_place, body, nh);
        }
        break;
      }
      case 2: {  // Authentic packet with arbitrary padding and next header.
        std::vector<uint8_t> packet = session.Craft(body);
        if (!packet.empty()) session.Open(packet, in_place, nullptr);
        if (!packet.empty() && (control & 0x40)) {
          session.Open(packet, !in_place, nullptr);  // Replay.
        }
        break;
      }
      case 3: {  // Sequence jump and a lifetime check.
        uint64_t jump = 0;
        for (size_t i = 0; i < length && i < 4; ++i) jump = jump << 8 | body[i];
        session.Jump(jump & 0x7FFFFFFF);
        session.CheckLifetimes(absl::Seconds(length > 4 ? body[4] : length));
        break;
      }
    }
  }
  const InboundCounters& c = session.in().counters();
  Check(c.dropped() + c.packets <= uint64_t{2} * 64 + 2);
  return 0;
}

}  // namespace stow::esp::fuzz
