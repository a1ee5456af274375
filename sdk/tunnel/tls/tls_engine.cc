#include "sdk/tunnel/tls/tls_engine.h"

#include <openssl/base.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sdk/base/ip_address.h"

namespace stow::tunnel::tls {
namespace {

using Digest = std::array<uint8_t, SHA256_DIGEST_LENGTH>;

constexpr absl::string_view kPinPrefix = "pin-sha256:";
// Plaintext read per SSL_read: one full record.
constexpr size_t kReadChunk = 16384;

// The engine's transport: a memory BIO that reads ciphertext straight from
// the span being fed (no copy into a BIO buffer) and appends what BoringSSL
// writes to `out`. BoringSSL keeps partial records in its own read buffer,
// so the input is normally consumed completely by each feed.
struct Pipe {
  const uint8_t* in = nullptr;
  size_t in_len = 0;
  std::vector<uint8_t> staged;  // Unconsumed input between feeds (rare).
  std::vector<uint8_t> out;     // Ciphertext for the network.
};

int PipeRead(BIO* bio, char* buf, int len) {
  auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (pipe->in_len == 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  if (len <= 0) return 0;
  size_t n = std::min(pipe->in_len, static_cast<size_t>(len));
  std::memcpy(buf, pipe->in, n);
  pipe->in += n;
  pipe->in_len -= n;
  return static_cast<int>(n);
}

int PipeWrite(BIO* bio, const char* buf, int len) {
  auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(buf);
  pipe->out.insert(pipe->out.end(), bytes, bytes + len);
  return len;
}

long PipeCtrl(BIO* bio, int cmd, long /*larg*/, void* /*parg*/) {
  auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(std::min<size_t>(pipe->in_len, LONG_MAX));
    case BIO_CTRL_WPENDING:
      return static_cast<long>(std::min<size_t>(pipe->out.size(), LONG_MAX));
    default:
      return 0;
  }
}

const BIO_METHOD* PipeMethod() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stow_pipe");
    BIO_meth_set_read(m, PipeRead);
    BIO_meth_set_write(m, PipeWrite);
    BIO_meth_set_ctrl(m, PipeCtrl);
    return m;
  }();
  return method;
}

std::string OpenSslReason() {
  uint32_t e = ERR_peek_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : absl::StrCat("error ", e);
}

// Every certificate in PEM text; at least one, else InvalidArgument.
absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> ReadCertificates(
    absl::string_view pem, absl::string_view what) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  std::vector<bssl::UniquePtr<X509>> certs;
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  ERR_clear_error();
  bssl::UniquePtr<STACK_OF(X509_INFO)> infos(
      PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr));
  if (infos == nullptr) {
    std::string reason = OpenSslReason();
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad PEM (", reason, ")"));
  }
  for (size_t i = 0; i < sk_X509_INFO_num(infos.get()); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos.get(), i);
    if (info->x509 != nullptr) {
      X509_up_ref(info->x509);
      certs.emplace_back(info->x509);
    }
  }
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no CERTIFICATE block"));
  }
  return certs;
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> ReadPrivateKey(
    absl::string_view pem, absl::string_view what) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  ERR_clear_error();
  bssl::UniquePtr<EVP_PKEY> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    std::string reason = OpenSslReason();
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no usable private key (", reason, ")"));
  }
  return key;
}

// Installs a certificate chain (leaf first) and its key on `ctx`.
absl::Status UseChainAndKey(SSL_CTX* ctx, absl::string_view chain_pem,
                            absl::string_view key_pem,
                            absl::string_view what) {
  auto certs = ReadCertificates(chain_pem, what);
  if (!certs.ok()) return certs.status();
  auto key = ReadPrivateKey(key_pem, absl::StrCat(what, " key"));
  if (!key.ok()) return key.status();
  ERR_clear_error();
  bool ok = SSL_CTX_use_certificate(ctx, (*certs)[0].get()) == 1;
  for (size_t i = 1; ok && i < certs->size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(ctx, (*certs)[i].get()) == 1;
  }
  if (!ok) {
    std::string reason = OpenSslReason();
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": certificate not usable (", reason, ")"));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": certificate and private key do not match"));
  }
  return absl::OkStatus();
}

