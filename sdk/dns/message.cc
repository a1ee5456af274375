#include "sdk/dns/message.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stow::dns {
namespace {

// Header flag bits (RFC 1035 4.1.1), in the 16-bit flags word.
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr int kOpcodeShift = 11;
constexpr uint16_t kOpcodeMask = 0xF;
constexpr uint16_t kRcodeMask = 0xF;
// Longest name on the wire, length octets and root included.
constexpr size_t kMaxWireName = 255;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed DNS response: ", what));
}

// Bounds-checked big-endian reads over a message.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> message) : msg_(message) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return msg_.size() - pos_; }
  absl::Span<const uint8_t> message() const { return msg_; }
  void set_pos(size_t pos) { pos_ = pos; }

  bool U8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = msg_[pos_++];
    return true;
  }
  bool U16(uint16_t* out) {
    if (remaining() < 2) return false;
    *out = static_cast<uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* out) {
    if (remaining() < 4) return false;
    *out = static_cast<uint32_t>(msg_[pos_]) << 24 |
           static_cast<uint32_t>(msg_[pos_ + 1]) << 16 |
           static_cast<uint32_t>(msg_[pos_ + 2]) << 8 |
           static_cast<uint32_t>(msg_[pos_ + 3]);
    pos_ += 4;
    return true;
  }

 private:
  absl::Span<const uint8_t> msg_;
  size_t pos_ = 0;
};

// Appends one label's bytes to `out` as text: ASCII letters lowercased;
// '.', '\\' and bytes outside printable ASCII escaped as \DDD, so distinct
// wire names always give distinct text.
void AppendLabelText(absl::Span<const uint8_t> label, std::string* out) {
  for (uint8_t c : label) {
    if (c > 0x20 && c < 0x7F && c != '.' && c != '\\') {
      out->push_back(absl::ascii_tolower(static_cast<char>(c)));
    } else {
      out->push_back('\\');
      out->push_back(static_cast<char>('0' + c / 100));
      out->push_back(static_cast<char>('0' + c / 10 % 10));
      out->push_back(static_cast<char>('0' + c % 10));
    }
  }
}

// Reads a possibly compressed name at the reader's position into `out`
// (lowercase text, no trailing dot; "" for the root) and leaves the reader
// after the name's first (uncompressed) part. Every compression pointer
// must point strictly before the pointer itself, so no loop is possible;
// jumps are bounded anyway.
absl::Status ReadName(Reader& r, std::string* out) {
  absl::Span<const uint8_t> msg = r.message();
  out->clear();
  size_t pos = r.pos();
  size_t resume = 0;  // Where the reader continues; set at the first jump.
  bool jumped = false;
  int jumps = 0;
  size_t wire_length = 1;  // The root label.
  while (true) {
    if (pos >= msg.size()) return Malformed("name runs past the end");
    const uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return Malformed("pointer cut short");
      const size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[pos + 1];
      if (target >= pos) return Malformed("compression pointer not backwards");
      if (++jumps > kMaxPointerJumps) {
        return Malformed("too many compression pointers");
      }
      if (!jumped) {
        resume = pos + 2;
        jumped = true;
      }
      pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) return Malformed("unknown label type");
    if (len == 0) {
      r.set_pos(jumped ? resume : pos + 1);
      return absl::OkStatus();
    }
    if (pos + 1 + len > msg.size()) return Malformed("label past the end");
    wire_length += 1 + len;
    if (wire_length > kMaxWireName) return Malformed("name too long");
    if (!out->empty()) out->push_back('.');
    AppendLabelText(msg.subspan(pos + 1, len), out);
    pos += 1 + len;
  }
}

struct Record {
  std::string owner;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  size_t rdata_pos = 0;
  uint16_t rdlength = 0;
};

absl::Status ReadRecord(Reader& r, Record* rec) {
  if (absl::Status s = ReadName(r, &rec->owner); !s.ok()) return s;
  if (!r.U16(&rec->type) || !r.U16(&rec->klass) || !r.U32(&rec->ttl) ||
      !r.U16(&rec->rdlength)) {
    return Malformed("record header cut short");
  }
  if (rec->rdlength > r.remaining()) return Malformed("RDATA past the end");
  rec->rdata_pos = r.pos();
  r.set_pos(r.pos() + rec->rdlength);
  // RFC 2181 section 8: a TTL with the top bit set means zero.
  if (rec->ttl & 0x80000000u) rec->ttl = 0;
  return absl::OkStatus();
}

