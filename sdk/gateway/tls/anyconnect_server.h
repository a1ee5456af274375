// The server side of AnyConnect login and tunnel setup, as ocserv 1.1.6
// speaks it to openconnect 9.01 (/work/shared/interop/ocserv/README.md) and
// draft-mavrogiannopoulos-openconnect describes: a pure state machine that
// takes an HTTP request (parsed head + body) and returns the response to
// send. No sockets, no clock (the caller passes `now`).
//
//  - POST / (config-auth type="init"), GET / : the auth-request form
//    (username and password in one form; a <select name="group_list"> when
//    the user file names more than one group).
//  - POST /auth (type="auth-reply"): on success type="complete" with
//    `Set-Cookie: webvpn=<64 hex digits>` (32 random bytes); on failure the
//    form again with "Login failed." (HTTP 200, like ocserv). Failures are
//    counted per user name and per peer address; after max_failures in a row
//    logins from that user or address are refused without checking the
//    password for `lockout`.
//  - CONNECT /CSCOSSLC/tunnel with `Cookie: webvpn=...`: "200 CONNECTED" and
//    the X-CSTP-* / X-DTLS-* header block (names as sdk/tunnel/tls/
//    cstp_headers.h parses them); an unknown cookie gets
//    "401 Cookie is not acceptable".
//
// A session (what a cookie stands for) gets its virtual address at its
// first CONNECT and keeps it for reconnects: after the tunnel drops
// (TunnelClosed(..., false)) the cookie stays valid for cookie_lifetime and a
// new CONNECT gets the same address. A client DISCONNECT (TunnelClosed(...,
// true)) ends the session at once: the address goes back to the pool and the
// cookie is refused from then on. A cookie never used for a CONNECT expires
// cookie_lifetime after the login.
//
// Threading: one owner on one thread (the gateway's loop thread).
#ifndef STOWAWAY_SDK_GATEWAY_TLS_ANYCONNECT_SERVER_H_
#define STOWAWAY_SDK_GATEWAY_TLS_ANYCONNECT_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
#include "sdk/gateway/address_pool.h"
#include "sdk/gateway/services/http_request.h"
#include "sdk/gateway/tls/password_file.h"
#include "sdk/tunnel/ipsec/profile.h"

namespace stow::gateway::tls {

struct AnyConnectServerConfig {
  // Who may log in. Required.
  std::shared_ptr<const PasswordFile> users;
  // Virtual addresses for tunnels (IPv4 required, IPv6 optional).
  ipsec::IpPrefix pool4{IpAddress::V4(10, 99, 101, 0), 24};
  absl::optional<ipsec::IpPrefix> pool6;
  // Addresses in the pools never handed out (the gateway's own, other
  // clients').
  std::vector<IpAddress> reserved;
  // The gateway's networks: X-CSTP-Netmask comes from the first IPv4 one,
  // and every one is an X-CSTP-Split-Include[-IP6].
  std::vector<ipsec::IpPrefix> networks{
      ipsec::IpPrefix{IpAddress::V4(10, 99, 0, 0), 16}};
  std::vector<IpAddress> dns;   // X-CSTP-DNS, in order.
  std::string default_domain;   // X-CSTP-Default-Domain when not empty.
  std::string server_name = "Stowaway gateway";  // X-CSTP-Server-Name.
  int mtu = 1400;               // X-CSTP-MTU (the client may ask for less).
  int dpd_seconds = 30;         // X-CSTP-DPD (0: off).
  int keepalive_seconds = 20;   // X-CSTP-Keepalive (0: off).
  // DTLS (PSK-NEGOTIATE only): offered when enabled and the client lists
  // PSK-NEGOTIATE in X-DTLS-CipherSuite. Then X-CSTP-MTU is at most what
  // one DTLS record carries in a datagram of the client's X-CSTP-Base-MTU
  // (default 1500): base - IP/UDP (28 or 48) - 13 (record header) - 16 (IV)
  // - 20 (HMAC-SHA1) - 16 (padding) - 1 (type byte), the worst case of the
  // plain-PSK CBC-SHA1 suite openconnect negotiates (1406 for 1500 over
  // IPv4); never below 576.
  bool dtls = false;
  uint16_t dtls_port = 0;
  int dtls_dpd_seconds = 30;
  int dtls_keepalive_seconds = 20;
  // How long a cookie outlives its tunnel (and an unused cookie its login).
  absl::Duration cookie_lifetime = absl::Minutes(5);
  // Failed logins in a row (per user, per peer address) before a lockout.
  int max_failures = 5;
  absl::Duration lockout = absl::Minutes(1);
  // Sessions (logged in, connected or not) at most; more logins are refused.
  size_t max_sessions = 4096;
};

struct AnyConnectCounters {
  uint64_t requests = 0;
  uint64_t auth_forms = 0;        // Auth-request forms sent (not failures).
  uint64_t logins_ok = 0;
  uint64_t logins_failed = 0;     // Wrong user, password or group.
  uint64_t logins_locked_out = 0; // Refused during a lockout.
  uint64_t logins_refused = 0;    // max_sessions reached.
  uint64_t connects = 0;          // 200 CONNECTED sent.
  uint64_t reconnects = 0;        // ... for a session that had a tunnel.
  uint64_t cookies_rejected = 0;  // 401 on CONNECT.
  uint64_t pool_exhausted = 0;    // CONNECT answered 503.
  uint64_t bad_requests = 0;      // 400/404/405 answers.
  uint64_t disconnects = 0;       // Sessions ended by the client.
  uint64_t sessions_expired = 0;
};

// A session's public state.
struct AnyConnectSession {
  uint64_t id = 0;
  std::string user;
  std::string group;  // Chosen group ("" when the user has none).
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  bool tunnel = false;   // A CONNECT was answered and not closed since.
  int tunnels = 0;       // CONNECTs answered so far.
  int mtu = 0;           // Of the current tunnel.
  // X-DTLS-App-ID of the current tunnel (32 bytes), empty when DTLS was not
  // offered on it.
  std::vector<uint8_t> dtls_app_id;
  absl::Duration created;
  absl::Duration expires = absl::InfiniteDuration();  // While no tunnel.
};

// The response to send, and what it means for the connection.
struct AnyConnectResponse {
  int status = 200;
  std::string reason = "OK";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Close the connection once the response is sent.
  bool close = false;
  // Non-zero on "200 CONNECTED": after the head the stream carries CSTP
  // frames for this session.
  uint64_t tunnel_session = 0;

