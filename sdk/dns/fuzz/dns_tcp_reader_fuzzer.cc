// Fuzz target: arbitrary bytes as a DNS-over-TCP stream, fed to the
// length-prefix reader in pieces whose sizes come from the input's first
// byte (so a piece may end inside the prefix), and a completed message to
// the answer parser. A finding is a crash, a sanitizer report or a broken
// promise of the reader (checked here, std::abort() otherwise).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "sdk/dns/message.h"
#include "sdk/dns/tcp_framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stow::dns;  // NOLINT: a fuzz target's one file.
  if (size == 0) return 0;
  // Piece sizes: 1..16, cycling through the low and high nibble.
  const uint8_t pattern = data[0];
  const absl::Span<const uint8_t> stream(data + 1, size - 1);
  TcpMessageReader reader;
  size_t pos = 0;
  for (int piece = 0; pos < stream.size(); ++piece) {
    const size_t want = 1 + ((piece % 2 ? pattern >> 4 : pattern) & 0xF);
    const size_t n = want < stream.size() - pos ? want : stream.size() - pos;
    const size_t used = reader.Feed(stream.subspan(pos, n));
    if (used > n) std::abort();
    pos += used;
    if (reader.state() != TcpMessageReader::State::kNeedMore) break;
    if (used != n) std::abort();  // Needing more, it takes everything.
  }
  switch (reader.state()) {
    case TcpMessageReader::State::kNeedMore:
      if (pos != stream.size()) std::abort();
      break;
    case TcpMessageReader::State::kError: {
      const size_t length = size_t{stream[0]} << 8 | stream[1];
      if (length >= kHeaderSize || pos != 2) std::abort();
      break;
    }
    case TcpMessageReader::State::kComplete: {
      const absl::Span<const uint8_t> message = reader.message();
      const size_t length = size_t{stream[0]} << 8 | stream[1];
      if (message.size() != length || pos != 2 + length ||
          message.size() > kMaxTcpMessage ||
          std::memcmp(message.data(), stream.data() + 2, length) != 0) {
        std::abort();
      }
      const uint16_t id = PeekId(message).value_or(0);
      const RecordType type = (pattern & 0x80) ? RecordType::kAaaa
                                                : RecordType::kA;
      absl::StatusOr<Response> answer =
          ParseAnswer(message, id, "www.example.com", type);
      if (answer.ok() && answer->truncated && !answer->addresses.empty()) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
