// The gateway's TLS listener: AnyConnect (CSTP) tunnels into the gateway's
// netstack. Per TCP connection a TlsEngine (server role), an
// HttpRequestReader feeding the AnyConnectServer login machine and, after
// "200 CONNECTED", a CstpReader: DATA frames whose inner source is the
// client's virtual address go to the delegate (the gateway's netstack),
// DPD requests are answered, keepalives accepted, a DISCONNECT ends the
// session (its cookie is then refused), unknown types are counted and
// dropped, bad magic or an oversized length closes the connection, and so
// does silence longer than the idle timeout. Packets for a client's address
// (SendPacket) go back as DATA frames, or are dropped and counted while its
// TCP connection has more than tx_queue_limit bytes unsent.
//
// DTLS (anyconnect.dtls): a UDP socket on dtls_listen (by default the TLS
// address's IP and port number; X-DTLS-Port names it) carries the
// PSK-NEGOTIATE data channel (sdk/tunnel/tls/dtls_engine.h). A ClientHello
// whose session_id is the X-DTLS-App-ID of a tunnel that is up starts a
// DtlsEngine server for its source address, keyed with that tunnel's TLS
// exporter (at most max_dtls_half_open handshakes at a time; others are
// counted and dropped, as are datagrams that are no ClientHello from an
// unknown address and ClientHellos naming no live tunnel). Once
// established the channel belongs to the tunnel: DATA records go the way of
// CSTP DATA frames (same spoof check), DPD requests are answered over DTLS
// with their payload echoed (openconnect's MTU probe),
// and SendPacket prefers DTLS for packets that fit one record. A newer
// handshake for the same tunnel (another address: the client roamed, or a
// new ClientHello from the same one) replaces the channel; the channel ends
// with its tunnel, on close_notify, and after dtls_dead_interval without a
// record, after which packets go over CSTP again.
//
// A dropped TCP connection keeps the session (and its address) for the
// cookie lifetime: a CONNECT with the same cookie gets the same address.
// A CONNECT for a session that still has a connection takes it over (the
// old connection is closed).
//
// Threading: everything, construction and destruction included, on the
// loop thread. Ownership: the loop and the delegate outlive the server.
#ifndef STOWAWAY_SDK_GATEWAY_TLS_TLS_SERVER_H_
#define STOWAWAY_SDK_GATEWAY_TLS_TLS_SERVER_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/address_pool.h"
#include "sdk/gateway/tls/anyconnect_server.h"
#include "sdk/gateway/tls/http_request_reader.h"

namespace stow::tunnel::tls {
class TlsServerContext;
}

namespace stow::gateway::tls {

struct TlsServerConfig {
  SocketAddress listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 4443);
  std::string cert_pem;  // Chain, leaf first.
  std::string key_pem;
  AnyConnectServerConfig anyconnect;
  // Before the tunnel: a connection closes after this long without a
  // complete request.
  absl::Duration login_timeout = absl::Seconds(30);
  // In the tunnel: a connection closes after this long with nothing from
  // the client. Zero: 3 x max(DPD, keepalive), at least 30 s.
  absl::Duration idle_timeout = absl::ZeroDuration();
  // How long a closing connection may take to flush before it is dropped.
  absl::Duration linger = absl::Seconds(5);
  size_t max_connections = 1024;
  // Packets for a client whose TCP connection has more unsent bytes than
  // this are dropped (tx_dropped_queue).
  size_t tx_queue_limit = 1 << 20;
  HttpRequestLimits http_limits;
  // DTLS (only with anyconnect.dtls; anyconnect.dtls_port is filled in).
  // Unset: UDP on listen's IP and actual port number.
  absl::optional<SocketAddress> dtls_listen;
  // DTLS handshakes in progress at most (a new one beyond: dropped).
  size_t max_dtls_half_open = 64;
  // A handshake not done by then is dropped.
  absl::Duration dtls_handshake_timeout = absl::Seconds(10);
  // An established channel with no record for this long ends (packets go
  // over CSTP). Zero: 3 x max(DTLS DPD, DTLS keepalive), at least 30 s.
  absl::Duration dtls_dead_interval = absl::ZeroDuration();
};

