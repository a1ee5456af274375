// The gateway: a user-space IKEv2 + ESP responder that needs no root. It
// receives ESP in UDP from clients, routes their decrypted packets into its
// own netstack (which hosts the built-in services and port forwards on its
// virtual address) and sends the netstack's replies back, encrypted, to the
// client that owns the destination address.
//
// Clients are keyed manually (ESP profiles) or, with `ike.enabled`, by IKEv2
// (RFC 7296): one ike::IkeSa responder per client, virtual addresses from a
// pool and DNS servers pushed in the configuration payload, CHILD SAs
// installed and rekeyed as the SA reports them, stateless COOKIEs under
// load, and everything of a client removed when its IKE SA ends (DELETE,
// failed liveness check, failure).
//
// Sockets: `listen` carries ESP in UDP and IKE behind the non-ESP marker
// (RFC 3948, the NAT-T port 4500); `ike.ike_listen`, if set, plain IKE
// (port 500), from which initiators float to `listen` (RFC 7296 2.23).
//
// With `tls.enabled` the gateway also serves the AnyConnect protocol
// (ocserv-compatible: XML login with a user file, CONNECT, CSTP framing;
// sdk/gateway/tls/) on a TCP port: those clients get addresses from
// `tls.pool4`/`tls.pool6` and their packets go into the same netstack.
// With `tls.dtls` the DTLS data channel (PSK-NEGOTIATE) is offered as well,
// on UDP at `tls.dtls_listen` (default: the TLS address's IP and port).
#ifndef STOWAWAY_SDK_GATEWAY_GATEWAY_H_
#define STOWAWAY_SDK_GATEWAY_GATEWAY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/udp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/gateway/address_pool.h"
#include "sdk/gateway/cookie.h"
#include "sdk/gateway/services/port_forward.h"
#include "sdk/gateway/services/services.h"
#include "sdk/gateway/tls/password_file.h"
#include "sdk/gateway/tls/tls_server.h"
#include "sdk/tunnel/ipsec/esp_peer.h"
#include "sdk/tunnel/ipsec/ike/negotiation/negotiation.h"
#include "sdk/tunnel/ipsec/ike/sa/credentials.h"
#include "sdk/tunnel/ipsec/ike/sa/ike_sa.h"
#include "sdk/tunnel/ipsec/profile.h"
#include "sdk/tunnel/tunnel.h"

namespace stow::gateway {

// The IKEv2 responder's settings.
struct GatewayIkeConfig {
  // Off: IKE messages are counted and dropped (manually keyed clients only).
  bool enabled = false;
  // A second socket for plain IKE without marker (UDP 500); unset: none.
  absl::optional<SocketAddress> ike_listen;
  // Our identity (IDr); the default is fqdn:gw.stowaway.test.
  ike::IdPayload local_id = DefaultLocalId();
  // How we authenticate (AUTH) and check clients: required when enabled.
  // A PskCredentials is both.
  std::shared_ptr<const ike::Credentials> credentials;
  std::shared_ptr<const ike::PeerAuthenticator> peer_authenticator;
  ike::IkeAlgorithms ike_algorithms = ike::DefaultIkeAlgorithms();
  ike::EspAlgorithms esp_algorithms = ike::DefaultEspAlgorithms();
  // Retransmission, DPD, rekey periods and the half-open timeout.
  ike::IkeTimers timers;
  // Virtual addresses for clients; each must lie inside the gateway's
  // prefix (ipv4/ipv4_prefix_len, ipv6/64). No pool for a family: clients
  // asking for it get none.
  absl::optional<ipsec::IpPrefix> pool4 =
      ipsec::IpPrefix{IpAddress::V4(10, 99, 100, 0), 24};
  absl::optional<ipsec::IpPrefix> pool6;
  // DNS servers pushed in the configuration reply (may be empty).
  std::vector<IpAddress> dns;
  // Half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet) at which a
  // new IKE_SA_INIT must carry a COOKIE (RFC 7296 2.6); 0: never.
  int cookie_threshold = 10;
  // Half-open IKE SAs beyond which new IKE_SA_INITs are dropped (counted).
  int max_half_open = 1000;
  // How often the cookie secret changes.
  absl::Duration cookie_rotation = absl::Minutes(2);