bool SpkiDigest(X509* cert, Digest* out) {
  uint8_t* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return false;
  SHA256(der, static_cast<size_t>(len), out->data());
  OPENSSL_free(der);
  return true;
}

std::string PinText(const Digest& digest) {
  return absl::StrCat(
      kPinPrefix,
      absl::Base64Escape(absl::string_view(
          reinterpret_cast<const char*>(digest.data()), digest.size())));
}

absl::StatusOr<Digest> ParsePin(absl::string_view pin) {
  std::string decoded;
  if (!absl::StartsWithIgnoreCase(pin, kPinPrefix) ||
      !absl::Base64Unescape(pin.substr(kPinPrefix.size()), &decoded) ||
      decoded.size() != SHA256_DIGEST_LENGTH) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad pin \"", pin, "\": expected pin-sha256:<base64 of 32 bytes>"));
  }
  Digest digest;
  std::memcpy(digest.data(), decoded.data(), digest.size());
  return digest;
}

std::string PinOfBuffer(const CRYPTO_BUFFER* buffer) {
  bssl::UniquePtr<X509> cert(
      X509_parse_from_buffer(const_cast<CRYPTO_BUFFER*>(buffer)));
  Digest digest;
  if (cert == nullptr || !SpkiDigest(cert.get(), &digest)) {
    ERR_clear_error();
    return "";
  }
  return PinText(digest);
}

// Client-side verification of the server's chain, run from BoringSSL's
// custom verify callback (during the handshake, before any application
// data can be written).
struct Verifier {
  std::vector<Digest> pins;
  bssl::UniquePtr<X509_STORE> store;  // Null: pins only.
  std::string server_name;
  absl::optional<IpAddress> server_ip;
  absl::optional<absl::Time> verify_time;
  absl::Status error;  // Set when verification failed.

  absl::Status Verify(SSL* ssl, uint8_t* out_alert);
};

absl::Status Verifier::Verify(SSL* ssl, uint8_t* out_alert) {
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl);
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) {
    *out_alert = SSL_AD_HANDSHAKE_FAILURE;
    return absl::UnauthenticatedError("server sent no certificate");
  }
  std::vector<bssl::UniquePtr<X509>> certs;
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); ++i) {
    certs.emplace_back(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, i)));
    if (certs.back() == nullptr) {
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return absl::UnauthenticatedError(
          absl::StrCat("server certificate ", i, " does not parse"));
    }
  }
  X509* leaf = certs[0].get();
  if (!pins.empty()) {
    Digest digest;
    if (!SpkiDigest(leaf, &digest)) {
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return absl::UnauthenticatedError("server public key does not encode");
    }
    if (std::find(pins.begin(), pins.end(), digest) == pins.end()) {
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return absl::UnauthenticatedError(
          absl::StrCat("public key pin mismatch: got ", PinText(digest)));
    }
  }
  if (store == nullptr) return absl::OkStatus();

  bssl::UniquePtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (untrusted == nullptr || ctx == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return absl::ResourceExhaustedError("out of memory");
  }
  for (size_t i = 1; i < certs.size(); ++i) {
    if (!sk_X509_push(untrusted.get(), certs[i].get())) {
      *out_alert = SSL_AD_INTERNAL_ERROR;
      return absl::ResourceExhaustedError("out of memory");
    }
    certs[i].release();  // Now owned by `untrusted`.
  }
  if (!X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) ||
      !X509_STORE_CTX_set_default(ctx.get(), "ssl_server")) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return absl::InternalError("X509_STORE_CTX setup failed");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  bool param_ok;
  if (server_ip.has_value()) {
    param_ok = X509_VERIFY_PARAM_set1_ip(param, server_ip->bytes().data(),
                                         server_ip->bytes().size()) == 1;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    param_ok = X509_VERIFY_PARAM_set1_host(param, server_name.data(),
                                           server_name.size()) == 1;
  }
  if (!param_ok) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return absl::InternalError("cannot set the expected server name");
  }
  if (verify_time.has_value()) {
    X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(*verify_time));
  }
  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();
  int err = X509_STORE_CTX_get_error(ctx.get());
  *out_alert = static_cast<uint8_t>(SSL_alert_from_verify_result(err));
  if (err == X509_V_ERR_HOSTNAME_MISMATCH ||
      err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return absl::UnauthenticatedError(
        absl::StrCat("host name mismatch: expected ", server_name));
  }
  return absl::UnauthenticatedError(X509_verify_cert_error_string(err));
}

