// The client side of the AnyConnect protocol above TLS, as a pure state
// machine over the decrypted byte stream: the XML login ("aggregate auth",
// possibly several rounds of forms), the CONNECT /CSCOSSLC/tunnel request
// and its X-CSTP-*/X-DTLS-* reply, then CSTP frames both ways.
//
// Plaintext from the TLS engine goes in with OnBytes(); what the client
// wants to send comes out in the `out` buffers; what happened comes out as
// return values and through the Delegate. No sockets, no clocks: the owner
// (TlsTunnel) runs the DPD/keepalive timers and the TLS engine.
//
// A login is one TLS connection carrying HTTP/1.1 keep-alive requests:
// POST / (init), POST <form action> (replies) until the server says
// type="complete" and sets the `webvpn` cookie, then CONNECT on the same
// connection. With a cookie from an earlier login the client starts at
// CONNECT (reconnect); a 401 there means the cookie was refused.
//
// Forms are filled from their <input>/<select> elements: "username" and
// "password" (and any field of type password) from the credentials, a
// select named "group_list" (or any select) from the group, hidden inputs
// with their values. A form that asks for a password again after one was
// sent is a failed login (no retry loop); a field the client cannot fill
// fails the login naming it.
#ifndef STOWAWAY_SDK_TUNNEL_TLS_ANYCONNECT_CLIENT_H_
#define STOWAWAY_SDK_TUNNEL_TLS_ANYCONNECT_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "sdk/tunnel/tls/auth_xml.h"
#include "sdk/tunnel/tls/cstp.h"
#include "sdk/tunnel/tls/cstp_headers.h"
#include "sdk/tunnel/tls/http_response.h"

namespace stow::tunnel::tls {

struct AnyConnectClientConfig {
  // The Host header: the gateway's name or address, with ":port" when not
  // 443.
  std::string host;
  // The URL path of the login (the "group URL"), "/" by default.
  std::string path = "/";
  std::string user_agent = "Stowaway VPN Agent (AnyConnect compatible)";
  std::string username;
  std::string password;
  // The group to pick from a group_list select; empty: the form's default.
  std::string group;
  // A cookie from an earlier login: skip the login, CONNECT at once.
  std::string cookie;
  // Ask for a DTLS channel (PSK-NEGOTIATE) in the CONNECT request.
  bool request_dtls = false;
  // X-CSTP-Hostname (the client's name) and the MTU we ask for.
  std::string hostname = "stowaway";
  int base_mtu = 1500;
  int mtu = 1406;
  // Login rounds (requests before "complete") beyond which the login
  // fails: a server that keeps asking is not answered forever.
  int max_rounds = 8;
};

class AnyConnectClient {
 public:
  enum class Phase : uint8_t {
    kLogin,      // Requests and forms until the cookie.
    kConnect,    // CONNECT sent, waiting for its reply.
    kTunnel,     // CSTP frames both ways.
    kDone,       // Failed or disconnected: see result().
  };

  class Delegate {
   public:
    virtual ~Delegate() = default;
    // The tunnel is up with these parameters (the CONNECT reply).
    virtual void OnConnected(const CstpConfig& config) = 0;
    // One IP packet from the gateway (valid during the call).
    virtual void OnPacket(absl::Span<const uint8_t> packet) = 0;
    // A DPD response arrived (the owner's liveness timer).
    virtual void OnDpdResponse() = 0;
  };

  AnyConnectClient(AnyConnectClientConfig config, Delegate* delegate);

  // The first request (init POST, or CONNECT with a cookie), appended to
  // *out.
  void Start(std::vector<uint8_t>* out);

  // Decrypted bytes from the server. Replies (next login request, DPD
  // responses) are appended to *out. Returns false once the client is done
  // (check result()); the owner then closes the connection.
  bool OnBytes(absl::Span<const uint8_t> bytes, std::vector<uint8_t>* out);

  // The tunnel phase: frames for the server, appended to *out.
  // AppendPacket fails (false, counted) for packets over 65535 bytes.
  bool AppendPacket(absl::Span<const absl::Span<const uint8_t>> fragments,
                    std::vector<uint8_t>* out);
  void AppendDpdRequest(std::vector<uint8_t>* out);
  void AppendKeepalive(std::vector<uint8_t>* out);
  // The DISCONNECT frame; the client is then done.
  void AppendDisconnect(absl::string_view reason, std::vector<uint8_t>* out);

  Phase phase() const { return phase_; }
  // Why kDone:
  //  kUnauthenticated: the login failed (wrong credentials; the server's
  //    message), or a form field the client cannot fill.
  //  kPermissionDenied: the cookie was refused at CONNECT (log in again).
  //  kAborted: the server sent DISCONNECT or TERMINATE (its text).
  //  kInvalidArgument: malformed HTTP, XML, headers or CSTP from the server.
  //  kCancelled: we sent DISCONNECT.
  const absl::Status& result() const { return result_; }
  // The session cookie (after a successful login).
  const std::string& cookie() const { return cookie_; }
  const CstpConfig& config() const { return cstp_; }
  // The last login message from the server (e.g. the banner), for logs.
  const std::string& message() const { return message_; }
  int rounds() const { return rounds_; }

  struct Counters {
    uint64_t rx_data = 0;
    uint64_t rx_dpd_requests = 0;
    uint64_t rx_dpd_responses = 0;
    uint64_t rx_keepalives = 0;
    uint64_t rx_compressed_dropped = 0;  // We never offer compression.
    uint64_t rx_unknown_dropped = 0;
    uint64_t tx_data = 0;
    uint64_t tx_too_large = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  void AppendRequest(absl::string_view method, absl::string_view path,
                     absl::string_view body, std::vector<uint8_t>* out);
  void AppendConnect(std::vector<uint8_t>* out);
  bool OnLoginResponse(const HttpResponse& response,
                       std::vector<uint8_t>* out);
  bool OnConnectResponse(const HttpResponse& response);
  bool OnFrames(std::vector<uint8_t>* out);
  bool Finish(absl::Status status);
  absl::Status FillForm(const AuthForm& form,
                        std::vector<std::pair<std::string, std::string>>* values);

  AnyConnectClientConfig config_;
  Delegate* const delegate_;  // Not owned.
  Phase phase_ = Phase::kLogin;
  absl::Status result_;
  std::unique_ptr<HttpResponseParser> parser_;
  CstpReader reader_;
  AuthClientInfo info_;
  std::string cookie_;
  std::string context_cookie_;  // webvpncontext between rounds.
  std::string message_;
  CstpConfig cstp_;
  std::string dtls_master_secret_hex_;
  bool password_sent_ = false;
  int rounds_ = 0;
  Counters counters_;
};

}  // namespace stow::tunnel::tls

#endif  // STOWAWAY_SDK_TUNNEL_TLS_ANYCONNECT_CLIENT_H_