  static ike::IdPayload DefaultLocalId();
};

// The AnyConnect (TLS) server's settings.
struct GatewayTlsConfig {
  bool enabled = false;
  // TCP address (port 0 picks a free port).
  SocketAddress listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 4443);
  std::string cert_pem;  // Chain, leaf first.
  std::string key_pem;
  std::shared_ptr<const tls::PasswordFile> users;  // Required when enabled.
  // Virtual addresses for TLS clients: inside the gateway's prefixes, not
  // overlapping the IKE pools.
  ipsec::IpPrefix pool4{IpAddress::V4(10, 99, 101, 0), 24};
  absl::optional<ipsec::IpPrefix> pool6;
  // X-CSTP-DNS; empty: the IKE responder's `dns`.
  std::vector<IpAddress> dns;
  std::string default_domain;
  // Offer the DTLS data channel (PSK-NEGOTIATE) to clients that ask.
  bool dtls = false;
  // Its UDP address; unset: `listen`'s IP and actual port number.
  absl::optional<SocketAddress> dtls_listen;
  int dpd_seconds = 30;
  int keepalive_seconds = 20;
  // How long a session (cookie and address) outlives a dropped connection.
  absl::Duration cookie_lifetime = absl::Minutes(5);
  // Zero: 3 x max(dpd, keepalive), at least 30 s.
  absl::Duration idle_timeout = absl::ZeroDuration();
  int max_failures = 5;
  absl::Duration lockout = absl::Minutes(1);
};

struct GatewayConfig {
  // UDP address for ESP-in-UDP (and later IKE). Port 0 picks a free port.
  SocketAddress listen = SocketAddress(IpAddress::V4(127, 0, 0, 1), 4500);
  // The gateway's own virtual addresses; clients' addresses must lie in
  // these prefixes.
  IpAddress ipv4 = IpAddress::V4(10, 99, 0, 1);
  int ipv4_prefix_len = 16;
  absl::optional<IpAddress> ipv6;  // e.g. fd99::1 (prefix /64)
  int mtu = 1400;
  // Clients with manually keyed SAs (profiles as the clients use them).
  std::vector<ipsec::EspProfile> clients;
  ServicesConfig services;  // addresses filled from ipv4/ipv6 when empty
  std::vector<ForwardSpec> forwards;
  GatewayIkeConfig ike;
  GatewayTlsConfig tls;
  // One line per client event. Runs on the loop thread.
  absl::AnyInvocable<void(const std::string&)> log;
};

// Gateway-wide counters. Per-client ones are in the status page.
struct GatewayCounters {
  uint64_t rx_datagrams = 0;
  uint64_t rx_keepalives = 0;
  uint64_t rx_ike = 0;          // IKE messages, both sockets.
  uint64_t rx_unknown_spi = 0;  // ESP for no known SA.
  uint64_t rx_malformed = 0;    // Not ESP, IKE or a keepalive.
  uint64_t rx_spoofed = 0;      // Inner source not the client's address.
  uint64_t tx_no_client = 0;    // Netstack packets for no known client.
  uint64_t tx_no_peer = 0;      // For a client not heard from yet.
  uint64_t tx_send_failed = 0;  // Socket buffer full.
  // IKE (all 0 unless the responder is enabled, but ike_disabled).
  uint64_t ike_disabled = 0;         // IKE received with IKE off.
  uint64_t ike_malformed = 0;        // No IKE header / unparseable INIT.
  uint64_t ike_unknown_spi = 0;      // For no IKE SA of ours.
  uint64_t ike_cookies_sent = 0;     // N(COOKIE) answers.
  uint64_t ike_cookies_accepted = 0;
  uint64_t ike_cookies_rejected = 0;  // Wrong or stale: a new one sent.
  uint64_t ike_half_open_dropped = 0;  // Over max_half_open.
  uint64_t ike_sas_created = 0;
  uint64_t ike_sas_refused = 0;      // First IKE_SA_INIT answered with an error.
  uint64_t ike_established = 0;
  uint64_t ike_closed = 0;           // Clients removed after being created.
  uint64_t ike_pool_exhausted = 0;   // AssignConfig found no free address.
  uint64_t ike_spi_collisions = 0;   // A CHILD SA SPI already in use.
};

// Threading: everything, construction and destruction included, on the
// loop thread. Ownership: the loop and the stack outlive the gateway.
class Gateway : private event::UdpSocket::Delegate, private netstack::Link {
 public:
  // Errors: kInvalidArgument naming the client or field (duplicate SPI or
  // virtual address, address outside the gateway's prefix), kAlreadyExists
  // naming the address when the UDP port is in use, or the errors of the
  // services and forwards.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      event::UvLoop* loop, netstack::Stack* stack, GatewayConfig config);
  ~Gateway() override;

