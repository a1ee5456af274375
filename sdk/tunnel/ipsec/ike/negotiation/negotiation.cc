#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"

#include <algorithm>
#include <utility>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace stow::ike {
namespace {

using crypto::DhGroup;
using crypto::PrfAlgorithm;

// ---------------------------------------------------------------------------
// Names.

struct EncrEntry {
  const char* token;  // strongSwan proposal keyword
  EncrAlgorithm encr;
  esp::Algorithm esp;
};
constexpr EncrEntry kEncrNames[] = {
    {"aes128gcm16", EncrAlgorithm::kAesGcm16With128BitKey,
     esp::Algorithm::kAes128Gcm16},
    {"aes256gcm16", EncrAlgorithm::kAesGcm16With256BitKey,
     esp::Algorithm::kAes256Gcm16},
    {"chacha20poly1305", EncrAlgorithm::kChaCha20Poly1305,
     esp::Algorithm::kChaCha20Poly1305},
};

struct PrfEntry {
  const char* token;
  PrfAlgorithm prf;
};
constexpr PrfEntry kPrfNames[] = {
    {"prfsha256", PrfAlgorithm::kHmacSha256},
    {"prfsha384", PrfAlgorithm::kHmacSha384},
    {"prfsha512", PrfAlgorithm::kHmacSha512},
};

struct DhEntry {
  const char* token;
  DhGroup group;
};
// The first name of a group is the one IkeAlgorithmsToString() writes.
constexpr DhEntry kDhNames[] = {
    {"modp2048", DhGroup::kModp2048},   {"ecp256", DhGroup::kEcp256},
    {"ecp384", DhGroup::kEcp384},       {"x25519", DhGroup::kCurve25519},
    {"curve25519", DhGroup::kCurve25519},
};

const EncrEntry* FindEncr(absl::string_view token) {
  for (const EncrEntry& n : kEncrNames) {
    if (token == n.token) return &n;
  }
  return nullptr;
}
const PrfEntry* FindPrf(absl::string_view token) {
  for (const PrfEntry& n : kPrfNames) {
    if (token == n.token) return &n;
  }
  return nullptr;
}
const DhEntry* FindDh(absl::string_view token) {
  for (const DhEntry& n : kDhNames) {
    if (token == n.token) return &n;
  }
  return nullptr;
}

const char* EncrToken(EncrAlgorithm encr) {
  for (const EncrEntry& n : kEncrNames) {
    if (n.encr == encr) return n.token;
  }
  return "unknown";
}
const char* EspToken(esp::Algorithm alg) {
  for (const EncrEntry& n : kEncrNames) {
    if (n.esp == alg) return n.token;
  }
  return "unknown";
}
const char* PrfToken(PrfAlgorithm prf) {
  for (const PrfEntry& n : kPrfNames) {
    if (n.prf == prf) return n.token;
  }
  return "unknown";
}
const char* DhToken(DhGroup group) {
  for (const DhEntry& n : kDhNames) {
    if (n.group == group) return n.token;
  }
  return "unknown";
}

EncrAlgorithm EncrOfEsp(esp::Algorithm alg) {
  for (const EncrEntry& n : kEncrNames) {
    if (n.esp == alg) return n.encr;
  }
  return EncrAlgorithm::kAesGcm16With256BitKey;
}
esp::Algorithm EspOfEncr(EncrAlgorithm encr) {
  for (const EncrEntry& n : kEncrNames) {
    if (n.encr == encr) return n.esp;
  }
  return esp::Algorithm::kAes256Gcm16;
}

template <typename T>
void AddUnique(std::vector<T>* list, T value) {
  if (std::find(list->begin(), list->end(), value) == list->end()) {
    list->push_back(value);
  }
}

// IANA / strongSwan names of transforms, for messages and logs.
std::string TransformName(const Transform& t) {
  const absl::optional<uint16_t> key = t.KeyLength();
  const std::string key_suffix = key ? absl::StrCat("_", *key) : "";
  switch (t.type) {
    case TransformType::kEncr:
      switch (t.id) {
        case 3:
          return "3DES";
        case kEncrAesCbc:
          return absl::StrCat("AES_CBC", key_suffix);
        case 13:
          return absl::StrCat("AES_CTR", key_suffix);
        case 18:
          return absl::StrCat("AES_GCM_8", key_suffix);
        case 19:
          return absl::StrCat("AES_GCM_12", key_suffix);
        case kEncrAesGcm16:
          return absl::StrCat("AES_GCM_16", key_suffix);
        case kEncrChaCha20Poly1305:
          return absl::StrCat("CHACHA20_POLY1305", key_suffix);
      }
      return absl::StrCat("ENCR_", t.id, key_suffix);
    case TransformType::kPrf:
      switch (t.id) {
        case 2:
          return "PRF_HMAC_SHA1";
        case kPrfHmacSha2_256:
          return "PRF_HMAC_SHA2_256";
        case kPrfHmacSha2_384:
          return "PRF_HMAC_SHA2_384";
        case kPrfHmacSha2_512:
          return "PRF_HMAC_SHA2_512";
      }
      return absl::StrCat("PRF_", t.id);
    case TransformType::kInteg:
      switch (t.id) {
        case kIntegNone:
          return "INTEG_NONE";
        case 2:
          return "HMAC_SHA1_96";
        case kIntegHmacSha2_256_128:
          return "HMAC_SHA2_256_128";
        case kIntegHmacSha2_384_192:
          return "HMAC_SHA2_384_192";
        case kIntegHmacSha2_512_256:
          return "HMAC_SHA2_512_256";
      }
      return absl::StrCat("INTEG_", t.id);
    case TransformType::kDh:
      switch (t.id) {
        case kDhNone:
          return "DH_NONE";
        case 2:
          return "MODP_1024";
        case 5:
          return "MODP_1536";
        case kDhModp2048:
          return "MODP_2048";
        case 15:
          return "MODP_3072";
        case 16:
          return "MODP_4096";
        case kDhEcp256:
          return "ECP_256";
        case kDhEcp384:
          return "ECP_384";
        case 21:
          return "ECP_521";
        case kDhCurve25519:
          return "CURVE_25519";
        case 32:
          return "CURVE_448";
      }
      return absl::StrCat("DH_", t.id);
    case TransformType::kEsn:
      if (t.id == kEsnNone) return "NO_EXT_SEQ";
      if (t.id == kEsnYes) return "EXT_SEQ";
      return absl::StrCat("ESN_", t.id);
  }
  return absl::StrCat("TYPE", static_cast<int>(t.type), "_", t.id);
}

const char* TypeName(TransformType type) {
  switch (type) {
    case TransformType::kEncr:
      return "ENCR";
    case TransformType::kPrf:
      return "PRF";
    case TransformType::kInteg:
      return "INTEG";
    case TransformType::kDh:
      return "DH";
    case TransformType::kEsn:
      return "ESN";
  }
  return "unknown";
}

std::string TypeText(TransformType type) {
  const char* name = TypeName(type);
  if (absl::string_view(name) != "unknown") return name;
  return absl::StrCat("transform type ", static_cast<int>(type));
}

const char* ProtocolName(ProtocolId protocol) {
  switch (protocol) {
    case ProtocolId::kIke:
      return "IKE";
    case ProtocolId::kEsp:
      return "ESP";
    case ProtocolId::kAh:
      return "AH";
    case ProtocolId::kNone:
      break;
  }
  return "PROTO";
}

std::string TransformsText(const Proposal& p) {
  std::vector<std::string> names;
  names.reserve(p.transforms.size());
  for (const Transform& t : p.transforms) names.push_back(TransformName(t));
  return absl::StrJoin(names, "/");
}

// "[A/B/C, D/E/F]": the proposals' transforms without protocol names.
std::string ProposalsText(const SaPayload& sa) {
  std::vector<std::string> parts;
  for (const Proposal& p : sa.proposals) parts.push_back(TransformsText(p));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

// ---------------------------------------------------------------------------
// Transforms and proposals.

Transform MakeTransform(TransformType type, uint16_t id) {
  Transform t;
  t.type = type;
  t.id = id;
  return t;
}

Transform EncrTransform(EncrAlgorithm encr) {
  Transform t = MakeTransform(TransformType::kEncr, EncrTransformId(encr));
  if (absl::optional<uint16_t> bits = EncrKeyLengthAttribute(encr)) {
    t.SetKeyLength(*bits);
  }
  return t;
}

bool SameAttribute(const TransformAttribute& a, const TransformAttribute& b) {
  return a.type == b.type && a.tv == b.tv && a.value == b.value;
}

// Same type, ID and attributes (in order). Our transforms are canonical (only
// AES-GCM carries an attribute, its Key Length), so this also rejects
// AES-GCM without a key length or with 192, and ChaCha20 with one.
bool SameTransform(const Transform& a, const Transform& b) {
  if (a.type != b.type || a.id != b.id ||
      a.attributes.size() != b.attributes.size()) {
    return false;
  }
  for (size_t i = 0; i < a.attributes.size(); ++i) {
    if (!SameAttribute(a.attributes[i], b.attributes[i])) return false;
  }
  return true;
}

Bytes SpiBytes(uint32_t spi) {
  return Bytes{static_cast<uint8_t>(spi >> 24), static_cast<uint8_t>(spi >> 16),
               static_cast<uint8_t>(spi >> 8), static_cast<uint8_t>(spi)};
}

uint64_t SpiValue(const Bytes& spi) {
  uint64_t v = 0;
  for (uint8_t b : spi) v = (v << 8) | b;
  return v;
}

// What we accept for one transform type, most preferred first.
struct TypePolicy {
  TransformType type;
  std::vector<Transform> accepted;
  // The type must appear in a proposal. A type that is not required may be
  // absent; if present, one of `accepted` must be in it.
  bool required = false;
  // The type is ignored entirely: not matched, not in the reply.
  bool ignored = false;
};

struct Policy {
  ProtocolId protocol;
  // In RFC 7296 order (ENCR, PRF, INTEG, DH, ESN): the order of the reply's
  // transforms and the priority of types when ranking proposals.
  std::vector<TypePolicy> types;

  const TypePolicy* Find(TransformType type) const {
    for (const TypePolicy& tp : types) {
      if (tp.type == type) return &tp;
    }
    return nullptr;
  }
};

// A peer proposal that we can accept: per type of our policy, the index of
// the chosen transform in `accepted` (-1 when the type is absent or
// ignored), and the peer's transform.
struct Match {
  size_t proposal_index = 0;
  std::vector<int> ranks;
  std::vector<const Transform*> chosen;
};

// Whether `p` can be accepted under `policy`; fills `match` or `reason`.
bool MatchProposal(const Proposal& p, const Policy& policy, Match* match,
                   std::string* reason) {
  if (p.protocol != policy.protocol) {
    *reason = absl::StrCat("protocol ", ProtocolName(p.protocol));
    return false;
  }
  for (const Transform& t : p.transforms) {
    if (policy.Find(t.type) == nullptr) {
      *reason = absl::StrCat(TypeText(t.type), " transform ", TransformName(t),
                             " not supported");
      return false;
    }
  }
  match->ranks.clear();
  match->chosen.clear();
  for (const TypePolicy& tp : policy.types) {
    bool present = false;
    int best = -1;
    const Transform* best_transform = nullptr;
    for (const Transform& t : p.transforms) {
      if (t.type != tp.type) continue;
      present = true;
      for (size_t i = 0; i < tp.accepted.size(); ++i) {
        if (best >= 0 && static_cast<int>(i) >= best) break;
        if (SameTransform(t, tp.accepted[i])) {
          best = static_cast<int>(i);
          best_transform = &t;
          break;
        }
      }
    }
    if (tp.ignored) {
      match->ranks.push_back(-1);
      match->chosen.push_back(nullptr);
      continue;
    }
    if (!present && tp.required) {
      *reason = absl::StrCat("no ", TypeName(tp.type), " transform");
      return false;
    }
    if (present && best < 0) {
      *reason = absl::StrCat("no acceptable ", TypeName(tp.type), " transform");
      return false;
    }
    // An absent optional type (no INTEG, no ESN, no DH) ranks after every
    // transform we list: with require_dh, a proposal with a group beats one
    // without.
    match->ranks.push_back(present ? best
                                   : static_cast<int>(tp.accepted.size()));
    match->chosen.push_back(best_transform);
  }
  return true;
}

// Picks the best proposal: lexicographically smallest ranks (ENCR first),
// ties to the peer's earlier proposal. `check_spi` rejects a proposal by
// its SPI (returns a reason, or empty).
template <typename SpiCheck>
absl::StatusOr<Match> SelectBest(const SaPayload& offered,
                                 const Policy& policy,
                                 const SaPayload& ours_text,
                                 SpiCheck check_spi) {
  absl::optional<Match> best;
  std::vector<std::string> skipped;
  for (size_t i = 0; i < offered.proposals.size(); ++i) {
    const Proposal& p = offered.proposals[i];
    std::string reason;
    Match m;
    m.proposal_index = i;
    if (!MatchProposal(p, policy, &m, &reason)) {
      skipped.push_back(absl::StrCat("#", p.number, " ", reason));
      continue;
    }
    reason = check_spi(p);
    if (!reason.empty()) {
      skipped.push_back(absl::StrCat("#", p.number, " ", reason));
      continue;
    }
    if (!best.has_value() || m.ranks < best->ranks) best = std::move(m);
  }
  if (best.has_value()) return *std::move(best);
  std::string message =
      absl::StrCat("no proposal chosen: peer offered ", ProposalsText(offered),
                   ", we accept ", ProposalsText(ours_text));
  if (!skipped.empty()) {
    absl::StrAppend(&message, " (", absl::StrJoin(skipped, "; "), ")");
  }
  return absl::NotFoundError(message);
}

Proposal ReplyProposal(const Proposal& peer, const Match& m, Bytes spi) {
  Proposal reply;
  reply.number = peer.number;
  reply.protocol = peer.protocol;
  reply.spi = std::move(spi);
  for (const Transform* t : m.chosen) {
    if (t != nullptr) reply.transforms.push_back(*t);
  }
  return reply;
}

const Transform* ChosenOfType(const Policy& policy, const Match& m,
                              TransformType type) {
  for (size_t i = 0; i < policy.types.size(); ++i) {
    if (policy.types[i].type == type) return m.chosen[i];
  }
  return nullptr;
}

Policy IkePolicy(const IkeAlgorithms& ours) {
  Policy policy{ProtocolId::kIke, {}};
  TypePolicy encr{TransformType::kEncr, {}, true};
  for (EncrAlgorithm e : ours.encr) encr.accepted.push_back(EncrTransform(e));
  TypePolicy prf{TransformType::kPrf, {}, true};
  for (PrfAlgorithm p : ours.prf) {
    prf.accepted.push_back(
        MakeTransform(TransformType::kPrf, static_cast<uint16_t>(p)));
  }
  // AEAD only: INTEG may be absent or NONE.
  TypePolicy integ{TransformType::kInteg,
                   {MakeTransform(TransformType::kInteg, kIntegNone)}};
  TypePolicy dh{TransformType::kDh, {}, true};
  for (DhGroup g : ours.dh) {
    dh.accepted.push_back(
        MakeTransform(TransformType::kDh, static_cast<uint16_t>(g)));
  }
  policy.types = {std::move(encr), std::move(prf), std::move(integ),
                  std::move(dh)};
  return policy;
}

bool AcceptsNoPfs(const EspAlgorithms& ours) {
  return ours.dh.empty() || ours.pfs_optional;
}

Policy EspPolicy(const EspAlgorithms& ours, bool require_dh) {
  Policy policy{ProtocolId::kEsp, {}};
  TypePolicy encr{TransformType::kEncr, {}, true};
  for (esp::Algorithm a : ours.encr) {
    encr.accepted.push_back(EncrTransform(EncrOfEsp(a)));
  }
  TypePolicy integ{TransformType::kInteg,
                   {MakeTransform(TransformType::kInteg, kIntegNone)}};
  TypePolicy dh{TransformType::kDh, {}};
  if (require_dh) {
    for (DhGroup g : ours.dh) {
      dh.accepted.push_back(
          MakeTransform(TransformType::kDh, static_cast<uint16_t>(g)));
    }
    if (AcceptsNoPfs(ours)) {
      dh.accepted.push_back(MakeTransform(TransformType::kDh, kDhNone));
    }
    // A proposal without DH means no PFS, like NONE.
    dh.required = !AcceptsNoPfs(ours);
  } else {
    dh.ignored = true;
  }
  TypePolicy esn{TransformType::kEsn, {}};
  if (ours.esn) {
    esn.accepted.push_back(MakeTransform(TransformType::kEsn, kEsnYes));
  }
  esn.accepted.push_back(MakeTransform(TransformType::kEsn, kEsnNone));
  policy.types = {std::move(encr), std::move(integ), std::move(dh),
                  std::move(esn)};
  return policy;
}

// Initiator side: checks that `chosen` is one proposal built from `offered`
// with one transform of each type offered. Returns the offered proposal.
absl::StatusOr<const Proposal*> CheckChosen(const SaPayload& chosen,
                                            const SaPayload& offered,
                                            ProtocolId protocol) {
  const char* what = ProtocolName(protocol);
  if (chosen.proposals.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " SA reply: ", chosen.proposals.size(),
                     " proposals, want exactly 1"));
  }
  const Proposal& c = chosen.proposals[0];
  if (c.protocol != protocol) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " SA reply: protocol ", ProtocolName(c.protocol)));
  }
  const Proposal* ours = nullptr;
  for (const Proposal& p : offered.proposals) {
    if (p.number == c.number && p.protocol == c.protocol) {
      ours = &p;
      break;
    }
  }
  if (ours == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " SA reply: proposal number ", c.number, " was not offered"));
  }
  for (size_t i = 0; i < c.transforms.size(); ++i) {
    const Transform& t = c.transforms[i];
    bool offered_it = false;
    for (const Transform& o : ours->transforms) {
      if (SameTransform(t, o)) {
        offered_it = true;
        break;
      }
    }
    if (!offered_it) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " SA reply: transform ", TransformName(t),
                       " was not offered"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.transforms[j].type == t.type) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " SA reply: two ", TypeName(t.type), " transforms (",
            TransformName(c.transforms[j]), ", ", TransformName(t), ")"));
      }
    }
  }
  for (const Transform& o : ours->transforms) {
    bool present = false;
    for (const Transform& t : c.transforms) present |= t.type == o.type;
    if (!present) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " SA reply: no ", TypeName(o.type), " transform"));
    }
  }
  return ours;
}

