#include "sdk/tunnel/ipsec/ike/codec/message.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace stow {
namespace ike {
namespace {

// ---------------------------------------------------------------- helpers

uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t Get32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) |
         (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
uint64_t Get64(const uint8_t* p) {
  return (static_cast<uint64_t>(Get32(p)) << 32) | Get32(p + 4);
}

Bytes ToBytes(absl::Span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

template <typename... Args>
absl::Status Invalid(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}

// The name used in error messages.
std::string PayloadName(PayloadType type) {
  switch (type) {
    case PayloadType::kNone: return "NONE";
    case PayloadType::kSa: return "SA";
    case PayloadType::kKe: return "KE";
    case PayloadType::kIdi: return "IDi";
    case PayloadType::kIdr: return "IDr";
    case PayloadType::kCert: return "CERT";
    case PayloadType::kCertReq: return "CERTREQ";
    case PayloadType::kAuth: return "AUTH";
    case PayloadType::kNonce: return "Nonce";
    case PayloadType::kNotify: return "Notify";
    case PayloadType::kDelete: return "Delete";
    case PayloadType::kVendorId: return "Vendor ID";
    case PayloadType::kTsi: return "TSi";
    case PayloadType::kTsr: return "TSr";
    case PayloadType::kEncrypted: return "SK";
    case PayloadType::kConfig: return "CP";
    case PayloadType::kEap: return "EAP";
    case PayloadType::kEncryptedFragment: return "SKF";
  }
  return absl::StrCat("type-", static_cast<int>(type));
}

// Appends big-endian integers to a byte vector.
class Writer {
 public:
  explicit Writer(Bytes* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Zeros(size_t n) { out_->insert(out_->end(), n, 0); }
  void Append(absl::Span<const uint8_t> b) {
    out_->insert(out_->end(), b.begin(), b.end());
  }
  size_t size() const { return out_->size(); }
  void Put16At(size_t at, uint16_t v) {
    (*out_)[at] = static_cast<uint8_t>(v >> 8);
    (*out_)[at + 1] = static_cast<uint8_t>(v);
  }

 private:
  Bytes* out_;  // Not owned.
};

// Fixed value sizes of the configuration attributes the SDK interprets;
// -1 for attributes held raw. A value may also be empty (a request).
int ConfigValueSize(CfgAttributeType type) {
  switch (type) {
    case CfgAttributeType::kInternalIp4Address:
    case CfgAttributeType::kInternalIp4Netmask:
    case CfgAttributeType::kInternalIp4Dns:
      return 4;
    case CfgAttributeType::kInternalIp6Address:
      return 17;
    case CfgAttributeType::kInternalIp6Dns:
      return 16;
    default:
      return -1;
  }
}

// ---------------------------------------------------------------- parsing

absl::StatusOr<SaPayload> ParseSa(absl::Span<const uint8_t> b) {
  SaPayload sa;
  size_t pos = 0;
  while (pos < b.size()) {
    const size_t left = b.size() - pos;
    const int n = static_cast<int>(sa.proposals.size()) + 1;
    if (sa.proposals.size() >= kMaxProposals) {
      return Invalid("SA payload: more than ", kMaxProposals, " proposals");
    }
    if (left < 8) {
      return Invalid("SA payload: proposal ", n, " header truncated (", left,
                     " bytes left < 8)");
    }
    const uint8_t* p = b.data() + pos;
    const uint8_t last = p[0];
    const uint16_t len = Get16(p + 2);
    if (len < 8) return Invalid("SA payload: proposal length ", len, " < 8");
    if (len > left) {
      return Invalid("SA payload: proposal length ", len, " > ", left,
                     " bytes left");
    }
    const bool is_last = pos + len == b.size();
    if (last != (is_last ? 0 : 2)) {
      return Invalid("SA payload: proposal ", n, " last-substructure field ",
                     last, " (want ", is_last ? 0 : 2, ")");
    }
    Proposal prop;
    prop.number = p[4];
    prop.protocol = static_cast<ProtocolId>(p[5]);
    const uint8_t spi_size = p[6];
    const uint8_t num_transforms = p[7];
    if (spi_size != 0 && spi_size != 4 && spi_size != 8) {
      return Invalid("SA payload: proposal ", n, " SPI size ", spi_size,
                     " (want 0, 4 or 8)");
    }
    if (8u + spi_size > len) {
      return Invalid("SA payload: proposal ", n, " SPI size ", spi_size,
                     " exceeds proposal length ", len);
    }
    if (num_transforms > kMaxTransforms) {
      return Invalid("SA payload: proposal ", n, " has ", num_transforms,
                     " transforms > ", kMaxTransforms);
    }
    prop.spi.assign(p + 8, p + 8 + spi_size);
    size_t tpos = 8 + spi_size;
    for (int t = 0; t < num_transforms; ++t) {
      const size_t tleft = len - tpos;
      if (tleft < 8) {
        return Invalid("SA payload: proposal ", n, " transform ", t + 1,
                       " header truncated (", tleft, " bytes left < 8)");
      }
      const uint8_t* q = p + tpos;
      const uint16_t tlen = Get16(q + 2);
      if (tlen < 8) return Invalid("SA payload: transform length ", tlen, " < 8");
      if (tlen > tleft) {
        return Invalid("SA payload: transform length ", tlen, " > ", tleft,
                       " bytes left in proposal ", n);
      }
      const bool tlast = t + 1 == num_transforms;
      if (q[0] != (tlast ? 0 : 3)) {
        return Invalid("SA payload: proposal ", n, " transform ", t + 1,
                       " last-substructure field ", q[0], " (want ",
                       tlast ? 0 : 3, ")");
      }
      Transform tr;
      tr.type = static_cast<TransformType>(q[4]);
      tr.id = Get16(q + 6);
      size_t apos = 8;
      while (apos < tlen) {
        if (tr.attributes.size() >= kMaxAttributes) {
          return Invalid("SA payload: transform has more than ",
                         kMaxAttributes, " attributes");
        }
        const size_t aleft = tlen - apos;
        if (aleft < 4) {
          return Invalid("SA payload: transform attribute truncated (", aleft,
                         " bytes left < 4)");
        }
        const uint16_t word = Get16(q + apos);
        TransformAttribute attr;
        attr.type = word & 0x7fff;
        attr.tv = (word & 0x8000) != 0;
        if (attr.tv) {
          attr.value.assign(q + apos + 2, q + apos + 4);
          apos += 4;
        } else {
          const uint16_t alen = Get16(q + apos + 2);
          if (alen > aleft - 4) {
            return Invalid("SA payload: attribute length ", alen, " > ",
                           aleft - 4, " bytes left in transform");
          }
          if (attr.type == kAttributeKeyLength) {
            return Invalid("SA payload: Key Length attribute in TLV format");
          }
          attr.value.assign(q + apos + 4, q + apos + 4 + alen);
          apos += 4 + alen;
        }
        tr.attributes.push_back(std::move(attr));
      }
      prop.transforms.push_back(std::move(tr));
      tpos += tlen;
    }
    if (tpos != len) {
      return Invalid("SA payload: proposal ", n, " transforms end at ", tpos,
                     ", proposal length ", len);
    }
    sa.proposals.push_back(std::move(prop));
    pos += len;
  }
  if (sa.proposals.empty()) return Invalid("SA payload: no proposals");
  return sa;
}

absl::StatusOr<TsPayload> ParseTs(const std::string& name,
                                  absl::Span<const uint8_t> b) {
  if (b.size() < 4) {
    return Invalid(name, " payload: length ", b.size() + 4, " < 8");
  }
  const uint8_t count = b[0];
  if (count == 0) return Invalid(name, " payload: no traffic selectors");
  if (count > kMaxTrafficSelectors) {
    return Invalid(name, " payload: ", count, " traffic selectors > ",
                   kMaxTrafficSelectors);
  }
  TsPayload ts;
  size_t pos = 4;
  for (int i = 0; i < count; ++i) {
    const size_t left = b.size() - pos;
    if (left < 8) {
      return Invalid(name, " payload: selector ", i + 1, " truncated (", left,
                     " bytes left < 8)");
    }
    const uint8_t* p = b.data() + pos;
    const uint8_t type = p[0];
    const uint16_t len = Get16(p + 2);
    size_t addr_size;
    if (type == static_cast<uint8_t>(TsType::kIpv4AddrRange)) {
      addr_size = 4;
    } else if (type == static_cast<uint8_t>(TsType::kIpv6AddrRange)) {
      addr_size = 16;
    } else {
      return Invalid(name, " payload: unsupported TS type ", type);
    }
    if (len != 8 + 2 * addr_size) {
      return Invalid(name, " payload: selector length ", len, " for TS type ",
                     type, " (want ", 8 + 2 * addr_size, ")");
    }
    if (len > left) {
      return Invalid(name, " payload: selector length ", len, " > ", left,
                     " bytes left");
    }
    TrafficSelector sel;
    sel.ip_protocol = p[1];
    sel.start_port = Get16(p + 4);
    sel.end_port = Get16(p + 6);
    sel.start_address =
        *IpAddress::FromBytes(absl::MakeConstSpan(p + 8, addr_size));
    sel.end_address =
        *IpAddress::FromBytes(absl::MakeConstSpan(p + 8 + addr_size, addr_size));
    ts.selectors.push_back(std::move(sel));
    pos += len;
  }
  if (pos != b.size()) {
    return Invalid(name, " payload: ", b.size() - pos,
                   " bytes after the last traffic selector");
  }
  return ts;
}

absl::StatusOr<ConfigPayload> ParseConfig(absl::Span<const uint8_t> b) {
  if (b.size() < 4) return Invalid("CP payload: length ", b.size() + 4, " < 8");
  ConfigPayload cp;
  cp.cfg_type = static_cast<CfgType>(b[0]);
  size_t pos = 4;
  while (pos < b.size()) {
    if (cp.attributes.size() >= kMaxConfigAttributes) {
      return Invalid("CP payload: more than ", kMaxConfigAttributes,
                     " attributes");
    }
    const size_t left = b.size() - pos;
    if (left < 4) {
      return Invalid("CP payload: attribute truncated (", left,
                     " bytes left < 4)");
    }
    const uint8_t* p = b.data() + pos;
    ConfigAttribute attr;
    attr.type = static_cast<CfgAttributeType>(Get16(p) & 0x7fff);
    const uint16_t len = Get16(p + 2);
    if (len > left - 4) {
      return Invalid("CP payload: attribute length ", len, " > ", left - 4,
                     " bytes left");
    }
    const int want = ConfigValueSize(attr.type);
    if (want >= 0 && len != 0 && len != want) {
      return Invalid("CP payload: attribute ", static_cast<int>(attr.type),
                     " length ", len, " (want 0 or ", want, ")");
    }
    attr.value.assign(p + 4, p + 4 + len);
    cp.attributes.push_back(std::move(attr));
    pos += 4 + len;
  }
  return cp;
}

// Parses the body of a payload of a type other than SK/SKF.
absl::StatusOr<PayloadBody> ParseBody(PayloadType type,
                                      absl::Span<const uint8_t> b) {
  const std::string name = PayloadName(type);
  auto need = [&](size_t min) -> absl::Status {
    if (b.size() < min) {
      return Invalid(name, " payload: length ", b.size() + 4, " < ", min + 4);
    }
    return absl::OkStatus();
  };
  switch (type) {
    case PayloadType::kSa: {
      auto sa = ParseSa(b);
      if (!sa.ok()) return sa.status();
      return PayloadBody(std::move(*sa));
    }
    case PayloadType::kKe: {
      if (auto s = need(4); !s.ok()) return s;
      KePayload ke;
      ke.group = Get16(b.data());
      ke.data = ToBytes(b.subspan(4));
      return PayloadBody(std::move(ke));
    }
    case PayloadType::kIdi:
    case PayloadType::kIdr: {
      if (auto s = need(4); !s.ok()) return s;
      IdPayload id;
      id.id_type = static_cast<IdType>(b[0]);
      id.data = ToBytes(b.subspan(4));
      return PayloadBody(std::move(id));
    }
    case PayloadType::kCert:
    case PayloadType::kCertReq: {
      if (auto s = need(1); !s.ok()) return s;
      CertPayload cert;
      cert.encoding = static_cast<CertEncoding>(b[0]);
      cert.data = ToBytes(b.subspan(1));
      return PayloadBody(std::move(cert));
    }
    case PayloadType::kAuth: {
      if (auto s = need(4); !s.ok()) return s;
      AuthPayload auth;
      auth.method = static_cast<AuthMethod>(b[0]);
      auth.data = ToBytes(b.subspan(4));
      return PayloadBody(std::move(auth));
    }
    case PayloadType::kNonce: {
      if (b.size() < kMinNonceSize || b.size() > kMaxNonceSize) {
        return Invalid("Nonce payload: nonce size ", b.size(), " (want ",
                       kMinNonceSize, "..", kMaxNonceSize, ")");
      }
      return PayloadBody(NoncePayload{ToBytes(b)});
    }
    case PayloadType::kNotify: {
      if (auto s = need(4); !s.ok()) return s;
      NotifyPayload n;
      n.protocol = static_cast<ProtocolId>(b[0]);
      const uint8_t spi_size = b[1];
      n.type = static_cast<NotifyType>(Get16(b.data() + 2));
      if (spi_size > b.size() - 4) {
        return Invalid("Notify payload: SPI size ", spi_size, " > ",
                       b.size() - 4, " bytes left");
      }
      n.spi = ToBytes(b.subspan(4, spi_size));
      n.data = ToBytes(b.subspan(4 + spi_size));
      return PayloadBody(std::move(n));
    }
    case PayloadType::kDelete: {
      if (auto s = need(4); !s.ok()) return s;
      DeletePayload d;
      d.protocol = static_cast<ProtocolId>(b[0]);
      d.spi_size = b[1];
      const uint16_t num = Get16(b.data() + 2);
      if (num > kMaxDeleteSpis) {
        return Invalid("Delete payload: ", num, " SPIs > ", kMaxDeleteSpis);
      }
      if (d.spi_size == 0 && num != 0) {
        return Invalid("Delete payload: ", num, " SPIs of size 0");
      }
      const size_t want = static_cast<size_t>(num) * d.spi_size;
      if (want != b.size() - 4) {
        return Invalid("Delete payload: ", num, " SPIs of size ", d.spi_size,
                       " need ", want, " bytes, have ", b.size() - 4);
      }
      for (size_t i = 0; i < num; ++i) {
        d.spis.push_back(ToBytes(b.subspan(4 + i * d.spi_size, d.spi_size)));
      }
      return PayloadBody(std::move(d));
    }
    case PayloadType::kVendorId:
      return PayloadBody(VendorIdPayload{ToBytes(b)});
    case PayloadType::kTsi:
    case PayloadType::kTsr: {
      auto ts = ParseTs(name, b);
      if (!ts.ok()) return ts.status();
      return PayloadBody(std::move(*ts));
    }
    case PayloadType::kConfig: {
      auto cp = ParseConfig(b);
      if (!cp.ok()) return cp.status();
      return PayloadBody(std::move(*cp));
    }
    case PayloadType::kEap:
      return PayloadBody(EapPayload{ToBytes(b)});
    default:
      return PayloadBody(UnknownPayload{ToBytes(b)});
  }
}

// Parses the chain in `data` (which starts `base` bytes into the message).
absl::StatusOr<std::vector<Payload>> ParseChain(
    PayloadType first, absl::Span<const uint8_t> data, size_t base,
    absl::optional<EncryptedLayout>* layout) {
  std::vector<Payload> payloads;
  PayloadType type = first;
  size_t pos = 0;
  while (type != PayloadType::kNone) {
    const std::string name = PayloadName(type);
    if (payloads.size() >= kMaxPayloads) {
      return Invalid("message: more than ", kMaxPayloads, " payloads");
    }
    const size_t left = data.size() - pos;
    if (left < kGenericPayloadHeaderSize) {
      return Invalid(name, " payload: generic header truncated (", left,
                     " bytes left < 4)");
    }
    const uint8_t* p = data.data() + pos;
    const PayloadType next = static_cast<PayloadType>(p[0]);
    const bool critical = (p[1] & kCriticalBit) != 0;
    const uint16_t len = Get16(p + 2);
    if (len < kGenericPayloadHeaderSize) {
      return Invalid(name, " payload: length ", len, " < 4");
    }
    if (len > left) {
      return Invalid(name, " payload: length ", len, " > ", left,
                     " bytes left");
    }
    absl::Span<const uint8_t> body = data.subspan(pos + 4, len - 4);
    Payload payload;
    payload.type = type;
    payload.critical = critical;
    if (type == PayloadType::kEncrypted ||
        type == PayloadType::kEncryptedFragment) {
      if (pos + len != data.size()) {
        return Invalid(name, " payload: not last (", data.size() - pos - len,
                       " bytes follow)");
      }
      EncryptedLayout l;
      l.type = type;
      l.payload_begin = base + pos;
      if (type == PayloadType::kEncrypted) {
        payload.body = EncryptedPayload{next, ToBytes(body)};
        l.associated_data_end = base + pos + 4;
      } else {
        if (body.size() < 4) {
          return Invalid("SKF payload: length ", len, " < 8");
        }
        EncryptedFragmentPayload f;
        f.first_inner = next;
        f.fragment_number = Get16(body.data());
        f.total_fragments = Get16(body.data() + 2);
        if (f.fragment_number == 0 || f.total_fragments == 0 ||
            f.fragment_number > f.total_fragments) {
          return Invalid("SKF payload: fragment ", f.fragment_number, " of ",
                         f.total_fragments);
        }
        f.body = ToBytes(body.subspan(4));
        payload.body = std::move(f);
        l.associated_data_end = base + pos + 8;
      }
      l.body_begin = l.associated_data_end;
      l.body_end = base + pos + len;
      if (layout != nullptr) *layout = l;
      payloads.push_back(std::move(payload));
      return payloads;
    }
    auto parsed = ParseBody(type, body);
    if (!parsed.ok()) return parsed.status();
    payload.body = std::move(*parsed);
    payloads.push_back(std::move(payload));
    pos += len;
    type = next;
  }
  if (pos != data.size()) {
    return Invalid("message: ", data.size() - pos,
                   " bytes after the last payload");
  }
  return payloads;
}

// ------------------------------------------------------------ serializing

absl::Status WriteSa(const SaPayload& sa, Writer& w) {
  if (sa.proposals.empty()) return Invalid("SA payload: no proposals");
  if (sa.proposals.size() > kMaxProposals) {
    return Invalid("SA payload: more than ", kMaxProposals, " proposals");
  }
  for (size_t i = 0; i < sa.proposals.size(); ++i) {
    const Proposal& prop = sa.proposals[i];
    const size_t spi_size = prop.spi.size();
    if (spi_size != 0 && spi_size != 4 && spi_size != 8) {
      return Invalid("SA payload: proposal ", i + 1, " SPI size ", spi_size,
                     " (want 0, 4 or 8)");
    }
    if (prop.transforms.size() > kMaxTransforms) {
      return Invalid("SA payload: proposal ", i + 1, " has ",
                     prop.transforms.size(), " transforms > ", kMaxTransforms);
    }
    const size_t start = w.size();
    w.U8(i + 1 == sa.proposals.size() ? 0 : 2);
    w.U8(0);
    w.U16(0);  // length, patched below
    w.U8(prop.number);
    w.U8(static_cast<uint8_t>(prop.protocol));
    w.U8(static_cast<uint8_t>(spi_size));
    w.U8(static_cast<uint8_t>(prop.transforms.size()));
    w.Append(prop.spi);
    for (size_t t = 0; t < prop.transforms.size(); ++t) {
      const Transform& tr = prop.transforms[t];
      if (tr.attributes.size() > kMaxAttributes) {
        return Invalid("SA payload: transform has more than ", kMaxAttributes,
                       " attributes");
      }
      const size_t tstart = w.size();
      w.U8(t + 1 == prop.transforms.size() ? 0 : 3);
      w.U8(0);
      w.U16(0);
      w.U8(static_cast<uint8_t>(tr.type));
      w.U8(0);
      w.U16(tr.id);
      for (const TransformAttribute& a : tr.attributes) {
        if (a.type > 0x7fff) {
          return Invalid("SA payload: attribute type ", a.type, " > 32767");
        }
        if (a.tv) {
          if (a.value.size() != 2) {
            return Invalid("SA payload: TV attribute value size ",
                           a.value.size(), " (want 2)");
          }
          w.U16(a.type | 0x8000);
          w.Append(a.value);
        } else {
          if (a.type == kAttributeKeyLength) {
            return Invalid("SA payload: Key Length attribute in TLV format");
          }
          if (a.value.size() > 0xffff) {
            return Invalid("SA payload: attribute length ", a.value.size(),
                           " > 65535");
          }
          w.U16(a.type);
          w.U16(static_cast<uint16_t>(a.value.size()));
          w.Append(a.value);
        }
      }
      const size_t tlen = w.size() - tstart;
      if (tlen > 0xffff) {
        return Invalid("SA payload: transform length ", tlen, " > 65535");
      }
      w.Put16At(tstart + 2, static_cast<uint16_t>(tlen));
    }
    const size_t len = w.size() - start;
    if (len > 0xffff) {
      return Invalid("SA payload: proposal length ", len, " > 65535");
    }
    w.Put16At(start + 2, static_cast<uint16_t>(len));
  }
  return absl::OkStatus();
}

absl::Status WriteTs(const std::string& name, const TsPayload& ts, Writer& w) {
  if (ts.selectors.empty()) {
    return Invalid(name, " payload: no traffic selectors");
  }
  if (ts.selectors.size() > kMaxTrafficSelectors) {
    return Invalid(name, " payload: ", ts.selectors.size(),
                   " traffic selectors > ", kMaxTrafficSelectors);
  }
  w.U8(static_cast<uint8_t>(ts.selectors.size()));
  w.Zeros(3);
  for (const TrafficSelector& s : ts.selectors) {
    if (s.start_address.is_v4() != s.end_address.is_v4()) {
      return Invalid(name, " payload: selector mixes IPv4 and IPv6");
    }
    const bool v4 = s.start_address.is_v4();
    w.U8(static_cast<uint8_t>(v4 ? TsType::kIpv4AddrRange
                                 : TsType::kIpv6AddrRange));
    w.U8(s.ip_protocol);
    w.U16(v4 ? 16 : 40);
    w.U16(s.start_port);
    w.U16(s.end_port);
    w.Append(s.start_address.bytes());
    w.Append(s.end_address.bytes());
  }
  return absl::OkStatus();
}

absl::Status WriteConfig(const ConfigPayload& cp, Writer& w) {
  if (cp.attributes.size() > kMaxConfigAttributes) {
    return Invalid("CP payload: more than ", kMaxConfigAttributes,
                   " attributes");
  }
  w.U8(static_cast<uint8_t>(cp.cfg_type));
  w.Zeros(3);
  for (const ConfigAttribute& a : cp.attributes) {
    const uint16_t type = static_cast<uint16_t>(a.type);
    if (type > 0x7fff) {
      return Invalid("CP payload: attribute type ", type, " > 32767");
    }
    const int want = ConfigValueSize(a.type);
    if (want >= 0 && !a.value.empty() &&
        a.value.size() != static_cast<size_t>(want)) {
      return Invalid("CP payload: attribute ", type, " length ",
                     a.value.size(), " (want 0 or ", want, ")");
    }
    if (a.value.size() > 0xffff) {
      return Invalid("CP payload: attribute length ", a.value.size(),
                     " > 65535");
    }
    w.U16(type);
    w.U16(static_cast<uint16_t>(a.value.size()));
    w.Append(a.value);
  }
  return absl::OkStatus();
}

// Writes a payload's body (everything after the generic header).
absl::Status WriteBody(const Payload& p, Writer& w) {
  const std::string name = PayloadName(p.type);
  auto mismatch = [&]() {
    return Invalid(name, " payload: body does not match the payload type");
  };
  switch (p.type) {
    case PayloadType::kNone:
      return Invalid("payload of type 0 (NONE)");
    case PayloadType::kSa: {
      const auto* sa = absl::get_if<SaPayload>(&p.body);
      if (sa == nullptr) return mismatch();
      return WriteSa(*sa, w);
    }
    case PayloadType::kKe: {
      const auto* ke = absl::get_if<KePayload>(&p.body);
      if (ke == nullptr) return mismatch();
      w.U16(ke->group);
      w.U16(0);
      w.Append(ke->data);
      return absl::OkStatus();
    }
    case PayloadType::kIdi:
    case PayloadType::kIdr: {
      const auto* id = absl::get_if<IdPayload>(&p.body);
      if (id == nullptr) return mismatch();
      w.U8(static_cast<uint8_t>(id->id_type));
      w.Zeros(3);
      w.Append(id->data);
      return absl::OkStatus();
    }
    case PayloadType::kCert:
    case PayloadType::kCertReq: {
      const auto* cert = absl::get_if<CertPayload>(&p.body);
      if (cert == nullptr) return mismatch();
      w.U8(static_cast<uint8_t>(cert->encoding));
      w.Append(cert->data);
      return absl::OkStatus();
    }
    case PayloadType::kAuth: {
      const auto* auth = absl::get_if<AuthPayload>(&p.body);
      if (auth == nullptr) return mismatch();
      w.U8(static_cast<uint8_t>(auth->method));
      w.Zeros(3);
      w.Append(auth->data);
      return absl::OkStatus();
    }
    case PayloadType::kNonce: {
      const auto* nonce = absl::get_if<NoncePayload>(&p.body);
      if (nonce == nullptr) return mismatch();
      if (nonce->data.size() < kMinNonceSize ||
          nonce->data.size() > kMaxNonceSize) {
        return Invalid("Nonce payload: nonce size ", nonce->data.size(),
                       " (want ", kMinNonceSize, "..", kMaxNonceSize, ")");
      }
      w.Append(nonce->data);
      return absl::OkStatus();
    }
    case PayloadType::kNotify: {
      const auto* n = absl::get_if<NotifyPayload>(&p.body);
      if (n == nullptr) return mismatch();
      if (n->spi.size() > 255) {
        return Invalid("Notify payload: SPI size ", n->spi.size(), " > 255");
      }
      w.U8(static_cast<uint8_t>(n->protocol));
      w.U8(static_cast<uint8_t>(n->spi.size()));
      w.U16(static_cast<uint16_t>(n->type));
      w.Append(n->spi);
      w.Append(n->data);
      return absl::OkStatus();
    }
    case PayloadType::kDelete: {
      const auto* d = absl::get_if<DeletePayload>(&p.body);
      if (d == nullptr) return mismatch();
      if (d->spis.size() > kMaxDeleteSpis) {
        return Invalid("Delete payload: ", d->spis.size(), " SPIs > ",
                       kMaxDeleteSpis);
      }
      if (d->spi_size == 0 && !d->spis.empty()) {
        return Invalid("Delete payload: ", d->spis.size(), " SPIs of size 0");
      }
      w.U8(static_cast<uint8_t>(d->protocol));
      w.U8(d->spi_size);
      w.U16(static_cast<uint16_t>(d->spis.size()));
      for (const Bytes& spi : d->spis) {
        if (spi.size() != d->spi_size) {
          return Invalid("Delete payload: SPI of ", spi.size(),
                         " bytes, SPI size ", d->spi_size);
        }
        w.Append(spi);
      }
      return absl::OkStatus();
    }
    case PayloadType::kVendorId: {
      const auto* v = absl::get_if<VendorIdPayload>(&p.body);
      if (v == nullptr) return mismatch();
      w.Append(v->data);
      return absl::OkStatus();
    }
    case PayloadType::kTsi:
    case PayloadType::kTsr: {
      const auto* ts = absl::get_if<TsPayload>(&p.body);
      if (ts == nullptr) return mismatch();
      return WriteTs(name, *ts, w);
    }
    case PayloadType::kEncrypted: {
      const auto* sk = absl::get_if<EncryptedPayload>(&p.body);
      if (sk == nullptr) return mismatch();
      w.Append(sk->body);
      return absl::OkStatus();
    }
    case PayloadType::kEncryptedFragment: {
      const auto* f = absl::get_if<EncryptedFragmentPayload>(&p.body);
      if (f == nullptr) return mismatch();
      if (f->fragment_number == 0 || f->total_fragments == 0 ||
          f->fragment_number > f->total_fragments) {
        return Invalid("SKF payload: fragment ", f->fragment_number, " of ",
                       f->total_fragments);
      }
      w.U16(f->fragment_number);
      w.U16(f->total_fragments);
      w.Append(f->body);
      return absl::OkStatus();
    }
    case PayloadType::kConfig: {
      const auto* cp = absl::get_if<ConfigPayload>(&p.body);
      if (cp == nullptr) return mismatch();
      return WriteConfig(*cp, w);
    }
    case PayloadType::kEap: {
      const auto* eap = absl::get_if<EapPayload>(&p.body);
      if (eap == nullptr) return mismatch();
      w.Append(eap->data);
      return absl::OkStatus();
    }
  }
  const auto* raw = absl::get_if<UnknownPayload>(&p.body);
  if (raw == nullptr) return mismatch();
  w.Append(raw->data);
  return absl::OkStatus();
}

bool IsEncrypted(PayloadType t) {
  return t == PayloadType::kEncrypted || t == PayloadType::kEncryptedFragment;
}

// Appends the chain to `out`, which already holds `out->size()` bytes of
// the message (for the layout offsets).
absl::Status WriteChain(absl::Span<const Payload> payloads, Bytes* out,
                        EncryptedLayout* layout) {
  if (payloads.size() > kMaxPayloads) {
    return Invalid("message: more than ", kMaxPayloads, " payloads");
  }
  Writer w(out);
  for (size_t i = 0; i < payloads.size(); ++i) {
    const Payload& p = payloads[i];
    PayloadType next =
        i + 1 < payloads.size() ? payloads[i + 1].type : PayloadType::kNone;
    if (IsEncrypted(p.type)) {
      if (i + 1 != payloads.size()) {
        return Invalid(PayloadName(p.type), " payload: not last");
      }
      if (const auto* sk = absl::get_if<EncryptedPayload>(&p.body)) {
        next = sk->first_inner;
      } else if (const auto* f =
                     absl::get_if<EncryptedFragmentPayload>(&p.body)) {
        next = f->first_inner;
      }
    }
    const size_t start = w.size();
    w.U8(static_cast<uint8_t>(next));
    w.U8(p.critical ? kCriticalBit : 0);
    w.U16(0);
    if (absl::Status s = WriteBody(p, w); !s.ok()) return s;
    const size_t len = w.size() - start;
    if (len > 0xffff) {
      return Invalid(PayloadName(p.type), " payload: length ", len,
                     " > 65535");
    }
    w.Put16At(start + 2, static_cast<uint16_t>(len));
    if (IsEncrypted(p.type) && layout != nullptr) {
      layout->type = p.type;
      layout->payload_begin = start;
      layout->associated_data_end =
          start + (p.type == PayloadType::kEncrypted ? 4 : 8);
      layout->body_begin = layout->associated_data_end;
      layout->body_end = w.size();
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------------ public API

absl::optional<uint16_t> Transform::KeyLength() const {
  for (const TransformAttribute& a : attributes) {
    if (a.type == kAttributeKeyLength && a.tv && a.value.size() == 2) {
      return Get16(a.value.data());
    }
  }
  return absl::nullopt;
}

void Transform::SetKeyLength(uint16_t bits) {
  attributes.push_back(
      TransformAttribute{kAttributeKeyLength, true,
                         Bytes{static_cast<uint8_t>(bits >> 8),
                               static_cast<uint8_t>(bits)}});
}

absl::optional<IpAddress> ConfigAttribute::Address() const {
  const int want = ConfigValueSize(type);
  if (want < 0 || value.size() != static_cast<size_t>(want)) {
    return absl::nullopt;
  }
  const size_t n = want == 4 ? 4 : 16;
  auto a = IpAddress::FromBytes(absl::MakeConstSpan(value.data(), n));
  if (!a.ok()) return absl::nullopt;
  return *a;
}

absl::optional<uint8_t> ConfigAttribute::Ip6PrefixLength() const {
  if (type != CfgAttributeType::kInternalIp6Address || value.size() != 17) {
    return absl::nullopt;
  }
  return value[16];
}

ConfigAttribute ConfigAttribute::Ip4(CfgAttributeType type,
                                     const IpAddress& a) {
  return ConfigAttribute{type, ToBytes(a.bytes())};
}

ConfigAttribute ConfigAttribute::Ip6Address(const IpAddress& a,
                                            uint8_t prefix_len) {
  ConfigAttribute attr{CfgAttributeType::kInternalIp6Address,
                       ToBytes(a.bytes())};
  attr.value.push_back(prefix_len);
  return attr;
}

ConfigAttribute ConfigAttribute::Ip6Dns(const IpAddress& a) {
  return ConfigAttribute{CfgAttributeType::kInternalIp6Dns, ToBytes(a.bytes())};
}

ConfigAttribute ConfigAttribute::Empty(CfgAttributeType type) {
  return ConfigAttribute{type, {}};
}

Payload Payload::Sa(SaPayload p) { return {PayloadType::kSa, false, std::move(p)}; }
Payload Payload::Ke(KePayload p) { return {PayloadType::kKe, false, std::move(p)}; }
Payload Payload::Idi(IdPayload p) { return {PayloadType::kIdi, false, std::move(p)}; }
Payload Payload::Idr(IdPayload p) { return {PayloadType::kIdr, false, std::move(p)}; }
Payload Payload::Cert(CertPayload p) { return {PayloadType::kCert, false, std::move(p)}; }
Payload Payload::CertReq(CertPayload p) {
  return {PayloadType::kCertReq, false, std::move(p)};
}
Payload Payload::Auth(AuthPayload p) { return {PayloadType::kAuth, false, std::move(p)}; }
Payload Payload::Nonce(NoncePayload p) {
  return {PayloadType::kNonce, false, std::move(p)};
}
Payload Payload::Notify(NotifyPayload p) {
  return {PayloadType::kNotify, false, std::move(p)};
}
Payload Payload::Delete(DeletePayload p) {
  return {PayloadType::kDelete, false, std::move(p)};
}
Payload Payload::VendorId(VendorIdPayload p) {
  return {PayloadType::kVendorId, false, std::move(p)};
}
Payload Payload::Tsi(TsPayload p) { return {PayloadType::kTsi, false, std::move(p)}; }
Payload Payload::Tsr(TsPayload p) { return {PayloadType::kTsr, false, std::move(p)}; }
Payload Payload::Encrypted(EncryptedPayload p) {
  return {PayloadType::kEncrypted, false, std::move(p)};
}
Payload Payload::EncryptedFragment(EncryptedFragmentPayload p) {
  return {PayloadType::kEncryptedFragment, false, std::move(p)};
}
Payload Payload::Config(ConfigPayload p) {
  return {PayloadType::kConfig, false, std::move(p)};
}
Payload Payload::Eap(EapPayload p) { return {PayloadType::kEap, false, std::move(p)}; }
Payload Payload::Unknown(PayloadType type, bool critical, Bytes data) {
  return {type, critical, UnknownPayload{std::move(data)}};
}

bool Payload::IsKnownType(PayloadType type) {
  const uint8_t t = static_cast<uint8_t>(type);
  return (t >= 33 && t <= 48) || t == 53;
}

const Payload* Message::Find(PayloadType type) const {
  for (const Payload& p : payloads) {
    if (p.type == type) return &p;
  }
  return nullptr;
}

const NotifyPayload* Message::FindNotify(NotifyType type) const {
  for (const Payload& p : payloads) {
    if (const auto* n = absl::get_if<NotifyPayload>(&p.body)) {
      if (n->type == type) return n;
    }
  }
  return nullptr;
}

std::vector<PayloadType> Message::UnsupportedCriticalPayloads() const {
  std::vector<PayloadType> out;
  for (const Payload& p : payloads) {
    if (p.critical && !Payload::IsKnownType(p.type)) out.push_back(p.type);
  }
  return out;
}

absl::StatusOr<Header> ParseHeader(absl::Span<const uint8_t> data) {
  if (data.size() < static_cast<size_t>(kHeaderSize)) {
    return Invalid("IKE header: ", data.size(), " bytes < 28");
  }
  const uint8_t* p = data.data();
  Header h;
  h.spi_i = Get64(p);
  h.spi_r = Get64(p + 8);
  h.next_payload = static_cast<PayloadType>(p[16]);
  h.major_version = p[17] >> 4;
  h.minor_version = p[17] & 0x0f;
  h.exchange_type = static_cast<ExchangeType>(p[18]);
  h.initiator = (p[19] & kFlagInitiator) != 0;
  h.higher_version = (p[19] & kFlagVersion) != 0;
  h.response = (p[19] & kFlagResponse) != 0;
  h.message_id = Get32(p + 20);
  h.length = Get32(p + 24);
  if (h.length != data.size()) {
    return Invalid("IKE header: length ", h.length, " != datagram size ",
                   data.size());
  }
  if (h.length > kMaxMessageSize) {
    return Invalid("IKE header: length ", h.length, " > ", kMaxMessageSize);
  }
  return h;
}

absl::StatusOr<Message> ParseMessage(absl::Span<const uint8_t> data,
                                     absl::optional<EncryptedLayout>* layout) {
  if (layout != nullptr) layout->reset();
  auto header = ParseHeader(data);
  if (!header.ok()) return header.status();
  if (header->major_version > kMajorVersion) {
    return absl::UnimplementedError(
        absl::StrCat("IKE header: unsupported major version ",
                     header->major_version));
  }
  if (header->major_version < kMajorVersion) {
    return Invalid("IKE header: major version ", header->major_version,
                   " (not IKEv2)");
  }
  absl::optional<EncryptedLayout> l;
  auto payloads = ParseChain(header->next_payload, data.subspan(kHeaderSize),
                             kHeaderSize, &l);
  if (!payloads.ok()) return payloads.status();
  if (layout != nullptr) *layout = l;
  Message m;
  m.header = *header;
  m.payloads = std::move(*payloads);
  return m;
}

bool IsUnsupportedMajorVersion(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnimplemented;
}

absl::StatusOr<std::vector<Payload>> ParsePayloadChain(
    PayloadType first, absl::Span<const uint8_t> data) {
  return ParseChain(first, data, 0, nullptr);
}

absl::StatusOr<Bytes> SerializeMessage(const Message& message,
                                       EncryptedLayout* layout) {
  const Header& h = message.header;
  if (h.major_version > 15 || h.minor_version > 15) {
    return Invalid("IKE header: version ", h.major_version, ".",
                   h.minor_version, " does not fit 4 bits");
  }
  Bytes out;
  Writer w(&out);
  w.U64(h.spi_i);
  w.U64(h.spi_r);
  w.U8(static_cast<uint8_t>(message.payloads.empty()
                                ? PayloadType::kNone
                                : message.payloads.front().type));
  w.U8(static_cast<uint8_t>((h.major_version << 4) | h.minor_version));
  w.U8(static_cast<uint8_t>(h.exchange_type));
  w.U8((h.initiator ? kFlagInitiator : 0) |
       (h.higher_version ? kFlagVersion : 0) |
       (h.response ? kFlagResponse : 0));
  w.U32(h.message_id);
  w.U32(0);  // length, patched below
  EncryptedLayout l;
  if (absl::Status s = WriteChain(message.payloads, &out, &l); !s.ok()) {
    return s;
  }
  if (out.size() > kMaxMessageSize) {
    return Invalid("message: length ", out.size(), " > ", kMaxMessageSize);
  }
  const uint32_t len = static_cast<uint32_t>(out.size());
  out[24] = static_cast<uint8_t>(len >> 24);
  out[25] = static_cast<uint8_t>(len >> 16);
  out[26] = static_cast<uint8_t>(len >> 8);
  out[27] = static_cast<uint8_t>(len);
  if (layout != nullptr) *layout = l;
  return out;
}

absl::StatusOr<Bytes> SerializePayloadChain(
    absl::Span<const Payload> payloads) {
  Bytes out;
  if (absl::Status s = WriteChain(payloads, &out, nullptr); !s.ok()) return s;
  return out;
}

absl::StatusOr<EncryptedLayout> LocateEncrypted(
    absl::Span<const uint8_t> message) {
  auto header = ParseHeader(message);
  if (!header.ok()) return header.status();
  PayloadType type = header->next_payload;
  size_t pos = kHeaderSize;
  for (size_t count = 0; type != PayloadType::kNone; ++count) {
    if (count >= kMaxPayloads) {
      return Invalid("message: more than ", kMaxPayloads, " payloads");
    }
    const size_t left = message.size() - pos;
    if (left < kGenericPayloadHeaderSize) {
      return Invalid(PayloadName(type), " payload: generic header truncated (",
                     left, " bytes left < 4)");
    }
    const uint8_t* p = message.data() + pos;
    const uint16_t len = Get16(p + 2);
    if (len < kGenericPayloadHeaderSize || len > left) {
      return Invalid(PayloadName(type), " payload: length ", len,
                     " outside 4..", left);
    }
    if (IsEncrypted(type)) {
      if (pos + len != message.size()) {
        return Invalid(PayloadName(type), " payload: not last (",
                       message.size() - pos - len, " bytes follow)");
      }
      const size_t aad = type == PayloadType::kEncrypted ? 4 : 8;
      if (len < aad) {
        return Invalid("SKF payload: length ", len, " < 8");
      }
      EncryptedLayout l;
      l.type = type;
      l.payload_begin = pos;
      l.associated_data_end = pos + aad;
      l.body_begin = l.associated_data_end;
      l.body_end = message.size();
      return l;
    }
    type = static_cast<PayloadType>(p[0]);
    pos += len;
  }
  return absl::NotFoundError("message: no SK or SKF payload");
}

}  // namespace ike
}  // namespace stow
