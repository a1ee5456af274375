#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sdk/crypto/dh.h"
#include "sdk/crypto/random.h"
#include "sdk/tunnel/ipsec/ike/crypto/auth.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/ike/crypto/fragmentation.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"
#include "sdk/tunnel/ipsec/ike/crypto/nat_detection.h"
#include "sdk/tunnel/ipsec/ike/crypto/sk_payload.h"

namespace stow::ike {
namespace {

constexpr size_t kNonceSize = 32;
constexpr int kMaxCookieRetries = 3;
constexpr int kMaxInvalidKeRetries = 2;
constexpr size_t kMaxCookieSize = 64;
// A rekey refused with TEMPORARY_FAILURE, or colliding, is tried again
// after a random delay in this range (RFC 7296 2.25).
constexpr absl::Duration kRekeyRetryMin = absl::Seconds(2);
constexpr absl::Duration kRekeyRetryMax = absl::Seconds(10);
// A rekey refused otherwise is tried again after this long.
constexpr absl::Duration kRekeyRetryAfterError = absl::Seconds(60);

using Kind = IkeEvent::Kind;

Bytes Spi4(uint32_t spi) {
  return {static_cast<uint8_t>(spi >> 24), static_cast<uint8_t>(spi >> 16),
          static_cast<uint8_t>(spi >> 8), static_cast<uint8_t>(spi)};
}
uint32_t ReadSpi4(const Bytes& b) {
  if (b.size() != 4) return 0;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
         (uint32_t{b[2]} << 8) | b[3];
}
Bytes Spi8(uint64_t spi) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(spi >> (56 - 8 * i));
  return out;
}

uint32_t NewEspSpi() {
  uint32_t spi = 0;
  while (spi < 256) spi = crypto::RandomUint32();
  return spi;
}
uint64_t NewIkeSpi() {
  uint64_t spi = 0;
  while (spi == 0) spi = crypto::RandomUint64();
  return spi;
}

// ID Type | RESERVED(3) | data: what the AUTH octets cover.
Bytes IdBody(const IdPayload& id) {
  Bytes out = {static_cast<uint8_t>(id.id_type), 0, 0, 0};
  out.insert(out.end(), id.data.begin(), id.data.end());
  return out;
}

template <typename T>
const T* BodyOf(const Payload& p) {
  return absl::get_if<T>(&p.body);
}

template <typename T>
const T* FindBody(const std::vector<Payload>& payloads, PayloadType type) {
  for (const Payload& p : payloads) {
    if (p.type == type) return BodyOf<T>(p);
  }
  return nullptr;
}

const NotifyPayload* FindNotify(const std::vector<Payload>& payloads,
                                NotifyType type) {
  for (const Payload& p : payloads) {
    if (p.type != PayloadType::kNotify) continue;
    const auto* n = BodyOf<NotifyPayload>(p);
    if (n != nullptr && n->type == type) return n;
  }
  return nullptr;
}

// The first error notify, if any.
const NotifyPayload* FindErrorNotify(const std::vector<Payload>& payloads) {
  for (const Payload& p : payloads) {
    if (p.type != PayloadType::kNotify) continue;
    const auto* n = BodyOf<NotifyPayload>(p);
    if (n != nullptr && IsErrorNotify(n->type)) return n;
  }
  return nullptr;
}

std::vector<CertPayload> AllCerts(const std::vector<Payload>& payloads) {
  std::vector<CertPayload> out;
  for (const Payload& p : payloads) {
    if (p.type != PayloadType::kCert) continue;
    if (const auto* c = BodyOf<CertPayload>(p)) out.push_back(*c);
  }
  return out;
}

Payload Notify(NotifyType type, Bytes data = {},
               ProtocolId protocol = ProtocolId::kNone, Bytes spi = {}) {
  NotifyPayload n;
  n.type = type;
  n.data = std::move(data);
  n.protocol = protocol;
  n.spi = std::move(spi);
  return Payload::Notify(std::move(n));
}

// KE payload carrying our public value.
Payload KeOf(const crypto::KeyExchange& ke) {
  KePayload k;
  k.group = static_cast<uint16_t>(ke.group());
  k.data.assign(ke.public_value().begin(), ke.public_value().end());
  return Payload::Ke(std::move(k));
}

// N(INVALID_KE_PAYLOAD) asking for `group` (RFC 7296 1.2).
Payload InvalidKe(crypto::DhGroup group) {
  uint16_t g = static_cast<uint16_t>(group);
  return Notify(NotifyType::kInvalidKePayload,
                {static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)});
}

// The group an INVALID_KE_PAYLOAD notify asks for, if we know it.
absl::optional<crypto::DhGroup> RequestedGroup(const NotifyPayload& n) {
  if (n.data.size() != 2) return absl::nullopt;
  return crypto::DhGroupFromTransformId(
      static_cast<uint16_t>((n.data[0] << 8) | n.data[1]));
}

std::string NotifyName(NotifyType type) {
  switch (type) {
    case NotifyType::kUnsupportedCriticalPayload:
      return "UNSUPPORTED_CRITICAL_PAYLOAD";
    case NotifyType::kInvalidIkeSpi: return "INVALID_IKE_SPI";
    case NotifyType::kInvalidMajorVersion: return "INVALID_MAJOR_VERSION";
    case NotifyType::kInvalidSyntax: return "INVALID_SYNTAX";
    case NotifyType::kInvalidMessageId: return "INVALID_MESSAGE_ID";
    case NotifyType::kInvalidSpi: return "INVALID_SPI";
    case NotifyType::kNoProposalChosen: return "NO_PROPOSAL_CHOSEN";
    case NotifyType::kInvalidKePayload: return "INVALID_KE_PAYLOAD";
    case NotifyType::kAuthenticationFailed: return "AUTHENTICATION_FAILED";
    case NotifyType::kSinglePairRequired: return "SINGLE_PAIR_REQUIRED";
    case NotifyType::kNoAdditionalSas: return "NO_ADDITIONAL_SAS";
    case NotifyType::kInternalAddressFailure:
      return "INTERNAL_ADDRESS_FAILURE";
    case NotifyType::kFailedCpRequired: return "FAILED_CP_REQUIRED";
    case NotifyType::kTsUnacceptable: return "TS_UNACCEPTABLE";
    case NotifyType::kInvalidSelectors: return "INVALID_SELECTORS";
    case NotifyType::kTemporaryFailure: return "TEMPORARY_FAILURE";
    case NotifyType::kChildSaNotFound: return "CHILD_SA_NOT_FOUND";
    default:
      return absl::StrCat("notify ", static_cast<int>(type));
  }
}


// Key material as hex, for the explicit secrets log only.
std::string HexOf(const std::vector<uint8_t>& bytes) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

absl::Duration Jittered(absl::Duration base, double jitter) {
  if (base <= absl::ZeroDuration()) return absl::InfiniteDuration();
  double r = static_cast<double>(crypto::RandomUint32()) / 4294967296.0;
  return base - base * (jitter * r);
}

absl::Duration RandomBetween(absl::Duration lo, absl::Duration hi) {
  double r = static_cast<double>(crypto::RandomUint32()) / 4294967296.0;
  return lo + (hi - lo) * r;
}

std::string DescribeSelectors(const std::vector<TrafficSelector>& ts) {
  std::vector<std::string> parts;
  for (const auto& t : ts) parts.push_back(DescribeSelector(t));
  return absl::StrJoin(parts, ", ");
}

std::string DescribeAssigned(const AssignedConfig& c) {
  std::vector<std::string> parts;
  if (c.ipv4) parts.push_back(c.ipv4->ToString());
  if (c.ipv6) parts.push_back(absl::StrCat(c.ipv6->ToString(), "/",
                                           c.ipv6_prefix_len));
  std::string out = parts.empty() ? std::string("none")
                                  : absl::StrJoin(parts, ", ");
  if (!c.dns.empty()) {
    std::vector<std::string> dns;
    for (const auto& d : c.dns) dns.push_back(d.ToString());
    absl::StrAppend(&out, ", DNS ", absl::StrJoin(dns, " "));
  }
  return out;
}

}  // namespace

const char* IkeEventKindName(IkeEvent::Kind kind) {
  switch (kind) {
    case Kind::kConnecting: return "connecting";
    case Kind::kAuthenticating: return "authenticating";
    case Kind::kEstablished: return "established";
    case Kind::kChildRekeyed: return "child-rekeyed";
    case Kind::kIkeRekeyed: return "ike-rekeyed";
    case Kind::kNatDetected: return "nat-detected";
    case Kind::kAuthFailed: return "auth-failed";
    case Kind::kNoProposalChosen: return "no-proposal-chosen";
    case Kind::kPeerDead: return "peer-dead";
    case Kind::kFailed: return "failed";
    case Kind::kClosed: return "closed";
    case Kind::kInfo: return "info";
  }
  return "?";
}

const char* IkeSa::StateName(State state) {
  switch (state) {
    case State::kIdle: return "idle";
    case State::kInitSent: return "init-sent";
    case State::kAuthSent: return "auth-sent";
    case State::kInitReplied: return "init-replied";
    case State::kEstablished: return "established";
    case State::kClosed: return "closed";
  }
  return "?";
}

// ---------------------------------------------------------------------------

namespace {

// One request of ours awaiting its response.
struct Request {
  enum class What : uint8_t {
    kInit,
    kAuth,
    kRekeyChild,
    kRekeyIke,
    kDeleteChild,
    kDeleteIke,
    kDpd,
  };
  What what = What::kDpd;
  ExchangeType exchange = ExchangeType::kInformational;
  std::vector<Payload> payloads;  // Plaintext (encrypted when sent).
  uint32_t message_id = 0;
  std::vector<Bytes> datagrams;  // As sent; resent unchanged.
  int tries = 0;
  absl::Duration deadline = absl::InfiniteDuration();
  // CREATE_CHILD_SA state.
  Bytes nonce;
  std::unique_ptr<crypto::KeyExchange> ke;
  SaPayload offered;
  uint32_t new_spi = 0;          // Our new inbound ESP SPI.
  uint64_t new_ike_spi = 0;      // Our new IKE SPI.
  uint32_t target_inbound = 0;   // The CHILD SA being rekeyed / deleted.
  int invalid_ke_retries = 0;
};

struct Child {
  ChildSaInfo info;
  absl::Duration rekey_at = absl::InfiniteDuration();
  bool rekeying = false;  // Our CREATE_CHILD_SA for it is outstanding.
  bool replaced = false;  // A new SA replaced it; waiting for its delete.
  // A rekey of this SA started by the peer completed while ours was
  // outstanding: the new SA's inbound SPI and that exchange's nonces.
  uint32_t peer_rekey_spi = 0;
  Bytes peer_rekey_ni, peer_rekey_nr;
};

// The crypto and message state of one IKE SA (the current one, or the one
// being replaced by a rekey).
struct Context {
  uint64_t spi_i = 0;
  uint64_t spi_r = 0;
  bool we_initiated = true;  // Our messages carry the I flag.
  IkeSaKeys keys;
  absl::optional<SkCipher> seal;  // Our direction.
  absl::optional<SkCipher> open;  // The peer's.
  uint32_t next_message_id = 0;   // Of our next request.
  uint32_t peer_message_id = 0;   // Of the peer's next request.
  std::vector<Bytes> last_response;
  bool have_last_response = false;
  FragmentReassembler request_fragments;
  FragmentReassembler response_fragments;
  std::unique_ptr<Request> outstanding;
  std::deque<std::unique_ptr<Request>> queue;
};

}  // namespace