struct TlsServerCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // Over max_connections.
  uint64_t tls_failures = 0;         // Handshake or record errors.
  uint64_t http_errors = 0;          // Unreadable requests (4xx/5xx sent).
  uint64_t login_timeouts = 0;
  uint64_t tunnels_opened = 0;
  uint64_t tunnels_superseded = 0;   // Taken over by a new CONNECT.
  uint64_t idle_timeouts = 0;
  uint64_t rx_data = 0;
  uint64_t rx_dpd = 0;               // DPD requests (answered).
  uint64_t rx_dpd_responses = 0;
  uint64_t rx_keepalives = 0;
  uint64_t rx_disconnects = 0;
  uint64_t rx_unknown = 0;           // Unknown or unexpected frame types.
  uint64_t rx_bad_framing = 0;       // Bad magic / oversized: closed.
  uint64_t rx_spoofed = 0;           // Inner source not the client's.
  uint64_t tx_data = 0;
  uint64_t tx_no_tunnel = 0;         // For an address with no tunnel up.
  uint64_t tx_dropped_queue = 0;     // Backpressure.
  uint64_t tx_dropped_too_large = 0;
  // DTLS.
  uint64_t dtls_handshakes_started = 0;
  uint64_t dtls_handshakes_ok = 0;
  uint64_t dtls_handshakes_failed = 0;  // Engine failure or timeout.
  uint64_t dtls_refused = 0;      // ClientHello naming no live tunnel.
  uint64_t dtls_half_open_dropped = 0;  // Over max_dtls_half_open.
  uint64_t dtls_replaced = 0;     // By a newer handshake (roaming).
  uint64_t dtls_closed = 0;       // Established channels ended.
  uint64_t dtls_rx_data = 0;
  uint64_t dtls_rx_dpd = 0;       // DPD requests (answered over DTLS).
  uint64_t dtls_rx_dpd_responses = 0;
  uint64_t dtls_rx_keepalives = 0;
  uint64_t dtls_rx_unknown = 0;   // Other record types.
  uint64_t dtls_rx_spoofed = 0;
  // Datagrams that carried nothing usable: no ClientHello from an unknown
  // address, garbage, replays, records failing authentication.
  uint64_t dtls_rx_dropped = 0;
  uint64_t dtls_tx_data = 0;
  uint64_t dtls_send_failed = 0;  // UDP socket buffer full.
};

