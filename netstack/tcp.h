// TCP endpoints over the netstack. App code never sees tcp_pcb or pbuf; the
// lwIP callback rules are encoded here once:
//  - after lwIP's error callback the pcb is gone: never touch it again;
//  - return ERR_ABRT from a callback only after tcp_abort() on that pcb;
//  - detach every callback before tcp_close(), so none runs afterwards.
#ifndef STOWAWAY_NETSTACK_TCP_H_
#define STOWAWAY_NETSTACK_TCP_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "netstack/stack.h"
#include "sdk/base/ip_address.h"

struct tcp_pcb;
struct pbuf;

namespace stow::netstack {

// One TCP connection.
//
// Flow control: received bytes are copied out of lwIP's packet buffers at
// once (so a peer sending tiny segments cannot pin a packet buffer per byte)
// and queued until Read() consumes them; only consumed bytes reopen the
// peer's window (up to 2 MiB in flight). Writes are copied into lwIP's send buffer (up to 2 MiB); a short
// write means "would block" and OnWritable() follows once space frees up.
//
// Threading: all methods and callbacks on the loop thread. Callbacks run from
// inside packet processing; a delegate may call any method (Read, Write,
// Shutdown, Close, Abort) from a callback, but must not destroy the
// connection there (post its deletion instead). After Close(), Abort(),
// destruction or OnError(), no callback runs.
class TcpConnection {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // An outgoing connection is established.
    virtual void OnConnected() {}
    // Bytes arrived, or the peer finished sending (see peer_closed()).
    virtual void OnReadable() = 0;
    // Send space freed after a write accepted fewer bytes than offered.
    virtual void OnWritable() {}
    // Terminal: the connection is dead; bytes already received may still be
    // Read().
    //   kUnavailable: the peer refused the connection;
    //   kAborted: reset by the peer, or aborted by the stack (lwIP reports
    //   retransmission timeouts and a removed interface the same way).
    virtual void OnError(absl::Status status) = 0;
  };

  // Starts connecting to `remote`; OnConnected() or OnError() follows.
  // Errors now: kInvalidArgument (port 0, unspecified address), kUnavailable
  // (no route), kResourceExhausted.
  static absl::StatusOr<std::unique_ptr<TcpConnection>> Connect(
      Stack* stack, const SocketAddress& remote, Delegate* delegate);

  // Gracefully closes (as Close()) if still open.
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Sets the delegate (for accepted connections). Not owned. Bytes that
  // arrived before are announced with OnReadable() on the next loop turn.
  void set_delegate(Delegate* delegate);

  // Copies up to data.size() bytes into the send buffer and returns how many
  // were accepted; 0 means the buffer is full (OnWritable() follows).
  // kFailedPrecondition after Shutdown()/Close() or on a dead connection.
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> data);

  // Copies up to out.size() received bytes into `out`, returns the count
  // (0 when nothing is queued), and opens the peer's window by that much.
  size_t Read(absl::Span<uint8_t> out);
  // Bytes queued for Read().
  size_t readable_bytes() const { return rx_bytes_; }
  // The peer sent FIN and every byte before it was read... or is queued.
  bool peer_closed() const { return peer_closed_; }

  // Sends FIN after queued bytes (half-close); reading continues. While
  // still connecting, the FIN follows the handshake.
  absl::Status Shutdown();
  // Graceful close: queued bytes are still delivered, then FIN. Unread
  // received bytes make it a reset, as with sockets. No callback follows.
  void Close();
  // Sends RST and drops everything. No callback follows.
  void Abort();

  // Bytes written but not yet acknowledged by the peer.
  size_t unacked_bytes() const;
  bool is_open() const { return pcb_ != nullptr; }
  // One line of the TCP control block's state (sequence numbers, windows,
  // timers, queues) for diagnostics: "closed" once the pcb is gone.
  std::string DebugState() const;
  SocketAddress local_address() const { return local_; }
  SocketAddress remote_address() const { return remote_; }

 private:
  friend class TcpListener;
  TcpConnection(Stack* stack, struct tcp_pcb* pcb, Delegate* delegate);
  void Attach();
  void Detach();
  void UpdateAddresses();
  void Announce();
  // Frees queued received bytes.
  void DropReceived();
  void AppendReceived(struct pbuf* p);
  // lwIP freed the pcb (any path, including silently from TIME_WAIT).
  static void OnPcbDestroyed(uint8_t id, void* data);
  // Returns what an lwIP callback must return after calling the delegate.
  signed char CallbackResult();

  static signed char OnConnectedThunk(void* arg, struct tcp_pcb* pcb,
                                      signed char err);
  static signed char OnRecvThunk(void* arg, struct tcp_pcb* pcb,
                                 struct pbuf* p, signed char err);
  static signed char OnSentThunk(void* arg, struct tcp_pcb* pcb, uint16_t len);
  static void OnErrThunk(void* arg, signed char err);

  Stack* const stack_;        // Not owned.
  struct tcp_pcb* pcb_;       // Owned by lwIP; nullptr once gone.
  Delegate* delegate_;        // Not owned.
  bool connecting_ = false;
  bool write_shut_ = false;
  // Shutdown() while connecting: lwIP cannot send FIN before the handshake,
  // so it is sent on connection.
  bool shutdown_pending_ = false;
  bool peer_closed_ = false;
  bool want_writable_ = false;
  // An error that arrived before a delegate was set.
  absl::optional<absl::Status> pending_error_;
  // Set when a callback aborted the pcb, so the lwIP callback that is on the
  // stack returns ERR_ABRT.
  bool aborted_in_callback_ = false;
  int callback_depth_ = 0;
  // Received bytes in blocks of up to kReceiveBlock; bounded by the window.
  std::deque<std::vector<uint8_t>> rx_;
  size_t rx_offset_ = 0;  // Consumed bytes of rx_.front().
  size_t rx_bytes_ = 0;
  // Close() or Abort() was called: nothing more is announced.
  bool closed_by_app_ = false;
  SocketAddress local_;
  SocketAddress remote_;
  std::unique_ptr<event::Timer> announce_;
};

// A listening TCP socket on an interface address (or any address).
// Threading and callback rules as for TcpConnection.
class TcpListener {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // A new connection; call set_delegate() on it before returning or soon
    // after (bytes are queued meanwhile).
    virtual void OnAccept(std::unique_ptr<TcpConnection> connection) = 0;
  };

  // Errors: kAlreadyExists naming the address when the port is in use;
  // kInvalidArgument for a bad address.
  static absl::StatusOr<std::unique_ptr<TcpListener>> Listen(
      Stack* stack, const SocketAddress& local, Delegate* delegate,
      int backlog = 128);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  SocketAddress local_address() const { return local_; }

 private:
  TcpListener(Stack* stack, struct tcp_pcb* pcb, Delegate* delegate,
              SocketAddress local);
  static signed char OnAcceptThunk(void* arg, struct tcp_pcb* pcb,
                                   signed char err);

  Stack* const stack_;     // Not owned.
  struct tcp_pcb* pcb_;    // Owned: closed in the destructor.
  Delegate* delegate_;     // Not owned.
  SocketAddress local_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_TCP_H_