struct IkeSa::Impl {
  IkeConfig config;
  Delegate* delegate;
  Role role;
  SocketAddress local;
  SocketAddress remote;
  State state = State::kIdle;
  std::string close_reason;
  bool nat_t = false;
  bool peer_fragmentation = false;
  std::vector<uint16_t> peer_hash_algorithms;
  Counters counters;

  // IKE_SA_INIT.
  IkeChoice choice;
  crypto::DhGroup ke_group = crypto::DhGroup::kCurve25519;
  std::unique_ptr<crypto::KeyExchange> ke;
  Bytes nonce_i, nonce_r;
  Bytes init_request, init_response;  // As sent / received (final ones).
  Bytes cookie;
  int cookie_retries = 0;
  int invalid_ke_retries = 0;
  SaPayload offered_ike;
  SaPayload offered_esp;
  uint32_t first_child_spi = 0;
  std::vector<TrafficSelector> proposed_tsi, proposed_tsr;

  std::unique_ptr<Context> current;
  std::unique_ptr<Context> old;  // Being deleted after an IKE rekey.
  std::vector<Child> children;
  IdPayload peer_id;
  AssignedConfig assigned;

  absl::Duration last_rx = absl::ZeroDuration();
  absl::Duration setup_deadline = absl::InfiniteDuration();
  absl::Duration ike_rekey_at = absl::InfiniteDuration();
  bool ike_rekeying = false;

  Impl(IkeConfig c, Delegate* d, const SocketAddress& l,
       const SocketAddress& r)
      : config(std::move(c)), delegate(d), role(config.role), local(l),
        remote(r) {}

  // --- events and closing -------------------------------------------------

  void Event(Kind kind, std::string detail) {
    delegate->OnIkeEvent(IkeEvent{kind, std::move(detail)});
  }

  void CloseNow(Kind kind, const std::string& reason) {
    if (state == State::kClosed) return;
    state = State::kClosed;
    close_reason = reason;
    for (const Child& c : children) delegate->OnChildSaDown(c.info.inbound_spi);
    children.clear();
    if (current) {
      current->outstanding.reset();
      current->queue.clear();
    }
    old.reset();
    Event(kind, reason);
  }

  // --- sending ------------------------------------------------------------

  void Transmit(const std::vector<Bytes>& datagrams) {
    for (const Bytes& d : datagrams) {
      delegate->SendIke(d, nat_t);
      ++counters.tx_messages;
    }
  }

  // Serializes and seals `payloads` for `ctx`, fragmenting when the peer
  // supports it and the message is too big. Empty on a codec error (a bug:
  // logged as an event).
  std::vector<Bytes> Seal(Context* ctx, ExchangeType exchange, bool response,
                          uint32_t message_id,
                          const std::vector<Payload>& payloads) {
    std::vector<Bytes> out;
    auto inner = SerializePayloadChain(payloads);
    if (!inner.ok()) {
      Event(Kind::kInfo, absl::StrCat("cannot serialize: ",
                                      inner.status().message()));
      return out;
    }
    PayloadType first =
        payloads.empty() ? PayloadType::kNone : payloads.front().type;
    Header h;
    h.spi_i = ctx->spi_i;
    h.spi_r = ctx->spi_r;
    h.exchange_type = exchange;
    h.initiator = ctx->we_initiated;
    h.response = response;
    h.message_id = message_id;

    size_t whole = kHeaderSize + kGenericPayloadHeaderSize +
                   SkCipher::SealedBodySize(inner->size());
    size_t limit = config.fragment_size;
    if (peer_fragmentation && exchange != ExchangeType::kIkeSaInit &&
        whole > limit) {
      size_t per = MaxFragmentPlaintext(limit - (nat_t ? 4 : 0));
      auto frags =
          SplitIntoFragments(static_cast<uint8_t>(first), *inner, per);
      if (frags.ok()) {
        for (const FragmentPlaintext& f : *frags) {
          Message m;
          m.header = h;
          EncryptedFragmentPayload e;
          e.first_inner = static_cast<PayloadType>(f.next_payload);
          e.fragment_number = f.fragment_number;
          e.total_fragments = f.total_fragments;
          e.body.assign(SkCipher::SealedBodySize(f.data.size()), 0);
          m.payloads.push_back(Payload::EncryptedFragment(std::move(e)));
          EncryptedLayout layout;
          auto bytes = SerializeMessage(m, &layout);
          if (!bytes.ok()) return {};
          bytes->resize(layout.payload_begin + kSkfHeaderSize);
          if (!ctx->seal->SealMessage(SkKind::kSkf, &*bytes,
                                      layout.payload_begin, f.data)
                   .ok()) {
            return {};
          }
          out.push_back(*std::move(bytes));
          ++counters.tx_fragments;
        }
        return out;
      }
    }
    Message m;
    m.header = h;
    EncryptedPayload e;  // The codec's SK payload.
    e.first_inner = first;
    e.body.assign(SkCipher::SealedBodySize(inner->size()), 0);
    m.payloads.push_back(Payload::Encrypted(std::move(e)));
    EncryptedLayout layout;
    auto bytes = SerializeMessage(m, &layout);
    if (!bytes.ok()) return {};
    bytes->resize(layout.payload_begin + kGenericPayloadHeaderSize);
    if (!ctx->seal->SealMessage(SkKind::kSk, &*bytes,
                                layout.payload_begin, *inner)
             .ok()) {
      return {};
    }
    out.push_back(*std::move(bytes));
    return out;
  }

  absl::Duration RetransmitDelay(int tries) const {
    absl::Duration d = config.timers.retransmit_base;
    for (int i = 1; i < tries && i < 16; ++i) d *= 2;
    return d;
  }

  void SendRequest(Context* ctx, std::unique_ptr<Request> request,
                   absl::Duration now) {
    if (ctx->outstanding != nullptr) {
      ctx->queue.push_back(std::move(request));
      return;
    }
    request->message_id = ctx->next_message_id++;
    request->datagrams = Seal(ctx, request->exchange, /*response=*/false,
                              request->message_id, request->payloads);
    request->tries = 1;
    request->deadline = now + RetransmitDelay(1);
    Transmit(request->datagrams);
    ctx->outstanding = std::move(request);
  }

  // Sends the next queued request if none is outstanding.
  void SendNext(Context* ctx, absl::Duration now) {
    if (ctx->outstanding || ctx->queue.empty() || state == State::kClosed)
      return;
    auto next = std::move(ctx->queue.front());
    ctx->queue.pop_front();
    SendRequest(ctx, std::move(next), now);
  }

  void SendResponse(Context* ctx, ExchangeType exchange, uint32_t message_id,
                    const std::vector<Payload>& payloads) {
    ctx->last_response = Seal(ctx, exchange, /*response=*/true, message_id,
                              payloads);
    ctx->have_last_response = true;
    Transmit(ctx->last_response);
  }

  // Unencrypted IKE_SA_INIT error reply (SPIr 0).
  void SendInitError(const Header& request, Payload notify) {
    Message m;
    m.header.spi_i = request.spi_i;
    m.header.spi_r = 0;
    m.header.exchange_type = ExchangeType::kIkeSaInit;
    m.header.response = true;
    m.header.message_id = request.message_id;
    m.payloads.push_back(std::move(notify));
    auto bytes = SerializeMessage(m);
    if (!bytes.ok()) return;
    Transmit({*bytes});
  }

  // --- keys -----------------------------------------------------------------

  absl::Status InstallKeys(Context* ctx, IkeSaKeys keys) {
    ctx->keys = std::move(keys);
    const Bytes& mine = ctx->we_initiated ? ctx->keys.sk_ei : ctx->keys.sk_er;
    const Bytes& theirs =
        ctx->we_initiated ? ctx->keys.sk_er : ctx->keys.sk_ei;
    auto seal = SkCipher::Create(ctx->keys.suite.encr, mine);
    if (!seal.ok()) return seal.status();
    auto open = SkCipher::Create(ctx->keys.suite.encr, theirs);
    if (!open.ok()) return open.status();
    ctx->seal.emplace(*std::move(seal));
    ctx->open.emplace(*std::move(open));
    if (config.log_secrets) {
      Event(Kind::kInfo,
            absl::StrCat("secrets of IKE SA ", SpiText(ctx->spi_i), "_i ",
                         SpiText(ctx->spi_r), "_r: SK_d ", HexOf(ctx->keys.sk_d),
                         " SK_ei ", HexOf(ctx->keys.sk_ei), " SK_er ",
                         HexOf(ctx->keys.sk_er), " SK_pi ",
                         HexOf(ctx->keys.sk_pi), " SK_pr ",
                         HexOf(ctx->keys.sk_pr)));
    }
    return absl::OkStatus();
  }

  // The IKE SA's keys from IKE_SA_INIT; false (and closed) on failure.
  bool DeriveInitialKeys(const Bytes& shared) {
    auto keys = DeriveIkeSaKeys(choice.suite, nonce_i, nonce_r, shared,
                                current->spi_i, current->spi_r);
    absl::Status s =
        keys.ok() ? InstallKeys(current.get(), *std::move(keys)) : keys.status();
    if (!s.ok()) CloseNow(Kind::kFailed, std::string(s.message()));
    return s.ok();
  }

  AuthTranscript Transcript() const {
    AuthTranscript t;
    t.prf = current->keys.suite.prf;
    t.ike_sa_init_request = init_request;
    t.ike_sa_init_response = init_response;
    t.nonce_i = nonce_i;
    t.nonce_r = nonce_r;
    t.sk_pi = current->keys.sk_pi;
    t.sk_pr = current->keys.sk_pr;
    return t;
  }

  // Builds a CHILD SA from KEYMAT. `we_initiated_exchange`: we sent the
  // request of the exchange that created it.
  absl::StatusOr<ChildSaInfo> MakeChild(const EspChoice& esp,
                                        bool we_initiated_exchange,
                                        uint32_t our_spi,
                                        const Bytes& ni, const Bytes& nr,
                                        const Bytes& shared) {
    size_t size = esp::KeyMaterialSize(esp.encr);
    auto keys = DeriveChildSaKeys(current->keys.suite.prf, current->keys.sk_d,
                                  ni, nr, size, shared);
    if (!keys.ok()) return keys.status();
    ChildSaInfo info;
    info.keys.transform = esp.encr;
    info.keys.esn = esp.esn;
    info.keys.lifetime = config.esp_lifetime;
    info.keys.i2r.key_material = keys->initiator_to_responder;
    info.keys.r2i.key_material = keys->responder_to_initiator;
    if (we_initiated_exchange) {
      info.esp_role = ipsec::EspRole::kInitiator;
      info.keys.i2r.spi = esp.peer_spi;  // The responder's inbound.
      info.keys.r2i.spi = our_spi;
    } else {
      info.esp_role = ipsec::EspRole::kResponder;
      info.keys.i2r.spi = our_spi;
      info.keys.r2i.spi = esp.peer_spi;
    }
    info.inbound_spi = our_spi;
    info.outbound_spi = esp.peer_spi;
    if (config.log_secrets) {
      Event(Kind::kInfo,
            absl::StrCat("secrets of CHILD SA ", Hex(info.keys.i2r.spi),
                         " (i2r) ", HexOf(info.keys.i2r.key_material), " ",
                         Hex(info.keys.r2i.spi), " (r2i) ",
                         HexOf(info.keys.r2i.key_material)));
    }
    return info;
  }

