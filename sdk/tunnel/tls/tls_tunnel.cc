#include "sdk/tunnel/tls/tls_tunnel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stow::tunnel::tls {
namespace {

// Sealed bytes beyond which the socket write does not wait for the end of
// the turn.
constexpr size_t kFlushBytes = 256 * 1024;

void AddCounters(const AnyConnectClient::Counters& c,
                 AnyConnectClient::Counters* total) {
  total->rx_data += c.rx_data;
  total->rx_dpd_requests += c.rx_dpd_requests;
  total->rx_dpd_responses += c.rx_dpd_responses;
  total->rx_keepalives += c.rx_keepalives;
  total->rx_compressed_dropped += c.rx_compressed_dropped;
  total->rx_unknown_dropped += c.rx_unknown_dropped;
  total->tx_data += c.tx_data;
  total->tx_too_large += c.tx_too_large;
}

// Where a closed connection's socket reports until it is destroyed.
class IgnoringDelegate : public event::TcpSocket::Delegate {
 public:
  void OnConnected(absl::Status) override {}
  void OnData(absl::Span<const uint8_t>) override {}
  void OnEof() override {}
  void OnWritable() override {}
  void OnError(absl::Status) override {}
};

event::TcpSocket::Delegate* Ignoring() {
  static IgnoringDelegate* const delegate = new IgnoringDelegate;
  return delegate;
}

// RFC 5705 exporter label of the PSK-NEGOTIATE key (32 bytes, no context).
constexpr char kDtlsPskLabel[] = "EXPORTER-openconnect-psk";
constexpr int kDtlsSocketBuffer = 4 << 20;

}  // namespace

TlsTunnel::TlsTunnel(event::UvLoop* loop, TlsProfile profile,
                     Delegate* delegate)
    : loop_(loop),
      profile_(std::move(profile)),
      delegate_(delegate),
      mtu_(profile_.mtu) {
  connect_timer_ = loop_->NewTimer([this] {
    Down(absl::DeadlineExceededError(absl::StrCat(
        "no tunnel within ", absl::FormatDuration(profile_.connect_timeout),
        " (", engine_ == nullptr ? "TCP connect"
              : engine_->state() == TlsEngine::State::kHandshaking
                  ? "TLS handshake"
              : client_ != nullptr &&
                      client_->phase() == AnyConnectClient::Phase::kLogin
                  ? "login"
                  : "CONNECT",
        " stalled)")));
  });
  liveness_timer_ = loop_->NewTimer([this] { OnLivenessTimer(); });
  flush_timer_ = loop_->NewTimer([this] {
    flush_posted_ = false;
    Flush();
  });
  dtls_timer_ = loop_->NewTimer([this] {
    if (dtls_ == nullptr) return;
    dtls_->OnTimer();
    PumpDtls();
  });
  reap_timer_ = loop_->NewTimer([this] {
    graveyard_.clear();
    udp_graveyard_.clear();
    std::vector<absl::Status> downs = std::exchange(pending_down_, {});
    for (const absl::Status& why : downs) delegate_->OnTlsDown(why);
  });
}

TlsTunnel::~TlsTunnel() {
  CloseConnection();
  graveyard_.clear();
  udp_graveyard_.clear();
}

void TlsTunnel::Connect(const std::string& cookie) {
  CloseConnection();
  pending_down_.clear();
  stats_.connects++;
  attempt_active_ = true;
  handshake_logged_ = false;
  auto options = TlsClientOptions();
  options.server_name = profile_.host;
  options.ca_pem = profile_.ca_pem;
  options.pins = profile_.pins;
  options.client_cert_pem = profile_.client_cert_pem;
  options.client_key_pem = profile_.client_key_pem;
  auto engine = TlsEngine::Client(options);
  if (!engine.ok()) {
    Down(absl::UnauthenticatedError(
        absl::StrCat("TLS settings: ", engine.status().message())));
    return;
  }
  engine_ = *std::move(engine);
  AnyConnectClientConfig config;
  config.host = profile_.port == 443
                    ? profile_.host
                    : absl::StrCat(profile_.host.find(':') == std::string::npos
                                       ? profile_.host
                                       : absl::StrCat("[", profile_.host, "]"),
                                   ":", profile_.port);
  config.path = profile_.path;
  config.username = profile_.username;
  config.password = profile_.password;
  config.group = profile_.group;
  config.cookie = cookie;
  config.request_dtls = profile_.dtls;
  config.mtu = profile_.mtu;
  if (cookie.empty()) stats_.logins++;
  client_ = std::make_unique<AnyConnectClient>(
      std::move(config), static_cast<AnyConnectClient::Delegate*>(this));
  socket_ = std::make_unique<event::TcpSocket>(
      loop_, static_cast<event::TcpSocket::Delegate*>(this));
  socket_->SetWriteWatermarks(kMaxQueuedBytes / 2, kMaxQueuedBytes);
  connect_timer_->Start(profile_.connect_timeout);
  if (absl::Status s = socket_->Connect(profile_.address); !s.ok()) {
    Down(absl::UnavailableError(s.message()));
    return;
  }
  engine_->Start();
  client_->Start(&plain_out_);
  Flush();
}

