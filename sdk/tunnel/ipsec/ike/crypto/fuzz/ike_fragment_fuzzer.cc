// Fuzz target: arbitrary bytes as a sequence of opened SKF fragments into a
// FragmentReassembler, plus the same bytes through ParseSkfHeader. A finding
// is a crash, a sanitizer report or a broken invariant (memory over the
// bounds, a completed message that is not the stored fragments in order).
//
// Input format, repeated until the bytes run out (short tails are ignored):
//   op (1): low 2 bits pick the Message ID (0..3); 0xF0 == op & 0xF0 resets
//   fragment number (2) | total (2) | next payload (1) | data length (2,
//   taken modulo 2048, and 64 KiB + 1 when the length field is 0xFFFF) |
//   data (that many bytes, fewer if the input ends; padded with the op byte
//   when the length is over what remains).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <vector>

#include "sdk/tunnel/ipsec/ike/crypto/fragmentation.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using stow::ike::FragmentReassembler;
  const absl::Span<const uint8_t> input(data, size);
  for (size_t offset = 0; offset <= size && offset < 16; ++offset) {
    (void)stow::ike::ParseSkfHeader(input, offset);
  }

  FragmentReassembler r;
  // The fragments we believe stored, by number, for the current message.
  std::map<uint16_t, std::vector<uint8_t>> model;
  size_t pos = 0;
  while (size - pos >= 8) {
    const uint8_t op = data[pos];
    const uint32_t message_id = op & 3;
    const uint16_t number = static_cast<uint16_t>((data[pos + 1] << 8) | data[pos + 2]);
    const uint16_t total = static_cast<uint16_t>((data[pos + 3] << 8) | data[pos + 4]);
    const uint8_t next = data[pos + 5];
    const uint16_t raw_len = static_cast<uint16_t>((data[pos + 6] << 8) | data[pos + 7]);
    pos += 8;
    if ((op & 0xF0) == 0xF0) {
      r.Reset();
      model.clear();
      continue;
    }
    const size_t len = raw_len == 0xFFFF ? stow::ike::kMaxReassembledSize + 1
                                         : raw_len % 2048;
    std::vector<uint8_t> fragment;
    const size_t available = std::min(len, size - pos);
    fragment.assign(data + pos, data + pos + available);
    fragment.resize(len, op);
    pos += available;

    const bool had = r.in_progress();
    const auto result = r.Add(message_id, number, total, next, fragment);
    (void)FragmentReassembler::ResultName(result);
    Check(r.bytes_stored() <= stow::ike::kMaxReassembledSize);
    Check(r.fragments_stored() <= stow::ike::kMaxFragments);
    Check(r.fragments_stored() <= r.total_fragments());
    switch (result) {
      case FragmentReassembler::Result::kRestarted:
        Check(had);
        model.clear();
        model[number] = fragment;
        break;
      case FragmentReassembler::Result::kStored:
        Check(model.count(number) == 0);
        model[number] = fragment;
        break;
      case FragmentReassembler::Result::kComplete: {
        model[number] = fragment;
        uint8_t first = 0;
        const std::vector<uint8_t> message = r.TakeMessage(&first);
        std::vector<uint8_t> expected;
        for (const auto& [n, bytes] : model) {
          expected.insert(expected.end(), bytes.begin(), bytes.end());
        }
        Check(message == expected);
        Check(!r.in_progress());
        model.clear();
        break;
      }
      default:
        break;
    }
  }
  return 0;
}