const Transform* FindType(const Proposal& p, TransformType type) {
  for (const Transform& t : p.transforms) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Traffic selectors.

int FamilyBits(const IpAddress& a) { return a.is_v4() ? 32 : 128; }

absl::uint128 ToInt(const IpAddress& a) {
  absl::uint128 v = 0;
  for (uint8_t b : a.bytes()) v = (v << 8) | b;
  return v;
}

IpAddress FromInt(absl::uint128 v, bool v4) {
  uint8_t bytes[16];
  const int n = v4 ? 4 : 16;
  for (int i = n - 1; i >= 0; --i) {
    bytes[i] = static_cast<uint8_t>(absl::Uint128Low64(v) & 0xff);
    v >>= 8;
  }
  return *IpAddress::FromBytes(absl::MakeConstSpan(bytes, n));
}

// The low `host_bits` bits set (0 <= host_bits <= 128).
absl::uint128 LowMask(int host_bits) {
  if (host_bits >= 128) return absl::Uint128Max();
  if (host_bits <= 0) return 0;
  return (absl::uint128(1) << host_bits) - 1;
}

// An address range of one family, as integers.
struct Range {
  bool v4 = true;
  absl::uint128 start = 0;
  absl::uint128 end = 0;
};

// nullopt for mixed families or start > end.
absl::optional<Range> AddressRange(const TrafficSelector& ts) {
  if (ts.start_address.family() != ts.end_address.family()) {
    return absl::nullopt;
  }
  Range r{ts.start_address.is_v4(), ToInt(ts.start_address),
          ToInt(ts.end_address)};
  if (r.start > r.end) return absl::nullopt;
  return r;
}

// RFC 7296 3.13.1: start port 65535 and end port 0 mean OPAQUE.
bool IsOpaque(const TrafficSelector& ts) {
  return ts.start_port == 65535 && ts.end_port == 0;
}
bool AllPorts(const TrafficSelector& ts) {
  return ts.start_port == 0 && ts.end_port == 65535;
}

// Intersects the port ranges of `a` and `b` into `out`; false if empty.
bool IntersectPorts(const TrafficSelector& a, const TrafficSelector& b,
                    TrafficSelector* out) {
  const bool a_opaque = IsOpaque(a);
  const bool b_opaque = IsOpaque(b);
  if (a_opaque || b_opaque) {
    if ((a_opaque || AllPorts(a)) && (b_opaque || AllPorts(b))) {
      out->start_port = 65535;
      out->end_port = 0;
      return true;
    }
    return false;
  }
  if (a.start_port > a.end_port || b.start_port > b.end_port) return false;
  out->start_port = std::max(a.start_port, b.start_port);
  out->end_port = std::min(a.end_port, b.end_port);
  return out->start_port <= out->end_port;
}

bool PortsWithin(const TrafficSelector& inner, const TrafficSelector& outer) {
  if (AllPorts(outer)) return IsOpaque(inner) || inner.start_port <= inner.end_port;
  if (IsOpaque(outer)) return IsOpaque(inner);
  if (IsOpaque(inner) || inner.start_port > inner.end_port) return false;
  return outer.start_port <= inner.start_port &&
         inner.end_port <= outer.end_port;
}

absl::optional<TrafficSelector> Intersect(const TrafficSelector& a,
                                          const TrafficSelector& b) {
  absl::optional<Range> ra = AddressRange(a);
  absl::optional<Range> rb = AddressRange(b);
  if (!ra || !rb || ra->v4 != rb->v4) return absl::nullopt;
  TrafficSelector out;
  if (a.ip_protocol == 0) {
    out.ip_protocol = b.ip_protocol;
  } else if (b.ip_protocol == 0 || b.ip_protocol == a.ip_protocol) {
    out.ip_protocol = a.ip_protocol;
  } else {
    return absl::nullopt;
  }
  if (!IntersectPorts(a, b, &out)) return absl::nullopt;
  const absl::uint128 start = std::max(ra->start, rb->start);
  const absl::uint128 end = std::min(ra->end, rb->end);
  if (start > end) return absl::nullopt;
  out.start_address = FromInt(start, ra->v4);
  out.end_address = FromInt(end, ra->v4);
  return out;
}

bool Within(const TrafficSelector& inner, const TrafficSelector& outer) {
  absl::optional<Range> ri = AddressRange(inner);
  absl::optional<Range> ro = AddressRange(outer);
  if (!ri || !ro || ri->v4 != ro->v4) return false;
  if (outer.ip_protocol != 0 && outer.ip_protocol != inner.ip_protocol) {
    return false;
  }
  if (!PortsWithin(inner, outer)) return false;
  return ro->start <= ri->start && ri->end <= ro->end;
}

bool SameSelector(const TrafficSelector& a, const TrafficSelector& b) {
  return a.ip_protocol == b.ip_protocol && a.start_port == b.start_port &&
         a.end_port == b.end_port && a.start_address == b.start_address &&
         a.end_address == b.end_address;
}

std::string SelectorsText(const std::vector<TrafficSelector>& list) {
  std::vector<std::string> parts;
  for (const TrafficSelector& ts : list) parts.push_back(DescribeSelector(ts));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

}  // namespace

// ---------------------------------------------------------------------------
// Algorithm lists.

IkeAlgorithms DefaultIkeAlgorithms() {
  IkeAlgorithms a;
  a.encr = {EncrAlgorithm::kAesGcm16With256BitKey,
            EncrAlgorithm::kAesGcm16With128BitKey,
            EncrAlgorithm::kChaCha20Poly1305};
  a.prf = {PrfAlgorithm::kHmacSha256, PrfAlgorithm::kHmacSha384,
           PrfAlgorithm::kHmacSha512};
  a.dh = {DhGroup::kCurve25519, DhGroup::kEcp256, DhGroup::kEcp384,
          DhGroup::kModp2048};
  return a;
}

EspAlgorithms DefaultEspAlgorithms() {
  EspAlgorithms a;
  a.encr = {esp::Algorithm::kAes256Gcm16, esp::Algorithm::kAes128Gcm16,
            esp::Algorithm::kChaCha20Poly1305};
  a.dh = {DhGroup::kCurve25519, DhGroup::kEcp256, DhGroup::kModp2048};
  a.pfs_optional = true;
  a.esn = false;
  return a;
}

absl::StatusOr<IkeAlgorithms> ParseIkeAlgorithms(absl::string_view text) {
  IkeAlgorithms out;
  const std::string lower = absl::AsciiStrToLower(text);
  for (absl::string_view token : absl::StrSplit(lower, '-')) {
    if (const EncrEntry* e = FindEncr(token)) {
      AddUnique(&out.encr, e->encr);
    } else if (const PrfEntry* p = FindPrf(token)) {
      AddUnique(&out.prf, p->prf);
    } else if (const DhEntry* d = FindDh(token)) {
      AddUnique(&out.dh, d->group);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "IKE proposal '", text, "': unknown algorithm '", token, "'"));
    }
  }
  const char* missing = out.encr.empty()  ? "encryption algorithm"
                        : out.prf.empty() ? "PRF"
                        : out.dh.empty()  ? "DH group"
                                          : nullptr;
  if (missing != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("IKE proposal '", text, "': no ", missing));
  }
  return out;
}