absl::Status RcodeStatus(Rcode rcode, absl::string_view name) {
  switch (rcode) {
    case Rcode::kNoError:
      return absl::OkStatus();
    case Rcode::kNxDomain:
      return absl::NotFoundError(absl::StrCat("no such name ", name));
    case Rcode::kServFail:
      return absl::UnavailableError(
          absl::StrCat("DNS server failure (SERVFAIL) for ", name));
    case Rcode::kRefused:
      return absl::PermissionDeniedError(
          absl::StrCat("DNS server refused the query (REFUSED) for ", name));
    case Rcode::kFormErr:
      return absl::InternalError(absl::StrCat(
          "DNS server could not parse the query (FORMERR) for ", name));
    case Rcode::kNotImp:
      return absl::UnimplementedError(
          absl::StrCat("DNS server does not implement the query (NOTIMP) "
                       "for ",
                       name));
  }
  return absl::UnknownError(absl::StrCat(
      "DNS response code ", static_cast<int>(rcode), " for ", name));
}

bool ValidNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

// True when `name` is `zone` or below it ("" is the root).
bool InZone(absl::string_view name, absl::string_view zone) {
  if (zone.empty() || name == zone) return true;
  return name.size() > zone.size() &&
         name.substr(name.size() - zone.size()) == zone &&
         name[name.size() - zone.size() - 1] == '.';
}

// Checks a SOA record's RDATA (RFC 1035 3.3.13: MNAME, RNAME, then SERIAL,
// REFRESH, RETRY, EXPIRE, MINIMUM) and returns MINIMUM. A top-bit-set
// MINIMUM counts as 0, as TTLs do.
absl::StatusOr<uint32_t> ReadSoaMinimum(absl::Span<const uint8_t> message,
                                        const Record& rec) {
  Reader rd(message.first(rec.rdata_pos + rec.rdlength));
  rd.set_pos(rec.rdata_pos);
  std::string mname, rname;
  if (absl::Status s = ReadName(rd, &mname); !s.ok()) return s;
  if (absl::Status s = ReadName(rd, &rname); !s.ok()) return s;
  if (rd.remaining() != 20) return Malformed("SOA RDATA of the wrong length");
  uint32_t fields[5];
  for (uint32_t& f : fields) rd.U32(&f);
  const uint32_t minimum = fields[4];
  return (minimum & 0x80000000u) ? 0 : minimum;
}

void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void Put32(std::vector<uint8_t>& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

}  // namespace

absl::StatusOr<std::string> NormalizeName(absl::string_view name) {
  absl::string_view text = name;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return absl::InvalidArgumentError("empty host name");
  if (text.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("host name longer than ", kMaxNameLength, " characters"));
  }
  for (absl::string_view label : absl::StrSplit(text, '.')) {
    if (label.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty label in host name \"", name, "\""));
    }
    if (label.size() > kMaxLabelLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label longer than ", kMaxLabelLength, " characters in host name"));
    }
    for (char c : label) {
      if (!ValidNameChar(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid character in host name \"", name, "\""));
      }
    }
  }
  return absl::AsciiStrToLower(text);
}

absl::StatusOr<std::vector<uint8_t>> BuildQuery(uint16_t id,
                                                absl::string_view name,
                                                RecordType type) {
  if (absl::StatusOr<std::string> n = NormalizeName(name); !n.ok()) {
    return n.status();
  }
  absl::string_view text = name;
  if (text.back() == '.') text.remove_suffix(1);
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + text.size() + 2 + 4);
  Put16(out, id);
  Put16(out, kFlagRd);
  Put16(out, 1);  // QDCOUNT
  Put16(out, 0);  // ANCOUNT
  Put16(out, 0);  // NSCOUNT
  Put16(out, 0);  // ARCOUNT
  for (absl::string_view label : absl::StrSplit(text, '.')) {
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  Put16(out, static_cast<uint16_t>(type));
  Put16(out, kClassIn);
  return out;
}

absl::optional<uint16_t> PeekId(absl::Span<const uint8_t> message) {
  if (message.size() < kHeaderSize) return absl::nullopt;
  return static_cast<uint16_t>(message[0] << 8 | message[1]);
}

