// Fuzz target for IKEv2 negotiation. The input's first byte is the first
// payload type and the rest a payload chain (as in an SK payload's
// plaintext); every SA, TSi/TSr and CP payload in it goes through the
// negotiation functions as a peer's payload would. A finding is a crash, a
// sanitizer report, or a broken invariant, which aborts:
//   - Select*Proposal either fails with kNotFound or returns a reply of one
//     proposal that serializes and that Accept*Proposal, given the peer's
//     SA as what was offered, accepts with the same choice;
//   - Accept*Proposal fails only with kInvalidArgument;
//   - SelectorToPrefixes covers the selector's range exactly, with
//     contiguous prefixes in order;
//   - NarrowSelectors' result passes CheckNarrowed against both sides;
//   - a parsed CFG_REPLY rebuilt by BuildConfigReply serializes and parses
//     back to the same addresses.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

#include "sdk/tunnel/ipsec/ike/codec/message.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

namespace {

using namespace stow::ike;  // NOLINT: a fuzz target's one file.
using stow::IpAddress;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "negotiation_fuzzer: %s\n", what);
    std::abort();
  }
}

bool UniqueNumbers(const SaPayload& sa) {
  std::set<uint8_t> numbers;
  for (const Proposal& p : sa.proposals) {
    if (!numbers.insert(p.number).second) return false;
  }
  return true;
}

bool Serializes(const SaPayload& sa) {
  std::vector<Payload> chain = {Payload::Sa(sa)};
  return SerializePayloadChain(chain).ok();
}

void FuzzIkeSa(const SaPayload& sa) {
  SaPayload reply;
  absl::StatusOr<IkeChoice> c =
      SelectIkeProposal(sa, DefaultIkeAlgorithms(), &reply);
  if (!c.ok()) {
    Check(c.status().code() == absl::StatusCode::kNotFound,
          "SelectIkeProposal: unexpected error code");
  } else {
    Check(reply.proposals.size() == 1, "SelectIkeProposal: reply size");
    Check(Serializes(reply), "SelectIkeProposal: reply does not serialize");
    if (UniqueNumbers(sa)) {
      absl::StatusOr<IkeChoice> a = AcceptIkeProposal(reply, sa);
      Check(a.ok(), "AcceptIkeProposal refuses SelectIkeProposal's reply");
      Check(a->suite.encr == c->suite.encr && a->suite.prf == c->suite.prf &&
                a->dh == c->dh && a->peer_spi == c->peer_spi,
            "AcceptIkeProposal disagrees with SelectIkeProposal");
    }
  }
  absl::StatusOr<IkeChoice> a =
      AcceptIkeProposal(sa, BuildIkeProposal(DefaultIkeAlgorithms()));
  Check(a.ok() || a.status().code() == absl::StatusCode::kInvalidArgument,
        "AcceptIkeProposal: unexpected error code");
}

void FuzzEspSa(const SaPayload& sa, const EspAlgorithms& ours,
               bool require_dh) {
  constexpr uint32_t kOurSpi = 0x01020304;
  SaPayload reply;
  absl::StatusOr<EspChoice> c =
      SelectEspProposal(sa, ours, kOurSpi, require_dh, &reply);
  if (!c.ok()) {
    Check(c.status().code() == absl::StatusCode::kNotFound,
          "SelectEspProposal: unexpected error code");
  } else {
    Check(reply.proposals.size() == 1, "SelectEspProposal: reply size");
    Check(Serializes(reply), "SelectEspProposal: reply does not serialize");
    Check(c->peer_spi != 0, "SelectEspProposal: zero peer SPI");
    if (!require_dh) {
      Check(!c->dh.has_value(), "SelectEspProposal: DH without require_dh");
    }
    // Without require_dh the peer's DH transforms are left out of the
    // reply, which Accept (strictly) refuses; with it, all must agree.
    if (require_dh && UniqueNumbers(sa)) {
      absl::StatusOr<EspChoice> a = AcceptEspProposal(reply, sa);
      Check(a.ok(), "AcceptEspProposal refuses SelectEspProposal's reply");
      Check(a->encr == c->encr && a->esn == c->esn && a->dh == c->dh &&
                a->peer_spi == kOurSpi,
            "AcceptEspProposal disagrees with SelectEspProposal");
    }
  }
  absl::StatusOr<EspChoice> a =
      AcceptEspProposal(sa, BuildEspProposal(ours, 5, require_dh));
  Check(a.ok() || a.status().code() == absl::StatusCode::kInvalidArgument,
        "AcceptEspProposal: unexpected error code");
}

