// Fuzz target for the IKEv2 message codec. The input is parsed twice: as a
// whole IKE message (the datagram after the non-ESP marker) and, with its
// first byte as the first payload type, as a bare payload chain (the
// plaintext of an SK payload). A finding is a crash, a sanitizer report, or
// a broken invariant, which aborts:
//   - whatever parses serializes, and parse(serialize(parse(x))) serializes
//     to the same bytes again (the codec is stable);
//   - LocateEncrypted() agrees with the layout ParseMessage() reports.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sdk/tunnel/ipsec/ike/codec/message.h"

namespace {

using namespace stow::ike;  // NOLINT: a fuzz target's one file.

[[noreturn]] void Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "ike_message_fuzzer: %s: %s\n", what,
               status.ToString().c_str());
  std::abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Fail(what, absl::OkStatus());
}

void FuzzMessage(absl::Span<const uint8_t> input) {
  (void)ParseHeader(input);
  (void)LocateEncrypted(input);
  absl::optional<EncryptedLayout> layout;
  auto m = ParseMessage(input, &layout);
  if (!m.ok()) {
    Check(m.status().code() == absl::StatusCode::kInvalidArgument ||
              IsUnsupportedMajorVersion(m.status()),
          "unexpected error code");
    return;
  }
  Check(m->header.length == input.size(), "header length");
  if (layout.has_value()) {
    auto located = LocateEncrypted(input);
    if (!located.ok()) Fail("LocateEncrypted on a parsed message", located.status());
    Check(located->payload_begin == layout->payload_begin &&
              located->associated_data_end == layout->associated_data_end &&
              located->body_begin == layout->body_begin &&
              located->body_end == layout->body_end,
          "LocateEncrypted disagrees with ParseMessage");
    Check(layout->body_end == input.size(), "SK body end");
  }
  EncryptedLayout written;
  auto s1 = SerializeMessage(*m, &written);
  if (!s1.ok()) Fail("serialize(parse(x))", s1.status());
  absl::optional<EncryptedLayout> layout2;
  auto m2 = ParseMessage(*s1, &layout2);
  if (!m2.ok()) Fail("parse(serialize(parse(x)))", m2.status());
  Check(m2->payloads.size() == m->payloads.size(), "payload count changed");
  Check(layout2.has_value() == layout.has_value(), "SK presence changed");
  if (layout2.has_value()) {
    Check(layout2->associated_data_end == written.associated_data_end &&
              layout2->body_end == written.body_end,
          "written layout differs from the parsed one");
  }
  auto s2 = SerializeMessage(*m2);
  if (!s2.ok()) Fail("serialize(parse(serialize(parse(x))))", s2.status());
  Check(*s1 == *s2, "serialization not stable");
}

void FuzzChain(absl::Span<const uint8_t> input) {
  if (input.empty()) return;
  const auto first = static_cast<PayloadType>(input[0]);
  auto chain = ParsePayloadChain(first, input.subspan(1));
  if (!chain.ok()) return;
  auto s1 = SerializePayloadChain(*chain);
  if (!s1.ok()) Fail("serialize(parse(chain))", s1.status());
  const PayloadType first2 =
      chain->empty() ? PayloadType::kNone : chain->front().type;
  auto chain2 = ParsePayloadChain(first2, *s1);
  if (!chain2.ok()) Fail("parse(serialize(parse(chain)))", chain2.status());
  auto s2 = SerializePayloadChain(*chain2);
  if (!s2.ok()) Fail("serialize(parse(serialize(parse(chain))))", s2.status());
  Check(*s1 == *s2, "chain serialization not stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> input(data, size);
  FuzzMessage(input);
  FuzzChain(input);
  return 0;
}