  void AddChild(ChildSaInfo info, absl::Duration now) {
    Child c;
    c.info = std::move(info);
    c.rekey_at = now + Jittered(config.timers.child_rekey,
                                config.timers.rekey_jitter);
    delegate->OnChildSaUp(c.info);
    children.push_back(std::move(c));
  }

  Child* ChildByInbound(uint32_t spi) {
    for (Child& c : children)
      if (c.info.inbound_spi == spi) return &c;
    return nullptr;
  }
  Child* ChildByOutbound(uint32_t spi) {
    for (Child& c : children)
      if (c.info.outbound_spi == spi) return &c;
    return nullptr;
  }
  void RemoveChild(uint32_t inbound_spi) {
    for (auto it = children.begin(); it != children.end(); ++it) {
      if (it->info.inbound_spi == inbound_spi) {
        children.erase(it);
        delegate->OnChildSaDown(inbound_spi);
        return;
      }
    }
  }

  // --- IKE_SA_INIT, initiator ---------------------------------------------

  std::vector<Payload> NatDetectionNotifies(uint64_t spi_i, uint64_t spi_r) {
    std::vector<Payload> out;
    out.push_back(Notify(NotifyType::kNatDetectionSourceIp,
                         NatDetectionHash(spi_i, spi_r, local)));
    out.push_back(Notify(NotifyType::kNatDetectionDestinationIp,
                         NatDetectionHash(spi_i, spi_r, remote)));
    return out;
  }

  void SendInitRequest(absl::Duration now) {
    Message m;
    m.header.spi_i = current->spi_i;
    m.header.exchange_type = ExchangeType::kIkeSaInit;
    m.header.initiator = true;
    m.header.message_id = 0;
    if (!cookie.empty()) m.payloads.push_back(Notify(NotifyType::kCookie, cookie));
    m.payloads.push_back(Payload::Sa(offered_ike));
    m.payloads.push_back(KeOf(*ke));
    m.payloads.push_back(Payload::Nonce(NoncePayload{nonce_i}));
    for (auto& n : NatDetectionNotifies(current->spi_i, 0))
      m.payloads.push_back(std::move(n));
    m.payloads.push_back(Notify(NotifyType::kIkev2FragmentationSupported));
    m.payloads.push_back(Notify(NotifyType::kSignatureHashAlgorithms,
                                SignatureHashAlgorithmsNotifyData()));
    auto bytes = SerializeMessage(m);
    if (!bytes.ok()) {
      CloseNow(Kind::kFailed, absl::StrCat("cannot build IKE_SA_INIT: ",
                                           bytes.status().message()));
      return;
    }
    init_request = *bytes;
    auto request = std::make_unique<Request>();
    request->what = Request::What::kInit;
    request->exchange = ExchangeType::kIkeSaInit;
    request->message_id = 0;
    request->datagrams = {*bytes};
    request->tries = 1;
    request->deadline = now + RetransmitDelay(1);
    current->next_message_id = 1;
    Transmit(request->datagrams);
    current->outstanding = std::move(request);
  }

  absl::Status NewKeyExchange(crypto::DhGroup group) {
    auto k = crypto::KeyExchange::Create(group);
    if (!k.ok()) return k.status();
    ke = *std::move(k);
    ke_group = group;
    return absl::OkStatus();
  }

  void Start(absl::Duration now) {
    if (state != State::kIdle) return;
    current = std::make_unique<Context>();
    current->spi_i = NewIkeSpi();
    current->we_initiated = true;
    nat_t = config.force_nat_t;
    offered_ike = BuildIkeProposal(config.ike);
    nonce_i = crypto::RandomVector(kNonceSize);
    if (config.ike.dh.empty()) {
      CloseNow(Kind::kFailed, "no DH group configured");
      return;
    }
    if (auto s = NewKeyExchange(config.ike.dh.front()); !s.ok()) {
      CloseNow(Kind::kFailed, std::string(s.message()));
      return;
    }
    state = State::kInitSent;
    setup_deadline = now + config.timers.setup_timeout;
    Event(Kind::kConnecting,
          absl::StrCat("IKE_SA_INIT to ", remote.ToString(), " offering ",
                       DescribeSa(offered_ike)));
    SendInitRequest(now);
  }

  void OnInitResponse(const Message& m, absl::Span<const uint8_t> raw,
                      absl::Duration now) {
    const auto& p = m.payloads;
    if (const NotifyPayload* c = FindNotify(p, NotifyType::kCookie)) {
      if (c->data.empty() || c->data.size() > kMaxCookieSize ||
          ++cookie_retries > kMaxCookieRetries) {
        CloseNow(Kind::kFailed, "gateway keeps asking for a COOKIE");
        return;
      }
      cookie = c->data;
      Event(Kind::kInfo, "gateway asked for a COOKIE; retrying");
      current->outstanding.reset();
      SendInitRequest(now);
      return;
    }
    if (const NotifyPayload* n =
            FindNotify(p, NotifyType::kInvalidKePayload)) {
      absl::optional<crypto::DhGroup> wanted = RequestedGroup(*n);
      bool offered = wanted && std::find(config.ike.dh.begin(),
                                         config.ike.dh.end(),
                                         *wanted) != config.ike.dh.end();
      if (!offered || *wanted == ke_group ||
          ++invalid_ke_retries > kMaxInvalidKeRetries) {
        CloseNow(Kind::kNoProposalChosen,
                 "gateway wants a DH group we did not offer "
                 "(INVALID_KE_PAYLOAD)");
        return;
      }
      if (auto s = NewKeyExchange(*wanted); !s.ok()) {
        CloseNow(Kind::kFailed, std::string(s.message()));
        return;
      }
      Event(Kind::kInfo, absl::StrCat("gateway asked for DH group ",
                                      crypto::DhGroupName(*wanted),
                                      " (INVALID_KE_PAYLOAD); retrying"));
      current->outstanding.reset();
      SendInitRequest(now);
      return;
    }
    if (FindNotify(p, NotifyType::kNoProposalChosen)) {
      CloseNow(Kind::kNoProposalChosen,
               absl::StrCat("gateway accepts none of our IKE proposals; we "
                            "offered ",
                            DescribeSa(offered_ike)));
      return;
    }
    if (const NotifyPayload* e = FindErrorNotify(p)) {
      CloseNow(Kind::kFailed, absl::StrCat("gateway refused IKE_SA_INIT: ",
                                           NotifyName(e->type)));
      return;
    }
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* kep = FindBody<KePayload>(p, PayloadType::kKe);
    const auto* nr = FindBody<NoncePayload>(p, PayloadType::kNonce);
    if (sa == nullptr || kep == nullptr || nr == nullptr ||
        m.header.spi_r == 0) {
      ++counters.rx_malformed;
      return;  // Keep waiting; a retransmit may fetch a good answer.
    }
    auto accepted = AcceptIkeProposal(*sa, offered_ike);
    if (!accepted.ok()) {
      CloseNow(Kind::kNoProposalChosen,
               absl::StrCat("gateway chose an invalid IKE proposal: ",
                            accepted.status().message()));
      return;
    }
    if (accepted->dh != ke_group || kep->group != static_cast<uint16_t>(ke_group)) {
      CloseNow(Kind::kFailed, "gateway's KE does not match the chosen group");
      return;
    }
    if (auto s = CheckNonceLength(accepted->suite.prf, nr->data); !s.ok()) {
      CloseNow(Kind::kFailed, std::string(s.message()));
      return;
    }
    auto shared = ke->ComputeSharedSecret(kep->data);
    if (!shared.ok()) {
      CloseNow(Kind::kFailed, absl::StrCat("gateway's KE: ",
                                           shared.status().message()));
      return;
    }
    choice = *accepted;
    nonce_r = nr->data;
    current->spi_r = m.header.spi_r;
    if (!DeriveInitialKeys(*shared)) return;
    init_response.assign(raw.begin(), raw.end());
    peer_fragmentation =
        FindNotify(p, NotifyType::kIkev2FragmentationSupported) != nullptr;
    if (const NotifyPayload* h =
            FindNotify(p, NotifyType::kSignatureHashAlgorithms)) {
      peer_hash_algorithms = ParseSignatureHashAlgorithms(h->data);
    }
    // NAT detection (RFC 7296 2.23): the gateway's SOURCE hash is of its
    // address as it sent; DESTINATION of ours as it saw it.
    const NotifyPayload* src = FindNotify(p, NotifyType::kNatDetectionSourceIp);
    const NotifyPayload* dst =
        FindNotify(p, NotifyType::kNatDetectionDestinationIp);
    bool nat = false;
    std::string where;
    if (src != nullptr && dst != nullptr) {
      bool them = !NatDetectionMatches(src->data, current->spi_i,
                                       current->spi_r, remote);
      bool us = !NatDetectionMatches(dst->data, current->spi_i,
                                     current->spi_r, local);
      nat = them || us;
      where = them && us ? "both sides" : them ? "the gateway's side"
                                               : "our side";
    }
    if (nat && !nat_t) {
      nat_t = true;
      Event(Kind::kNatDetected,
            absl::StrCat("NAT on ", where,
                         ": switching to UDP encapsulation on port 4500"));
    }
    current->outstanding.reset();
    ke.reset();
    SendAuthRequest(now);
  }

  // --- IKE_AUTH, initiator ------------------------------------------------

  void SendAuthRequest(absl::Duration now) {
    std::vector<Payload> p;
    p.push_back(Payload::Idi(config.local_id));
    for (CertPayload& c : config.credentials->Certificates())
      p.push_back(Payload::Cert(std::move(c)));
    p.push_back(Notify(NotifyType::kInitialContact));
    if (config.peer_authenticator) {
      if (auto req = config.peer_authenticator->CertificateRequest())
        p.push_back(Payload::CertReq(*std::move(req)));
    }
    if (config.remote_id) p.push_back(Payload::Idr(*config.remote_id));
    AuthTranscript t = Transcript();
    Bytes octets = InitiatorSignedOctets(t, IdBody(config.local_id));
    auto auth = config.credentials->Authenticate(t.prf, octets,
                                                 peer_hash_algorithms);
    if (!auth.ok()) {
      CloseNow(Kind::kAuthFailed, absl::StrCat("cannot make our AUTH: ",
                                               auth.status().message()));
      return;
    }
    p.push_back(Payload::Auth(*std::move(auth)));
    if (config.request_config)
      p.push_back(Payload::Config(BuildConfigRequest(config.config_request)));
    first_child_spi = NewEspSpi();
    offered_esp = BuildEspProposal(config.esp, first_child_spi, false);
    p.push_back(Payload::Sa(offered_esp));
    proposed_tsi = config.local_ts;
    if (proposed_tsi.empty()) {
      bool v4 = !config.request_config || config.config_request.ipv4;
      bool v6 = !config.request_config || config.config_request.ipv6;
      if (v4) proposed_tsi.push_back(AnyIpv4Selector());
      if (v6) proposed_tsi.push_back(AnyIpv6Selector());
    }
    proposed_tsr = config.remote_ts;
    if (proposed_tsr.empty()) {
      proposed_tsr.push_back(AnyIpv4Selector());
      proposed_tsr.push_back(AnyIpv6Selector());
    }
    p.push_back(Payload::Tsi(TsPayload{proposed_tsi}));
    p.push_back(Payload::Tsr(TsPayload{proposed_tsr}));
    state = State::kAuthSent;
    Event(Kind::kAuthenticating,
          absl::StrCat("IKE ", Describe(), " agreed; IKE_AUTH as ",
                       DescribeIdentity(config.local_id), " with ",
                       config.credentials->Describe()));
    auto request = std::make_unique<Request>();
    request->what = Request::What::kAuth;
    request->exchange = ExchangeType::kIkeAuth;
    request->payloads = std::move(p);
    SendRequest(current.get(), std::move(request), now);
  }