class TlsServer : private event::TcpListener::Delegate,
                  private event::UdpSocket::Delegate {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // An IP packet from a tunnel, its source checked to be the client's.
    virtual void OnTunnelPacket(absl::Span<const uint8_t> packet) = 0;
    // One line per client event.
    virtual void OnTunnelLog(const std::string& line) = 0;
  };

  // Errors: kInvalidArgument for an unusable certificate/key or
  // AnyConnect configuration, kAlreadyExists when the port is in use.
  static absl::StatusOr<std::unique_ptr<TlsServer>> Start(
      event::UvLoop* loop, Delegate* delegate, TlsServerConfig config);
  ~TlsServer() override;

  enum class SendResult : uint8_t { kSent, kNoTunnel, kDropped };
  // Sends a packet (in pieces) to the tunnel that owns `destination`.
  SendResult SendPacket(const IpAddress& destination,
                        absl::Span<const absl::Span<const uint8_t>> fragments);

  SocketAddress local_address() const { return local_; }
  // The DTLS socket's address, when DTLS is enabled.
  absl::optional<SocketAddress> dtls_address() const { return dtls_local_; }
  // DTLS channels: established ones, and handshakes in progress.
  size_t dtls_channels() const { return dtls_established_; }
  size_t dtls_half_open() const { return dtls_half_open_; }
  // "tls#3 alice" for an address with a tunnel up (or kept for a
  // reconnect), else "".
  std::string OwnerOf(const IpAddress& ip) const;
  size_t connections() const { return connections_.size(); }
  size_t tunnels() const { return by_address_.size(); }
  const TlsServerCounters& counters() const { return counters_; }
  const AnyConnectServer& anyconnect() const { return *anyconnect_; }
  // The TLS part of the status page.
  std::string StatusText() const;

 private:
  struct Connection;
  struct DtlsChannel;
  struct SocketAddressHash {
    size_t operator()(const SocketAddress& a) const;
  };
  enum class Phase : uint8_t { kHttp, kTunnel, kClosing, kDead };

  TlsServer(event::UvLoop* loop, Delegate* delegate, TlsServerConfig config);
  absl::Status Init();
  void Log(const std::string& line);

  // event::TcpListener::Delegate
  void OnAccept(std::unique_ptr<event::TcpSocket> socket) override;

  void OnData(Connection* c, absl::Span<const uint8_t> data);
  void OnEnd(Connection* c, const std::string& why);
  void OnConnectionTimer(Connection* c);
  void HandleRequests(Connection* c);
  void HandleFrames(Connection* c);
  void StartTunnel(Connection* c, uint64_t session);
  // Ends the tunnel part (addresses, session state); `disconnected`: by
  // the client's DISCONNECT.
  void EndTunnel(Connection* c, bool disconnected, const std::string& why);
  void WritePlain(Connection* c, absl::Span<const uint8_t> bytes);
  void Flush(Connection* c);
  // Graceful: close_notify, FIN, then wait (linger) for the peer. Else a
  // reset. Either way the tunnel (if any) ends first, as dropped.
  void Close(Connection* c, bool graceful, const std::string& why);
  void Destroy(Connection* c);
  void ArmTimer(Connection* c);
  void ScheduleExpiry();
  void OnExpiryTimer();
  absl::Duration IdleTimeout() const;

  // DTLS.
  absl::Status InitDtls();
  // event::UdpSocket::Delegate
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  void StartDtlsHandshake(absl::Span<const uint8_t> hello_datagram,
                          const SocketAddress& from,
                          const std::array<uint8_t, 32>& hello_random,
                          absl::Span<const uint8_t> app_id);
  void FeedDtls(DtlsChannel* ch, absl::Span<const uint8_t> data);
  // Sends what the engine queued, follows its state, reads its records and
  // arms its timer.
  void PumpDtls(DtlsChannel* ch);
  void SendDtlsDatagrams(DtlsChannel* ch);
  void OnDtlsEstablished(DtlsChannel* ch);
  void HandleDtlsRecord(DtlsChannel* ch, Connection* c,
                        absl::Span<const uint8_t> record);
  void OnDtlsTimer(DtlsChannel* ch);
  void ArmDtlsTimer(DtlsChannel* ch);
  void RemoveDtls(DtlsChannel* ch, const std::string& why);
  // Ends every DTLS channel (and handshake) of connection `c`.
  void EndDtlsOf(Connection* c, const std::string& why);
  absl::Duration DtlsDeadInterval() const;

  event::UvLoop* const loop_;  // Not owned.
  Delegate* const delegate_;   // Not owned.
  TlsServerConfig config_;
  SocketAddress local_;
  std::shared_ptr<tunnel::tls::TlsServerContext> context_;
  std::unique_ptr<AnyConnectServer> anyconnect_;
  std::unique_ptr<event::TcpListener> listener_;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  std::unordered_map<IpAddress, Connection*, IpAddressHash> by_address_;
  std::unordered_map<uint64_t, Connection*> by_session_;
  // Connections closed inside their own callbacks, destroyed by reaper_.
  std::vector<std::unique_ptr<Connection>> graveyard_;
  std::unique_ptr<event::Timer> reaper_;
  std::unique_ptr<event::Timer> expiry_timer_;
  std::vector<uint8_t> plain_;  // Scratch.
  std::vector<uint8_t> frame_;  // Scratch.
  // DTLS.
  std::unique_ptr<event::UdpSocket> dtls_socket_;
  absl::optional<SocketAddress> dtls_local_;
  std::unordered_map<SocketAddress, std::unique_ptr<DtlsChannel>,
                     SocketAddressHash>
      dtls_by_peer_;
  std::vector<std::unique_ptr<DtlsChannel>> dtls_graveyard_;
  size_t dtls_half_open_ = 0;
  size_t dtls_established_ = 0;
  uint64_t next_dtls_id_ = 1;
  std::vector<std::vector<uint8_t>> datagrams_;  // Scratch.
  std::vector<uint8_t> record_;                  // Scratch.
  bool destroying_ = false;
  TlsServerCounters counters_;
};

}  // namespace stow::gateway::tls

#endif  // STOWAWAY_SDK_GATEWAY_TLS_TLS_SERVER_H_