absl::StatusOr<EspAlgorithms> ParseEspAlgorithms(absl::string_view text) {
  EspAlgorithms out;
  out.encr.clear();
  out.dh.clear();
  bool none = false;
  bool esn = false;
  const std::string lower = absl::AsciiStrToLower(text);
  for (absl::string_view token : absl::StrSplit(lower, '-')) {
    if (const EncrEntry* e = FindEncr(token)) {
      AddUnique(&out.encr, e->esp);
    } else if (const DhEntry* d = FindDh(token)) {
      AddUnique(&out.dh, d->group);
    } else if (token == "none") {
      none = true;
    } else if (token == "esn") {
      esn = true;
    } else if (token == "noesn") {
      // The default; "esn-noesn" still offers ESN first.
    } else if (FindPrf(token) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ESP proposal '", text, "': '", token, "' is an IKE PRF"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "ESP proposal '", text, "': unknown algorithm '", token, "'"));
    }
  }
  if (out.encr.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ESP proposal '", text, "': no encryption algorithm"));
  }
  // Without groups there is no PFS, and "none" changes nothing.
  out.pfs_optional = none || out.dh.empty();
  out.esn = esn;
  return out;
}

std::string IkeAlgorithmsToString(const IkeAlgorithms& algorithms) {
  std::vector<std::string> parts;
  for (EncrAlgorithm e : algorithms.encr) parts.push_back(EncrToken(e));
  for (PrfAlgorithm p : algorithms.prf) parts.push_back(PrfToken(p));
  for (DhGroup g : algorithms.dh) parts.push_back(DhToken(g));
  return absl::StrJoin(parts, "-");
}

