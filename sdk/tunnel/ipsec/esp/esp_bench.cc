// ESP seal/open throughput on one core, 1400-byte inner packets, per
// algorithm, next to the bare AEAD (BoringSSL) doing the same bytes: the gap
// is this module's overhead. The figures of one algorithm run interleaved in
// 20 ms slices, so they compare fairly on a busy machine. Prints one JSON
// line per figure, in Gbit/s of inner payload:
//   {"name": "esp_seal_aes128gcm16", "value": 21.3, "unit": "Gbit/s"}
//
//   bazel run -c opt //sdk/tunnel/ipsec/esp:esp_bench [-- SECONDS_PER_FIGURE]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sdk/crypto/aead.h"
#include "sdk/tunnel/ipsec/esp/sa.h"

namespace stow::esp {
namespace {

constexpr size_t kInnerSize = 1400;
constexpr int kBatch = 256;  // Operations between clock reads.

void Report(const std::string& name, uint64_t packets, absl::Duration elapsed) {
  const double gbits = static_cast<double>(packets) * kInnerSize * 8 /
                       absl::ToDoubleSeconds(elapsed) / 1e9;
  std::printf("{\"name\": \"%s\", \"value\": %.2f, \"unit\": \"Gbit/s\"}\n",
              name.c_str(), gbits);
  std::fflush(stdout);
}

// One figure: `op` performs kBatch operations per call.
struct Case {
  std::string name;
  std::function<void()> op;
  uint64_t packets = 0;
  absl::Duration elapsed;
};

// Runs the cases round-robin in short slices until each has run for
// `seconds`, so that they all see the same machine (other load, clock
// speed) and compare fairly; then reports each.
void MeasureInterleaved(std::vector<Case>& cases, double seconds) {
  const absl::Duration total = absl::Seconds(seconds);
  const absl::Duration slice = absl::Milliseconds(20);
  for (Case& c : cases) c.op();  // Warm up.
  bool more = true;
  while (more) {
    more = false;
    for (Case& c : cases) {
      if (c.elapsed >= total) continue;
      const absl::Time start = absl::Now();
      absl::Time now = start;
      while (now - start < slice) {
        c.op();
        c.packets += kBatch;
        now = absl::Now();
      }
      c.elapsed += now - start;
      more = more || c.elapsed < total;
    }
  }
  for (const Case& c : cases) Report(c.name, c.packets, c.elapsed);
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "esp_bench: %s\n", what);
  std::exit(1);
}

std::vector<uint8_t> Inner() {
  std::vector<uint8_t> p(kInnerSize);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 13);
  p[0] = 0x45;
  p[2] = kInnerSize >> 8;
  p[3] = kInnerSize & 0xFF;
  return p;
}

// Everything one algorithm's figures work on; outlives the measurement.
struct Bench {
  explicit Bench(Algorithm algorithm) : inner(Inner()) {
    key.assign(KeyMaterialSize(algorithm), 0x5C);
    config.spi = 0x1000;
    config.algorithm = algorithm;
    config.esn = true;  // The IV is the 64-bit counter either way.
    auto a = crypto::Aead::Create(
        AeadAlgorithmOf(algorithm),
        absl::MakeConstSpan(key.data(), key.size() - kSaltSize));
    auto s1 = OutboundSa::Create(config, key);
    auto s2 = OutboundSa::Create(config, key);
    auto s3 = OutboundSa::Create(config, key);
    if (!a.ok() || !s1.ok() || !s2.ok() || !s3.ok()) Fail("create");
    aead = std::make_unique<crypto::Aead>(std::move(*a));
    seal_copy = std::move(*s1);
    seal_in_place = std::move(*s2);
    aead_buffer.resize(kInnerSize + 4 + crypto::Aead::kTagSize);
    copy_out.resize(SealedSize(kInnerSize));
    in_place_buffer.resize(OutboundSa::kHeadroom + kInnerSize +
                           OutboundSa::kMaxTailroom);
    std::memcpy(in_place_buffer.data() + OutboundSa::kHeadroom, inner.data(),
                kInnerSize);
    // A ring of sealed packets to open. The replay window takes each
    // sequence number once, so each pass over the ring starts with a fresh
    // inbound SA (its key setup is part of the figure).
    ring.assign(kRing, std::vector<uint8_t>(SealedSize(kInnerSize)));
    size_t size = 0;
    for (auto& packet : ring) {
      if ((*s3)->Seal(inner, kNextHeaderIpv4, absl::MakeSpan(packet), &size) !=
          SealResult::kOk) {
        Fail("seal for open");
      }
    }
    plain.resize(InboundSa::MaxOpenedSize(ring[0].size()));
  }