void TlsTunnel::Disconnect(const std::string& reason) {
  if (socket_ != nullptr && client_ != nullptr && engine_ != nullptr &&
      up_) {
    client_->AppendDisconnect(reason, &plain_out_);
    Flush();
    engine_->Shutdown();
    Flush();
    (void)socket_->ShutdownWrite();
  }
  attempt_active_ = false;
  CloseConnection();
  pending_down_.clear();
}

void TlsTunnel::CloseConnection() {
  StopDtls("");
  connect_timer_->Stop();
  liveness_timer_->Stop();
  if (client_ != nullptr) AddCounters(client_->counters(), &client_totals_);
  client_.reset();
  engine_.reset();
  if (socket_ != nullptr) {
    // Not from inside the socket's own callback: destroyed a turn later.
    socket_->SetDelegate(Ignoring());
    graveyard_.push_back(std::move(socket_));
    if (!reap_timer_->IsArmed()) reap_timer_->Start(absl::ZeroDuration());
  }
  up_ = false;
  plain_out_.clear();
  data_out_.clear();
  dpd_sent_ = absl::InfiniteDuration();
}

void TlsTunnel::Down(absl::Status why) {
  if (!attempt_active_) return;
  attempt_active_ = false;
  CloseConnection();
  pending_down_.push_back(std::move(why));
  if (!reap_timer_->IsArmed()) reap_timer_->Start(absl::ZeroDuration());
}

void TlsTunnel::OnConnected(absl::Status status) {
  if (!status.ok()) {
    Down(absl::UnavailableError(
        absl::StrCat("TCP connect: ", status.message())));
    return;
  }
  last_rx_ = last_tx_ = loop_->Now();
}

void TlsTunnel::OnData(absl::Span<const uint8_t> data) {
  if (engine_ == nullptr) return;
  last_rx_ = loop_->Now();
  dpd_sent_ = absl::InfiniteDuration();
  engine_->FeedCiphertext(data);
  CheckEngine();
}

void TlsTunnel::CheckEngine() {
  // Decrypted bytes to the client, its answers back into the engine.
  while (engine_ != nullptr) {
    if (engine_->state() == TlsEngine::State::kFailed) {
      const absl::Status& e = engine_->error();
      Down(e.code() == absl::StatusCode::kUnauthenticated
               ? absl::UnauthenticatedError(
                     absl::StrCat("gateway certificate: ", e.message()))
               : absl::UnavailableError(
                     absl::StrCat("TLS: ", e.message())));
      return;
    }
    if (!handshake_logged_ &&
        engine_->state() == TlsEngine::State::kEstablished) {
      handshake_logged_ = true;
      delegate_->OnTlsInfo(absl::StrCat(engine_->version(), " ",
                                        engine_->cipher(), ", gateway key ",
                                        engine_->peer_pin()));
    }
    plain_in_.clear();
    if (engine_->Read(&plain_in_) == 0) break;
    if (!client_->OnBytes(plain_in_, &plain_out_)) {
      HandleClientDone();
      return;
    }
  }
  if (engine_ != nullptr && engine_->state() == TlsEngine::State::kClosed) {
    Down(absl::UnavailableError("the gateway closed the TLS connection"));
    return;
  }
  Flush();
}

void TlsTunnel::HandleClientDone() {
  const absl::Status& r = client_->result();
  // The DPD answers or the last request queued before the end still go.
  Flush();
  Down(r);
}

void TlsTunnel::OnEof() {
  Down(absl::UnavailableError("the gateway closed the TCP connection"));
}

void TlsTunnel::OnError(absl::Status status) {
  Down(absl::UnavailableError(absl::StrCat("TCP: ", status.message())));
}

void TlsTunnel::OnConnected(const CstpConfig& config) {
  connect_timer_->Stop();
  up_ = true;
  cookie_ = client_->cookie();
  config_ = config;
  mtu_ = config.mtu.value_or(profile_.mtu);
  last_rx_ = last_tx_ = loop_->Now();
  ArmLivenessTimer();
  StartDtls();
  delegate_->OnTlsUp(config);
}