void FuzzSa(const SaPayload& sa) {
  (void)DescribeSa(sa);
  FuzzIkeSa(sa);
  EspAlgorithms esp = DefaultEspAlgorithms();
  FuzzEspSa(sa, esp, false);
  FuzzEspSa(sa, esp, true);
  esp.esn = true;
  esp.pfs_optional = false;
  FuzzEspSa(sa, esp, true);
}

// a + 1 == b for addresses of one family.
bool Follows(const IpAddress& a, const IpAddress& b) {
  if (a.family() != b.family()) return false;
  std::vector<uint8_t> next(a.bytes().begin(), a.bytes().end());
  for (size_t i = next.size(); i-- > 0;) {
    if (++next[i] != 0) break;
  }
  return std::equal(next.begin(), next.end(), b.bytes().begin());
}

void FuzzSelectors(const std::vector<TrafficSelector>& selectors) {
  for (const TrafficSelector& ts : selectors) {
    (void)DescribeSelector(ts);
    const std::vector<Prefix> prefixes = SelectorToPrefixes(ts);
    Check(prefixes.size() <= 2 * 128, "SelectorToPrefixes: too many");
    if (prefixes.empty()) continue;
    Check(prefixes.front().address == ts.start_address,
          "SelectorToPrefixes: first prefix is not the start");
    for (size_t i = 0; i < prefixes.size(); ++i) {
      const TrafficSelector block =
          SelectorForPrefix(prefixes[i].address, prefixes[i].length);
      Check(block.start_address == prefixes[i].address,
            "SelectorToPrefixes: unaligned prefix");
      if (i + 1 < prefixes.size()) {
        Check(Follows(block.end_address, prefixes[i + 1].address),
              "SelectorToPrefixes: gap or overlap");
      } else {
        Check(block.end_address == ts.end_address,
              "SelectorToPrefixes: last prefix does not end the range");
      }
    }
  }
  const std::vector<TrafficSelector> allowed = {
      AnyIpv4Selector(), SelectorForPrefix(*IpAddress::Parse("fd00::"), 8),
      SelectorForPrefix(IpAddress::V4(10, 0, 0, 0), 8)};
  absl::StatusOr<std::vector<TrafficSelector>> n =
      NarrowSelectors(selectors, allowed);
  if (!n.ok()) {
    Check(n.status().code() == absl::StatusCode::kNotFound,
          "NarrowSelectors: unexpected error code");
    return;
  }
  Check(!n->empty(), "NarrowSelectors: empty result");
  Check(CheckNarrowed(selectors, *n).ok(), "narrowed outside the offer");
  Check(CheckNarrowed(allowed, *n).ok(), "narrowed outside what we allow");
}

void FuzzConfig(const ConfigPayload& cp) {
  (void)ParseConfigRequest(cp);
  absl::StatusOr<AssignedConfig> r = ParseConfigReply(cp);
  if (!r.ok()) {
    Check(r.status().code() == absl::StatusCode::kInvalidArgument,
          "ParseConfigReply: unexpected error code");
    return;
  }
  const ConfigPayload rebuilt = BuildConfigReply(*r);
  std::vector<Payload> chain = {Payload::Config(rebuilt)};
  absl::StatusOr<Bytes> bytes = SerializePayloadChain(chain);
  Check(bytes.ok(), "BuildConfigReply: does not serialize");
  absl::StatusOr<std::vector<Payload>> back =
      ParsePayloadChain(PayloadType::kConfig, *bytes);
  Check(back.ok() && back->size() == 1, "BuildConfigReply: does not parse");
  absl::StatusOr<AssignedConfig> again =
      ParseConfigReply(absl::get<ConfigPayload>(back->front().body));
  Check(again.ok() && again->ipv4 == r->ipv4 && again->ipv6 == r->ipv6 &&
            (!r->ipv6 || again->ipv6_prefix_len == r->ipv6_prefix_len),
        "BuildConfigReply: addresses changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  absl::StatusOr<std::vector<Payload>> chain = ParsePayloadChain(
      static_cast<PayloadType>(data[0]),
      absl::MakeConstSpan(data + 1, size - 1));
  if (!chain.ok()) return 0;
  for (const Payload& p : *chain) {
    if (const auto* sa = absl::get_if<SaPayload>(&p.body)) {
      FuzzSa(*sa);
    } else if (const auto* ts = absl::get_if<TsPayload>(&p.body)) {
      FuzzSelectors(ts->selectors);
    } else if (const auto* cp = absl::get_if<ConfigPayload>(&p.body)) {
      FuzzConfig(*cp);
    }
  }
  return 0;
}
