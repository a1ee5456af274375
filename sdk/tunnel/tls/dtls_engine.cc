#include "sdk/tunnel/tls/dtls_engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::tunnel::tls {
namespace {

// ECDHE-PSK-ChaCha20 when both ends are ours; ocserv and openconnect accept
// only the plain PSK key exchange, where BoringSSL has just the two CBC
// suites. See the header.
constexpr char kCiphers[] =
    "ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-CBC-SHA:PSK-AES128-CBC-SHA";
constexpr char kPlainPskCiphers[] = "PSK-AES256-CBC-SHA:PSK-AES128-CBC-SHA";
constexpr char kPskIdentity[] = "psk";  // What openconnect sends.
constexpr size_t kMinMtu = 256;
constexpr size_t kMaxPsk = 64;
constexpr size_t kMaxSessionId = 32;
// Largest plaintext a DTLS record carries (RFC 6347 / RFC 5246 6.2.1).
constexpr size_t kMaxPlaintext = 16384;

SSL* AsSsl(void* p) { return static_cast<SSL*>(p); }

// The reason of the last BoringSSL error on this thread, for messages.
std::string LastSslError() {
  uint32_t e = ERR_peek_last_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : absl::StrCat("error ", e);
}

}  // namespace

// BoringSSL callbacks (a nested class, so they may touch the engine).
struct DtlsEngine::Internals {
  static DtlsEngine* FromSsl(const SSL* ssl) {
    return static_cast<DtlsEngine*>(SSL_get_app_data(ssl));
  }

  // The datagram BIO: every write is one datagram; a read hands out the
  // datagram being fed, whole, once.
  static int BioCreate(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }
  static int BioWrite(BIO* bio, const char* data, int len) {
    auto* engine = static_cast<DtlsEngine*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (engine == nullptr || len < 0) return -1;
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    engine->out_.emplace_back(p, p + len);
    return len;
  }
  static int BioRead(BIO* bio, char* buf, int len) {
    auto* engine = static_cast<DtlsEngine*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (engine == nullptr || !engine->in_pending_) {
      BIO_set_retry_read(bio);
      return -1;
    }
    // A datagram larger than the buffer is truncated, as recv() would.
    size_t n = std::min(engine->in_.size(), static_cast<size_t>(len));
    if (n > 0) std::memcpy(buf, engine->in_.data(), n);
    engine->in_pending_ = false;
    return static_cast<int>(n);
  }
  static long BioCtrl(BIO*, int cmd, long, void*) {  // NOLINT(runtime/int)
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
  }
  static const BIO_METHOD* Method() {
    static const BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                   "stow-dtls-datagram");
      BIO_meth_set_create(m, BioCreate);
      BIO_meth_set_write(m, BioWrite);
      BIO_meth_set_read(m, BioRead);
      BIO_meth_set_ctrl(m, BioCtrl);
      return m;
    }();
    return method;
  }

  // BoringSSL calls the time callback without its SSL, so the engine whose
  // call is running is kept in a thread-local while it calls into BoringSSL.
  static thread_local const DtlsEngine* current;
  class Scope {
   public:
    explicit Scope(const DtlsEngine* e) : saved_(current) { current = e; }
    ~Scope() { current = saved_; }

   private:
    const DtlsEngine* saved_;
  };

  static void CurrentTime(const SSL* /*always null*/, struct timeval* out) {
    absl::Time now =
        current != nullptr && current->clock_ ? current->clock_() : absl::Now();
    *out = absl::ToTimeval(now);
  }

  static unsigned ClientPsk(SSL* ssl, const char* /*hint*/, char* identity,
                            unsigned max_identity_len, uint8_t* psk,
                            unsigned max_psk_len) {
    DtlsEngine* engine = FromSsl(ssl);
    if (engine == nullptr || sizeof(kPskIdentity) > max_identity_len ||
        engine->psk_.size() > max_psk_len) {
      return 0;
    }
    std::memcpy(identity, kPskIdentity, sizeof(kPskIdentity));
    std::memcpy(psk, engine->psk_.data(), engine->psk_.size());
    return static_cast<unsigned>(engine->psk_.size());
  }

  // The identity is not checked: the session id already chose the key
  // (ocserv ignores it too).
  static unsigned ServerPsk(SSL* ssl, const char* /*identity*/, uint8_t* psk,
                            unsigned max_psk_len) {
    DtlsEngine* engine = FromSsl(ssl);
    if (engine == nullptr || engine->psk_.empty() ||
        engine->psk_.size() > max_psk_len) {
      return 0;
    }
    std::memcpy(psk, engine->psk_.data(), engine->psk_.size());
    return static_cast<unsigned>(engine->psk_.size());
  }

  // Runs on the ClientHello before any PSK or resumption decision: picks
  // the PSK from the session id.
  static ssl_select_cert_result_t SelectPsk(const SSL_CLIENT_HELLO* hello) {
    DtlsEngine* engine = FromSsl(hello->ssl);
    if (engine == nullptr) return ssl_select_cert_error;
    engine->session_id_.assign(hello->session_id,
                               hello->session_id + hello->session_id_len);
    absl::optional<std::vector<uint8_t>> psk;
    if (engine->lookup_) psk = engine->lookup_(engine->session_id_);
    if (!psk.has_value() || psk->empty() || psk->size() > kMaxPsk) {
      engine->refused_ = true;
      return ssl_select_cert_error;
    }
    engine->psk_ = *std::move(psk);
    return ssl_select_cert_success;
  }
};