void TlsTunnel::OnPacket(absl::Span<const uint8_t> packet) {
  stats_.rx_packets++;
  stats_.rx_bytes += packet.size();
  if (receiver_ != nullptr) receiver_->OnPacket(packet);
}

void TlsTunnel::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  if (!up_ || client_ == nullptr) {
    stats_.tx_dropped_down++;
    return;
  }
  if (dtls_up_) {
    size_t size = 0;
    for (absl::Span<const uint8_t> f : fragments) size += f.size();
    if (size <= dtls_max_packet_) {
      record_.assign(1, static_cast<uint8_t>(CstpType::kData));
      for (absl::Span<const uint8_t> f : fragments) {
        record_.insert(record_.end(), f.begin(), f.end());
      }
      if (dtls_->WriteRecord(record_).ok()) {
        stats_.dtls_tx_packets++;
        stats_.tx_packets++;
        stats_.tx_bytes += size;
        PumpDtls();
        return;
      }
    }
    stats_.dtls_tx_too_big++;  // Goes over TLS instead.
  }
  if (socket_->QueuedBytes() > kMaxQueuedBytes) {
    stats_.tx_dropped_queue++;
    return;
  }
  // One CSTP frame per TLS record: ocserv parses record by record and
  // refuses a record that holds more or less than one frame. The records
  // are sealed at once; the socket write waits for the end of the turn so
  // that a burst of packets costs one write.
  data_out_.clear();
  if (!client_->AppendPacket(fragments, &data_out_)) return;
  stats_.tx_packets++;
  stats_.tx_bytes += data_out_.size();
  (void)engine_->Write(data_out_);
  unflushed_ += data_out_.size();
  if (unflushed_ >= kFlushBytes) {
    Flush();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    flush_timer_->Start(absl::ZeroDuration());
  }
}

void TlsTunnel::WriteFrames() {
  size_t pos = 0;
  while (pos + kCstpHeaderSize <= plain_out_.size()) {
    const size_t len = kCstpHeaderSize + (size_t{plain_out_[pos + 4]} << 8 |
                                          plain_out_[pos + 5]);
    if (pos + len > plain_out_.size()) break;
    (void)engine_->Write(absl::MakeConstSpan(plain_out_.data() + pos, len));
    pos += len;
  }
  plain_out_.clear();
}

void TlsTunnel::Flush() {
  if (engine_ == nullptr || socket_ == nullptr) return;
  if (!plain_out_.empty()) {
    if (up_) {
      WriteFrames();
    } else {
      (void)engine_->Write(plain_out_);  // HTTP requests.
      plain_out_.clear();
    }
  }
  unflushed_ = 0;
  if (engine_->HasCiphertext()) {
    cipher_out_.clear();
    engine_->TakeCiphertext(&cipher_out_);
    last_tx_ = loop_->Now();
    if (absl::Status s = socket_->Write(cipher_out_); !s.ok()) {
      Down(absl::UnavailableError(absl::StrCat("TCP: ", s.message())));
    }
  }
}

void TlsTunnel::ArmLivenessTimer() {
  const int dpd = config_.dpd_seconds.value_or(0);
  const int keepalive = config_.keepalive_seconds.value_or(0);
  if (!up_ || (dpd <= 0 && keepalive <= 0)) return;
  // Checked once a second, or more often for short test intervals.
  int step = std::min(dpd > 0 ? dpd : 1 << 20, keepalive > 0 ? keepalive
                                                             : 1 << 20);
  liveness_timer_->Start(absl::Seconds(std::min(step, 1)));
}

void TlsTunnel::OnLivenessTimer() {
  if (!up_ || client_ == nullptr) return;
  const absl::Duration now = loop_->Now();
  const int dpd = config_.dpd_seconds.value_or(0);
  const int keepalive = config_.keepalive_seconds.value_or(0);
  if (dpd > 0) {
    if (dpd_sent_ != absl::InfiniteDuration() &&
        now - dpd_sent_ >= absl::Seconds(dpd)) {
      Down(absl::DeadlineExceededError(absl::StrCat(
          "the gateway did not answer DPD for ", dpd, " s")));
      return;
    }
    if (dpd_sent_ == absl::InfiniteDuration() &&
        now - last_rx_ >= absl::Seconds(dpd)) {
      client_->AppendDpdRequest(&plain_out_);
      dpd_sent_ = now;
      stats_.dpd_sent++;
    }
  }
  if (dtls_up_) {
    const int dtls_dpd = config_.dtls && config_.dtls->dpd_seconds
                             ? *config_.dtls->dpd_seconds
                             : dpd;
    if (dtls_dpd > 0) {
      if (dtls_dpd_sent_ != absl::InfiniteDuration() &&
          now - dtls_dpd_sent_ >= absl::Seconds(dtls_dpd)) {
        StopDtls(absl::StrCat("no DTLS DPD answer for ", dtls_dpd, " s"));
      } else if (dtls_dpd_sent_ == absl::InfiniteDuration() &&
                 now - dtls_last_rx_ >= absl::Seconds(dtls_dpd)) {
        SendDtlsControl(static_cast<uint8_t>(CstpType::kDpdRequest));
        dtls_dpd_sent_ = now;
      }
    }
  }
  if (keepalive > 0 && now - last_tx_ >= absl::Seconds(keepalive)) {
    client_->AppendKeepalive(&plain_out_);
    stats_.keepalives_sent++;
  }
  Flush();
  ArmLivenessTimer();
}