std::string EspAlgorithmsToString(const EspAlgorithms& algorithms) {
  std::vector<std::string> parts;
  for (esp::Algorithm a : algorithms.encr) parts.push_back(EspToken(a));
  for (DhGroup g : algorithms.dh) parts.push_back(DhToken(g));
  if (!algorithms.dh.empty() && algorithms.pfs_optional) {
    parts.push_back("none");
  }
  if (algorithms.esn) parts.push_back("esn");
  return absl::StrJoin(parts, "-");
}

// ---------------------------------------------------------------------------
// Proposals.

SaPayload BuildIkeProposal(const IkeAlgorithms& algorithms, const Bytes& spi) {
  Proposal p;
  p.number = 1;
  p.protocol = ProtocolId::kIke;
  p.spi = spi;
  for (EncrAlgorithm e : algorithms.encr) {
    p.transforms.push_back(EncrTransform(e));
  }
  for (PrfAlgorithm prf : algorithms.prf) {
    p.transforms.push_back(
        MakeTransform(TransformType::kPrf, static_cast<uint16_t>(prf)));
  }
  for (DhGroup g : algorithms.dh) {
    p.transforms.push_back(
        MakeTransform(TransformType::kDh, static_cast<uint16_t>(g)));
  }
  SaPayload sa;
  sa.proposals.push_back(std::move(p));
  return sa;
}

