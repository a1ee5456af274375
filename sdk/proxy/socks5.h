// SOCKS5 wire format (RFC 1928, username/password: RFC 1929): pure parsers
// and encoders, no sockets. Each parser looks at the bytes received so far
// and says kNeedMore, kComplete (with how many bytes it used) or kError.
#ifndef STOWAWAY_SDK_PROXY_SOCKS5_H_
#define STOWAWAY_SDK_PROXY_SOCKS5_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "sdk/base/ip_address.h"

namespace stow::proxy::socks5 {

inline constexpr uint8_t kVersion = 0x05;
inline constexpr uint8_t kAuthVersion = 0x01;  // RFC 1929.

// Authentication methods (RFC 1928 section 3).
inline constexpr uint8_t kMethodNoAuth = 0x00;
inline constexpr uint8_t kMethodUserPass = 0x02;
inline constexpr uint8_t kMethodNoAcceptable = 0xFF;

// Commands (section 4).
inline constexpr uint8_t kCommandConnect = 0x01;
inline constexpr uint8_t kCommandBind = 0x02;
inline constexpr uint8_t kCommandUdpAssociate = 0x03;

// Address types (section 4).
inline constexpr uint8_t kAddressIpv4 = 0x01;
inline constexpr uint8_t kAddressDomain = 0x03;
inline constexpr uint8_t kAddressIpv6 = 0x04;

// Reply codes (section 6).
enum class Reply : uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetworkUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
};

enum class ParseState { kNeedMore, kComplete, kError };

// DST.ADDR / DST.PORT: an IP address, or a domain name (1..255 bytes, as
// sent; validity is the resolver's business).
struct Address {
  bool is_name = false;
  IpAddress ip;      // !is_name
  std::string name;  // is_name
  uint16_t port = 0;
  // The name, or the IP address as text (IPv6 without brackets).
  std::string Host() const;
};

// Client greeting: VER NMETHODS METHODS. kError: VER is not 5 or NMETHODS
// is 0.
struct Greeting {
  std::vector<uint8_t> methods;
};
ParseState ParseGreeting(absl::Span<const uint8_t> data, Greeting* out,
                         size_t* consumed);

// RFC 1929 request: VER(1) ULEN UNAME PLEN PASSWD. kError: VER is not 1 or
// ULEN is 0.
struct Credentials {
  std::string username;
  std::string password;
};
ParseState ParseCredentials(absl::Span<const uint8_t> data, Credentials* out,
                            size_t* consumed);

// Request: VER CMD RSV ATYP DST.ADDR DST.PORT. On kError, `*error_reply`
// is the reply to send before closing: kGeneralFailure for a bad VER or RSV
// or an empty domain name, kAddressTypeNotSupported for an unknown ATYP.
// The command is not checked here.
struct Request {
  uint8_t command = 0;
  Address address;
};
ParseState ParseRequest(absl::Span<const uint8_t> data, Request* out,
                        size_t* consumed, Reply* error_reply);

// UDP request header (section 7): RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA.
// A per-datagram path: a small enum, no allocation beyond the name.
enum class UdpParse {
  kOk,
  kTruncated,       // Shorter than its header.
  kBadReserved,     // RSV is not zero.
  kBadAddressType,  // Unknown ATYP or an empty domain name.
};
struct UdpHeader {
  uint8_t frag = 0;
  Address address;
  size_t header_size = 0;  // DATA starts here.
};
UdpParse ParseUdpHeader(absl::Span<const uint8_t> datagram, UdpHeader* out);

// Encoders.
std::vector<uint8_t> EncodeMethodChoice(uint8_t method);
std::vector<uint8_t> EncodeAuthStatus(bool ok);
// VER REP RSV ATYP BND.ADDR BND.PORT.
std::vector<uint8_t> EncodeReply(Reply reply, const SocketAddress& bound);
// RSV FRAG(0) ATYP ADDR PORT, for a datagram from `from`.
void AppendUdpHeader(const SocketAddress& from, std::vector<uint8_t>* out);

}  // namespace stow::proxy::socks5

#endif  // STOWAWAY_SDK_PROXY_SOCKS5_H_
