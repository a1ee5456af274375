// Fuzz target: arbitrary bytes as the response to an A or AAAA query for
// www.example.com. The ID is taken from the input's own header so the
// parser goes past the ID check; the lowest bit of the last byte picks the
// record type. A finding is a crash or a sanitizer report: bad input must
// only ever be an error status. Successful parses are checked for the
// parser's promises (address sizes, name in canonical form).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sdk/dns/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stow::dns;  // NOLINT: a fuzz target's one file.
  const absl::Span<const uint8_t> input(data, size);
  const uint16_t id = PeekId(input).value_or(0);
  const RecordType type =
      (size > 0 && (data[size - 1] & 1)) ? RecordType::kAaaa : RecordType::kA;
  absl::StatusOr<Response> response =
      ParseResponse(input, id, "www.example.com", type);
  if (response.ok()) {
    for (const AddressRecord& rec : response->addresses) {
      if (rec.address.is_v4() != (type == RecordType::kA)) std::abort();
    }
    if (response->canonical_name.empty()) std::abort();
  }
  return 0;
}
