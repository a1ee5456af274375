#include "sdk/proxy/socks5.h"

namespace stow::proxy::socks5 {
namespace {

enum class AddrResult { kOk, kNeedMore, kBadType, kEmptyName };

// ATYP DST.ADDR DST.PORT at the start of `data`.
AddrResult ParseAddress(absl::Span<const uint8_t> data, Address* out,
                        size_t* used) {
  if (data.empty()) return AddrResult::kNeedMore;
  const uint8_t type = data[0];
  size_t addr_len = 0;
  size_t offset = 1;
  switch (type) {
    case kAddressIpv4:
      addr_len = 4;
      break;
    case kAddressIpv6:
      addr_len = 16;
      break;
    case kAddressDomain:
      if (data.size() < 2) return AddrResult::kNeedMore;
      addr_len = data[1];
      if (addr_len == 0) return AddrResult::kEmptyName;
      offset = 2;
      break;
    default:
      return AddrResult::kBadType;
  }
  if (data.size() < offset + addr_len + 2) return AddrResult::kNeedMore;
  absl::Span<const uint8_t> addr = data.subspan(offset, addr_len);
  if (type == kAddressDomain) {
    out->is_name = true;
    out->name.assign(addr.begin(), addr.end());
  } else {
    out->is_name = false;
    out->ip = *IpAddress::FromBytes(addr);  // 4 or 16 bytes: cannot fail.
  }
  const size_t p = offset + addr_len;
  out->port = static_cast<uint16_t>((data[p] << 8) | data[p + 1]);
  *used = p + 2;
  return AddrResult::kOk;
}

void AppendAddress(const SocketAddress& address, std::vector<uint8_t>* out) {
  const IpAddress& ip = address.ip();
  out->push_back(ip.is_v4() ? kAddressIpv4 : kAddressIpv6);
  absl::Span<const uint8_t> bytes = ip.bytes();
  out->insert(out->end(), bytes.begin(), bytes.end());
  out->push_back(static_cast<uint8_t>(address.port() >> 8));
  out->push_back(static_cast<uint8_t>(address.port() & 0xFF));
}

}  // namespace

std::string Address::Host() const { return is_name ? name : ip.ToString(); }

ParseState ParseGreeting(absl::Span<const uint8_t> data, Greeting* out,
                         size_t* consumed) {
  if (data.empty()) return ParseState::kNeedMore;
  if (data[0] != kVersion) return ParseState::kError;
  if (data.size() < 2) return ParseState::kNeedMore;
  const size_t n = data[1];
  if (n == 0) return ParseState::kError;
  if (data.size() < 2 + n) return ParseState::kNeedMore;
  out->methods.assign(data.begin() + 2, data.begin() + 2 + n);
  *consumed = 2 + n;
  return ParseState::kComplete;
}

ParseState ParseCredentials(absl::Span<const uint8_t> data, Credentials* out,
                            size_t* consumed) {
  if (data.empty()) return ParseState::kNeedMore;
  if (data[0] != kAuthVersion) return ParseState::kError;
  if (data.size() < 2) return ParseState::kNeedMore;
  const size_t ulen = data[1];
  if (ulen == 0) return ParseState::kError;
  if (data.size() < 2 + ulen + 1) return ParseState::kNeedMore;
  const size_t plen = data[2 + ulen];
  if (data.size() < 3 + ulen + plen) return ParseState::kNeedMore;
  out->username.assign(data.begin() + 2, data.begin() + 2 + ulen);
  out->password.assign(data.begin() + 3 + ulen, data.begin() + 3 + ulen + plen);
  *consumed = 3 + ulen + plen;
  return ParseState::kComplete;
}

ParseState ParseRequest(absl::Span<const uint8_t> data, Request* out,
                        size_t* consumed, Reply* error_reply) {
  if (data.empty()) return ParseState::kNeedMore;
  if (data[0] != kVersion) {
    *error_reply = Reply::kGeneralFailure;
    return ParseState::kError;
  }
  if (data.size() < 3) return ParseState::kNeedMore;
  if (data[2] != 0) {
    *error_reply = Reply::kGeneralFailure;
    return ParseState::kError;
  }
  out->command = data[1];
  size_t used = 0;
  switch (ParseAddress(data.subspan(3), &out->address, &used)) {
    case AddrResult::kNeedMore:
      return ParseState::kNeedMore;
    case AddrResult::kBadType:
      *error_reply = Reply::kAddressTypeNotSupported;
      return ParseState::kError;
    case AddrResult::kEmptyName:
      *error_reply = Reply::kGeneralFailure;
      return ParseState::kError;
    case AddrResult::kOk:
      break;
  }
  *consumed = 3 + used;
  return ParseState::kComplete;
}

UdpParse ParseUdpHeader(absl::Span<const uint8_t> datagram, UdpHeader* out) {
  if (datagram.size() < 4) return UdpParse::kTruncated;
  if (datagram[0] != 0 || datagram[1] != 0) return UdpParse::kBadReserved;
  out->frag = datagram[2];
  size_t used = 0;
  switch (ParseAddress(datagram.subspan(3), &out->address, &used)) {
    case AddrResult::kNeedMore:
      return UdpParse::kTruncated;
    case AddrResult::kBadType:
    case AddrResult::kEmptyName:
      return UdpParse::kBadAddressType;
    case AddrResult::kOk:
      break;
  }
  out->header_size = 3 + used;
  return UdpParse::kOk;
}

std::vector<uint8_t> EncodeMethodChoice(uint8_t method) {
  return {kVersion, method};
}

std::vector<uint8_t> EncodeAuthStatus(bool ok) {
  return {kAuthVersion, static_cast<uint8_t>(ok ? 0x00 : 0x01)};
}

std::vector<uint8_t> EncodeReply(Reply reply, const SocketAddress& bound) {
  std::vector<uint8_t> out = {kVersion, static_cast<uint8_t>(reply), 0x00};
  AppendAddress(bound, &out);
  return out;
}

void AppendUdpHeader(const SocketAddress& from, std::vector<uint8_t>* out) {
  out->push_back(0);
  out->push_back(0);
  out->push_back(0);  // FRAG
  AppendAddress(from, out);
}

}  // namespace stow::proxy::socks5