SaPayload BuildEspProposal(const EspAlgorithms& algorithms, uint32_t spi,
                           bool with_dh) {
  Proposal p;
  p.number = 1;
  p.protocol = ProtocolId::kEsp;
  p.spi = SpiBytes(spi);
  for (esp::Algorithm a : algorithms.encr) {
    p.transforms.push_back(EncrTransform(EncrOfEsp(a)));
  }
  if (with_dh && !algorithms.dh.empty()) {
    for (DhGroup g : algorithms.dh) {
      p.transforms.push_back(
          MakeTransform(TransformType::kDh, static_cast<uint16_t>(g)));
    }
    if (algorithms.pfs_optional) {
      p.transforms.push_back(MakeTransform(TransformType::kDh, kDhNone));
    }
  }
  if (algorithms.esn) {
    p.transforms.push_back(MakeTransform(TransformType::kEsn, kEsnYes));
  }
  p.transforms.push_back(MakeTransform(TransformType::kEsn, kEsnNone));
  SaPayload sa;
  sa.proposals.push_back(std::move(p));
  return sa;
}

absl::StatusOr<IkeChoice> SelectIkeProposal(const SaPayload& offered,
                                            const IkeAlgorithms& ours,
                                            SaPayload* reply) {
  const Policy policy = IkePolicy(ours);
  absl::StatusOr<Match> m = SelectBest(
      offered, policy, BuildIkeProposal(ours), [](const Proposal& p) {
        if (p.spi.empty()) return std::string();
        if (p.spi.size() != 8) {
          return absl::StrCat("SPI size ", p.spi.size());
        }
        if (SpiValue(p.spi) == 0) return std::string("SPI 0");
        return std::string();
      });
  if (!m.ok()) return m.status();
  const Proposal& peer = offered.proposals[m->proposal_index];
  IkeChoice choice;
  const Transform* encr = ChosenOfType(policy, *m, TransformType::kEncr);
  const Transform* prf = ChosenOfType(policy, *m, TransformType::kPrf);
  const Transform* dh = ChosenOfType(policy, *m, TransformType::kDh);
  // Present by construction (required types matched against our lists).
  choice.suite.encr = *EncrFromTransform(encr->id, encr->KeyLength());
  choice.suite.prf = *crypto::PrfFromTransformId(prf->id);
  choice.dh = *crypto::DhGroupFromTransformId(dh->id);
  choice.peer_spi = SpiValue(peer.spi);
  if (reply != nullptr) {
    reply->proposals.clear();
    reply->proposals.push_back(ReplyProposal(peer, *m, peer.spi));
  }
  return choice;
}