  void OnAuthResponse(const std::vector<Payload>& p, absl::Duration now) {
    if (FindNotify(p, NotifyType::kAuthenticationFailed)) {
      CloseNow(Kind::kAuthFailed,
               absl::StrCat("gateway rejected our authentication (",
                            config.credentials->Describe(), " as ",
                            DescribeIdentity(config.local_id),
                            "): AUTHENTICATION_FAILED"));
      return;
    }
    const auto* idr = FindBody<IdPayload>(p, PayloadType::kIdr);
    const auto* auth = FindBody<AuthPayload>(p, PayloadType::kAuth);
    if (idr == nullptr || auth == nullptr) {
      if (const NotifyPayload* e = FindErrorNotify(p)) {
        CloseNow(Kind::kFailed, absl::StrCat("gateway refused IKE_AUTH: ",
                                             NotifyName(e->type)));
      } else {
        CloseNow(Kind::kFailed, "IKE_AUTH response without IDr or AUTH");
      }
      return;
    }
    if (config.remote_id && !IdentitiesEqual(*idr, *config.remote_id)) {
      CloseNow(Kind::kAuthFailed,
               absl::StrCat("gateway identifies as ", DescribeIdentity(*idr),
                            ", expected ",
                            DescribeIdentity(*config.remote_id)));
      return;
    }
    AuthTranscript t = Transcript();
    Bytes octets = ResponderSignedOctets(t, IdBody(*idr));
    absl::Status verified = config.peer_authenticator->Verify(
        *idr, AllCerts(p), *auth, t.prf, octets, config.wall_clock());
    if (!verified.ok()) {
      CloseNow(Kind::kAuthFailed,
               absl::StrCat("gateway ", DescribeIdentity(*idr),
                            " failed authentication: ", verified.message()));
      return;
    }
    peer_id = *idr;
    // The IKE SA is authenticated; now the CHILD SA.
    if (const NotifyPayload* e = FindErrorNotify(p)) {
      std::string detail = NotifyName(e->type);
      if (e->type == NotifyType::kNoProposalChosen) {
        CloseNow(Kind::kNoProposalChosen,
                 absl::StrCat("gateway accepts none of our ESP proposals; we "
                              "offered ",
                              DescribeSa(offered_esp)));
      } else {
        CloseNow(Kind::kFailed,
                 absl::StrCat("gateway authenticated us but refused the "
                              "CHILD SA: ",
                              detail));
      }
      return;
    }
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* tsi = FindBody<TsPayload>(p, PayloadType::kTsi);
    const auto* tsr = FindBody<TsPayload>(p, PayloadType::kTsr);
    if (sa == nullptr || tsi == nullptr || tsr == nullptr) {
      CloseNow(Kind::kFailed, "IKE_AUTH response without SA, TSi or TSr");
      return;
    }
    auto esp = AcceptEspProposal(*sa, offered_esp);
    if (!esp.ok()) {
      CloseNow(Kind::kNoProposalChosen,
               absl::StrCat("gateway chose an invalid ESP proposal: ",
                            esp.status().message()));
      return;
    }
    if (auto s = CheckNarrowed(proposed_tsi, tsi->selectors); !s.ok()) {
      CloseNow(Kind::kFailed, absl::StrCat("TSi: ", s.message()));
      return;
    }
    if (auto s = CheckNarrowed(proposed_tsr, tsr->selectors); !s.ok()) {
      CloseNow(Kind::kFailed, absl::StrCat("TSr: ", s.message()));
      return;
    }
    if (config.request_config) {
      const auto* cp = FindBody<ConfigPayload>(p, PayloadType::kConfig);
      if (cp == nullptr) {
        CloseNow(Kind::kFailed,
                 "gateway assigned no virtual address (no CP reply)");
        return;
      }
      auto a = ParseConfigReply(*cp);
      if (!a.ok()) {
        CloseNow(Kind::kFailed, absl::StrCat("CP reply: ",
                                             a.status().message()));
        return;
      }
      if (!a->ipv4 && !a->ipv6) {
        CloseNow(Kind::kFailed, "gateway assigned no virtual address");
        return;
      }
      assigned = *std::move(a);
    }
    auto child = MakeChild(*esp, /*we_initiated_exchange=*/true,
                           first_child_spi, nonce_i, nonce_r, {});
    if (!child.ok()) {
      CloseNow(Kind::kFailed, std::string(child.status().message()));
      return;
    }
    child->local_ts = tsi->selectors;
    child->remote_ts = tsr->selectors;
    Established(now);
    std::string detail = absl::StrCat(
        "as ", DescribeIdentity(config.local_id), " to ",
        DescribeIdentity(peer_id), "; IKE ", Describe(), ", ESP ",
        esp::AlgorithmName(esp->encr), "; virtual ",
        DescribeAssigned(assigned), "; ", DescribeSelectors(child->local_ts),
        " === ", DescribeSelectors(child->remote_ts),
        nat_t ? "; NAT-T" : "");
    AddChild(*std::move(child), now);
    current->outstanding.reset();
    Event(Kind::kEstablished, detail);
    SendNext(current.get(), now);
  }

  void Established(absl::Duration now) {
    state = State::kEstablished;
    setup_deadline = absl::InfiniteDuration();
    ike_rekey_at = now + Jittered(config.timers.ike_rekey,
                                  config.timers.rekey_jitter);
  }

  // --- IKE_SA_INIT, responder ---------------------------------------------

  void RespondInit(const Message& m, absl::Span<const uint8_t> raw,
                   absl::Duration now) {
    const auto& p = m.payloads;
    current = std::make_unique<Context>();
    current->spi_i = m.header.spi_i;
    current->we_initiated = false;
    if (!m.UnsupportedCriticalPayloads().empty()) {
      SendInitError(m.header,
                    Notify(NotifyType::kUnsupportedCriticalPayload,
                           {static_cast<uint8_t>(
                               m.UnsupportedCriticalPayloads().front())}));
      CloseNow(Kind::kFailed, "unsupported critical payload in IKE_SA_INIT");
      return;
    }
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* kep = FindBody<KePayload>(p, PayloadType::kKe);
    const auto* ni = FindBody<NoncePayload>(p, PayloadType::kNonce);
    if (sa == nullptr || kep == nullptr || ni == nullptr ||
        m.header.spi_r != 0 || m.header.response || m.header.message_id != 0 ||
        !m.header.initiator) {
      SendInitError(m.header, Notify(NotifyType::kInvalidSyntax));
      CloseNow(Kind::kFailed, "malformed IKE_SA_INIT request");
      return;
    }
    SaPayload reply_sa;
    auto selected = SelectIkeProposal(*sa, config.ike, &reply_sa);
    if (!selected.ok()) {
      SendInitError(m.header, Notify(NotifyType::kNoProposalChosen));
      CloseNow(Kind::kNoProposalChosen, std::string(selected.status().message()));
      return;
    }
    choice = *selected;
    if (kep->group != static_cast<uint16_t>(choice.dh)) {
      SendInitError(m.header, InvalidKe(choice.dh));
      CloseNow(Kind::kInfo,
               absl::StrCat("asked the initiator for DH group ",
                            crypto::DhGroupName(choice.dh)));
      return;
    }
    if (auto s = CheckNonceLength(choice.suite.prf, ni->data); !s.ok()) {
      SendInitError(m.header, Notify(NotifyType::kInvalidSyntax));
      CloseNow(Kind::kFailed, std::string(s.message()));
      return;
    }
    if (auto s = NewKeyExchange(choice.dh); !s.ok()) {
      CloseNow(Kind::kFailed, std::string(s.message()));
      return;
    }
    auto shared = ke->ComputeSharedSecret(kep->data);
    if (!shared.ok()) {
      SendInitError(m.header, Notify(NotifyType::kInvalidSyntax));
      CloseNow(Kind::kFailed, absl::StrCat("initiator's KE: ",
                                           shared.status().message()));
      return;
    }
    nonce_i = ni->data;
    nonce_r = crypto::RandomVector(kNonceSize);
    current->spi_r = NewIkeSpi();
    if (!DeriveInitialKeys(*shared)) return;
    peer_fragmentation =
        FindNotify(p, NotifyType::kIkev2FragmentationSupported) != nullptr;
    const NotifyPayload* hashes =
        FindNotify(p, NotifyType::kSignatureHashAlgorithms);
    if (hashes != nullptr) peer_hash_algorithms = ParseSignatureHashAlgorithms(hashes->data);

    Message r;
    r.header.spi_i = current->spi_i;
    r.header.spi_r = current->spi_r;
    r.header.exchange_type = ExchangeType::kIkeSaInit;
    r.header.response = true;
    r.payloads.push_back(Payload::Sa(reply_sa));
    r.payloads.push_back(KeOf(*ke));
    r.payloads.push_back(Payload::Nonce(NoncePayload{nonce_r}));
    if (FindNotify(p, NotifyType::kNatDetectionSourceIp)) {
      auto nat_d = NatDetectionNotifies(current->spi_i, current->spi_r);
      if (config.force_nat_t) {
        // We take ESP only inside UDP: claim to be behind a NAT (a hash of
        // port 0) so that the initiator encapsulates, as strongSwan does
        // with kernel-libipsec.
        nat_d[0] = Notify(NotifyType::kNatDetectionSourceIp,
                          NatDetectionHash(current->spi_i, current->spi_r,
                                           local.ip(), 0));
        // The transport stays as the request came; the initiator floats
        // to 4500 for IKE_AUTH and we follow it there.
      }
      for (auto& n : nat_d) r.payloads.push_back(std::move(n));
    }
    if (config.peer_authenticator) {
      if (auto req = config.peer_authenticator->CertificateRequest())
        r.payloads.push_back(Payload::CertReq(*std::move(req)));
    }
    if (peer_fragmentation)
      r.payloads.push_back(Notify(NotifyType::kIkev2FragmentationSupported));
    if (hashes != nullptr)
      r.payloads.push_back(Notify(NotifyType::kSignatureHashAlgorithms,
                                  SignatureHashAlgorithmsNotifyData()));
    auto bytes = SerializeMessage(r);
    if (!bytes.ok()) {
      CloseNow(Kind::kFailed, "cannot build the IKE_SA_INIT response");
      return;
    }
    init_request.assign(raw.begin(), raw.end());
    init_response = *bytes;
    ke.reset();
    current->peer_message_id = 1;
    current->last_response = {init_response};
    current->have_last_response = true;
    state = State::kInitReplied;
    setup_deadline = now + config.timers.setup_timeout;
    last_rx = now;
    Transmit(current->last_response);
    Event(Kind::kConnecting,
          absl::StrCat("IKE_SA_INIT from ", remote.ToString(), ": ",
                       Describe()));
  }

