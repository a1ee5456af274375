// The fd bridge: a connected socketpair descriptor whose other end is
// relayed to a tunnelled TCP connection, so that any existing socket code
// (blocking or non-blocking) can use the tunnel.
#ifndef STOWAWAY_SDK_PROXY_FD_BRIDGE_H_
#define STOWAWAY_SDK_PROXY_FD_BRIDGE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netstack/tcp.h"
#include "sdk/event/stream_fd.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/dialer.h"
#include "sdk/proxy/relay.h"

namespace stow::proxy {

// Creates socketpair(AF_UNIX, SOCK_STREAM): one end stays on the loop (an
// event::StreamFd), the other, app_fd(), belongs to the caller at once: it
// is blocking (the caller may make it non-blocking) and close-on-exec.
// Bytes written to it before the tunnel connection is up wait in the socket
// buffer; reads block until bytes arrive.
//
// Ending: closing app_fd() (or shutdown(SHUT_WR)) sends FIN on the tunnel
// connection after every byte written before; the tunnel peer's FIN is seen
// as EOF on app_fd(). Bytes that arrive from the tunnel after the app
// closed its descriptor reset the tunnel connection (as a socket closed
// with unread data would). A failed dial closes the bridge's end: the app
// reads EOF and writes fail with EPIPE; on_end says why.
//
// `on_end` runs exactly once on the loop thread, later (never inside
// Dial()/Wrap()): OK after a graceful end, else the dial's or the relay's
// error. Do not destroy the bridge inside it (post that).
//
// Threading: construction, destruction and callbacks on the loop thread;
// app_fd() is for any thread. Ownership: the loop and the dialer must
// outlive the bridge. Destroying it resets the tunnel connection if still
// open and closes the bridge's end (never the app's).
class FdBridge {
 public:
  using EndCallback = absl::AnyInvocable<void(absl::Status)>;

  struct Counters {
    uint64_t bytes_to_tunnel = 0;  // Written by the app, sent on.
    uint64_t bytes_to_app = 0;     // From the tunnel, handed to the app.
  };

  // Dials `host`:`port` (a name resolves through the dialer) and bridges.
  // Errors now: kInternal/kResourceExhausted when socketpair() fails.
  static absl::StatusOr<std::unique_ptr<FdBridge>> Dial(
      event::UvLoop* loop, Dialer* dialer, const std::string& host,
      uint16_t port, EndCallback on_end);
  // Bridges a connection that is already open (no delegate, or one it may
  // replace).
  static absl::StatusOr<std::unique_ptr<FdBridge>> Wrap(
      event::UvLoop* loop, std::unique_ptr<netstack::TcpConnection> connection,
      EndCallback on_end);
  ~FdBridge();
  FdBridge(const FdBridge&) = delete;
  FdBridge& operator=(const FdBridge&) = delete;

  // The caller's descriptor (owned by the caller from creation on).
  int app_fd() const { return app_fd_; }
  // The tunnel connection is up and relaying.
  bool connected() const { return relay_ != nullptr; }
  bool ended() const { return ended_; }
  Counters counters() const;

 private:
  FdBridge(event::UvLoop* loop, EndCallback on_end);
  absl::Status CreatePair();
  void OnDialed(Dialer::Result result);
  void StartRelay(std::unique_ptr<netstack::TcpConnection> connection);
  void Finish(absl::Status status);

  event::UvLoop* const loop_;  // Not owned.
  Dialer* dialer_ = nullptr;   // Not owned.
  EndCallback on_end_;
  int app_fd_ = -1;
  std::unique_ptr<event::StreamFd> stream_;  // Until the relay takes it.
  bool dialing_ = false;
  Dialer::DialId dial_id_ = 0;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<event::Timer> notifier_;
  absl::Status end_status_;
  bool ended_ = false;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_FD_BRIDGE_H_