absl::StatusOr<EspChoice> SelectEspProposal(const SaPayload& offered,
                                            const EspAlgorithms& ours,
                                            uint32_t our_spi, bool require_dh,
                                            SaPayload* reply) {
  if (our_spi == 0) {
    return absl::InvalidArgumentError("our ESP SPI is 0");
  }
  const Policy policy = EspPolicy(ours, require_dh);
  SaPayload ours_text = BuildEspProposal(ours, our_spi, require_dh);
  absl::StatusOr<Match> m =
      SelectBest(offered, policy, ours_text, [](const Proposal& p) {
        if (p.spi.size() != 4) return absl::StrCat("SPI size ", p.spi.size());
        if (SpiValue(p.spi) == 0) return std::string("SPI 0");
        return std::string();
      });
  if (!m.ok()) return m.status();
  const Proposal& peer = offered.proposals[m->proposal_index];
  EspChoice choice;
  const Transform* encr = ChosenOfType(policy, *m, TransformType::kEncr);
  const Transform* dh = ChosenOfType(policy, *m, TransformType::kDh);
  const Transform* esn = ChosenOfType(policy, *m, TransformType::kEsn);
  choice.encr = EspOfEncr(*EncrFromTransform(encr->id, encr->KeyLength()));
  choice.esn = esn != nullptr && esn->id == kEsnYes;
  if (dh != nullptr && dh->id != kDhNone) {
    choice.dh = crypto::DhGroupFromTransformId(dh->id);
  }
  choice.peer_spi = static_cast<uint32_t>(SpiValue(peer.spi));
  if (reply != nullptr) {
    reply->proposals.clear();
    reply->proposals.push_back(ReplyProposal(peer, *m, SpiBytes(our_spi)));
  }
  return choice;
}

absl::StatusOr<IkeChoice> AcceptIkeProposal(const SaPayload& chosen,
                                            const SaPayload& offered) {
  absl::StatusOr<const Proposal*> ours =
      CheckChosen(chosen, offered, ProtocolId::kIke);
  if (!ours.ok()) return ours.status();
  const Proposal& c = chosen.proposals[0];
  const Transform* encr = FindType(c, TransformType::kEncr);
  const Transform* prf = FindType(c, TransformType::kPrf);
  const Transform* dh = FindType(c, TransformType::kDh);
  const Transform* integ = FindType(c, TransformType::kInteg);
  if (encr == nullptr || prf == nullptr || dh == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IKE SA reply: no ",
        encr == nullptr ? "ENCR" : prf == nullptr ? "PRF" : "DH",
        " transform"));
  }
  IkeChoice choice;
  absl::optional<EncrAlgorithm> e = EncrFromTransform(encr->id, encr->KeyLength());
  absl::optional<PrfAlgorithm> p = crypto::PrfFromTransformId(prf->id);
  absl::optional<DhGroup> g = crypto::DhGroupFromTransformId(dh->id);
  const Transform* unsupported = !e ? encr : !p ? prf : !g ? dh : nullptr;
  if (unsupported == nullptr && integ != nullptr && integ->id != kIntegNone) {
    unsupported = integ;
  }
  if (unsupported != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IKE SA reply: unsupported transform ", TransformName(*unsupported)));
  }
  choice.suite.encr = *e;
  choice.suite.prf = *p;
  choice.dh = *g;
  if ((*ours)->spi.empty()) {
    if (!c.spi.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "IKE SA reply: SPI of ", c.spi.size(), " bytes, want none"));
    }
  } else {
    if (c.spi.size() != 8 || SpiValue(c.spi) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "IKE SA reply: SPI of ", c.spi.size(),
          " bytes, want 8 nonzero bytes"));
    }
    choice.peer_spi = SpiValue(c.spi);
  }
  return choice;
}