  // The bound UDP address (with the actual port).
  SocketAddress local_address() const { return local_; }
  // The plain IKE socket's address, if there is one.
  absl::optional<SocketAddress> ike_address() const { return ike_local_; }
  // The TLS (AnyConnect) server, if enabled.
  const tls::TlsServer* tls_server() const { return tls_.get(); }
  absl::optional<SocketAddress> tls_address() const {
    return tls_ ? absl::make_optional(tls_->local_address()) : absl::nullopt;
  }
  absl::optional<SocketAddress> dtls_address() const {
    return tls_ ? tls_->dtls_address() : absl::nullopt;
  }
  // IKE clients (half-open ones included) and half-open ones alone.
  size_t ike_clients() const;
  int half_open() const { return half_open_; }
  // The client that owns a virtual address, by name, or "" (for tests).
  std::string OwnerOf(const IpAddress& ip) const;
  const GatewayCounters& counters() const { return counters_; }
  // The status page: clients with their addresses and counters, gateway and
  // service counters.
  std::string StatusText() const;
  const Services& services() const { return *services_; }

 private:
  struct Client;
  // Receives the plain IKE socket's datagrams.
  class IkeSocketDelegate : public event::UdpSocket::Delegate {
   public:
    explicit IkeSocketDelegate(Gateway* gateway) : gateway_(gateway) {}
    void OnDatagram(absl::Span<const uint8_t> data,
                    const SocketAddress& from) override;

   private:
    Gateway* const gateway_;  // Not owned.
  };
  // (SPIi, initiator address) of a first IKE_SA_INIT.
  struct InitKey {
    uint64_t spi_i = 0;
    SocketAddress from;
    friend bool operator==(const InitKey& a, const InitKey& b) {
      return a.spi_i == b.spi_i && a.from == b.from;
    }
  };
  struct InitKeyHash {
    size_t operator()(const InitKey& k) const;
  };
  // Receives the TLS server's tunnel packets and log lines.
  class TlsDelegate : public tls::TlsServer::Delegate {
   public:
    explicit TlsDelegate(Gateway* gateway) : gateway_(gateway) {}
    void OnTunnelPacket(absl::Span<const uint8_t> packet) override;
    void OnTunnelLog(const std::string& line) override;

   private:
    Gateway* const gateway_;  // Not owned.
  };

  Gateway(event::UvLoop* loop, netstack::Stack* stack, GatewayConfig config);
  absl::Status Init();
  absl::Status InitIke();
  absl::Status InitTls();
  void Log(const std::string& line);

  // event::UdpSocket::Delegate: the NAT-T socket.
  void OnDatagram(absl::Span<const uint8_t> data,
                  const SocketAddress& from) override;
  // netstack::Link: packets the gateway's netstack sends to clients.
  int mtu() const override { return config_.mtu; }
  void SendPacket(
      absl::Span<const absl::Span<const uint8_t>> fragments) override;
  void SetReceiver(Receiver* receiver) override { receiver_ = receiver; }

  void OnEsp(uint32_t spi, absl::Span<const uint8_t> data,
             const SocketAddress& from);
  void ReportEvents(Client* client, ipsec::EspPeer* peer);

  // IKE. `nat_t`: it came on the NAT-T socket behind the marker.
  void OnIke(absl::Span<const uint8_t> message, const SocketAddress& from,
             bool nat_t);
  void OnFirstInit(absl::Span<const uint8_t> message, const ike::Header& header,
                   const SocketAddress& from, bool nat_t);
  // Sends an IKE message: with the marker from the NAT-T socket, or bare
  // from the plain IKE socket.
  void SendIkeDatagram(absl::Span<const uint8_t> message,
                       const SocketAddress& to, bool nat_t);
  // After every call into a client's IkeSa: bookkeeping (half-open count,
  // SPIs, timer) and, once the SA has closed, the client's removal.
  void AfterIke(Client* client);
  void RemoveClient(Client* client);
  void ScheduleIkeTimer();
  void OnIkeTimer();
  // Client::Delegate work.
  void OnChildSaUp(Client* client, const ike::ChildSaInfo& child);
  void OnChildSaDown(Client* client, uint32_t inbound_spi);
  absl::StatusOr<ike::AssignedConfig> AssignConfig(
      Client* client, const ike::ConfigRequest& request,
      const ike::IdPayload& peer);
  void OnIkeEvent(Client* client, const ike::IkeEvent& event);