// ---------------------------------------------------------------------------
// DTLS

void TlsTunnel::StartDtls() {
  const auto& offer = config_.dtls;
  if (!profile_.dtls || !offer || !offer->session_id_is_app_id ||
      offer->cipher_suite != "PSK-NEGOTIATE") {
    if (profile_.dtls) {
      delegate_->OnTlsInfo(
          offer ? absl::StrCat("DTLS: the gateway offered \"",
                               offer->cipher_suite,
                               "\", not PSK-NEGOTIATE; data stays on TLS")
                : "DTLS: not offered by the gateway; data stays on TLS");
    }
    return;
  }
  stats_.dtls_attempts++;
  auto psk = engine_->ExportKeyingMaterial(kDtlsPskLabel, 32);
  DtlsClientOptions options;
  if (psk.ok()) options.psk = *std::move(psk);
  options.session_id = offer->session_id;
  // The UDP payload a 1500-byte path carries.
  const IpAddress& ip = profile_.address.ip();
  options.mtu = 1500 - (ip.is_v4() ? 28 : 48);
  event::UvLoop* loop = loop_;
  options.clock = [loop] { return absl::UnixEpoch() + loop->Now(); };
  auto dtls = DtlsEngine::Client(options);
  if (!psk.ok() || !dtls.ok()) {
    stats_.dtls_failed++;
    delegate_->OnTlsInfo(absl::StrCat(
        "DTLS: cannot start: ",
        (!psk.ok() ? psk.status() : dtls.status()).message()));
    return;
  }
  udp_ = std::make_unique<event::UdpSocket>(
      loop_, static_cast<event::UdpSocket::Delegate*>(this));
  if (absl::Status s = udp_->Bind(SocketAddress(IpAddress::Any(ip.family()),
                                                0));
      !s.ok()) {
    stats_.dtls_failed++;
    delegate_->OnTlsInfo(absl::StrCat("DTLS: ", s.message()));
    udp_.reset();
    return;
  }
  // Bursts of thousands of datagrams at a time: as for ESP in UDP.
  (void)udp_->SetBufferSizes(kDtlsSocketBuffer, kDtlsSocketBuffer);
  dtls_ = *std::move(dtls);
  dtls_peer_ = SocketAddress(ip, offer->port);
  // Every packet must fit one DTLS record: the worst case of the CBC-SHA1
  // suites (13 header, 16 IV, 20 MAC, up to 16 padding) and the type byte.
  const int dtls_mtu = static_cast<int>(options.mtu) - 13 - 16 - 20 - 16 - 1;
  mtu_ = std::min(mtu_, dtls_mtu);
  dtls_->Start();
  PumpDtls();
}

void TlsTunnel::PumpDtls() {
  if (dtls_ == nullptr) return;
  datagrams_.clear();
  dtls_->TakeDatagrams(&datagrams_);
  for (const std::vector<uint8_t>& d : datagrams_) {
    absl::Span<const uint8_t> one[] = {d};
    if (!udp_->SendTo(one, dtls_peer_).ok()) stats_.dtls_send_failed++;
  }
  if (dtls_->state() == DtlsEngine::State::kFailed ||
      dtls_->state() == DtlsEngine::State::kClosed) {
    StopDtls(absl::StrCat("handshake failed: ", dtls_->error().message()));
    return;
  }
  if (!dtls_up_ && dtls_->state() == DtlsEngine::State::kEstablished) {
    dtls_up_ = true;
    stats_.dtls_up++;
    dtls_last_rx_ = loop_->Now();
    dtls_dpd_sent_ = absl::InfiniteDuration();
    // The largest IP packet one record carries, after the type byte.
    dtls_max_packet_ = dtls_->max_record_payload() - 1;
    delegate_->OnTlsInfo(absl::StrCat(
        "DTLS up: ", dtls_->cipher(), " to ", dtls_peer_.ToString(),
        "; packets up to ", dtls_max_packet_, " bytes go over DTLS"));
  }
  // Only the handshake retransmits; per-packet calls leave the timer alone.
  if (dtls_up_) {
    if (dtls_timer_->IsArmed()) dtls_timer_->Stop();
    return;
  }
  if (absl::optional<absl::Duration> t = dtls_->NextTimeout(); t) {
    dtls_timer_->Start(*t);
  } else {
    dtls_timer_->Stop();
  }
}