enum ssl_verify_result_t VerifyServer(SSL* ssl, uint8_t* out_alert) {
  auto* verifier = static_cast<Verifier*>(SSL_get_app_data(ssl));
  absl::Status status = verifier->Verify(ssl, out_alert);
  ERR_clear_error();
  if (status.ok()) return ssl_verify_ok;
  verifier->error = std::move(status);
  return ssl_verify_invalid;
}

// The server asks for a client certificate and leaves judging it to the
// layer above.
enum ssl_verify_result_t AcceptAnyClient(SSL* /*ssl*/, uint8_t* /*alert*/) {
  return ssl_verify_ok;
}

void ConfigureCommon(SSL_CTX* ctx, bool allow_tls13) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx,
                                allow_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

}  // namespace

struct TlsEngine::Impl {
  // Declaration order matters: `ssl` goes first on destruction, while the
  // context, the verifier and the pipe it points to still exist.
  std::shared_ptr<TlsServerContext> server_context;
  bssl::UniquePtr<SSL_CTX> client_ctx;
  std::unique_ptr<Verifier> verifier;
  Pipe pipe;
  bssl::UniquePtr<SSL> ssl;
  std::vector<uint8_t> pending;  // Written before the handshake completed.
  std::vector<uint8_t> plain;    // Decrypted, not yet Read().
  bool shutdown_requested = false;

  // Creates `ssl` over `ctx` with the pipe as its transport.
  bool Init(SSL_CTX* ctx) {
    ssl.reset(SSL_new(ctx));
    if (ssl == nullptr) return false;
    BIO* bio = BIO_new(PipeMethod());
    if (bio == nullptr) return false;
    BIO_set_data(bio, &pipe);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl.get(), bio, bio);  // Takes the one reference.
    return true;
  }
};

TlsServerContext::~TlsServerContext() {
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    absl::string_view cert_chain_pem, absl::string_view key_pem) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return absl::ResourceExhaustedError("out of memory");
  ConfigureCommon(ctx.get(), /*allow_tls13=*/true);
  absl::Status status =
      UseChainAndKey(ctx.get(), cert_chain_pem, key_pem, "server certificate");
  if (!status.ok()) return status;
  SSL_CTX_set_custom_verify(ctx.get(), SSL_VERIFY_PEER, AcceptAnyClient);
  return std::shared_ptr<TlsServerContext>(
      new TlsServerContext(ctx.release()));
}

absl::StatusOr<std::string> PublicKeyPin(absl::string_view cert_pem) {
  auto certs = ReadCertificates(cert_pem, "certificate");
  if (!certs.ok()) return certs.status();
  Digest digest;
  if (!SpkiDigest((*certs)[0].get(), &digest)) {
    ERR_clear_error();
    return absl::InvalidArgumentError("certificate: public key not encodable");
  }
  return PinText(digest);
}

TlsEngine::TlsEngine() : impl_(std::make_unique<Impl>()) {}
TlsEngine::~TlsEngine() = default;

