// The ESP anti-replay window (RFC 4303 section 3.4.3) as a ring of 64-bit
// blocks (RFC 6479): sliding the window clears whole blocks, never shifts
// bits, so a check and an update cost O(1) whatever the window size. With
// extended sequence numbers it infers the high 32 bits of a received
// sequence number from its low 32 bits (RFC 4303 Appendix A2).
//
// Two phases per packet: Check() before the ICV is verified (cheap, rejects
// replays and old packets without spending crypto on them), Update() only
// after the ICV verified, so forged packets never move the window.
//
// Not thread-safe; owned by one InboundSa.
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_ESP_REPLAY_WINDOW_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_ESP_REPLAY_WINDOW_H_

#include <cstdint>
#include <vector>

namespace stow::esp {

class ReplayWindow {
 public:
  static constexpr uint32_t kDefaultSize = 4096;
  static constexpr uint32_t kMinSize = 32;
  static constexpr uint32_t kMaxSize = 1u << 20;

  enum class Verdict : uint8_t {
    kOk,      // New, or inside the window and not yet seen.
    kReplay,  // Inside the window and already seen.
    kTooOld,  // Left of the window (or 0, which is never sent).
  };

  // `size` is the number of sequence numbers the window spans, the highest
  // seen included; clamped to [kMinSize, kMaxSize]. `esn`: 64-bit sequence
  // numbers of which the packet carries the low half.
  ReplayWindow(uint32_t size, bool esn);

  // Checks the received (low 32 bits of the) sequence number; on kOk sets
  // *seq to the full sequence number, to authenticate (it goes into the AAD
  // with ESN) and then pass to Update().
  Verdict Check(uint32_t seq_low, uint64_t* seq) const;

  // Marks `seq` received; slides the window when it is the new highest.
  // Call only with a sequence number Check() accepted, after the ICV verified.
  void Update(uint64_t seq);

  // The highest sequence number received so far (0 before any).
  uint64_t top() const { return top_; }
  uint32_t size() const { return size_; }
  bool esn() const { return esn_; }

 private:
  bool Seen(uint64_t seq) const;

  const uint32_t size_;
  const bool esn_;
  uint64_t top_ = 0;
  uint64_t block_mask_;  // Number of blocks - 1 (a power of two - 1).
  std::vector<uint64_t> blocks_;
};

}  // namespace stow::esp

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_ESP_REPLAY_WINDOW_H_
