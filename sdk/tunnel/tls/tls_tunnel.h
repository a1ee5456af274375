// The AnyConnect-compatible tunnel: one TCP connection to the gateway
// carrying TLS (TlsEngine), the login and CONNECT (AnyConnectClient), then
// CSTP frames; it is the netstack's Link for the session, and stays the
// same Link across reconnections so the interface above it survives.
//
// Connect() starts one attempt: TCP, TLS with the profile's verification,
// the XML login (or, with a cookie, straight to CONNECT). The delegate hears
// OnTlsUp() with the gateway's parameters, or OnTlsDown() with why the
// attempt or the connection ended:
//   kUnauthenticated   the certificate check or the login failed (terminal
//                      for the session: retrying cannot help);
//   kPermissionDenied  the gateway refused the cookie (log in again);
//   kAborted           the gateway sent DISCONNECT (it kicked us);
//   kDeadlineExceeded  no tunnel within the connect timeout (a gateway that
//                      stalls mid-handshake), or DPD went unanswered;
//   kUnavailable       TCP or TLS failed or closed;
//   kInvalidArgument   the gateway spoke nonsense (HTTP, XML, CSTP).
//
// Liveness: with X-CSTP-DPD, a DPD request goes out after that many seconds
// without anything received, and the connection is declared dead when
// another DPD period passes without an answer. With X-CSTP-Keepalive, a
// keepalive frame goes out after that many seconds without anything sent.
//
// DTLS: with "dtls" in the profile, the CONNECT asks for PSK-NEGOTIATE;
// when the gateway offers it (X-DTLS-App-ID, X-DTLS-Port), a DTLS 1.2
// handshake keyed by the TLS session's exporter starts on a UDP socket
// while data already flows over TLS. Once it is up, packets go over DTLS
// (one record each, type byte 0x00); when it fails, or stops answering its
// DPD, data stays on (or falls back to) TLS. The tunnel MTU is then capped
// so that every packet fits a DTLS record (1406 over IPv4 with the CBC
// suites ocserv and this BoringSSL share).
//
// Data: each packet from the netstack becomes a CSTP DATA frame in a TLS
// record of its own (ocserv accepts nothing else); the records of one turn
// of the loop go to the socket in one write. While more than
// kMaxQueuedBytes wait in the TCP socket, packets are dropped and counted:
// the inner TCP then backs off as on a congested link.
//
// Threading: loop thread only. Delegate calls come on later turns of the
// loop, never from inside Connect() or Disconnect().
#ifndef STOWAWAY_SDK_TUNNEL_TLS_TLS_TUNNEL_H_
#define STOWAWAY_SDK_TUNNEL_TLS_TLS_TUNNEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/tunnel/tls/anyconnect_client.h"
#include "sdk/tunnel/tls/dtls_engine.h"
#include "sdk/tunnel/tls/tls_engine.h"
#include "sdk/tunnel/tls/tls_profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::tunnel::tls {