absl::StatusOr<std::unique_ptr<TlsEngine>> TlsEngine::Client(
    const TlsClientOptions& options) {
  if (options.ca_pem.empty() && options.pins.empty()) {
    return absl::InvalidArgumentError(
        "no trust configured: set ca_pem and/or pins");
  }
  auto verifier = std::make_unique<Verifier>();
  for (const std::string& pin : options.pins) {
    auto digest = ParsePin(pin);
    if (!digest.ok()) return digest.status();
    verifier->pins.push_back(*digest);
  }
  absl::string_view name = options.server_name;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (auto ip = IpAddress::Parse(name); ip.ok()) verifier->server_ip = *ip;
  verifier->server_name = std::string(name);
  verifier->verify_time = options.verify_time;
  if (!options.ca_pem.empty()) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          "server_name is required to verify against ca_pem");
    }
    auto certs = ReadCertificates(options.ca_pem, "ca_pem");
    if (!certs.ok()) return certs.status();
    verifier->store.reset(X509_STORE_new());
    if (verifier->store == nullptr) {
      return absl::ResourceExhaustedError("out of memory");
    }
    for (const auto& cert : *certs) {
      if (X509_STORE_add_cert(verifier->store.get(), cert.get()) != 1) {
        // A duplicate is harmless; anything else is not.
        uint32_t e = ERR_peek_last_error();
        ERR_clear_error();
        if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
          return absl::InvalidArgumentError("ca_pem: certificate not usable");
        }
      }
    }
  }
  if (options.client_cert_pem.empty() != options.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "client_cert_pem and client_key_pem go together");
  }

  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return absl::ResourceExhaustedError("out of memory");
  ConfigureCommon(ctx.get(), options.allow_tls13);
  if (!options.client_cert_pem.empty()) {
    absl::Status status =
        UseChainAndKey(ctx.get(), options.client_cert_pem,
                       options.client_key_pem, "client certificate");
    if (!status.ok()) return status;
  }

  std::unique_ptr<TlsEngine> engine(new TlsEngine());
  Impl& impl = *engine->impl_;
  impl.client_ctx = std::move(ctx);
  impl.verifier = std::move(verifier);
  if (!impl.Init(impl.client_ctx.get())) {
    ERR_clear_error();
    return absl::ResourceExhaustedError("out of memory");
  }
  SSL* ssl = impl.ssl.get();
  SSL_set_connect_state(ssl);
  SSL_set_app_data(ssl, impl.verifier.get());
  SSL_set_custom_verify(ssl, SSL_VERIFY_PEER, VerifyServer);
  if (!impl.verifier->server_ip.has_value() && !name.empty() &&
      SSL_set_tlsext_host_name(ssl, impl.verifier->server_name.c_str()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("server_name \"", name, "\" is not usable as SNI"));
  }
  return engine;
}

std::unique_ptr<TlsEngine> TlsEngine::Server(
    std::shared_ptr<TlsServerContext> context) {
  std::unique_ptr<TlsEngine> engine(new TlsEngine());
  Impl& impl = *engine->impl_;
  impl.server_context = std::move(context);
  if (impl.server_context == nullptr ||
      !impl.Init(static_cast<SSL_CTX*>(impl.server_context->native()))) {
    ERR_clear_error();
    engine->Fail(absl::InternalError("TLS server engine setup failed"));
    return engine;
  }
  SSL_set_accept_state(impl.ssl.get());
  return engine;
}

void TlsEngine::Start() {
  if (impl_->verifier != nullptr && state_ == State::kHandshaking) Advance();
}

void TlsEngine::FeedCiphertext(absl::Span<const uint8_t> bytes) {
  if (state_ == State::kFailed || state_ == State::kClosed || bytes.empty()) {
    return;
  }
  Pipe& pipe = impl_->pipe;
  bool staged = !pipe.staged.empty();
  if (staged) {
    pipe.staged.insert(pipe.staged.end(), bytes.begin(), bytes.end());
    pipe.in = pipe.staged.data();
    pipe.in_len = pipe.staged.size();
  } else {
    pipe.in = bytes.data();
    pipe.in_len = bytes.size();
  }
  Advance();
  if (pipe.in_len == 0 || state_ == State::kFailed ||
      state_ == State::kClosed) {
    pipe.staged.clear();
  } else if (staged) {
    pipe.staged.erase(pipe.staged.begin(), pipe.staged.end() - pipe.in_len);
  } else {
    pipe.staged.assign(pipe.in, pipe.in + pipe.in_len);
  }
  pipe.in = nullptr;
  pipe.in_len = 0;
}

