// IKE message fragmentation (RFC 7383): splitting an inner payload chain
// into the plaintexts of Encrypted Fragment (SKF) payloads, and reassembling
// them on receipt. Each fragment is then sealed / opened on its own by
// SkCipher with SkKind::kSkf; reassembly works on fragments whose
// ICV already verified (RFC 7383 section 2.6), so it only sees the peer's
// bytes, but it still bounds memory and checks every field.
//
// Pure code: no sockets, no clock (the caller drops a stale reassembly when
// its retransmission timer says so).
#ifndef STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_FRAGMENTATION_H_
#define STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_FRAGMENTATION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace stow::ike {

// Limits on both sides: at most 64 fragments, at most 64 KiB reassembled.
inline constexpr size_t kMaxFragments = 64;
inline constexpr size_t kMaxReassembledSize = 64 * 1024;

// The SKF payload header fields before the IV (RFC 7383 section 2.5).
struct SkfHeader {
  uint8_t next_payload = 0;  // First inner payload's type in fragment 1, else 0.
  uint16_t payload_length = 0;
  uint16_t fragment_number = 0;  // 1 .. total_fragments.
  uint16_t total_fragments = 0;
};

// Reads the 8-byte SKF header at `offset` of a message. nullopt if fewer
// than 8 bytes remain; the fields are returned as they are (Reassembler
// checks them).
absl::optional<SkfHeader> ParseSkfHeader(absl::Span<const uint8_t> message,
                                         size_t offset);
// Appends an SKF header; Payload Length 0 (SkCipher::SealMessage fills it).
void AppendSkfHeader(uint8_t next_payload, uint16_t fragment_number,
                     uint16_t total_fragments, std::vector<uint8_t>* out);

// One fragment's plaintext and the header fields it goes out with.
struct FragmentPlaintext {
  uint8_t next_payload = 0;
  uint16_t fragment_number = 0;
  uint16_t total_fragments = 0;
  std::vector<uint8_t> data;
};

// The largest fragment plaintext that keeps a sealed SKF message (IKE
// header, SKF header, IV, plaintext, Pad Length, ICV) within
// `max_message_size` bytes of UDP payload (without the 4-byte non-ESP
// marker, which the caller subtracts on port 4500). 0 if nothing fits.
size_t MaxFragmentPlaintext(size_t max_message_size);

// Splits `inner` (the plaintext payload chain of an SK payload whose first
// payload has type `first_payload`) into fragments of at most
// `max_fragment_data` bytes, all of equal size but the last. Fragment 1
// carries `first_payload` as Next Payload, the others 0. InvalidArgument if
// `inner` is empty, `max_fragment_data` is 0, more than kMaxFragments
// fragments would be needed or `inner` exceeds kMaxReassembledSize.
absl::StatusOr<std::vector<FragmentPlaintext>> SplitIntoFragments(
    uint8_t first_payload, absl::Span<const uint8_t> inner,
    size_t max_fragment_data);

// Reassembles the fragments of one message, identified by its Message ID.
// One instance per direction of an IKE SA; all methods on one thread.
class FragmentReassembler {
 public:
  enum class Result : uint8_t {
    kStored,              // Kept; more fragments are missing.
    kComplete,            // The message is whole: see TakeMessage().
    kRestarted,           // A larger Total Fragments (the sender fragmented
                          // again, smaller): earlier fragments dropped, this
                          // one kept (RFC 7383 section 2.6).
    kDuplicate,           // This number is already stored: ignored.
    kBadNumber,           // Number 0, total 0 or number > total: dropped.
    kInconsistentTotal,   // Smaller total than the stored fragments': dropped.
    kOtherMessage,        // Another Message ID is being reassembled: dropped
                          // (Reset() first to switch).
    kTooManyFragments,    // Total above kMaxFragments: dropped.
    kTooLarge,            // Would exceed kMaxReassembledSize: dropped.
  };
  static const char* ResultName(Result result);

  // Drops, by reason (kStored/kComplete/kRestarted are not drops).
  struct Counters {
    uint64_t stored = 0;
    uint64_t completed = 0;
    uint64_t restarted = 0;
    uint64_t duplicate = 0;
    uint64_t bad_number = 0;
    uint64_t inconsistent_total = 0;
    uint64_t other_message = 0;
    uint64_t too_many_fragments = 0;
    uint64_t too_large = 0;
  };

  FragmentReassembler() = default;

  // Offers one opened fragment of message `message_id`. `next_payload` is
  // the SKF header's field; only fragment 1's counts.
  Result Add(uint32_t message_id, uint16_t fragment_number,
             uint16_t total_fragments, uint8_t next_payload,
             absl::Span<const uint8_t> data);

  // After kComplete: the reassembled inner payload chain and the type of its
  // first payload; clears the reassembler for the next message. Empty
  // vector if no message is complete.
  std::vector<uint8_t> TakeMessage(uint8_t* first_payload);

  // Forgets everything in progress (e.g. the message timed out, or a newer
  // Message ID is due).
  void Reset();

  bool in_progress() const { return message_id_.has_value(); }
  absl::optional<uint32_t> message_id() const { return message_id_; }
  uint16_t total_fragments() const { return total_; }
  size_t fragments_stored() const { return stored_count_; }
  size_t bytes_stored() const { return stored_bytes_; }
  const Counters& counters() const { return counters_; }

 private:
  Result Count(Result result);

  absl::optional<uint32_t> message_id_;
  uint16_t total_ = 0;
  uint8_t first_payload_ = 0;
  size_t stored_count_ = 0;
  size_t stored_bytes_ = 0;
  // Indexed by fragment number - 1; present[i] says whether slot i is set.
  std::vector<std::vector<uint8_t>> fragments_;
  std::vector<bool> present_;
  bool complete_ = false;
  Counters counters_;
};

}  // namespace stow::ike

#endif  // STOWAWAY_SDK_TUNNEL_IPSEC_IKE_CRYPTO_FRAGMENTATION_H_