absl::StatusOr<EspChoice> AcceptEspProposal(const SaPayload& chosen,
                                            const SaPayload& offered) {
  absl::StatusOr<const Proposal*> ours =
      CheckChosen(chosen, offered, ProtocolId::kEsp);
  if (!ours.ok()) return ours.status();
  const Proposal& c = chosen.proposals[0];
  if (c.spi.size() != 4 || SpiValue(c.spi) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ESP SA reply: SPI of ", c.spi.size(), " bytes",
        c.spi.size() == 4 ? " is 0" : ", want 4"));
  }
  const Transform* encr = FindType(c, TransformType::kEncr);
  if (encr == nullptr) {
    return absl::InvalidArgumentError("ESP SA reply: no ENCR transform");
  }
  absl::optional<EncrAlgorithm> e =
      EncrFromTransform(encr->id, encr->KeyLength());
  if (!e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ESP SA reply: unsupported transform ", TransformName(*encr)));
  }
  EspChoice choice;
  choice.encr = EspOfEncr(*e);
  for (const Transform& t : c.transforms) {
    switch (t.type) {
      case TransformType::kEsn:
        if (t.id != kEsnNone && t.id != kEsnYes) break;
        choice.esn = t.id == kEsnYes;
        continue;
      case TransformType::kDh:
        if (t.id == kDhNone) continue;
        choice.dh = crypto::DhGroupFromTransformId(t.id);
        if (!choice.dh) break;
        continue;
      case TransformType::kInteg:
        if (t.id != kIntegNone) break;
        continue;
      case TransformType::kEncr:
        continue;
      case TransformType::kPrf:
        break;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "ESP SA reply: unsupported transform ", TransformName(t)));
  }
  choice.peer_spi = static_cast<uint32_t>(SpiValue(c.spi));
  return choice;
}

std::string DescribeSa(const SaPayload& sa) {
  std::vector<std::string> parts;
  for (const Proposal& p : sa.proposals) {
    parts.push_back(
        absl::StrCat(ProtocolName(p.protocol), ":", TransformsText(p)));
  }
  return absl::StrJoin(parts, ", ");
}

// ---------------------------------------------------------------------------
// Traffic selectors.

TrafficSelector SelectorForPrefix(const IpAddress& address, int prefix_len) {
  const int bits = FamilyBits(address);
  prefix_len = std::max(0, std::min(prefix_len, bits));
  const absl::uint128 host = LowMask(bits - prefix_len);
  const absl::uint128 v = ToInt(address);
  TrafficSelector ts;
  ts.start_address = FromInt(v & ~host, address.is_v4());
  ts.end_address = FromInt(v | host, address.is_v4());
  return ts;
}

TrafficSelector AnyIpv4Selector() {
  return SelectorForPrefix(IpAddress::Any(IpAddress::Family::kV4), 0);
}

TrafficSelector AnyIpv6Selector() {
  return SelectorForPrefix(IpAddress::Any(IpAddress::Family::kV6), 0);
}

absl::StatusOr<std::vector<TrafficSelector>> NarrowSelectors(
    const std::vector<TrafficSelector>& offered,
    const std::vector<TrafficSelector>& allowed) {
  std::vector<TrafficSelector> all;
  for (const TrafficSelector& o : offered) {
    for (const TrafficSelector& a : allowed) {
      if (absl::optional<TrafficSelector> ts = Intersect(o, a)) {
        all.push_back(*ts);
      }
    }
  }
  // Drop duplicates and selectors inside another one (e.g. the triggering
  // packet's selector inside a whole subnet); the first copy stays.
  std::vector<TrafficSelector> out;
  for (size_t i = 0; i < all.size(); ++i) {
    bool redundant = false;
    for (size_t j = 0; j < all.size() && !redundant; ++j) {
      if (i == j || !Within(all[i], all[j])) continue;
      // Equal selectors: keep the first one only.
      redundant = !SameSelector(all[i], all[j]) || j < i;
    }
    if (!redundant) out.push_back(all[i]);
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "TS unacceptable: peer proposed ", SelectorsText(offered),
        ", we allow ", SelectorsText(allowed)));
  }
  return out;
}

absl::Status CheckNarrowed(const std::vector<TrafficSelector>& proposed,
                           const std::vector<TrafficSelector>& returned) {
  if (returned.empty()) {
    return absl::InvalidArgumentError("responder returned no traffic selectors");
  }
  for (const TrafficSelector& r : returned) {
    bool inside = false;
    for (const TrafficSelector& p : proposed) {
      if (Within(r, p)) {
        inside = true;
        break;
      }
    }
    if (!inside) {
      return absl::InvalidArgumentError(absl::StrCat(
          "responder's traffic selector ", DescribeSelector(r),
          " is not within the proposed ", SelectorsText(proposed)));
    }
  }
  return absl::OkStatus();
}