  // --- IKE_AUTH, responder ------------------------------------------------

  std::vector<Payload> RespondAuth(const std::vector<Payload>& p,
                                   absl::Duration now) {
    std::vector<Payload> out;
    const auto* idi = FindBody<IdPayload>(p, PayloadType::kIdi);
    const auto* auth = FindBody<AuthPayload>(p, PayloadType::kAuth);
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* tsi = FindBody<TsPayload>(p, PayloadType::kTsi);
    const auto* tsr = FindBody<TsPayload>(p, PayloadType::kTsr);
    if (idi == nullptr || auth == nullptr) {
      out.push_back(Notify(NotifyType::kAuthenticationFailed));
      pending_close = {Kind::kAuthFailed,
                       idi == nullptr ? "IKE_AUTH without IDi"
                                      : "IKE_AUTH without AUTH (EAP is not "
                                        "supported)"};
      return out;
    }
    peer_id = *idi;
    std::string who = DescribeIdentity(*idi);
    if (config.remote_id && !IdentitiesEqual(*idi, *config.remote_id)) {
      out.push_back(Notify(NotifyType::kAuthenticationFailed));
      pending_close = {Kind::kAuthFailed,
                       absl::StrCat("peer ", who, " is not ",
                                    DescribeIdentity(*config.remote_id))};
      return out;
    }
    AuthTranscript t = Transcript();
    Bytes octets = InitiatorSignedOctets(t, IdBody(*idi));
    absl::Status verified = config.peer_authenticator->Verify(
        *idi, AllCerts(p), *auth, t.prf, octets, config.wall_clock());
    if (!verified.ok()) {
      out.push_back(Notify(NotifyType::kAuthenticationFailed));
      pending_close = {Kind::kAuthFailed,
                       absl::StrCat("peer ", who, " failed authentication: ",
                                    verified.message())};
      return out;
    }
    // Our side.
    out.push_back(Payload::Idr(config.local_id));
    for (CertPayload& c : config.credentials->Certificates())
      out.push_back(Payload::Cert(std::move(c)));
    Bytes our_octets = ResponderSignedOctets(t, IdBody(config.local_id));
    auto our_auth = config.credentials->Authenticate(t.prf, our_octets,
                                                     peer_hash_algorithms);
    if (!our_auth.ok()) {
      out.clear();
      out.push_back(Notify(NotifyType::kAuthenticationFailed));
      pending_close = {Kind::kFailed,
                       absl::StrCat("cannot make our AUTH: ",
                                    our_auth.status().message())};
      return out;
    }
    out.push_back(Payload::Auth(*std::move(our_auth)));
    Established(now);
    // The CHILD SA; a failure here leaves the IKE SA without one, which we
    // do not keep: it is closed after the response.
    auto refuse_child = [&](NotifyType type, Kind kind, std::string why) {
      out.push_back(Notify(type));
      pending_close = {kind, absl::StrCat("peer ", who, ": ", why)};
      return out;
    };
    if (sa == nullptr || tsi == nullptr || tsr == nullptr) {
      return refuse_child(NotifyType::kInvalidSyntax, Kind::kFailed,
                          "IKE_AUTH without SA, TSi or TSr");
    }
    const auto* cp = FindBody<ConfigPayload>(p, PayloadType::kConfig);
    std::vector<TrafficSelector> allowed_i = config.remote_ts;
    if (cp != nullptr && cp->cfg_type == CfgType::kRequest) {
      auto a = delegate->AssignConfig(ParseConfigRequest(*cp), *idi);
      if (!a.ok()) {
        return refuse_child(NotifyType::kInternalAddressFailure,
                            Kind::kFailed,
                            absl::StrCat("no virtual address: ",
                                         a.status().message()));
      }
      assigned = *std::move(a);
      allowed_i.clear();
      if (assigned.ipv4) allowed_i.push_back(SelectorForPrefix(*assigned.ipv4, 32));
      if (assigned.ipv6) allowed_i.push_back(SelectorForPrefix(*assigned.ipv6, 128));
    }
    if (allowed_i.empty()) {
      allowed_i = {AnyIpv4Selector(), AnyIpv6Selector()};
    }
    std::vector<TrafficSelector> allowed_r = config.local_ts;
    if (allowed_r.empty()) allowed_r = {AnyIpv4Selector(), AnyIpv6Selector()};
    auto narrowed_i = NarrowSelectors(tsi->selectors, allowed_i);
    auto narrowed_r = NarrowSelectors(tsr->selectors, allowed_r);
    if (!narrowed_i.ok() || !narrowed_r.ok()) {
      return refuse_child(
          NotifyType::kTsUnacceptable, Kind::kFailed,
          absl::StrCat("traffic selectors unacceptable: ",
                       DescribeSelectors(tsi->selectors), " === ",
                       DescribeSelectors(tsr->selectors)));
    }
    uint32_t our_spi = NewEspSpi();
    SaPayload reply_sa;
    auto esp = SelectEspProposal(*sa, config.esp, our_spi,
                                 /*require_dh=*/false, &reply_sa);
    if (!esp.ok()) {
      return refuse_child(NotifyType::kNoProposalChosen,
                          Kind::kNoProposalChosen,
                          std::string(esp.status().message()));
    }
    auto child = MakeChild(*esp, /*we_initiated_exchange=*/false, our_spi,
                           nonce_i, nonce_r, {});
    if (!child.ok()) {
      return refuse_child(NotifyType::kNoProposalChosen, Kind::kFailed,
                          std::string(child.status().message()));
    }
    child->local_ts = *narrowed_r;
    child->remote_ts = *narrowed_i;
    if (cp != nullptr && cp->cfg_type == CfgType::kRequest)
      out.push_back(Payload::Config(BuildConfigReply(assigned)));
    out.push_back(Payload::Sa(reply_sa));
    out.push_back(Payload::Tsi(TsPayload{*narrowed_i}));
    out.push_back(Payload::Tsr(TsPayload{*narrowed_r}));
    std::string detail = absl::StrCat(
        who, " with ", auth->method == AuthMethod::kSharedKeyMic
                           ? "PSK"
                           : "a certificate",
        "; IKE ", Describe(), ", ESP ", esp::AlgorithmName(esp->encr),
        "; virtual ", DescribeAssigned(assigned), "; ",
        DescribeSelectors(child->remote_ts), " === ",
        DescribeSelectors(child->local_ts), nat_t ? "; NAT-T" : "");
    AddChild(*std::move(child), now);
    established_detail = detail;
    return out;
  }

  // A close to carry out once the response has been sent.
  struct PendingClose {
    Kind kind = Kind::kInfo;
    std::string reason;
  };
  absl::optional<PendingClose> pending_close;
  std::string established_detail;

  // --- CREATE_CHILD_SA ------------------------------------------------------

  void StartChildRekey(Child* c, absl::Duration now) {
    if (state != State::kEstablished || c->rekeying || c->replaced) return;
    c->rekeying = true;
    auto r = std::make_unique<Request>();
    r->what = Request::What::kRekeyChild;
    r->exchange = ExchangeType::kCreateChildSa;
    r->target_inbound = c->info.inbound_spi;
    BuildChildRekeyPayloads(r.get(), *c, config.esp.dh.empty()
                                             ? absl::nullopt
                                             : absl::make_optional(
                                                   config.esp.dh.front()));
    SendRequest(current.get(), std::move(r), now);
  }

  void BuildChildRekeyPayloads(Request* r, const Child& c,
                               absl::optional<crypto::DhGroup> group) {
    r->payloads.clear();
    r->new_spi = NewEspSpi();
    r->nonce = crypto::RandomVector(kNonceSize);
    r->ke.reset();
    if (group) {
      auto k = crypto::KeyExchange::Create(*group);
      if (k.ok()) r->ke = *std::move(k);
    }
    r->offered = BuildEspProposal(config.esp, r->new_spi, r->ke != nullptr);
    r->payloads.push_back(Notify(NotifyType::kRekeySa, {}, ProtocolId::kEsp,
                                 Spi4(c.info.inbound_spi)));
    r->payloads.push_back(Payload::Sa(r->offered));
    r->payloads.push_back(Payload::Nonce(NoncePayload{r->nonce}));
    if (r->ke) r->payloads.push_back(KeOf(*r->ke));
    // TSi are the selectors of the exchange's initiator (us), whoever
    // initiated the IKE SA.
    r->payloads.push_back(Payload::Tsi(TsPayload{c.info.local_ts}));
    r->payloads.push_back(Payload::Tsr(TsPayload{c.info.remote_ts}));
  }

  void StartIkeRekey(absl::Duration now) {
    if (state != State::kEstablished || ike_rekeying) return;
    ike_rekeying = true;
    auto r = std::make_unique<Request>();
    r->what = Request::What::kRekeyIke;
    r->exchange = ExchangeType::kCreateChildSa;
    BuildIkeRekeyPayloads(r.get(), choice.dh);
    SendRequest(current.get(), std::move(r), now);
  }

  void BuildIkeRekeyPayloads(Request* r, crypto::DhGroup group) {
    r->payloads.clear();
    r->new_ike_spi = NewIkeSpi();
    r->nonce = crypto::RandomVector(kNonceSize);
    auto k = crypto::KeyExchange::Create(group);
    r->ke = k.ok() ? *std::move(k) : nullptr;
    // Our preferred suite first, but the group of the current SA (the
    // gateway just accepted it) to avoid an INVALID_KE round trip.
    IkeAlgorithms algs = config.ike;
    auto it = std::find(algs.dh.begin(), algs.dh.end(), group);
    if (it != algs.dh.end()) std::rotate(algs.dh.begin(), it, it + 1);
    r->offered = BuildIkeProposal(algs, Spi8(r->new_ike_spi));
    r->payloads.push_back(Payload::Sa(r->offered));
    r->payloads.push_back(Payload::Nonce(NoncePayload{r->nonce}));
    if (r->ke) r->payloads.push_back(KeOf(*r->ke));
  }

  // Retries a refused rekey later.
  void RetryRekeyLater(const Request& r, absl::Duration delay,
                       absl::Duration now) {
    if (r.what == Request::What::kRekeyIke) {
      ike_rekeying = false;
      ike_rekey_at = now + delay;
    } else if (Child* c = ChildByInbound(r.target_inbound)) {
      c->rekeying = false;
      c->rekey_at = now + delay;
    }
  }