thread_local const DtlsEngine* DtlsEngine::Internals::current = nullptr;

DtlsEngine::DtlsEngine(bool server, size_t mtu,
                       std::function<absl::Time()> clock, bool plain_psk_only)
    : server_(server),
      mtu_(mtu),
      plain_psk_only_(plain_psk_only),
      clock_(std::move(clock)) {}

DtlsEngine::~DtlsEngine() {
  SSL_free(AsSsl(ssl_));
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

absl::StatusOr<std::unique_ptr<DtlsEngine>> DtlsEngine::Client(
    const DtlsClientOptions& options) {
  if (options.psk.empty() || options.psk.size() > kMaxPsk) {
    return absl::InvalidArgumentError("DTLS PSK must be 1..64 bytes");
  }
  if (options.session_id.empty() || options.session_id.size() > kMaxSessionId) {
    return absl::InvalidArgumentError("DTLS session id must be 1..32 bytes");
  }
  if (options.mtu < kMinMtu) {
    return absl::InvalidArgumentError("DTLS MTU below 256");
  }
  std::unique_ptr<DtlsEngine> engine(new DtlsEngine(
      /*server=*/false, options.mtu, options.clock, options.plain_psk_only));
  engine->psk_ = options.psk;
  engine->session_id_ = options.session_id;
  absl::Status s = engine->Init();
  if (!s.ok()) return s;
  return engine;
}

absl::StatusOr<std::unique_ptr<DtlsEngine>> DtlsEngine::Server(
    PskLookup lookup, DtlsServerOptions options) {
  if (!lookup) return absl::InvalidArgumentError("DTLS server needs a lookup");
  if (options.mtu < kMinMtu) {
    return absl::InvalidArgumentError("DTLS MTU below 256");
  }
  std::unique_ptr<DtlsEngine> engine(
      new DtlsEngine(/*server=*/true, options.mtu, std::move(options.clock),
                     options.plain_psk_only));
  engine->lookup_ = std::move(lookup);
  absl::Status s = engine->Init();
  if (!s.ok()) return s;
  return engine;
}

absl::Status DtlsEngine::Init() {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(DTLS_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  ctx_ = ctx;
  if (!SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) ||
      !SSL_CTX_set_strict_cipher_list(
          ctx, plain_psk_only_ ? kPlainPskCiphers : kCiphers)) {
    return absl::InternalError(
        absl::StrCat("DTLS context setup: ", LastSslError()));
  }
  // No resumption either way: the session id is a lookup key only.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU |
                               (server_ ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  if (clock_) SSL_CTX_set_current_time_cb(ctx, &Internals::CurrentTime);
  if (server_) {
    SSL_CTX_set_psk_server_callback(ctx, &Internals::ServerPsk);
    SSL_CTX_set_select_certificate_cb(ctx, &Internals::SelectPsk);
  } else {
    SSL_CTX_set_psk_client_callback(ctx, &Internals::ClientPsk);
  }

  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return absl::InternalError("SSL_new failed");
  ssl_ = ssl;
  SSL_set_app_data(ssl, this);
  BIO* bio = BIO_new(Internals::Method());
  if (bio == nullptr) return absl::InternalError("BIO_new failed");
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // One reference, owned by `ssl`.
  if (!SSL_set_mtu(ssl, static_cast<unsigned>(mtu_))) {
    return absl::InvalidArgumentError("DTLS MTU rejected");
  }
  if (server_) {
    SSL_set_accept_state(ssl);
    return absl::OkStatus();
  }
  SSL_set_connect_state(ssl);
  // BoringSSL has no setter for the ClientHello session_id; it sends the id
  // of the session it offers to resume. Offer a blank DTLS 1.2 session that
  // carries the app id: the server never resumes it, so a full PSK
  // handshake follows and the blank session is dropped (a server that did
  // echo the id is refused: the blank session names no cipher).
  SSL_SESSION* session = SSL_SESSION_new(ctx);
  if (session == nullptr) return absl::InternalError("SSL_SESSION_new failed");
  struct timeval now;
  {
    Internals::Scope scope(this);
    Internals::CurrentTime(nullptr, &now);
  }
  bool ok =
      SSL_SESSION_set_protocol_version(session, DTLS1_2_VERSION) &&
      SSL_SESSION_set1_id(session, session_id_.data(), session_id_.size());
  SSL_SESSION_set_time(session, static_cast<uint64_t>(now.tv_sec));
  SSL_SESSION_set_timeout(session, 24 * 3600);
  ok = ok && SSL_set_session(ssl, session);
  SSL_SESSION_free(session);
  if (!ok) {
    return absl::InternalError(
        absl::StrCat("DTLS session id setup: ", LastSslError()));
  }
  return absl::OkStatus();
}

void DtlsEngine::Start() {
  if (server_ || started_ || state_ != State::kHandshaking) return;
  Internals::Scope scope(this);
  started_ = true;
  DriveHandshake();
}

void DtlsEngine::Fail(absl::Status status) {
  if (state_ == State::kFailed) return;
  state_ = State::kFailed;
  error_ = std::move(status);
}

void DtlsEngine::DriveHandshake() {
  SSL* ssl = AsSsl(ssl_);
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    state_ = State::kEstablished;
    DrainRecords();
    return;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  if (refused_) {
    Fail(absl::PermissionDeniedError(
        "DTLS ClientHello session id matches no session"));
    return;
  }
  Fail(absl::UnavailableError(
      absl::StrCat("DTLS handshake failed: ", LastSslError())));
}

void DtlsEngine::DrainRecords() {
  SSL* ssl = AsSsl(ssl_);
  std::vector<uint8_t> buf(kMaxPlaintext);
  while (state_ == State::kEstablished) {
    ERR_clear_error();
    int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
    if (n > 0) {
      records_.emplace_back(buf.begin(), buf.begin() + n);
      continue;
    }
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      state_ = State::kClosed;
      return;
    }
    Fail(absl::UnavailableError(
        absl::StrCat("DTLS connection failed: ", LastSslError())));
  }
}

void DtlsEngine::FeedDatagram(absl::Span<const uint8_t> datagram) {
  // An empty read would look like end-of-file to BoringSSL.
  if (state_ == State::kClosed || state_ == State::kFailed ||
      (!server_ && !started_) || datagram.empty()) {
    ++dropped_;
    return;
  }
  Internals::Scope scope(this);
  const bool established = state_ == State::kEstablished;
  const size_t records_before = records_.size();
  const size_t out_before = out_.size();
  in_ = datagram;
  in_pending_ = true;
  if (established) {
    DrainRecords();
  } else {
    DriveHandshake();
  }
  in_pending_ = false;
  in_ = {};
  // Established, and the datagram yielded nothing: no record, no reply (a
  // retransmitted peer Finished makes us resend ours), no state change.
  if (established && state_ == State::kEstablished &&
      records_.size() == records_before && out_.size() == out_before) {
    ++dropped_;
  }
}

void DtlsEngine::TakeDatagrams(std::vector<std::vector<uint8_t>>* out) {
  for (auto& d : out_) out->push_back(std::move(d));
  out_.clear();
}

absl::Status DtlsEngine::WriteRecord(absl::Span<const uint8_t> payload) {
  if (state_ != State::kEstablished) {
    return absl::FailedPreconditionError("DTLS not established");
  }
  if (payload.empty()) return absl::InvalidArgumentError("empty DTLS record");
  if (payload.size() > max_record_payload()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DTLS record of ", payload.size(), " bytes exceeds ",
                     max_record_payload()));
  }
  Internals::Scope scope(this);
  ERR_clear_error();
  int n =
      SSL_write(AsSsl(ssl_), payload.data(), static_cast<int>(payload.size()));
  if (n != static_cast<int>(payload.size())) {
    absl::Status s = absl::InternalError(
        absl::StrCat("DTLS write failed: ", LastSslError()));
    Fail(s);
    return s;
  }
  return absl::OkStatus();
}

