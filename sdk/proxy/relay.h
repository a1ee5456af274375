// The relay: bytes both ways between a host stream and a tunnelled TCP
// connection (netstack), with flow control, half-close and resets passed
// through. Used by the gateway's port forwards, the proxy server, the local
// and remote forwards and the fd bridge.
#ifndef STOWAWAY_SDK_PROXY_RELAY_H_
#define STOWAWAY_SDK_PROXY_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "netstack/tcp.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/tcp_socket.h"
#include "sdk/event/uv_loop.h"
#include "sdk/proxy/host_stream.h"

namespace stow::proxy {

struct RelayCounters {
  uint64_t bytes_to_host = 0;    // Tunnel -> host, handed to the host stream.
  uint64_t bytes_to_tunnel = 0;  // Host -> tunnel, handed to the netstack.
};

struct RelayOptions {
  // Bytes queued towards the host stream before the relay stops reading
  // from the tunnel (it resumes once the queue has drained).
  size_t host_queue_limit = 512 * 1024;
  // End the relay as soon as the tunnel side finished (its FIN and every
  // byte before it delivered to the host), without waiting for the host's
  // FIN: one request per connection (the HTTP proxy's absolute-URI mode).
  bool end_after_tunnel_eof = false;
  // Also counted here (not owned; may be null): an owner's totals.
  RelayCounters* aggregate = nullptr;
};

// How a relay ended.
enum class RelayEnd {
  kClosed,         // Both directions finished with FIN (or see
                   // end_after_tunnel_eof): graceful.
  kConnectFailed,  // ConnectHost(): the host refused or was unreachable.
  kTunnelError,    // The tunnel connection was reset or aborted.
  kHostError,      // The host stream failed (reset, I/O error).
  kWriteFailed,    // A write or shutdown was refused on either side.
};

// One tunnel connection and its host stream.
//
// Relaying: each direction reads from its source only while its sink takes
// bytes (the netstack's send buffer; the host queue below
// host_queue_limit), so memory per relay stays bounded (at most one 64 KiB
// read held back per direction) and a slow reader slows the writer through
// TCP's windows. A FIN from either side is passed on as a FIN (half-close)
// after the bytes before it; the relay ends when both directions finished.
// A reset or error on one side resets the other. Until the host stream is
// there, the tunnel's bytes wait in the netstack (its window bounds them).
//
// The end callback runs exactly once, from inside a socket callback: the
// owner must defer the relay's deletion (Graveyard). Destroying a relay
// that has not ended resets both sides without a callback.
//
// Threading: loop thread only. Ownership: owns both sides; the loop and the
// stack must outlive it.
class Relay {
 public:
  using EndCallback = absl::AnyInvocable<void(RelayEnd end)>;

  // Becomes `tunnel`'s delegate at once (the connection must be open).
  Relay(std::unique_ptr<netstack::TcpConnection> tunnel,
        const RelayOptions& options, EndCallback on_end);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts relaying with a connected host stream. `to_tunnel` holds bytes
  // already read from the host (after a proxy handshake, say) that go to
  // the tunnel first.
  void Start(std::unique_ptr<HostStream> host,
             absl::Span<const uint8_t> to_tunnel = {});
  // Connects a host TCP socket to `address` and starts once connected; a
  // refused connect resets the tunnel and ends with kConnectFailed.
  void ConnectHost(event::UvLoop* loop, const SocketAddress& address);
  // Resets both sides now; no callback follows.
  void Abort();

  const RelayCounters& counters() const { return counters_; }
  bool ended() const { return done_; }

 private:
  class TunnelSide;
  class HostSide;
  class Connector;

  void OnHostConnected(absl::Status status);
  void PumpToHost();
  void OnHostData(absl::Span<const uint8_t> data);
  void PumpToTunnel();
  void OnHostEof();
  void MaybeFinish();
  void OnTunnelError();
  void OnHostError();
  void Fail(RelayEnd end);
  void End(RelayEnd end);
  void CountToHost(size_t n);
  void CountToTunnel(size_t n);

  const RelayOptions options_;
  EndCallback on_end_;
  std::unique_ptr<netstack::TcpConnection> tunnel_;
  std::unique_ptr<TunnelSide> tunnel_side_;
  std::unique_ptr<HostSide> host_side_;
  std::unique_ptr<Connector> connector_;
  std::unique_ptr<HostStream> host_;
  RelayCounters counters_;
  bool host_write_shut_ = false;  // FIN queued towards the host.
  bool host_eof_ = false;         // The host sent FIN.
  bool tunnel_shut_ = false;      // FIN queued towards the tunnel.
  bool done_ = false;
  // Host bytes the stack did not take yet.
  std::vector<uint8_t> pending_;
  size_t pending_begin_ = 0;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_RELAY_H_