std::vector<Prefix> SelectorToPrefixes(const TrafficSelector& ts) {
  std::vector<Prefix> out;
  absl::optional<Range> r = AddressRange(ts);
  if (!r) return out;
  const int bits = r->v4 ? 32 : 128;
  const absl::uint128 family_max = LowMask(bits);
  absl::uint128 start = r->start;
  while (true) {
    // The largest aligned block at `start` that ends within the range.
    int host = bits;
    while (host > 0 && ((start & LowMask(host)) != 0 ||
                        (start | LowMask(host)) > r->end)) {
      --host;
    }
    out.push_back(Prefix{FromInt(start, r->v4), bits - host});
    const absl::uint128 last = start | LowMask(host);
    if (last >= r->end || last == family_max) break;
    start = last + 1;
  }
  return out;
}

std::string DescribeSelector(const TrafficSelector& ts) {
  std::string text;
  const std::vector<Prefix> prefixes = SelectorToPrefixes(ts);
  if (prefixes.size() == 1) {
    text = absl::StrCat(prefixes[0].address.ToString(), "/",
                        prefixes[0].length);
  } else {
    text = absl::StrCat(ts.start_address.ToString(), "-",
                        ts.end_address.ToString());
  }
  if (ts.ip_protocol != 0) absl::StrAppend(&text, " proto ", ts.ip_protocol);
  if (IsOpaque(ts)) {
    absl::StrAppend(&text, " port opaque");
  } else if (!AllPorts(ts)) {
    if (ts.start_port == ts.end_port) {
      absl::StrAppend(&text, " port ", ts.start_port);
    } else {
      absl::StrAppend(&text, " port ", ts.start_port, "-", ts.end_port);
    }
  }
  return text;
}

// ---------------------------------------------------------------------------
// Configuration payloads.

ConfigPayload BuildConfigRequest(const ConfigRequest& request) {
  ConfigPayload cp;
  cp.cfg_type = CfgType::kRequest;
  if (request.ipv4) {
    cp.attributes.push_back(
        ConfigAttribute::Empty(CfgAttributeType::kInternalIp4Address));
    cp.attributes.push_back(
        ConfigAttribute::Empty(CfgAttributeType::kInternalIp4Dns));
  }
  if (request.ipv6) {
    cp.attributes.push_back(
        ConfigAttribute::Empty(CfgAttributeType::kInternalIp6Address));
    cp.attributes.push_back(
        ConfigAttribute::Empty(CfgAttributeType::kInternalIp6Dns));
  }
  return cp;
}

absl::StatusOr<AssignedConfig> ParseConfigReply(const ConfigPayload& reply) {
  if (reply.cfg_type != CfgType::kReply) {
    return absl::InvalidArgumentError(absl::StrCat(
        "configuration payload of type ", static_cast<int>(reply.cfg_type),
        ", want CFG_REPLY (2)"));
  }
  AssignedConfig out;
  for (const ConfigAttribute& a : reply.attributes) {
    const char* name = nullptr;
    switch (a.type) {
      case CfgAttributeType::kInternalIp4Address:
        name = "INTERNAL_IP4_ADDRESS";
        break;
      case CfgAttributeType::kInternalIp4Dns:
        name = "INTERNAL_IP4_DNS";
        break;
      case CfgAttributeType::kInternalIp6Address:
        name = "INTERNAL_IP6_ADDRESS";
        break;
      case CfgAttributeType::kInternalIp6Dns:
        name = "INTERNAL_IP6_DNS";
        break;
      default:
        continue;  // Not ours to interpret.
    }
    if (a.value.empty()) continue;  // Echo of an empty request: no value.
    absl::optional<IpAddress> address = a.Address();
    if (!address) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CFG_REPLY: ", name, " value of ", a.value.size(), " bytes"));
    }
    switch (a.type) {
      case CfgAttributeType::kInternalIp4Address:
        if (!out.ipv4) out.ipv4 = *address;
        break;
      case CfgAttributeType::kInternalIp6Address: {
        const uint8_t len = a.Ip6PrefixLength().value_or(128);
        if (len > 128) {
          return absl::InvalidArgumentError(absl::StrCat(
              "CFG_REPLY: INTERNAL_IP6_ADDRESS prefix length ", len));
        }
        if (!out.ipv6) {
          out.ipv6 = *address;
          out.ipv6_prefix_len = len;
        }
        break;
      }
      default:
        out.dns.push_back(*address);
        break;
    }
  }
  return out;
}

ConfigRequest ParseConfigRequest(const ConfigPayload& request) {
  ConfigRequest out;
  out.ipv4 = false;
  out.ipv6 = false;
  if (request.cfg_type != CfgType::kRequest) return out;
  for (const ConfigAttribute& a : request.attributes) {
    if (a.type == CfgAttributeType::kInternalIp4Address) out.ipv4 = true;
    if (a.type == CfgAttributeType::kInternalIp6Address) out.ipv6 = true;
  }
  return out;
}

ConfigPayload BuildConfigReply(const AssignedConfig& assigned) {
  ConfigPayload cp;
  cp.cfg_type = CfgType::kReply;
  const bool v4 = assigned.ipv4.has_value() && assigned.ipv4->is_v4();
  const bool v6 = assigned.ipv6.has_value() && assigned.ipv6->is_v6();
  if (v4) {
    cp.attributes.push_back(ConfigAttribute::Ip4(
        CfgAttributeType::kInternalIp4Address, *assigned.ipv4));
  }
  if (v6) {
    const int len = std::max(0, std::min(assigned.ipv6_prefix_len, 128));
    cp.attributes.push_back(ConfigAttribute::Ip6Address(
        *assigned.ipv6, static_cast<uint8_t>(len)));
  }
  for (const IpAddress& dns : assigned.dns) {
    if (dns.is_v4() && v4) {
      cp.attributes.push_back(
          ConfigAttribute::Ip4(CfgAttributeType::kInternalIp4Dns, dns));
    } else if (dns.is_v6() && v6) {
      cp.attributes.push_back(ConfigAttribute::Ip6Dns(dns));
    }
  }
  return cp;
}

}  // namespace stow::ike