absl::StatusOr<Response> ParseAnswer(absl::Span<const uint8_t> message,
                                     uint16_t id, absl::string_view name,
                                     RecordType type) {
  absl::StatusOr<std::string> want_name = NormalizeName(name);
  if (!want_name.ok()) return want_name.status();

  Reader r(message);
  uint16_t msg_id, flags, qdcount, ancount, nscount, arcount;
  if (!r.U16(&msg_id) || !r.U16(&flags) || !r.U16(&qdcount) ||
      !r.U16(&ancount) || !r.U16(&nscount) || !r.U16(&arcount)) {
    return Malformed("shorter than a header");
  }
  if (!(flags & kFlagQr))
    return Malformed("QR clear (a query, not a response)");
  if (((flags >> kOpcodeShift) & kOpcodeMask) != 0) {
    return Malformed("opcode is not QUERY");
  }
  if (msg_id != id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DNS response ID ", msg_id, " does not match query ID ", id));
  }
  if (qdcount != 1) {
    return Malformed(absl::StrCat(qdcount, " questions instead of 1"));
  }
  std::string qname;
  if (absl::Status s = ReadName(r, &qname); !s.ok()) return s;
  uint16_t qtype, qclass;
  if (!r.U16(&qtype) || !r.U16(&qclass)) {
    return Malformed("question cut short");
  }
  if (qname != *want_name || qtype != static_cast<uint16_t>(type) ||
      qclass != kClassIn) {
    return absl::FailedPreconditionError(
        absl::StrCat("DNS response question (", qname, " type ", qtype,
                     " class ", qclass, ") does not match the query (",
                     *want_name, " type ", static_cast<uint16_t>(type), ")"));
  }

  // A truncated response may end anywhere: its records are not read.
  if (flags & kFlagTc) {
    Response truncated;
    truncated.id = msg_id;
    truncated.rcode = static_cast<Rcode>(flags & kRcodeMask);
    truncated.canonical_name = *want_name;
    truncated.truncated = true;
    return truncated;
  }

  // Walk every record so that a malformed message is refused as a whole.
  // The smallest record is 11 bytes (root owner and a fixed part).
  if ((static_cast<size_t>(ancount) + nscount + arcount) * 11 > r.remaining()) {
    return Malformed("more records than bytes");
  }
  std::vector<Record> answers(ancount);
  for (Record& rec : answers) {
    if (absl::Status s = ReadRecord(r, &rec); !s.ok()) return s;
  }
  std::vector<Record> authority(nscount);
  for (Record& rec : authority) {
    if (absl::Status s = ReadRecord(r, &rec); !s.ok()) return s;
  }
  for (uint16_t i = 0; i < arcount; ++i) {
    Record rec;
    if (absl::Status s = ReadRecord(r, &rec); !s.ok()) return s;
  }
  if (r.remaining() != 0) {
    return Malformed(absl::StrCat(r.remaining(), " bytes after the records"));
  }

  Response response;
  response.id = msg_id;
  response.rcode = static_cast<Rcode>(flags & kRcodeMask);
  if (response.rcode != Rcode::kNxDomain) {
    if (absl::Status s = RcodeStatus(response.rcode, *want_name); !s.ok()) {
      return s;
    }
  }

  // Check the RDATA of every record we might use, and gather CNAMEs.
  struct Alias {
    std::string target;
    uint32_t ttl;
  };
  std::map<std::string, Alias> aliases;
  for (const Record& rec : answers) {
    if (rec.klass != kClassIn) continue;
    if (rec.type == static_cast<uint16_t>(RecordType::kA) &&
        rec.rdlength != 4) {
      return Malformed(
          absl::StrCat("A record with ", rec.rdlength, " bytes of RDATA"));
    }
    if (rec.type == static_cast<uint16_t>(RecordType::kAaaa) &&
        rec.rdlength != 16) {
      return Malformed(
          absl::StrCat("AAAA record with ", rec.rdlength, " bytes of RDATA"));
    }
    if (rec.type == static_cast<uint16_t>(RecordType::kCname)) {
      Reader rd(message.first(rec.rdata_pos + rec.rdlength));
      rd.set_pos(rec.rdata_pos);
      Alias alias;
      alias.ttl = rec.ttl;
      if (absl::Status s = ReadName(rd, &alias.target); !s.ok()) return s;
      if (rd.remaining() != 0) return Malformed("CNAME RDATA longer than name");
      if (alias.target.empty()) return Malformed("CNAME to the root");
      if (!aliases.emplace(rec.owner, std::move(alias)).second) {
        return Malformed(absl::StrCat("two CNAMEs for ", rec.owner));
      }
    }
  }

  // Follow the chain from the question's name.
  std::string current = *want_name;
  uint32_t chain_ttl = UINT32_MAX;
  for (int hops = 0;; ++hops) {
    auto it = aliases.find(current);
    if (it == aliases.end()) break;
    if (hops == kMaxCnameChain) {
      return Malformed("CNAME chain too long or looping");
    }
    chain_ttl = std::min(chain_ttl, it->second.ttl);
    current = it->second.target;
  }
  for (const Record& rec : answers) {
    if (rec.klass != kClassIn || rec.type != static_cast<uint16_t>(type) ||
        rec.owner != current) {
      continue;
    }
    absl::StatusOr<IpAddress> ip =
        IpAddress::FromBytes(message.subspan(rec.rdata_pos, rec.rdlength));
    if (!ip.ok()) return Malformed("bad address RDATA");
    response.addresses.push_back({*ip, std::min(chain_ttl, rec.ttl)});
  }
  // RFC 2308 section 5: a negative answer lives as long as the smaller of
  // the SOA's TTL and its MINIMUM field. Only a SOA of a zone that contains
  // the name counts.
  if (response.addresses.empty()) {
    for (const Record& rec : authority) {
      if (rec.klass != kClassIn ||
          rec.type != static_cast<uint16_t>(RecordType::kSoa)) {
        continue;
      }
      absl::StatusOr<uint32_t> minimum = ReadSoaMinimum(message, rec);
      if (!minimum.ok()) return minimum.status();
      if (response.negative_ttl.has_value()) continue;
      if (!InZone(*want_name, rec.owner) && !InZone(current, rec.owner)) {
        continue;
      }
      response.negative_ttl = std::min(rec.ttl, *minimum);
    }
  }
  response.canonical_name = std::move(current);
  return response;
}

