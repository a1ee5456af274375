#include "sdk/tunnel/ipsec/ike/crypto/fragmentation.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"
#include "sdk/tunnel/ipsec/ike/crypto/sk_payload.h"

namespace stow::ike {
namespace {

using Result = FragmentReassembler::Result;

std::vector<uint8_t> Chain(size_t size) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = uint8_t(i * 17 + (i >> 8));
  return v;
}

TEST(SplitTest, SizesNumbersAndNextPayload) {
  const std::vector<uint8_t> inner = Chain(1000);
  auto f = SplitIntoFragments(35, inner, 300);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->size(), 4u);
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < f->size(); ++i) {
    const FragmentPlaintext& p = (*f)[i];
    EXPECT_EQ(p.fragment_number, i + 1);
    EXPECT_EQ(p.total_fragments, 4);
    EXPECT_EQ(p.next_payload, i == 0 ? 35 : 0);
    EXPECT_EQ(p.data.size(), i < 3 ? 300u : 100u);
    joined.insert(joined.end(), p.data.begin(), p.data.end());
  }
  EXPECT_EQ(joined, inner);

  auto one = SplitIntoFragments(35, inner, 1000);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].total_fragments, 1);
}

TEST(SplitTest, Limits) {
  EXPECT_FALSE(SplitIntoFragments(35, {}, 100).ok());
  EXPECT_FALSE(SplitIntoFragments(35, Chain(10), 0).ok());
  EXPECT_TRUE(SplitIntoFragments(35, Chain(64 * 10), 10).ok());
  EXPECT_EQ(SplitIntoFragments(35, Chain(64 * 10 + 1), 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SplitIntoFragments(35, Chain(kMaxReassembledSize), 1100).ok());
  EXPECT_FALSE(
      SplitIntoFragments(35, Chain(kMaxReassembledSize + 1), 2000).ok());
}

TEST(SplitTest, MaxFragmentPlaintext) {
  // 1280-byte IPv6 minimum MTU - 40 IPv6 - 8 UDP - 4 non-ESP marker = 1228.
  EXPECT_EQ(MaxFragmentPlaintext(1228), 1228u - 28 - 8 - 8 - 1 - 16);
  EXPECT_EQ(MaxFragmentPlaintext(61), 0u);
  EXPECT_EQ(MaxFragmentPlaintext(62), 1u);
  EXPECT_EQ(MaxFragmentPlaintext(0), 0u);
}

// Feeds the fragments in `order` and checks the result.
void Reassemble(const std::vector<FragmentPlaintext>& fragments,
                const std::vector<size_t>& order,
                const std::vector<uint8_t>& expected) {
  FragmentReassembler r;
  for (size_t k = 0; k < order.size(); ++k) {
    const FragmentPlaintext& f = fragments[order[k]];
    const Result result = r.Add(7, f.fragment_number, f.total_fragments,
                                f.next_payload, f.data);
    ASSERT_EQ(result, k + 1 == order.size() ? Result::kComplete
                                            : Result::kStored)
        << FragmentReassembler::ResultName(result);
  }
  uint8_t first = 0;
  EXPECT_EQ(r.TakeMessage(&first), expected);
  EXPECT_EQ(first, 35);
  EXPECT_FALSE(r.in_progress());
  EXPECT_EQ(r.bytes_stored(), 0u);
}

TEST(ReassemblerTest, EveryArrivalOrder) {
  for (size_t n : {1, 2, 3, 4, 5}) {
    const std::vector<uint8_t> inner = Chain(n * 50 - 7);
    auto fragments = SplitIntoFragments(35, inner, 50);
    ASSERT_TRUE(fragments.ok());
    ASSERT_EQ(fragments->size(), n);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    int permutations = 0;
    do {
      Reassemble(*fragments, order, inner);
      ++permutations;
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_EQ(permutations, n == 5 ? 120 : n == 4 ? 24 : n == 3 ? 6 : n);
  }
  // 64 fragments in random orders.
  const std::vector<uint8_t> inner = Chain(64 * 20);
  auto fragments = SplitIntoFragments(35, inner, 20);
  ASSERT_TRUE(fragments.ok());
  ASSERT_EQ(fragments->size(), 64u);
  std::mt19937 rng(7);
  std::vector<size_t> order(64);
  std::iota(order.begin(), order.end(), 0);
  for (int i = 0; i < 50; ++i) {
    std::shuffle(order.begin(), order.end(), rng);
    Reassemble(*fragments, order, inner);
  }
}

TEST(ReassemblerTest, DuplicatesIgnored) {
  const std::vector<uint8_t> inner = Chain(130);
  auto f = SplitIntoFragments(35, inner, 50);
  ASSERT_TRUE(f.ok());
  FragmentReassembler r;
  EXPECT_EQ(r.Add(1, 2, 3, 0, (*f)[1].data), Result::kStored);
  EXPECT_EQ(r.Add(1, 2, 3, 0, (*f)[1].data), Result::kDuplicate);
  // A duplicate with other content does not replace the first copy.
  EXPECT_EQ(r.Add(1, 2, 3, 0, Chain(3)), Result::kDuplicate);
  EXPECT_EQ(r.Add(1, 1, 3, 35, (*f)[0].data), Result::kStored);
  EXPECT_EQ(r.Add(1, 1, 3, 35, (*f)[0].data), Result::kDuplicate);
  EXPECT_EQ(r.fragments_stored(), 2u);
  EXPECT_EQ(r.Add(1, 3, 3, 0, (*f)[2].data), Result::kComplete);
  // Whole but not yet taken: late copies change nothing.
  EXPECT_EQ(r.Add(1, 3, 3, 0, Chain(9)), Result::kDuplicate);
  uint8_t first = 0;
  EXPECT_EQ(r.TakeMessage(&first), inner);
  EXPECT_EQ(r.counters().duplicate, 4u);
  EXPECT_EQ(r.counters().completed, 1u);
  EXPECT_EQ(r.counters().stored, 2u);
  // Nothing complete any more.
  EXPECT_TRUE(r.TakeMessage(&first).empty());
}

TEST(ReassemblerTest, InconsistentTotals) {
  FragmentReassembler r;
  EXPECT_EQ(r.Add(1, 1, 4, 35, Chain(10)), Result::kStored);
  EXPECT_EQ(r.Add(1, 2, 4, 0, Chain(10)), Result::kStored);
  // Smaller total: dropped, state kept.
  EXPECT_EQ(r.Add(1, 3, 3, 0, Chain(10)), Result::kInconsistentTotal);
  EXPECT_EQ(r.fragments_stored(), 2u);
  EXPECT_EQ(r.total_fragments(), 4);
  // Larger total: the sender fragmented again; start over with this one.
  EXPECT_EQ(r.Add(1, 5, 6, 0, Chain(5)), Result::kRestarted);
  EXPECT_EQ(r.fragments_stored(), 1u);
  EXPECT_EQ(r.total_fragments(), 6);
  EXPECT_EQ(r.bytes_stored(), 5u);
  EXPECT_EQ(r.Add(1, 1, 4, 35, Chain(10)), Result::kInconsistentTotal);
  for (uint16_t n : {1, 2, 3, 4}) {
    EXPECT_EQ(r.Add(1, n, 6, n == 1 ? 35 : 0, Chain(5)), Result::kStored);
  }
  EXPECT_EQ(r.Add(1, 6, 6, 0, Chain(5)), Result::kComplete);
  uint8_t first = 0;
  EXPECT_EQ(r.TakeMessage(&first).size(), 30u);
  EXPECT_EQ(first, 35);
  EXPECT_EQ(r.counters().inconsistent_total, 2u);
  EXPECT_EQ(r.counters().restarted, 1u);
  // A smaller total is refused also when it would make the message whole.
  EXPECT_EQ(r.Add(2, 1, 2, 35, Chain(5)), Result::kStored);
  EXPECT_EQ(r.Add(2, 1, 1, 35, Chain(5)), Result::kInconsistentTotal);
}

TEST(ReassemblerTest, BadNumbersAndOtherMessages) {
  FragmentReassembler r;
  EXPECT_EQ(r.Add(1, 0, 3, 0, Chain(1)), Result::kBadNumber);
  EXPECT_EQ(r.Add(1, 1, 0, 0, Chain(1)), Result::kBadNumber);
  EXPECT_EQ(r.Add(1, 4, 3, 0, Chain(1)), Result::kBadNumber);
  EXPECT_EQ(r.Add(1, 65535, 65535, 0, Chain(1)), Result::kTooManyFragments);
  EXPECT_EQ(r.Add(1, 1, 65, 0, Chain(1)), Result::kTooManyFragments);
  EXPECT_FALSE(r.in_progress());
  EXPECT_EQ(r.Add(1, 1, 64, 35, Chain(1)), Result::kStored);
  EXPECT_EQ(r.Add(2, 2, 64, 0, Chain(1)), Result::kOtherMessage);
  EXPECT_EQ(r.message_id(), 1u);
  r.Reset();
  EXPECT_EQ(r.Add(2, 2, 2, 0, Chain(1)), Result::kStored);
  EXPECT_EQ(r.Add(2, 1, 2, 35, Chain(1)), Result::kComplete);
  EXPECT_EQ(r.counters().bad_number, 3u);
  EXPECT_EQ(r.counters().too_many_fragments, 2u);
  EXPECT_EQ(r.counters().other_message, 1u);
}

TEST(ReassemblerTest, OversizeRefused) {
  FragmentReassembler r;
  EXPECT_EQ(r.Add(1, 1, 2, 35, Chain(kMaxReassembledSize + 1)),
            Result::kTooLarge);
  EXPECT_FALSE(r.in_progress());
  EXPECT_EQ(r.Add(1, 1, 2, 35, Chain(kMaxReassembledSize - 10)),
            Result::kStored);
  EXPECT_EQ(r.Add(1, 2, 2, 0, Chain(11)), Result::kTooLarge);
  EXPECT_EQ(r.bytes_stored(), kMaxReassembledSize - 10);
  EXPECT_EQ(r.Add(1, 2, 2, 0, Chain(10)), Result::kComplete);
  uint8_t first = 0;
  EXPECT_EQ(r.TakeMessage(&first).size(), kMaxReassembledSize);
  // An oversized fragment with a larger total does not restart: the stored
  // fragment stays.
  EXPECT_EQ(r.Add(3, 1, 2, 35, Chain(100)), Result::kStored);
  EXPECT_EQ(r.Add(3, 1, 3, 35, Chain(kMaxReassembledSize + 1)),
            Result::kTooLarge);
  EXPECT_EQ(r.bytes_stored(), 100u);
  EXPECT_EQ(r.total_fragments(), 2);
  EXPECT_EQ(r.counters().too_large, 3u);
}

TEST(SkfHeaderTest, ParseAndAppend) {
  std::vector<uint8_t> m(3, 0xee);
  AppendSkfHeader(35, 0x0102, 0x0304, &m);
  EXPECT_EQ(m, std::vector<uint8_t>({0xee, 0xee, 0xee, 35, 0, 0, 0, 1, 2, 3,
                                     4}));
  auto h = ParseSkfHeader(m, 3);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->next_payload, 35);
  EXPECT_EQ(h->payload_length, 0);
  EXPECT_EQ(h->fragment_number, 0x0102);
  EXPECT_EQ(h->total_fragments, 0x0304);
  EXPECT_FALSE(ParseSkfHeader(m, 4).has_value());
  EXPECT_FALSE(ParseSkfHeader(m, 100).has_value());
}

// The whole path: split, seal each fragment as an SKF message, open each on
// the other side in reverse order, reassemble.
TEST(FragmentationFlowTest, SealOpenReassemble) {
  const EncrAlgorithm encr = EncrAlgorithm::kAesGcm16With256BitKey;
  std::vector<uint8_t> key(EncrKeyMaterialSize(encr), 0x42);
  auto tx = SkCipher::Create(encr, key);
  auto rx = SkCipher::Create(encr, key);
  ASSERT_TRUE(tx.ok() && rx.ok());
  const std::vector<uint8_t> inner = Chain(1821);
  const size_t budget = MaxFragmentPlaintext(1228);
  auto fragments = SplitIntoFragments(35, inner, budget);
  ASSERT_TRUE(fragments.ok());
  ASSERT_EQ(fragments->size(), 2u);
  std::vector<std::vector<uint8_t>> wire;
  for (const FragmentPlaintext& f : *fragments) {
    std::vector<uint8_t> m = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                              15, 16, kPayloadTypeSkf, 0x20, 35, 0x08,
                              0, 0, 0, 1, 0, 0, 0, 0};
    AppendSkfHeader(f.next_payload, f.fragment_number, f.total_fragments, &m);
    ASSERT_TRUE(
        tx->SealMessage(SkKind::kSkf, &m, kIkeHeaderSize, f.data)
            .ok());
    EXPECT_LE(m.size(), 1228u);
    wire.push_back(m);
  }
  FragmentReassembler r;
  Result last = Result::kStored;
  for (auto it = wire.rbegin(); it != wire.rend(); ++it) {
    auto header = ParseSkfHeader(*it, kIkeHeaderSize);
    ASSERT_TRUE(header.has_value());
    auto data = rx->OpenMessage(SkKind::kSkf, *it, kIkeHeaderSize);
    ASSERT_TRUE(data.ok()) << data.status();
    last = r.Add(1, header->fragment_number, header->total_fragments,
                 header->next_payload, *data);
  }
  EXPECT_EQ(last, Result::kComplete);
  uint8_t first = 0;
  EXPECT_EQ(r.TakeMessage(&first), inner);
  EXPECT_EQ(first, 35);
}

}  // namespace
}  // namespace stow::ike