void TlsEngine::TakeCiphertext(std::vector<uint8_t>* out) {
  std::vector<uint8_t>& pending = impl_->pipe.out;
  if (out->empty()) {
    out->swap(pending);  // No copy; `pending` keeps the caller's capacity.
  } else {
    out->insert(out->end(), pending.begin(), pending.end());
  }
  pending.clear();
}

bool TlsEngine::HasCiphertext() const { return !impl_->pipe.out.empty(); }

absl::Status TlsEngine::Write(absl::Span<const uint8_t> plaintext) {
  if (state_ == State::kFailed) {
    return absl::FailedPreconditionError(
        absl::StrCat("TLS connection failed: ", error_.message()));
  }
  if (state_ == State::kClosed) {
    return absl::FailedPreconditionError("TLS connection closed by the peer");
  }
  if (impl_->shutdown_requested) {
    return absl::FailedPreconditionError("TLS connection shut down");
  }
  if (plaintext.empty()) return absl::OkStatus();
  if (state_ == State::kHandshaking) {
    impl_->pending.insert(impl_->pending.end(), plaintext.begin(),
                          plaintext.end());
    return absl::OkStatus();
  }
  if (!WriteRecords(plaintext)) return error_;
  return absl::OkStatus();
}

size_t TlsEngine::Read(std::vector<uint8_t>* out) {
  std::vector<uint8_t>& plain = impl_->plain;
  size_t n = plain.size();
  if (n == 0) return 0;
  if (out->empty()) {
    out->swap(plain);
  } else {
    out->insert(out->end(), plain.begin(), plain.end());
  }
  plain.clear();
  return n;
}

void TlsEngine::Shutdown() {
  if (impl_->shutdown_requested) return;
  impl_->shutdown_requested = true;
  // While handshaking, close_notify follows the buffered writes once the
  // handshake completes.
  if (state_ == State::kEstablished || state_ == State::kClosed) {
    SendCloseNotify();
  }
}

std::string TlsEngine::version() const {
  if (impl_->ssl == nullptr || !SSL_is_init_finished(impl_->ssl.get())) {
    return "";
  }
  return SSL_get_version(impl_->ssl.get());
}

std::string TlsEngine::cipher() const {
  if (impl_->ssl == nullptr || !SSL_is_init_finished(impl_->ssl.get())) {
    return "";
  }
  const SSL_CIPHER* c = SSL_get_current_cipher(impl_->ssl.get());
  return c != nullptr ? SSL_CIPHER_standard_name(c) : "";
}

std::string TlsEngine::peer_pin() const {
  if (impl_->ssl == nullptr) return "";
  const STACK_OF(CRYPTO_BUFFER)* chain =
      SSL_get0_peer_certificates(impl_->ssl.get());
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) return "";
  return PinOfBuffer(sk_CRYPTO_BUFFER_value(chain, 0));
}

std::vector<uint8_t> TlsEngine::peer_certificate_der() const {
  if (impl_->ssl == nullptr) return {};
  const STACK_OF(CRYPTO_BUFFER)* chain =
      SSL_get0_peer_certificates(impl_->ssl.get());
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) return {};
  const CRYPTO_BUFFER* leaf = sk_CRYPTO_BUFFER_value(chain, 0);
  const uint8_t* data = CRYPTO_BUFFER_data(leaf);
  return std::vector<uint8_t>(data, data + CRYPTO_BUFFER_len(leaf));
}