  // The bare AEAD over the bytes ESP encrypts (inner packet + trailer).
  void AeadSeal() {
    absl::Span<uint8_t> text(aead_buffer.data(), kInnerSize + 4);
    for (int i = 0; i < kBatch; ++i) {
      ++counter;
      std::memcpy(nonce + 4, &counter, 8);
      if (!aead->SealDetached(
              nonce, absl::MakeConstSpan(aad), text, text,
              absl::MakeSpan(aead_buffer).subspan(text.size()))) {
        Fail("aead seal");
      }
    }
  }

  // Seal, copying the inner packet into the output buffer.
  void SealCopy() {
    size_t size = 0;
    for (int i = 0; i < kBatch; ++i) {
      if (seal_copy->Seal(inner, kNextHeaderIpv4, absl::MakeSpan(copy_out),
                          &size) != SealResult::kOk) {
        Fail("seal");
      }
    }
  }

  // Seal in place: the inner packet sits behind kHeadroom bytes.
  void SealInPlace() {
    absl::Span<const uint8_t> packet(
        in_place_buffer.data() + OutboundSa::kHeadroom, kInnerSize);
    size_t size = 0;
    for (int i = 0; i < kBatch; ++i) {
      if (seal_in_place->Seal(packet, kNextHeaderIpv4,
                              absl::MakeSpan(in_place_buffer),
                              &size) != SealResult::kOk) {
        Fail("seal in place");
      }
    }
  }

  void Open() {
    for (int i = 0; i < kBatch; ++i) {
      if (next == 0) {
        auto fresh = InboundSa::Create(config, key);
        if (!fresh.ok()) Fail("inbound");
        open_sa = std::move(*fresh);
      }
      OpenedPacket opened;
      if (open_sa->Open(ring[next], absl::MakeSpan(plain), &opened) !=
              OpenResult::kOk ||
          opened.inner.size() != kInnerSize) {
        Fail("open");
      }
      next = (next + 1) % kRing;
    }
  }

  static constexpr int kRing = 4 * kBatch;
  const std::vector<uint8_t> inner;
  std::vector<uint8_t> key;
  SaConfig config;
  std::unique_ptr<crypto::Aead> aead;
  std::vector<uint8_t> aead_buffer;
  uint8_t nonce[12] = {};
  uint8_t aad[12] = {};
  uint64_t counter = 0;
  std::unique_ptr<OutboundSa> seal_copy, seal_in_place;
  std::vector<uint8_t> copy_out, in_place_buffer;
  std::vector<std::vector<uint8_t>> ring;
  std::vector<uint8_t> plain;
  std::unique_ptr<InboundSa> open_sa;
  int next = 0;
};

void Run(Algorithm algorithm, double seconds) {
  const std::string suffix = AlgorithmName(algorithm);
  Bench b(algorithm);
  std::vector<Case> cases;
  cases.push_back({"aead_seal_" + suffix, [&b] { b.AeadSeal(); }});
  cases.push_back({"esp_seal_" + suffix, [&b] { b.SealCopy(); }});
  cases.push_back({"esp_seal_in_place_" + suffix, [&b] { b.SealInPlace(); }});
  cases.push_back({"esp_open_" + suffix, [&b] { b.Open(); }});
  MeasureInterleaved(cases, seconds);
}

}  // namespace
}  // namespace stow::esp

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  if (!(seconds > 0)) {
    std::fprintf(stderr, "usage: esp_bench [SECONDS_PER_FIGURE]\n");
    return 2;
  }
  for (stow::esp::Algorithm a :
       {stow::esp::Algorithm::kAes128Gcm16, stow::esp::Algorithm::kAes256Gcm16,
        stow::esp::Algorithm::kChaCha20Poly1305}) {
    stow::esp::Run(a, seconds);
  }
  return 0;
}
