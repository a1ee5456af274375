// Feeds the input to CstpReader in pieces whose sizes come from the input,
// and checks the frames equal a one-shot read of the same stream and that
// rebuilding them gives back the bytes consumed.
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "sdk/tunnel/tls/cstp.h"

using stow::tunnel::tls::BuildCstpFrame;
using stow::tunnel::tls::CstpFrame;
using stow::tunnel::tls::CstpReader;
using stow::tunnel::tls::CstpReadResult;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t max_payload = (static_cast<size_t>(data[0]) << 4) + 1;
  const size_t piece = 1 + data[1] % 17;
  data += 2;
  size -= 2;
  CstpReader whole(max_payload);
  whole.Append({data, size});
  std::vector<CstpFrame> expected;
  CstpFrame f;
  CstpReadResult r;
  while ((r = whole.Next(&f)) == CstpReadResult::kFrame) expected.push_back(f);

  CstpReader pieces(max_payload);
  std::vector<uint8_t> rebuilt;
  size_t n = 0;
  CstpReadResult last = CstpReadResult::kNeedMore;
  for (size_t off = 0; off < size; off += piece) {
    pieces.Append({data + off, std::min(piece, size - off)});
    while ((last = pieces.Next(&f)) == CstpReadResult::kFrame) {
      if (n >= expected.size() || expected[n].type != f.type ||
          expected[n].payload != f.payload) {
        abort();
      }
      ++n;
      auto bytes = BuildCstpFrame(f.type, f.payload);
      if (!bytes.ok()) abort();
      rebuilt.insert(rebuilt.end(), bytes->begin(), bytes->end());
    }
  }
  if (n != expected.size() || last != r) abort();
  return 0;
}
