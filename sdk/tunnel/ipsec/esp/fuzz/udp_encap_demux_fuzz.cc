// Fuzz target: one datagram received on the UDP-encapsulation socket,
// classified and dispatched: IKE messages re-framed and compared, ESP packets
// demultiplexed by SPI to one of two inbound SAs and opened.
#include <cstdlib>
#include <memory>
#include <vector>

#include "sdk/tunnel/ipsec/esp/esp.h"
#include "sdk/tunnel/ipsec/esp/fuzz/fuzz_targets.h"
#include "sdk/tunnel/ipsec/esp/sa.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"

namespace stow::esp::fuzz {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

// Two SAs with fixed keys, kept across inputs: without their keys no input
// authenticates, so their state never changes and runs stay reproducible.
struct Table {
  Table() {
    for (int i = 0; i < 2; ++i) {
      SaConfig config;
      config.spi = 0x100 * (i + 1);
      config.algorithm =
          i == 0 ? Algorithm::kAes128Gcm16 : Algorithm::kChaCha20Poly1305;
      config.esn = i == 1;
      std::vector<uint8_t> key(KeyMaterialSize(config.algorithm),
                               uint8_t(0x40 + i));
      auto sa = InboundSa::Create(config, key);
      Check(sa.ok());
      sas[i] = std::move(*sa);
    }
  }
  InboundSa* Find(uint32_t spi) {
    for (auto& sa : sas) {
      if (sa->spi() == spi) return sa.get();
    }
    return nullptr;
  }
  std::unique_ptr<InboundSa> sas[2];
};

}  // namespace

int UdpEncapDemux(const uint8_t* data, size_t size) {
  static Table* table = new Table();
  absl::Span<const uint8_t> datagram(data, size);
  UdpClassified c = ClassifyUdp(datagram);
  switch (c.kind) {
    case UdpKind::kNatKeepalive:
      Check(size == 1 && data[0] == kNatKeepaliveByte && c.payload.empty());
      break;
    case UdpKind::kIke: {
      Check(size >= kNonEspMarkerSize + kIkeHeaderSize);
      Check(data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 0);
      Check(c.payload.data() == data + kNonEspMarkerSize &&
            c.payload.size() == size - kNonEspMarkerSize);
      std::vector<uint8_t> again = IkeDatagram(c.payload);
      Check(again == std::vector<uint8_t>(data, data + size));
      break;
    }
    case UdpKind::kEsp: {
      Check(c.spi != 0 && c.payload.data() == data && c.payload.size() == size);
      absl::optional<uint32_t> spi = PeekSpi(c.payload);
      Check(spi.has_value() && *spi == c.spi);
      InboundSa* sa = table->Find(c.spi);
      if (sa == nullptr) break;  // Unknown SPI: the tunnel counts and drops.
      std::vector<uint8_t> buffer(InboundSa::MaxOpenedSize(size));
      OpenedPacket opened;
      OpenResult r = sa->Open(c.payload, absl::MakeSpan(buffer), &opened);
      Check(r != OpenResult::kOk && r != OpenResult::kDummy &&
            r != OpenResult::kBadPadding && r != OpenResult::kBadNextHeader);
      std::vector<uint8_t> copy(data, data + size);
      OpenResult in_place = sa->OpenInPlace(absl::MakeSpan(copy), &opened);
      Check(in_place == r);
      break;
    }
    case UdpKind::kMalformed:
      Check(c.payload.empty() && c.spi == 0);
      Check(size != 1 || data[0] != kNatKeepaliveByte);
      break;
  }
  return 0;
}

}  // namespace stow::esp::fuzz