  void OnCreateChildResponse(Request* r, const std::vector<Payload>& p,
                             absl::Duration now) {
    if (const NotifyPayload* n =
            FindNotify(p, NotifyType::kInvalidKePayload)) {
      absl::optional<crypto::DhGroup> wanted = RequestedGroup(*n);
      if (wanted && r->invalid_ke_retries < kMaxInvalidKeRetries) {
        auto retry = std::make_unique<Request>();
        retry->what = r->what;
        retry->exchange = r->exchange;
        retry->target_inbound = r->target_inbound;
        retry->invalid_ke_retries = r->invalid_ke_retries + 1;
        if (r->what == Request::What::kRekeyIke) {
          BuildIkeRekeyPayloads(retry.get(), *wanted);
        } else if (Child* c = ChildByInbound(r->target_inbound)) {
          BuildChildRekeyPayloads(retry.get(), *c, wanted);
        } else {
          return;
        }
        Event(Kind::kInfo, absl::StrCat("rekey: peer wants DH group ",
                                        crypto::DhGroupName(*wanted)));
        current->queue.push_front(std::move(retry));
        return;
      }
    }
    if (const NotifyPayload* e = FindErrorNotify(p)) {
      bool temporary = e->type == NotifyType::kTemporaryFailure;
      Event(Kind::kInfo,
            absl::StrCat(r->what == Request::What::kRekeyIke ? "IKE" : "CHILD",
                         " rekey refused: ", NotifyName(e->type),
                         temporary ? "; retrying shortly" : "; retrying later"));
      if (e->type == NotifyType::kChildSaNotFound) {
        // The peer no longer has it (it is deleting it): nothing to rekey.
        if (Child* c = ChildByInbound(r->target_inbound)) c->rekeying = false;
        return;
      }
      RetryRekeyLater(*r,
                      temporary ? RandomBetween(kRekeyRetryMin, kRekeyRetryMax)
                                : kRekeyRetryAfterError,
                      now);
      return;
    }
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* nr = FindBody<NoncePayload>(p, PayloadType::kNonce);
    const auto* kep = FindBody<KePayload>(p, PayloadType::kKe);
    if (sa == nullptr || nr == nullptr || nr->data.size() < kMinNonceSize) {
      Event(Kind::kInfo, "rekey response without SA or nonce");
      RetryRekeyLater(*r, kRekeyRetryAfterError, now);
      return;
    }
    Bytes shared;
    auto compute_shared = [&](const crypto::KeyExchange* k) -> bool {
      if (k == nullptr) return true;
      if (kep == nullptr || kep->group != static_cast<uint16_t>(k->group()))
        return false;
      auto s = k->ComputeSharedSecret(kep->data);
      if (!s.ok()) return false;
      shared = *std::move(s);
      return true;
    };
    if (r->what == Request::What::kRekeyIke) {
      auto accepted = AcceptIkeProposal(*sa, r->offered);
      const uint64_t peer_spi = accepted.ok() ? accepted->peer_spi : 0;
      if (!accepted.ok() || peer_spi == 0 || r->ke == nullptr ||
          accepted->dh != r->ke->group() || !compute_shared(r->ke.get())) {
        Event(Kind::kInfo, "IKE rekey: bad response; retrying later");
        RetryRekeyLater(*r, kRekeyRetryAfterError, now);
        return;
      }
      auto keys = DeriveRekeyedIkeSaKeys(current->keys, accepted->suite,
                                         r->nonce, nr->data, shared,
                                         r->new_ike_spi, peer_spi);
      if (!keys.ok()) {
        RetryRekeyLater(*r, kRekeyRetryAfterError, now);
        return;
      }
      auto next = std::make_unique<Context>();
      next->spi_i = r->new_ike_spi;
      next->spi_r = peer_spi;
      next->we_initiated = true;
      if (!InstallKeys(next.get(), *std::move(keys)).ok()) return;
      choice = *accepted;
      SwitchIkeSa(std::move(next), /*we_delete_old=*/true, now);
      return;
    }
    // CHILD rekey.
    Child* old_child = ChildByInbound(r->target_inbound);
    auto esp = AcceptEspProposal(*sa, r->offered);
    if (old_child == nullptr || !esp.ok() ||
        (esp->dh.has_value() != (r->ke != nullptr)) ||
        !compute_shared(esp->dh ? r->ke.get() : nullptr)) {
      Event(Kind::kInfo, absl::StrCat("CHILD rekey: bad response",
                                      esp.ok() ? "" : ": ",
                                      esp.ok() ? "" : esp.status().message()));
      RetryRekeyLater(*r, kRekeyRetryAfterError, now);
      return;
    }
    auto child = MakeChild(*esp, /*we_initiated_exchange=*/true, r->new_spi,
                           r->nonce, nr->data, shared);
    if (!child.ok()) {
      RetryRekeyLater(*r, kRekeyRetryAfterError, now);
      return;
    }
    child->local_ts = old_child->info.local_ts;
    child->remote_ts = old_child->info.remote_ts;
    child->replaces_inbound_spi = old_child->info.inbound_spi;
    old_child->rekeying = false;
    uint32_t old_spi = old_child->info.inbound_spi;
    bool collided = old_child->peer_rekey_spi != 0;
    bool ours_redundant = false;
    if (collided) {
      // RFC 7296 2.8.1: the SA created with the lowest of the four nonces
      // is redundant and deleted by whoever created it.
      ++counters.rekey_collisions;
      Bytes lowest_ours = std::min(r->nonce, nr->data);
      Bytes lowest_theirs =
          std::min(old_child->peer_rekey_ni, old_child->peer_rekey_nr);
      ours_redundant = lowest_ours < lowest_theirs;
    }
    ++counters.child_rekeys;
    uint32_t new_spi = child->inbound_spi;
    AddChild(*std::move(child), now);
    if (ours_redundant) {
      Event(Kind::kInfo, "CHILD rekey collision: ours is redundant, deleting it");
      QueueDeleteChild(new_spi, now);
    } else {
      if (!collided) {
        Event(Kind::kChildRekeyed,
              absl::StrCat("CHILD SA ", Hex(old_spi), " replaced by ",
                           Hex(new_spi)));
      }
      if (Child* o = ChildByInbound(old_spi)) o->replaced = true;
      QueueDeleteChild(old_spi, now);
    }
  }