bool DtlsEngine::ReadRecord(std::vector<uint8_t>* out) {
  if (records_.empty()) return false;
  *out = std::move(records_.front());
  records_.pop_front();
  return true;
}

void DtlsEngine::Close() {
  if (state_ == State::kEstablished) {
    Internals::Scope scope(this);
    ERR_clear_error();
    SSL_shutdown(AsSsl(ssl_));  // Queues close_notify.
  }
  if (state_ != State::kFailed) state_ = State::kClosed;
}

absl::optional<absl::Duration> DtlsEngine::NextTimeout() const {
  if (state_ != State::kHandshaking || (!server_ && !started_)) {
    return absl::nullopt;
  }
  Internals::Scope scope(this);
  struct timeval tv;
  if (!DTLSv1_get_timeout(AsSsl(ssl_), &tv)) return absl::nullopt;
  return absl::DurationFromTimeval(tv);
}

void DtlsEngine::OnTimer() {
  if (state_ != State::kHandshaking) return;
  Internals::Scope scope(this);
  ERR_clear_error();
  if (DTLSv1_handle_timeout(AsSsl(ssl_)) < 0) {
    Fail(absl::DeadlineExceededError(
        "DTLS handshake timed out (peer silent or PSK mismatch)"));
  }
}

std::string DtlsEngine::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(AsSsl(ssl_));
  if (c == nullptr || state_ == State::kHandshaking) return "";
  return SSL_CIPHER_standard_name(c);
}

size_t DtlsEngine::max_record_payload() const {
  if (state_ != State::kEstablished) return 0;
  size_t overhead = SSL_max_seal_overhead(AsSsl(ssl_));
  if (overhead >= mtu_) return 0;
  return std::min(mtu_ - overhead, kMaxPlaintext);
}

}  // namespace stow::tunnel::tls
