// DNS over TCP framing (RFC 1035 section 4.2.2, RFC 7766 section 8): every
// message is preceded by its length as a 2-byte big-endian number. Pure: no
// sockets, no clock.
#ifndef STOWAWAY_SDK_DNS_TCP_FRAMING_H_
#define STOWAWAY_SDK_DNS_TCP_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace stow::dns {

// Largest message a 2-byte length can announce.
inline constexpr size_t kMaxTcpMessage = 65535;

// Prefixes `message` with its length. kInvalidArgument when it is longer
// than kMaxTcpMessage.
absl::StatusOr<std::vector<uint8_t>> FrameTcpMessage(
    absl::Span<const uint8_t> message);

// Reassembles one length-prefixed message from a byte stream that arrives
// in pieces of any size (a piece may end inside the length prefix). Memory
// is bounded by the announced length (at most kMaxTcpMessage bytes). A
// length shorter than a DNS header (12 bytes) is refused: no DNS message
// fits in it.
//
// Threading: not thread-safe; one stream per reader.
class TcpMessageReader {
 public:
  enum class State {
    kNeedMore,  // Feed more bytes.
    kComplete,  // message() holds the whole message.
    kError,     // error() says why; the stream is unusable.
  };

  // Consumes bytes from the front of `bytes` until the message is complete
  // and returns how many it took; bytes after the message (a next message)
  // are left to the caller. Feeding after kComplete or kError consumes
  // nothing.
  size_t Feed(absl::Span<const uint8_t> bytes);

  State state() const { return state_; }
  // The announced length, once both prefix bytes arrived; else 0.
  size_t announced_length() const { return have_length_ ? length_ : 0; }
  // The message without its prefix; complete only in kComplete.
  absl::Span<const uint8_t> message() const { return body_; }
  const std::string& error() const { return error_; }
  // Starts over for the next message.
  void Reset();

 private:
  State state_ = State::kNeedMore;
  uint8_t prefix_[2] = {0, 0};
  size_t prefix_bytes_ = 0;
  bool have_length_ = false;
  size_t length_ = 0;
  std::vector<uint8_t> body_;
  std::string error_;
};

}  // namespace stow::dns

#endif  // STOWAWAY_SDK_DNS_TCP_FRAMING_H_