  static std::string Hex(uint32_t spi) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%08x", spi);
    return buf;
  }

  void QueueDeleteChild(uint32_t inbound_spi, absl::Duration now) {
    if (Child* c = ChildByInbound(inbound_spi)) c->replaced = true;
    auto r = std::make_unique<Request>();
    r->what = Request::What::kDeleteChild;
    r->exchange = ExchangeType::kInformational;
    r->target_inbound = inbound_spi;
    DeletePayload d;
    d.protocol = ProtocolId::kEsp;
    d.spi_size = 4;
    d.spis.push_back(Spi4(inbound_spi));
    r->payloads.push_back(Payload::Delete(std::move(d)));
    SendRequest(current.get(), std::move(r), now);
  }

  // INFORMATIONAL with D for the IKE SA it is sent on (RFC 7296 1.4.1).
  static std::unique_ptr<Request> DeleteIkeRequest() {
    auto r = std::make_unique<Request>();
    r->what = Request::What::kDeleteIke;
    r->exchange = ExchangeType::kInformational;
    DeletePayload d;
    d.protocol = ProtocolId::kIke;
    d.spi_size = 0;
    r->payloads.push_back(Payload::Delete(std::move(d)));
    return r;
  }

  // After an IKE rekey: `next` becomes the current SA, the CHILD SAs move
  // to it and the old one is deleted (by us when we started the rekey).
  void SwitchIkeSa(std::unique_ptr<Context> next, bool we_delete_old,
                   absl::Duration now) {
    ++counters.ike_rekeys;
    ike_rekeying = false;
    std::unique_ptr<Context> prev = std::move(current);
    current = std::move(next);
    // Requests queued on the old SA move over (their message IDs are
    // assigned when sent).
    while (!prev->queue.empty()) {
      current->queue.push_back(std::move(prev->queue.front()));
      prev->queue.pop_front();
    }
    ike_rekey_at = now + Jittered(config.timers.ike_rekey,
                                  config.timers.rekey_jitter);
    Event(Kind::kIkeRekeyed,
          absl::StrCat("IKE SA rekeyed: ", Describe(), ", SPIs ",
                       SpiText(current->spi_i), "_i ",
                       SpiText(current->spi_r), "_r"));
    if (we_delete_old) {
      prev->outstanding.reset();
      old = std::move(prev);
      SendRequest(old.get(), DeleteIkeRequest(), now);
    } else {
      old = std::move(prev);  // Until the peer deletes it.
      old->outstanding.reset();
      old_expires = now + config.timers.setup_timeout;
    }
    if (!current->outstanding && !current->queue.empty()) {
      auto n = std::move(current->queue.front());
      current->queue.pop_front();
      SendRequest(current.get(), std::move(n), now);
    }
  }
  absl::Duration old_expires = absl::InfiniteDuration();

  static std::string SpiText(uint64_t spi) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "%016llx",
                  static_cast<unsigned long long>(spi));
    return buf;
  }

  // The peer's CREATE_CHILD_SA request.
  std::vector<Payload> RespondCreateChild(const std::vector<Payload>& p,
                                          absl::Duration now,
                                          std::unique_ptr<Context>* switch_to) {
    std::vector<Payload> out;
    const auto* sa = FindBody<SaPayload>(p, PayloadType::kSa);
    const auto* ni = FindBody<NoncePayload>(p, PayloadType::kNonce);
    const auto* kep = FindBody<KePayload>(p, PayloadType::kKe);
    if (state != State::kEstablished) {
      out.push_back(Notify(NotifyType::kTemporaryFailure));
      return out;
    }
    if (sa == nullptr || ni == nullptr || ni->data.size() < kMinNonceSize ||
        ni->data.size() > kMaxNonceSize) {
      out.push_back(Notify(NotifyType::kInvalidSyntax));
      return out;
    }
    const NotifyPayload* rekey = FindNotify(p, NotifyType::kRekeySa);
    bool is_ike = !sa->proposals.empty() &&
                  sa->proposals.front().protocol == ProtocolId::kIke;
    if (rekey == nullptr && is_ike) {
      // IKE SA rekey (RFC 7296 1.3.2).
      if (ike_rekeying || old != nullptr) {
        ++counters.rekey_collisions;
        out.push_back(Notify(NotifyType::kTemporaryFailure));
        return out;
      }
      SaPayload reply;
      auto sel = SelectIkeProposal(*sa, config.ike, &reply);
      if (!sel.ok()) {
        out.push_back(Notify(NotifyType::kNoProposalChosen));
        Event(Kind::kInfo, absl::StrCat("IKE rekey refused: ",
                                        sel.status().message()));
        return out;
      }
      if (kep == nullptr || kep->group != static_cast<uint16_t>(sel->dh)) {
        out.push_back(InvalidKe(sel->dh));
        return out;
      }
      const uint64_t peer_spi = sel->peer_spi;  // The new SA's SPIi.
      auto k = crypto::KeyExchange::Create(sel->dh);
      if (peer_spi == 0 || !k.ok()) {
        out.push_back(Notify(NotifyType::kInvalidSyntax));
        return out;
      }
      auto shared = (*k)->ComputeSharedSecret(kep->data);
      if (!shared.ok()) {
        out.push_back(Notify(NotifyType::kInvalidSyntax));
        return out;
      }
      uint64_t our_spi = NewIkeSpi();
      Bytes nr = crypto::RandomVector(kNonceSize);
      auto keys = DeriveRekeyedIkeSaKeys(current->keys, sel->suite, ni->data,
                                         nr, *shared, peer_spi, our_spi);
      if (!keys.ok()) {
        out.push_back(Notify(NotifyType::kNoProposalChosen));
        return out;
      }
      auto next = std::make_unique<Context>();
      next->spi_i = peer_spi;
      next->spi_r = our_spi;
      next->we_initiated = false;
      if (!InstallKeys(next.get(), *std::move(keys)).ok()) {
        out.push_back(Notify(NotifyType::kNoProposalChosen));
        return out;
      }
      choice = *sel;
      reply.proposals.front().spi = Spi8(our_spi);
      out.push_back(Payload::Sa(reply));
      out.push_back(Payload::Nonce(NoncePayload{nr}));
      out.push_back(KeOf(**k));
      *switch_to = std::move(next);
      return out;
    }
    if (rekey == nullptr) {
      out.push_back(Notify(NotifyType::kNoAdditionalSas));
      return out;
    }
    // CHILD SA rekey (RFC 7296 1.3.3).
    Child* c = rekey->protocol == ProtocolId::kEsp
                   ? ChildByOutbound(ReadSpi4(rekey->spi))
                   : nullptr;
    if (c == nullptr || c->replaced) {
      out.push_back(Notify(NotifyType::kChildSaNotFound, {}, ProtocolId::kEsp,
                           rekey->spi));
      return out;
    }
    // The rekeyed SA keeps its selectors: the peer's TSi must be within
    // its side of them, TSr within ours.
    const auto* tsi = FindBody<TsPayload>(p, PayloadType::kTsi);
    const auto* tsr = FindBody<TsPayload>(p, PayloadType::kTsr);
    if (tsi == nullptr || tsr == nullptr ||
        !CheckNarrowed(c->info.remote_ts, tsi->selectors).ok() ||
        !CheckNarrowed(c->info.local_ts, tsr->selectors).ok()) {
      out.push_back(Notify(NotifyType::kTsUnacceptable));
      Event(Kind::kInfo, "CHILD rekey refused: traffic selectors do not fit");
      return out;
    }
    uint32_t our_spi = NewEspSpi();
    SaPayload reply;
    auto esp = SelectEspProposal(*sa, config.esp, our_spi,
                                 /*require_dh=*/kep != nullptr, &reply);
    if (!esp.ok()) {
      out.push_back(Notify(NotifyType::kNoProposalChosen));
      Event(Kind::kInfo, absl::StrCat("CHILD rekey refused: ",
                                      esp.status().message()));
      return out;
    }
    Bytes shared;
    std::unique_ptr<crypto::KeyExchange> k;
    if (esp->dh) {
      if (kep == nullptr || kep->group != static_cast<uint16_t>(*esp->dh)) {
        out.push_back(InvalidKe(*esp->dh));
        return out;
      }
      auto made = crypto::KeyExchange::Create(*esp->dh);
      if (!made.ok()) {
        out.push_back(Notify(NotifyType::kNoProposalChosen));
        return out;
      }
      k = *std::move(made);
      auto s = k->ComputeSharedSecret(kep->data);
      if (!s.ok()) {
        out.push_back(Notify(NotifyType::kInvalidSyntax));
        return out;
      }
      shared = *std::move(s);
    }
    Bytes nr = crypto::RandomVector(kNonceSize);
    auto child = MakeChild(*esp, /*we_initiated_exchange=*/false, our_spi,
                           ni->data, nr, shared);
    if (!child.ok()) {
      out.push_back(Notify(NotifyType::kNoProposalChosen));
      return out;
    }
    child->local_ts = c->info.local_ts;
    child->remote_ts = c->info.remote_ts;
    child->replaces_inbound_spi = c->info.inbound_spi;
    uint32_t old_spi = c->info.inbound_spi;
    if (c->rekeying) {
      // Collision with our own rekey of it: remember this exchange's nonces.
      c->peer_rekey_spi = our_spi;
      c->peer_rekey_ni = ni->data;
      c->peer_rekey_nr = nr;
    } else {
      c->replaced = true;
    }
    ++counters.child_rekeys;
    out.push_back(Payload::Sa(reply));
    out.push_back(Payload::Nonce(NoncePayload{nr}));
    if (k) out.push_back(KeOf(*k));
    // TSi are the selectors of the exchange's initiator (the peer).
    out.push_back(Payload::Tsi(TsPayload{child->remote_ts}));
    out.push_back(Payload::Tsr(TsPayload{child->local_ts}));
    AddChild(*std::move(child), now);
    Event(Kind::kChildRekeyed,
          absl::StrCat("CHILD SA ", Hex(old_spi), " replaced by ",
                       Hex(our_spi), " (peer's rekey)"));
    return out;
  }

  // --- INFORMATIONAL ------------------------------------------------------

  std::vector<Payload> RespondInformational(Context* ctx,
                                            const std::vector<Payload>& p,
                                            bool* close_after) {
    std::vector<Payload> out;
    std::vector<Bytes> our_spis;
    if (p.empty()) ++counters.rx_liveness_checks;
    for (const Payload& pl : p) {
      if (pl.type != PayloadType::kDelete) continue;
      const auto* d = BodyOf<DeletePayload>(pl);
      if (d == nullptr) continue;
      if (d->protocol == ProtocolId::kIke) {
        *close_after = true;
        return {};
      }
      if (d->protocol != ProtocolId::kEsp) continue;
      for (const Bytes& spi : d->spis) {
        Child* c = ChildByOutbound(ReadSpi4(spi));
        if (c == nullptr) continue;
        uint32_t in = c->info.inbound_spi;
        our_spis.push_back(Spi4(in));
        RemoveChild(in);
        Event(Kind::kInfo, absl::StrCat("peer deleted CHILD SA ", Hex(in)));
      }
    }
    (void)ctx;
    if (!our_spis.empty()) {
      DeletePayload d;
      d.protocol = ProtocolId::kEsp;
      d.spi_size = 4;
      d.spis = std::move(our_spis);
      out.push_back(Payload::Delete(std::move(d)));
    }
    return out;
  }

  // --- receiving ----------------------------------------------------------

  Context* ContextFor(const Header& h) {
    if (current && h.spi_i == current->spi_i &&
        (h.spi_r == current->spi_r ||
         (state == State::kInitSent && h.exchange_type ==
                                           ExchangeType::kIkeSaInit))) {
      return current.get();
    }
    if (old && h.spi_i == old->spi_i && h.spi_r == old->spi_r) return old.get();
    return nullptr;
  }

  void OnMessage(absl::Span<const uint8_t> data, const SocketAddress& from,
                 bool via_nat_t, absl::Duration now) {
    if (state == State::kClosed) return;
    ++counters.rx_messages;
    auto header = ParseHeader(data);
    if (!header.ok()) {
      ++counters.rx_malformed;
      return;
    }
    Context* ctx = ContextFor(*header);
    if (ctx == nullptr) {
      // A retransmitted IKE_SA_INIT for our half-open responder SA.
      if (role == Role::kResponder && current &&
          header->exchange_type == ExchangeType::kIkeSaInit &&
          !header->response && header->spi_i == current->spi_i &&
          header->spi_r == 0 && state == State::kInitReplied) {
        ++counters.rx_retransmits;
        Transmit(current->last_response);
        return;
      }
      ++counters.rx_bad_spi;
      return;
    }
    // The peer's role flag must be the opposite of ours for this SA.
    if (header->initiator == ctx->we_initiated) {
      ++counters.rx_unexpected;
      return;
    }
    if (header->exchange_type == ExchangeType::kIkeSaInit) {
      if (role == Role::kInitiator && state == State::kInitSent &&
          header->response && header->message_id == 0) {
        auto m = ParseMessage(data);
        if (!m.ok()) {
          ++counters.rx_malformed;
          return;
        }
        last_rx = now;
        OnInitResponse(*m, data, now);
        return;
      }
      ++counters.rx_unexpected;
      return;
    }
    if (!ctx->open) {
      ++counters.rx_unexpected;
      return;
    }
    // Message ID check before the work of decrypting.
    bool response = header->response;
    if (response) {
      if (!ctx->outstanding ||
          header->message_id != ctx->outstanding->message_id) {
        ++counters.rx_bad_message_id;
        return;
      }
    } else if (header->message_id != ctx->peer_message_id &&
               !(ctx->have_last_response &&
                 header->message_id + 1 == ctx->peer_message_id)) {
      ++counters.rx_bad_message_id;
      return;
    }
    absl::optional<EncryptedLayout> layout;
    auto m = ParseMessage(data, &layout);
    if (!m.ok() || !layout) {
      ++counters.rx_malformed;
      return;
    }
    std::vector<uint8_t> inner;
    PayloadType first = PayloadType::kNone;
    if (layout->type == PayloadType::kEncrypted) {
      auto opened = ctx->open->OpenMessage(SkKind::kSk, data,
                                           layout->payload_begin);
      if (!opened.ok()) {
        ++counters.rx_auth_failed;
        return;
      }
      inner = *std::move(opened);
      first = absl::get<ike::EncryptedPayload>(m->payloads.back().body)
                  .first_inner;
    } else {
      auto opened = ctx->open->OpenMessage(SkKind::kSkf, data,
                                           layout->payload_begin);
      if (!opened.ok()) {
        ++counters.rx_auth_failed;
        return;
      }
      ++counters.rx_fragments;
      const auto& f =
          absl::get<EncryptedFragmentPayload>(m->payloads.back().body);
      FragmentReassembler& r =
          response ? ctx->response_fragments : ctx->request_fragments;
      if (r.in_progress() && r.message_id() != header->message_id) r.Reset();
      auto result = r.Add(header->message_id, f.fragment_number,
                          f.total_fragments,
                          static_cast<uint8_t>(f.first_inner), *opened);
      if (result != FragmentReassembler::Result::kComplete) return;
      uint8_t first_byte = 0;
      inner = r.TakeMessage(&first_byte);
      first = static_cast<PayloadType>(first_byte);
    }
    // Authenticated from here on.
    last_rx = now;
    if (from != remote) {
      if (role == Role::kResponder || state == State::kEstablished) {
        Event(Kind::kInfo, absl::StrCat("peer moved from ", remote.ToString(),
                                        " to ", from.ToString()));
      }
      remote = from;
    }
    if (role == Role::kResponder && via_nat_t) nat_t = true;
    if (!response && header->message_id + 1 == ctx->peer_message_id) {
      ++counters.rx_retransmits;
      Transmit(ctx->last_response);
      return;
    }
    auto payloads = ParsePayloadChain(first, inner);
    if (!payloads.ok()) {
      ++counters.rx_malformed;
      if (!response) {
        ctx->peer_message_id++;
        SendResponse(ctx, header->exchange_type, header->message_id,
                     {Notify(NotifyType::kInvalidSyntax)});
      }
      return;
    }
    if (response) {
      HandleResponse(ctx, header->exchange_type, *payloads, now);
    } else {
      HandleRequest(ctx, *header, *payloads, now);
    }
  }

  void HandleRequest(Context* ctx, const Header& h,
                     const std::vector<Payload>& p, absl::Duration now) {
    ctx->peer_message_id++;
    for (const Payload& pl : p) {
      if (pl.critical && !Payload::IsKnownType(pl.type)) {
        SendResponse(ctx, h.exchange_type, h.message_id,
                     {Notify(NotifyType::kUnsupportedCriticalPayload,
                             {static_cast<uint8_t>(pl.type)})});
        return;
      }
    }
    switch (h.exchange_type) {
      case ExchangeType::kIkeAuth: {
        if (role != Role::kResponder || state != State::kInitReplied ||
            ctx != current.get()) {
          ++counters.rx_unexpected;
          SendResponse(ctx, h.exchange_type, h.message_id,
                       {Notify(NotifyType::kInvalidSyntax)});
          return;
        }
        auto out = RespondAuth(p, now);
        SendResponse(ctx, h.exchange_type, h.message_id, out);
        if (pending_close) {
          PendingClose pc = *std::move(pending_close);
          pending_close.reset();
          CloseNow(pc.kind, pc.reason);
          return;
        }
        Event(Kind::kEstablished, established_detail);
        return;
      }
      case ExchangeType::kCreateChildSa: {
        if (ctx != current.get()) {
          SendResponse(ctx, h.exchange_type, h.message_id,
                       {Notify(NotifyType::kTemporaryFailure)});
          return;
        }
        std::unique_ptr<Context> next;
        auto out = RespondCreateChild(p, now, &next);
        SendResponse(ctx, h.exchange_type, h.message_id, out);
        if (next) SwitchIkeSa(std::move(next), /*we_delete_old=*/false, now);
        return;
      }
      case ExchangeType::kInformational: {
        bool close = false;
        auto out = RespondInformational(ctx, p, &close);
        SendResponse(ctx, h.exchange_type, h.message_id, out);
        if (close) {
          if (ctx == old.get()) {
            old.reset();  // The rekeyed-away SA, deleted as it should be.
            old_expires = absl::InfiniteDuration();
          } else {
            CloseNow(Kind::kClosed, "deleted by the peer");
          }
        }
        return;
      }
      default:
        ++counters.rx_unexpected;
        return;
    }
  }

  void HandleResponse(Context* ctx, ExchangeType exchange,
                      const std::vector<Payload>& p, absl::Duration now) {
    std::unique_ptr<Request> r = std::move(ctx->outstanding);
    if (r->exchange != exchange) {
      ++counters.rx_unexpected;
      ctx->outstanding = std::move(r);
      return;
    }
    switch (r->what) {
      case Request::What::kAuth:
        ctx->outstanding = std::move(r);  // OnAuthResponse resets it.
        OnAuthResponse(p, now);
        return;
      case Request::What::kRekeyChild:
      case Request::What::kRekeyIke:
        OnCreateChildResponse(r.get(), p, now);
        break;
      case Request::What::kDeleteChild:
        RemoveChild(r->target_inbound);
        break;
      case Request::What::kDeleteIke:
        if (ctx == old.get()) {
          old.reset();
          return;
        }
        CloseNow(Kind::kClosed, close_reason_pending.empty()
                                    ? std::string("closed")
                                    : close_reason_pending);
        return;
      case Request::What::kDpd:
      case Request::What::kInit:
        break;
    }
    if (state != State::kClosed && ctx == current.get()) SendNext(ctx, now);
  }
  std::string close_reason_pending;

  // --- timers -------------------------------------------------------------

  absl::Duration NextDeadline() const {
    if (state == State::kClosed || state == State::kIdle)
      return absl::InfiniteDuration();
    absl::Duration d = setup_deadline;
    if (current && current->outstanding)
      d = std::min(d, current->outstanding->deadline);
    if (old && old->outstanding) d = std::min(d, old->outstanding->deadline);
    if (old) d = std::min(d, old_expires);
    if (state == State::kEstablished) {
      if (!ike_rekeying) d = std::min(d, ike_rekey_at);
      for (const Child& c : children)
        if (!c.rekeying && !c.replaced) d = std::min(d, c.rekey_at);
      if (config.timers.dpd_delay > absl::ZeroDuration() &&
          !current->outstanding)
        d = std::min(d, last_rx + config.timers.dpd_delay);
    }
    return d;
  }

  void OnTimer(absl::Duration now) {
    if (state == State::kClosed || state == State::kIdle) return;
    if (now >= setup_deadline) {
      CloseNow(role == Role::kInitiator ? Kind::kPeerDead : Kind::kFailed,
               absl::StrCat("not established within ",
                            absl::FormatDuration(config.timers.setup_timeout)));
      return;
    }
    if (old) {
      if (old->outstanding && now >= old->outstanding->deadline) {
        if (!Retransmit(old.get(), now)) old.reset();
      } else if (!old->outstanding && now >= old_expires) {
        old.reset();
      }
    }
    if (current->outstanding && now >= current->outstanding->deadline) {
      if (!Retransmit(current.get(), now)) {
        Request::What what = current->outstanding->what;
        int tries = current->outstanding->tries;
        if (what == Request::What::kDeleteIke) {
          CloseNow(Kind::kClosed, close_reason_pending);
        } else {
          CloseNow(Kind::kPeerDead,
                   absl::StrCat("no answer from ", remote.ToString(),
                                " after ", tries, " tries (",
                                RequestName(what), ")"));
        }
        return;
      }
    }
    if (state != State::kEstablished) return;
    if (!ike_rekeying && now >= ike_rekey_at) StartIkeRekey(now);
    for (size_t i = 0; i < children.size(); ++i) {
      Child& c = children[i];
      if (!c.rekeying && !c.replaced && now >= c.rekey_at)
        StartChildRekey(&c, now);
    }
    if (config.timers.dpd_delay > absl::ZeroDuration() &&
        !current->outstanding && current->queue.empty() &&
        now >= last_rx + config.timers.dpd_delay) {
      SendDpd(now);
    }
  }

  static const char* RequestName(Request::What what) {
    switch (what) {
      case Request::What::kInit: return "IKE_SA_INIT";
      case Request::What::kAuth: return "IKE_AUTH";
      case Request::What::kRekeyChild: return "CHILD rekey";
      case Request::What::kRekeyIke: return "IKE rekey";
      case Request::What::kDeleteChild: return "CHILD delete";
      case Request::What::kDeleteIke: return "IKE delete";
      case Request::What::kDpd: return "liveness check";
    }
    return "?";
  }

  // False when the tries are spent.
  bool Retransmit(Context* ctx, absl::Duration now) {
    Request* r = ctx->outstanding.get();
    if (r->tries >= config.timers.retransmit_tries) return false;
    ++r->tries;
    ++counters.retransmits;
    r->deadline = now + RetransmitDelay(r->tries);
    Transmit(r->datagrams);
    return true;
  }

  void SendDpd(absl::Duration now) {
    if (state != State::kEstablished || current->outstanding) return;
    ++counters.dpd_sent;
    auto r = std::make_unique<Request>();
    r->what = Request::What::kDpd;
    r->exchange = ExchangeType::kInformational;
    SendRequest(current.get(), std::move(r), now);
  }

  void Close(absl::Duration now, const std::string& reason) {
    if (state == State::kClosed) return;
    if (state != State::kEstablished || !current || !current->seal) {
      CloseNow(Kind::kClosed, reason);
      return;
    }
    close_reason_pending = reason;
    current->queue.clear();
    current->outstanding.reset();
    SendRequest(current.get(), DeleteIkeRequest(), now);
    // One try only: close now; a late response is ignored.
    CloseNow(Kind::kClosed, reason);
  }

  std::string Describe() const {
    return absl::StrCat(EncrName(choice.suite.encr), "/",
                        crypto::PrfName(choice.suite.prf), "/",
                        crypto::DhGroupName(choice.dh));
  }
};