  event::UvLoop* const loop_;     // Not owned.
  netstack::Stack* const stack_;  // Not owned.
  GatewayConfig config_;
  SocketAddress local_;
  Receiver* receiver_ = nullptr;  // Not owned: the interface.
  std::unique_ptr<event::UdpSocket> socket_;
  // Clients by id (manual ones first, in profile order).
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_client_id_ = 1;
  // ESP SAs by inbound SPI; virtual addresses.
  std::unordered_map<uint32_t, Client*> by_spi_;
  std::unordered_map<IpAddress, Client*, IpAddressHash> by_address_;
  // IKE.
  IkeSocketDelegate ike_socket_delegate_{this};
  std::unique_ptr<event::UdpSocket> ike_socket_;
  absl::optional<SocketAddress> ike_local_;
  ike::IkeConfig ike_template_;
  // Our IKE SPIs (and the peers' where free; see OnIke) and first
  // IKE_SA_INITs, to their clients.
  std::unordered_map<uint64_t, Client*> by_ike_spi_;
  std::unordered_map<InitKey, Client*, InitKeyHash> by_init_;
  absl::optional<AddressPool> pool4_;
  absl::optional<AddressPool> pool6_;
  std::unique_ptr<CookieJar> cookies_;
  int half_open_ = 0;
  // IkeSa deadlines: (when, client id), one entry per client with one.
  std::set<std::pair<absl::Duration, uint64_t>> deadlines_;
  std::unique_ptr<event::Timer> ike_timer_;
  bool destroying_ = false;
  std::unique_ptr<netstack::Interface> interface_;
  std::unique_ptr<Services> services_;
  std::vector<std::unique_ptr<PortForward>> forwards_;
  TlsDelegate tls_delegate_{this};
  std::unique_ptr<tls::TlsServer> tls_;
  std::vector<uint8_t> buffer_;  // Sealing and opening scratch.
  GatewayCounters counters_;
};

// Parses "--client" style options: a profile file per client. Kept here so
// the sample and the tests share it.
absl::StatusOr<GatewayConfig> GatewayConfigFromFlags(
    const std::string& listen, const std::vector<std::string>& client_files,
    const std::vector<std::string>& forward_specs, const std::string& ipv4,
    const std::string& ipv6);

// The IKE responder's flags as the sample takes them (strings as typed).
struct IkeFlags {
  bool ike = false;
  std::string ike_listen;  // "" = no plain IKE socket.
  std::string psk;
  std::string psk_file;
  std::string id = "fqdn:gw.stowaway.test";
  std::string cert;
  std::string key;
  std::string ca;
  std::string ike_proposals;  // "" = defaults.
  std::string esp_proposals;
  absl::Duration dpd_delay = absl::Seconds(30);
  absl::Duration child_rekey = absl::Hours(1);
  absl::Duration ike_rekey = absl::Hours(4);
  int cookie_threshold = 10;
  int max_half_open = 1000;
  std::string pool = "10.99.100.0/24";  // "" = none.
  std::string pool6;                    // "" = none.
  std::vector<std::string> dns;
};

// Fills config->ike from `flags`. InvalidArgument naming the flag; a
// --psk_file that cannot be read names the file. With --cert/--key the
// gateway authenticates with its certificate (else the PSK); clients may
// authenticate with the PSK or with a certificate issued by --ca.
absl::Status ApplyIkeFlags(const IkeFlags& flags, GatewayConfig* config);

// The TLS (AnyConnect) server's flags as the sample takes them.
struct TlsFlags {
  std::string tls_listen;  // "" = no TLS server.
  std::string tls_cert;    // PEM files.
  std::string tls_key;
  std::string tls_users;   // User file (sdk/gateway/tls/password_file.h).
  // "user:password" entries (hashed at startup), for tests and demos.
  std::vector<std::string> tls_user;
  std::string tls_pool = "10.99.101.0/24";
  std::string tls_pool6;  // "" = none.
  std::string tls_default_domain;
  bool dtls = false;
  std::string dtls_listen;  // "" = the TLS address over UDP.
  absl::Duration tls_dpd = absl::Seconds(30);
  absl::Duration tls_keepalive = absl::Seconds(20);
  absl::Duration tls_cookie_lifetime = absl::Minutes(5);
  absl::Duration tls_idle_timeout = absl::ZeroDuration();
};

// Fills config->tls from `flags` (reading the certificate, key and user
// files). InvalidArgument naming the flag or file. TLS clients get the IKE
// responder's DNS servers (config->ike.dns): apply the IKE flags first.
absl::Status ApplyTlsFlags(const TlsFlags& flags, GatewayConfig* config);

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_GATEWAY_H_