  const std::string* Find(absl::string_view name) const;
  // Status line, headers (with Content-Length unless a tunnel begins) and
  // body, ready for the wire.
  std::string Serialize() const;
};

class AnyConnectServer {
 public:
  // kInvalidArgument for a missing user file, an unusable pool or values
  // out of range.
  static absl::StatusOr<std::unique_ptr<AnyConnectServer>> Create(
      AnyConnectServerConfig config);

  // One request from `peer`. Never fails: errors are HTTP answers.
  AnyConnectResponse Handle(const HttpRequest& request,
                            absl::string_view body, const IpAddress& peer,
                            absl::Duration now);

  // The tunnel of `session` ended: by the client's DISCONNECT
  // (`disconnected`: the session ends now) or otherwise (the cookie lives on
  // for cookie_lifetime). No-op for an unknown session.
  void TunnelClosed(uint64_t session, bool disconnected, absl::Duration now);
  // Ends a session now (an administrator's kick). False if unknown.
  bool EndSession(uint64_t session);

  // Removes sessions whose cookie expired (their addresses go back to the
  // pool) and stale failure records; returns the removed sessions' ids.
  std::vector<uint64_t> Expire(absl::Duration now);
  // When Expire() next has something to do (InfiniteDuration: never).
  absl::Duration NextExpiry() const;

  const AnyConnectSession* Find(uint64_t session) const;
  // The session whose current tunnel got X-DTLS-App-ID `app_id`.
  const AnyConnectSession* FindByDtlsAppId(
      absl::Span<const uint8_t> app_id) const;
  std::vector<const AnyConnectSession*> Sessions() const;
  const AnyConnectCounters& counters() const { return counters_; }
  const AnyConnectServerConfig& config() const { return config_; }
  // The X-DTLS-Port of later CONNECT replies (once the socket is bound).
  void set_dtls_port(uint16_t port) { config_.dtls_port = port; }
  const AddressPool& pool4() const { return *pool4_; }

 private:
  struct Failures {
    int count = 0;
    absl::Duration last;
    absl::Duration locked_until = -absl::InfiniteDuration();
  };

  explicit AnyConnectServer(AnyConnectServerConfig config);
  AnyConnectResponse AuthForm(absl::string_view message) const;
  AnyConnectResponse Login(const std::string& user,
                           const std::string& password,
                           const std::string& group, const IpAddress& peer,
                           absl::Duration now);
  AnyConnectResponse Connect(const HttpRequest& request,
                             const IpAddress& peer, absl::Duration now);
  AnyConnectResponse Error(int status, absl::string_view reason,
                           bool close);
  bool LockedOut(const std::string& key, absl::Duration now) const;
  void RecordFailure(const std::string& key, absl::Duration now);
  void RemoveSession(uint64_t id);

  AnyConnectServerConfig config_;
  absl::optional<AddressPool> pool4_;
  absl::optional<AddressPool> pool6_;
  std::vector<std::string> groups_;  // All groups in the user file.
  std::map<uint64_t, AnyConnectSession> sessions_;
  // SHA-256 (hex) of the cookie -> session id: lookups do not compare the
  // secret itself.
  std::unordered_map<std::string, uint64_t> by_cookie_;
  std::map<uint64_t, std::string> cookie_of_;  // session -> cookie hash.
  uint64_t next_id_ = 1;
  std::map<std::string, Failures> failures_;  // "user:NAME" / "peer:IP".
  AnyConnectCounters counters_;
};

// The value of cookie `name` in a request's Cookie header(s), or nullopt.
absl::optional<std::string> FindRequestCookie(const HttpRequest& request,
                                              absl::string_view name);

}  // namespace stow::gateway::tls

#endif  // STOWAWAY_SDK_GATEWAY_TLS_ANYCONNECT_SERVER_H_
