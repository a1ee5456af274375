// DNS messages for a stub resolver (RFC 1035): building A/AAAA queries and
// strictly parsing the responses to them. Pure functions: bytes in, values
// out; no sockets, no clock, no randomness (the caller picks the ID).
//
// Status codes returned by ParseResponse():
//   kInvalidArgument     the bytes are not a well-formed response (short
//                        header, bad label, pointer loop or forward pointer,
//                        record past the end, wrong RDATA length, trailing
//                        bytes, QR clear, opcode not QUERY);
//   kFailedPrecondition  well-formed, but not the answer to this query (ID,
//                        question name, type or class differ);
//   kUnimplemented       TC set: the answer did not fit in UDP (ask again
//                        over TCP; ParseAnswer() reports it as a flag); or
//                        RCODE NOTIMP;
//   kNotFound            RCODE NXDOMAIN ("no such name www.x");
//   kUnavailable         RCODE SERVFAIL;
//   kPermissionDenied    RCODE REFUSED;
//   kInternal            RCODE FORMERR (the server could not parse our
//                        query);
//   kUnknown             any other RCODE.
// A NOERROR response without records of the asked type (NODATA) is OK with
// no addresses.
//
// ParseAnswer() is the resolver's variant: a truncated response and an
// NXDOMAIN are Responses (flag and rcode set) instead of errors, so the
// caller can fall back to TCP and read the negative-caching TTL.
#ifndef STOWAWAY_SDK_DNS_MESSAGE_H_
#define STOWAWAY_SDK_DNS_MESSAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"

namespace stow::dns {

// Record types this resolver asks for or follows.
enum class RecordType : uint16_t {
  kA = 1,
  kCname = 5,
  kSoa = 6,
  kAaaa = 28,
};

inline constexpr uint16_t kClassIn = 1;
inline constexpr size_t kHeaderSize = 12;
// Longest name in text form without the trailing dot (RFC 1035 2.3.4: 255
// octets on the wire).
inline constexpr size_t kMaxNameLength = 253;
inline constexpr size_t kMaxLabelLength = 63;
// CNAMEs followed within one answer section before giving up.
inline constexpr int kMaxCnameChain = 16;
// Compression pointers followed while reading one name.
inline constexpr int kMaxPointerJumps = 32;

// Response codes (RFC 1035 4.1.1).
enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

// Checks a host name and returns it in canonical form: ASCII letters
// lowercased, one trailing dot removed. Labels are 1..63 characters of
// letters, digits, '-' and '_'; the name is at most 253 characters.
// kInvalidArgument naming the problem otherwise.
absl::StatusOr<std::string> NormalizeName(absl::string_view name);

// Builds a query: header with `id`, RD set, one question (`name` IN `type`).
// `name` must pass NormalizeName() (it is encoded as given, case kept).
absl::StatusOr<std::vector<uint8_t>> BuildQuery(uint16_t id,
                                                absl::string_view name,
                                                RecordType type);

// The ID of a message, or nullopt when it is shorter than a header.
absl::optional<uint16_t> PeekId(absl::Span<const uint8_t> message);

struct AddressRecord {
  IpAddress address;
  // The smallest TTL along the way: the address record's and those of the
  // CNAMEs that led to it. TTLs with the top bit set count as 0 (RFC 2181
  // section 8).
  uint32_t ttl = 0;
};

struct Response {
  uint16_t id = 0;
  Rcode rcode = Rcode::kNoError;
  // The name the addresses belong to: the question's name, or the end of
  // the CNAME chain. Lowercase, no trailing dot.
  std::string canonical_name;
  // Records of the asked type owned by canonical_name, in message order.
  std::vector<AddressRecord> addresses;
  // TC was set (ParseAnswer only): nothing after the question was read.
  bool truncated = false;
  // For NXDOMAIN and NODATA: how long the answer may be cached (RFC 2308
  // section 5), the smaller of the SOA record's TTL and its MINIMUM field,
  // from the first SOA in the authority section whose owner is the name
  // asked, the end of its CNAME chain or an ancestor of either. nullopt
  // without such a SOA (do not cache, or use a local default).
  absl::optional<uint32_t> negative_ttl;
};

// Parses `message` as the response to the query (`id`, `name`, `type`),
// checking the whole message; see the status table above. The question
// name is compared case-insensitively.
absl::StatusOr<Response> ParseResponse(absl::Span<const uint8_t> message,
                                       uint16_t id, absl::string_view name,
                                       RecordType type);

// As ParseResponse(), with two differences: TC set gives a Response with
// `truncated` (after the ID and question were checked; nothing else is
// read), and NXDOMAIN gives a Response with rcode kNxDomain, no addresses
// and `negative_ttl`. Every other status is as in the table above.
absl::StatusOr<Response> ParseAnswer(absl::Span<const uint8_t> message,
                                     uint16_t id, absl::string_view name,
                                     RecordType type);

// For tests and the fuzz target: builds a response to `query` (a message
// from BuildQuery) with the given flags and raw answer records. Each record
// is owner name (text, encoded uncompressed), type, TTL and RDATA.
struct TestRecord {
  std::string owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
  uint16_t klass = kClassIn;
};
// `authority` records go to the authority section.
std::vector<uint8_t> BuildTestResponse(
    absl::Span<const uint8_t> query, Rcode rcode,
    const std::vector<TestRecord>& answers, bool truncated = false,
    const std::vector<TestRecord>& authority = {});
// SOA RDATA (RFC 1035 3.3.13) with made-up MNAME/RNAME/serial/timers and
// the given MINIMUM, for tests.
std::vector<uint8_t> SoaRdataForTest(uint32_t minimum);
// Encodes a text name uncompressed (labels as given, no validation beyond
// splitting at dots), for building test RDATA.
std::vector<uint8_t> EncodeNameForTest(absl::string_view name);

}  // namespace stow::dns

#endif  // STOWAWAY_SDK_DNS_MESSAGE_H_
