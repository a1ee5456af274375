// CSTP framing (the AnyConnect TLS tunnel, draft-mavrogiannopoulos-openconnect):
// after the CONNECT reply, the TLS byte stream carries frames of an 8-byte
// header ('S' 'T' 'F' 0x01, 16-bit big-endian payload length, type, 0x00)
// followed by the payload. Pure code: bytes in, frames out.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_CSTP_H_
#define STOWAWAY_SDK_TUNNEL_TLS_CSTP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace stow::tunnel::tls {

// Frame types. The set seen between openconnect 9.01 and ocserv 1.1.6 plus
// TERMINATE (0x09) from the draft.
enum class CstpType : uint8_t {
  kData = 0x00,
  kDpdRequest = 0x03,
  kDpdResponse = 0x04,
  kDisconnect = 0x05,
  kKeepalive = 0x07,
  kCompressedData = 0x08,
  kTerminate = 0x09,
};

inline constexpr size_t kCstpHeaderSize = 8;
inline constexpr size_t kCstpMaxPayload = 0xFFFF;  // 16-bit length field.
// Reason byte openconnect puts before the text of a client DISCONNECT.
inline constexpr uint8_t kCstpDisconnectReasonClient = 0xb0;

// True for the types listed in CstpType.
bool IsKnownCstpType(uint8_t type);
const char* CstpTypeName(uint8_t type);  // "DATA", ..., "UNKNOWN".

// One frame. `type` is the raw byte: unknown types are returned as they are,
// for the caller to drop and count.
struct CstpFrame {
  uint8_t type = 0;
  std::vector<uint8_t> payload;

  bool known() const { return IsKnownCstpType(type); }
  bool is(CstpType t) const { return type == static_cast<uint8_t>(t); }
};

// Outcome of CstpReader::Next. The error values are sticky: the stream can
// not be resynchronised, so the session sends DISCONNECT and closes.
enum class CstpReadResult : uint8_t {
  kFrame,      // *out holds the next frame.
  kNeedMore,   // No complete frame buffered yet.
  kBadMagic,   // Header did not start with "STF" 0x01.
  kTooLarge,   // Payload length above the reader's max_payload.
};

// Incremental frame reader over a TLS byte stream delivered in arbitrary
// pieces. Byte 7 of the header (always 0 from ocserv) is not checked.
// Not thread-safe; owns its buffer.
class CstpReader {
 public:
  // `max_payload` bounds the accepted length field (at most 65535); a larger
  // length is kTooLarge. The tunnel MTU plus some slack is a sensible value.
  explicit CstpReader(size_t max_payload = kCstpMaxPayload);

  // Buffers `bytes`. After an error, further input is ignored.
  void Append(absl::Span<const uint8_t> bytes);
  // Takes the next complete frame out of the buffer.
  CstpReadResult Next(CstpFrame* out);

  // Bytes buffered and not yet returned as frames.
  size_t buffered() const { return buffer_.size() - start_; }
  // The sticky error, or kNeedMore when none.
  CstpReadResult error() const { return error_; }
  size_t max_payload() const { return max_payload_; }

 private:
  size_t max_payload_;
  std::vector<uint8_t> buffer_;
  size_t start_ = 0;
  CstpReadResult error_ = CstpReadResult::kNeedMore;
};

// Appends the 8-byte header for a `payload_len`-byte payload to `out`.
// `payload_len` must be <= kCstpMaxPayload.
void AppendCstpHeader(uint8_t type, size_t payload_len,
                      std::vector<uint8_t>* out);

// Whole frames. Fails (kInvalidArgument) if the payload exceeds 65535 bytes.
absl::StatusOr<std::vector<uint8_t>> BuildCstpFrame(
    uint8_t type, absl::Span<const uint8_t> payload);
absl::StatusOr<std::vector<uint8_t>> BuildCstpData(
    absl::Span<const uint8_t> packet);
std::vector<uint8_t> BuildCstpDpdRequest();
std::vector<uint8_t> BuildCstpDpdResponse();
std::vector<uint8_t> BuildCstpKeepalive();
std::vector<uint8_t> BuildCstpTerminate();
// Client DISCONNECT: reason byte 0xb0 then ASCII text, as openconnect sends
// it ("Aborted by caller"). `reason` is cut at 255 bytes.
std::vector<uint8_t> BuildCstpDisconnect(absl::string_view reason);

// A DISCONNECT payload taken apart. ocserv sends an empty payload
// (has_code false, empty text).
struct CstpDisconnect {
  bool has_code = false;
  uint8_t code = 0;
  std::string text;
};
CstpDisconnect ParseCstpDisconnect(absl::Span<const uint8_t> payload);

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_CSTP_H_