absl::StatusOr<std::vector<uint8_t>> TlsEngine::ExportKeyingMaterial(
    absl::string_view label, size_t length) const {
  if ((state_ != State::kEstablished && state_ != State::kClosed) ||
      impl_->ssl == nullptr) {
    return absl::FailedPreconditionError(
        "keying material needs an established TLS connection");
  }
  std::vector<uint8_t> out(length);
  ERR_clear_error();
  if (SSL_export_keying_material(impl_->ssl.get(), out.data(), out.size(),
                                 label.data(), label.size(), nullptr, 0,
                                 /*use_context=*/0) != 1) {
    std::string reason = OpenSslReason();
    ERR_clear_error();
    return absl::InternalError(
        absl::StrCat("keying material export failed: ", reason));
  }
  return out;
}

void TlsEngine::Advance() {
  SSL* ssl = impl_->ssl.get();
  if (state_ == State::kHandshaking) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc != 1) {
      int err = SSL_get_error(ssl, rc);
      if (err != SSL_ERROR_WANT_READ) FailFromSsl(err);
      ERR_clear_error();
      return;
    }
    state_ = State::kEstablished;
    if (!impl_->pending.empty()) {
      std::vector<uint8_t> pending;
      pending.swap(impl_->pending);
      if (!WriteRecords(pending)) return;
    }
    if (impl_->shutdown_requested) SendCloseNotify();
  }
  if (state_ == State::kEstablished) ReadRecords();
}

void TlsEngine::ReadRecords() {
  SSL* ssl = impl_->ssl.get();
  std::vector<uint8_t>& plain = impl_->plain;
  ERR_clear_error();
  for (;;) {
    size_t old_size = plain.size();
    plain.resize(old_size + kReadChunk);
    int n = SSL_read(ssl, plain.data() + old_size, kReadChunk);
    if (n > 0) {
      plain.resize(old_size + static_cast<size_t>(n));
      continue;
    }
    plain.resize(old_size);
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      state_ = State::kClosed;
      impl_->pending.clear();
      break;
    }
    FailFromSsl(err);
    break;
  }
  ERR_clear_error();
}

bool TlsEngine::WriteRecords(absl::Span<const uint8_t> plaintext) {
  SSL* ssl = impl_->ssl.get();
  std::vector<uint8_t>& out = impl_->pipe.out;
  // Room for the records: a header, tag and padding per 16 KiB at most.
  out.reserve(out.size() + plaintext.size() + plaintext.size() / 64 + 64);
  ERR_clear_error();
  while (!plaintext.empty()) {
    int chunk = static_cast<int>(
        std::min<size_t>(plaintext.size(), size_t{1} << 30));
    int n = SSL_write(ssl, plaintext.data(), chunk);
    if (n <= 0) {
      FailFromSsl(SSL_get_error(ssl, n));
      ERR_clear_error();
      return false;
    }
    plaintext.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void TlsEngine::SendCloseNotify() {
  ERR_clear_error();
  SSL_shutdown(impl_->ssl.get());
  ERR_clear_error();
}

void TlsEngine::FailFromSsl(int ssl_error) {
  absl::Status status;
  Verifier* verifier = impl_->verifier.get();
  if (verifier != nullptr && !verifier->error.ok()) {
    status = verifier->error;
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    status = absl::UnavailableError(
        "TLS peer closed the connection during the handshake");
  } else {
    uint32_t e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
        reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
      status = absl::UnavailableError(
          absl::StrCat("TLS alert from peer: ",
                       SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET)));
    } else if (e != 0) {
      status = absl::UnavailableError(
          absl::StrCat("TLS protocol error: ", OpenSslReason()));
    } else {
      status = absl::UnavailableError(
          absl::StrCat("TLS error (SSL_get_error ", ssl_error, ")"));
    }
  }
  ERR_clear_error();
  Fail(std::move(status));
}

void TlsEngine::Fail(absl::Status status) {
  if (state_ == State::kFailed) return;
  state_ = State::kFailed;
  error_ = std::move(status);
  impl_->pending.clear();
  impl_->pipe.staged.clear();
}

}  // namespace stow::tunnel::tls