// ---------------------------------------------------------------------------

IkeSa::IkeSa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IkeSa::~IkeSa() = default;

std::unique_ptr<IkeSa> IkeSa::CreateInitiator(IkeConfig config,
                                              Delegate* delegate,
                                              const SocketAddress& local,
                                              const SocketAddress& remote) {
  config.role = Role::kInitiator;
  return std::unique_ptr<IkeSa>(new IkeSa(
      std::make_unique<Impl>(std::move(config), delegate, local, remote)));
}

std::unique_ptr<IkeSa> IkeSa::CreateResponder(
    IkeConfig config, Delegate* delegate, const SocketAddress& local,
    const SocketAddress& remote, absl::Span<const uint8_t> request,
    const Message& parsed, bool nat_t, absl::Duration now) {
  config.role = Role::kResponder;
  auto impl =
      std::make_unique<Impl>(std::move(config), delegate, local, remote);
  impl->nat_t = nat_t;
  impl->RespondInit(parsed, request, now);
  return std::unique_ptr<IkeSa>(new IkeSa(std::move(impl)));
}

void IkeSa::Start(absl::Duration now) { impl_->Start(now); }
void IkeSa::OnMessage(absl::Span<const uint8_t> message,
                      const SocketAddress& from, absl::Duration now,
                      bool via_nat_t) {
  impl_->OnMessage(message, from, via_nat_t, now);
}
absl::Duration IkeSa::NextDeadline() const { return impl_->NextDeadline(); }
void IkeSa::OnTimer(absl::Duration now) { impl_->OnTimer(now); }
void IkeSa::Close(absl::Duration now, const std::string& reason) {
  impl_->Close(now, reason);
}
void IkeSa::RekeyChild(absl::Duration now) {
  for (auto& c : impl_->children) {
    if (!c.replaced && !c.rekeying) {
      impl_->StartChildRekey(&c, now);
      return;
    }
  }
}
void IkeSa::RekeyIke(absl::Duration now) { impl_->StartIkeRekey(now); }
void IkeSa::CheckLiveness(absl::Duration now) { impl_->SendDpd(now); }

Role IkeSa::role() const { return impl_->role; }
IkeSa::State IkeSa::state() const { return impl_->state; }
const std::string& IkeSa::close_reason() const { return impl_->close_reason; }
uint64_t IkeSa::spi_i() const {
  return impl_->current ? impl_->current->spi_i : 0;
}
uint64_t IkeSa::spi_r() const {
  return impl_->current ? impl_->current->spi_r : 0;
}
bool IkeSa::OwnsSpis(uint64_t spi_i, uint64_t spi_r) const {
  const Impl& i = *impl_;
  if (i.current && i.current->spi_i == spi_i && i.current->spi_r == spi_r)
    return true;
  return i.old && i.old->spi_i == spi_i && i.old->spi_r == spi_r;
}
bool IkeSa::nat_t() const { return impl_->nat_t; }
const SocketAddress& IkeSa::remote() const { return impl_->remote; }
const AssignedConfig& IkeSa::assigned_config() const {
  return impl_->assigned;
}
const IdPayload& IkeSa::peer_id() const { return impl_->peer_id; }
std::string IkeSa::Describe() const { return impl_->Describe(); }
const IkeSa::Counters& IkeSa::counters() const { return impl_->counters; }

tunnel::CounterList IkeSa::CounterList() const {
  const Counters& c = impl_->counters;
  return {
      {"ike_rx_messages", c.rx_messages},
      {"ike_tx_messages", c.tx_messages},
      {"ike_retransmits", c.retransmits},
      {"ike_rx_retransmits", c.rx_retransmits},
      {"ike_rx_bad_message_id", c.rx_bad_message_id},
      {"ike_rx_bad_spi", c.rx_bad_spi},
      {"ike_rx_malformed", c.rx_malformed},
      {"ike_rx_auth_failed", c.rx_auth_failed},
      {"ike_rx_unexpected", c.rx_unexpected},
      {"ike_rx_fragments", c.rx_fragments},
      {"ike_tx_fragments", c.tx_fragments},
      {"ike_dpd_sent", c.dpd_sent},
      {"ike_rx_liveness_checks", c.rx_liveness_checks},
      {"ike_child_rekeys", c.child_rekeys},
      {"ike_ike_rekeys", c.ike_rekeys},
      {"ike_rekey_collisions", c.rekey_collisions},
  };
}

}  // namespace stow::ike