void TlsTunnel::StopDtls(const std::string& why) {
  if (dtls_ == nullptr && udp_ == nullptr) return;
  if (!why.empty()) {
    stats_.dtls_failed++;
    delegate_->OnTlsInfo(absl::StrCat("DTLS ", dtls_up_ ? "down" : "failed",
                                      ": ", why, "; data goes over TLS"));
  }
  dtls_up_ = false;
  dtls_timer_->Stop();
  if (dtls_ != nullptr) stats_.dtls_rx_dropped += dtls_->dropped();
  dtls_.reset();
  if (udp_ != nullptr) {
    udp_graveyard_.push_back(std::move(udp_));
    if (!reap_timer_->IsArmed()) reap_timer_->Start(absl::ZeroDuration());
  }
}

void TlsTunnel::SendDtlsControl(uint8_t type) {
  if (!dtls_up_) return;
  const uint8_t record[] = {type};
  if (dtls_->WriteRecord(record).ok()) PumpDtls();
}

void TlsTunnel::OnDatagram(absl::Span<const uint8_t> data,
                           const SocketAddress& from) {
  if (dtls_ == nullptr || !(from == dtls_peer_)) {
    stats_.dtls_rx_dropped++;
    return;
  }
  dtls_->FeedDatagram(data);
  std::vector<uint8_t> record;
  while (dtls_ != nullptr && dtls_->ReadRecord(&record)) {
    dtls_last_rx_ = loop_->Now();
    dtls_dpd_sent_ = absl::InfiniteDuration();
    if (record.empty()) continue;
    switch (record[0]) {
      case static_cast<uint8_t>(CstpType::kData):
        stats_.dtls_rx_packets++;
        OnPacket(absl::MakeConstSpan(record).subspan(1));
        break;
      case static_cast<uint8_t>(CstpType::kDpdRequest):
        SendDtlsControl(static_cast<uint8_t>(CstpType::kDpdResponse));
        break;
      case static_cast<uint8_t>(CstpType::kDpdResponse):
      case static_cast<uint8_t>(CstpType::kKeepalive):
        break;
      default:
        stats_.dtls_rx_dropped++;
        break;
    }
  }
  PumpDtls();
}

CounterList TlsTunnel::Counters() const {
  AnyConnectClient::Counters c = client_totals_;
  if (client_ != nullptr) AddCounters(client_->counters(), &c);
  return {
      {"tls_connects", stats_.connects},
      {"tls_logins", stats_.logins},
      {"tls_tx_packets", stats_.tx_packets},
      {"tls_tx_bytes", stats_.tx_bytes},
      {"tls_tx_dropped_down", stats_.tx_dropped_down},
      {"tls_tx_dropped_queue", stats_.tx_dropped_queue},
      {"tls_rx_packets", stats_.rx_packets},
      {"tls_rx_bytes", stats_.rx_bytes},
      {"tls_dpd_sent", stats_.dpd_sent},
      {"tls_keepalives_sent", stats_.keepalives_sent},
      {"dtls_attempts", stats_.dtls_attempts},
      {"dtls_up", stats_.dtls_up},
      {"dtls_failed", stats_.dtls_failed},
      {"dtls_tx_packets", stats_.dtls_tx_packets},
      {"dtls_rx_packets", stats_.dtls_rx_packets},
      {"dtls_tx_too_big", stats_.dtls_tx_too_big},
      {"dtls_rx_dropped", stats_.dtls_rx_dropped},
      {"dtls_send_failed", stats_.dtls_send_failed},
      {"cstp_rx_dpd_requests", c.rx_dpd_requests},
      {"cstp_rx_dpd_responses", c.rx_dpd_responses},
      {"cstp_rx_keepalives", c.rx_keepalives},
      {"cstp_rx_compressed_dropped", c.rx_compressed_dropped},
      {"cstp_rx_unknown_dropped", c.rx_unknown_dropped},
      {"cstp_tx_too_large", c.tx_too_large},
  };
}

}  // namespace stow::tunnel::tls