absl::StatusOr<Response> ParseResponse(absl::Span<const uint8_t> message,
                                       uint16_t id, absl::string_view name,
                                       RecordType type) {
  absl::StatusOr<Response> response = ParseAnswer(message, id, name, type);
  if (!response.ok()) return response;
  if (response->truncated) {
    return absl::UnimplementedError(absl::StrCat(
        "DNS response for ", *NormalizeName(name), " truncated (TC set)"));
  }
  if (response->rcode == Rcode::kNxDomain) {
    return RcodeStatus(Rcode::kNxDomain, *NormalizeName(name));
  }
  return response;
}

std::vector<uint8_t> EncodeNameForTest(absl::string_view name) {
  std::vector<uint8_t> out;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!name.empty()) {
    for (absl::string_view label : absl::StrSplit(name, '.')) {
      out.push_back(static_cast<uint8_t>(label.size()));
      out.insert(out.end(), label.begin(), label.end());
    }
  }
  out.push_back(0);
  return out;
}

std::vector<uint8_t> SoaRdataForTest(uint32_t minimum) {
  std::vector<uint8_t> out = EncodeNameForTest("ns.test");
  std::vector<uint8_t> rname = EncodeNameForTest("hostmaster.test");
  out.insert(out.end(), rname.begin(), rname.end());
  for (uint32_t v : {uint32_t{2026112201}, uint32_t{7200}, uint32_t{900},
                     uint32_t{1209600}, minimum}) {
    Put32(out, v);
  }
  return out;
}

std::vector<uint8_t> BuildTestResponse(
    absl::Span<const uint8_t> query, Rcode rcode,
    const std::vector<TestRecord>& answers, bool truncated,
    const std::vector<TestRecord>& authority) {
  std::vector<uint8_t> out(query.begin(), query.end());
  if (out.size() < kHeaderSize) return out;
  uint16_t flags =
      kFlagQr | kFlagRd | kFlagRa |
      static_cast<uint16_t>(static_cast<uint8_t>(rcode) & kRcodeMask);
  if (truncated) flags |= kFlagTc;
  out[2] = static_cast<uint8_t>(flags >> 8);
  out[3] = static_cast<uint8_t>(flags);
  out[6] = static_cast<uint8_t>(answers.size() >> 8);
  out[7] = static_cast<uint8_t>(answers.size());
  out[8] = static_cast<uint8_t>(authority.size() >> 8);
  out[9] = static_cast<uint8_t>(authority.size());
  std::vector<TestRecord> records = answers;
  records.insert(records.end(), authority.begin(), authority.end());
  for (const TestRecord& rec : records) {
    std::vector<uint8_t> owner = EncodeNameForTest(rec.owner);
    out.insert(out.end(), owner.begin(), owner.end());
    Put16(out, rec.type);
    Put16(out, rec.klass);
    Put32(out, rec.ttl);
    Put16(out, static_cast<uint16_t>(rec.rdata.size()));
    out.insert(out.end(), rec.rdata.begin(), rec.rdata.end());
  }
  return out;
}

}  // namespace stow::dns