class TlsTunnel : public Tunnel,
                  private event::TcpSocket::Delegate,
                  private event::UdpSocket::Delegate,
                  private AnyConnectClient::Delegate {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    virtual void OnTlsUp(const CstpConfig& config) = 0;
    virtual void OnTlsDown(const absl::Status& why) = 0;
    // A log line (TLS version and cipher, DTLS state).
    virtual void OnTlsInfo(const std::string& line) = 0;
  };

  static constexpr size_t kMaxQueuedBytes = 4 << 20;

  TlsTunnel(event::UvLoop* loop, TlsProfile profile, Delegate* delegate);
  ~TlsTunnel() override;

  // Starts an attempt; `cookie` empty means log in. Ends any connection in
  // progress first (without a DISCONNECT).
  void Connect(const std::string& cookie);
  // Sends DISCONNECT (when the tunnel is up) and closes. No OnTlsDown().
  void Disconnect(const std::string& reason);

  bool up() const { return up_; }
  // Up, and packets travel inside the TLS/TCP connection (no DTLS).
  bool data_over_tcp() const { return up_ && !dtls_up_; }
  // The cookie of the last successful login ("" before).
  const std::string& cookie() const { return cookie_; }
  const CstpConfig& config() const { return config_; }
  const TlsProfile& profile() const { return profile_; }

  // netstack::Link
  int mtu() const override { return mtu_; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }
  // Tunnel
  CounterList Counters() const override;

 private:
  // event::TcpSocket::Delegate
  void OnConnected(absl::Status status) override;
  void OnData(absl::Span<const uint8_t> data) override;
  void OnEof() override;
  void OnWritable() override {}
  void OnError(absl::Status status) override;
  // event::UdpSocket::Delegate: the DTLS channel.
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  // AnyConnectClient::Delegate
  void OnConnected(const CstpConfig& config) override;
  void OnPacket(absl::Span<const uint8_t> packet) override;
  void OnDpdResponse() override {}

  // Moves plaintext into the engine and ciphertext to the socket.
  void Flush();
  // Seals plain_out_'s CSTP frames, one TLS record each.
  void WriteFrames();
  void CheckEngine();
  void HandleClientDone();
  // Ends the connection and reports `why` (once per attempt).
  void Down(absl::Status why);
  void CloseConnection();
  void OnLivenessTimer();
  void ArmLivenessTimer();
  // DTLS.
  void StartDtls();
  void PumpDtls();
  void StopDtls(const std::string& why);
  void SendDtlsControl(uint8_t type);

  event::UvLoop* const loop_;  // Not owned.
  const TlsProfile profile_;
  Delegate* const delegate_;  // Not owned.
  Receiver* receiver_ = nullptr;  // Not owned.

  // The current connection.
  std::unique_ptr<event::TcpSocket> socket_;
  std::unique_ptr<TlsEngine> engine_;
  std::unique_ptr<AnyConnectClient> client_;
  bool attempt_active_ = false;
  bool up_ = false;
  bool handshake_logged_ = false;
  std::vector<uint8_t> plain_out_;   // Control frames, login requests.
  std::vector<uint8_t> data_out_;    // Scratch for one DATA frame.
  size_t unflushed_ = 0;             // Sealed since the last socket write.
  std::vector<uint8_t> plain_in_;
  std::vector<uint8_t> cipher_out_;
  bool flush_posted_ = false;

  std::string cookie_;
  CstpConfig config_;
  int mtu_ = 1406;

  // The DTLS channel of the current connection.
  std::unique_ptr<event::UdpSocket> udp_;
  std::unique_ptr<DtlsEngine> dtls_;
  SocketAddress dtls_peer_;
  bool dtls_up_ = false;
  size_t dtls_max_packet_ = 0;
  absl::Duration dtls_last_rx_;
  absl::Duration dtls_dpd_sent_ = absl::InfiniteDuration();
  std::vector<std::vector<uint8_t>> datagrams_;
  std::vector<uint8_t> record_;  // Scratch: one outgoing DTLS record.
  std::unique_ptr<event::Timer> dtls_timer_;
  std::vector<std::unique_ptr<event::UdpSocket>> udp_graveyard_;

  std::unique_ptr<event::Timer> connect_timer_;
  std::unique_ptr<event::Timer> liveness_timer_;
  std::unique_ptr<event::Timer> flush_timer_;
  std::unique_ptr<event::Timer> reap_timer_;
  std::vector<std::unique_ptr<event::TcpSocket>> graveyard_;
  absl::Duration last_rx_;
  absl::Duration last_tx_;
  absl::Duration dpd_sent_ = absl::InfiniteDuration();
  std::vector<absl::Status> pending_down_;

  struct Stats {
    uint64_t connects = 0;
    uint64_t logins = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_dropped_down = 0;
    uint64_t tx_dropped_queue = 0;
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t dpd_sent = 0;
    uint64_t keepalives_sent = 0;
    uint64_t dtls_attempts = 0;
    uint64_t dtls_up = 0;
    uint64_t dtls_failed = 0;
    uint64_t dtls_tx_packets = 0;
    uint64_t dtls_rx_packets = 0;
    uint64_t dtls_tx_too_big = 0;
    uint64_t dtls_rx_dropped = 0;
    uint64_t dtls_send_failed = 0;
  } stats_;
  AnyConnectClient::Counters client_totals_;
};

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_TLS_TUNNEL_H_
