// libFuzzer entry point for stow::esp::fuzz::UdpEncapDemux (fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "sdk/tunnel/ipsec/esp/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return stow::esp::fuzz::UdpEncapDemux(data, size);
}
