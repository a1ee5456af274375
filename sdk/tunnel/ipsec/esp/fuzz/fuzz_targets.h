// The fuzz targets of the ESP module as plain functions, so one regression
// test can run both (each libFuzzer binary wraps one of them in
// LLVMFuzzerTestOneInput; see *_fuzzer.cc).
//
// A finding is a crash, a sanitizer report, or an abort() from a harness
// invariant (a sealed packet that does not open back to its bytes, a
// tampered one that opens, a classification that disagrees with the bytes).
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_FUZZ_FUZZ_TARGETS_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_FUZZ_FUZZ_TARGETS_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace stow::esp::fuzz {

// Input: one config byte (algorithm, ESN, window size, lifetime limits),
// then records [control][length][body]: a raw packet to open, the body
// sealed by the matching OutboundSa (optionally with a flipped bit, or
// replayed), the body encrypted as a raw ESP plaintext with the SA's key
// (authentic packets with any padding/next header), or a sequence jump with
// a lifetime check. All records go through one InboundSa, so the replay
// window and lifetimes carry state across them.
int EspDecap(const uint8_t* data, size_t size);

// Input: one UDP datagram on the NAT-T port: classified, IKE re-framed and
// compared, ESP demultiplexed by SPI to one of two inbound SAs and opened.
int UdpEncapDemux(const uint8_t* data, size_t size);

// How often each OpenResult came out of EspDecap (index = the enum's value),
// for the regression test to check the harness reaches every path.
const std::array<uint64_t, 16>& EspDecapResultCounts();

}  // namespace stow::esp::fuzz

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_FUZZ_FUZZ_TARGETS_H_
