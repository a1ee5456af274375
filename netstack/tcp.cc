#include "netstack/tcp.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "netstack/lwip_util.h"

namespace stow::netstack {
namespace {

// OnWritable() fires once this much send buffer is free again, so writers
// refill in large chunks instead of one segment at a time.
constexpr size_t kWritableThreshold = TCP_SND_BUF / 4;

u8_t IpType(const IpAddress& ip) {
  if (ip.is_v4()) return IPADDR_TYPE_V4;
  // "::" listens on both families, as Linux does by default.
  return ip.IsUnspecified() ? IPADDR_TYPE_ANY : IPADDR_TYPE_V6;
}

// Counts nested delegate calls so Abort() knows whether an lwIP callback is
// on the stack.
class CallbackScope {
 public:
  explicit CallbackScope(int* depth) : depth_(depth) { ++*depth_; }
  ~CallbackScope() { --*depth_; }

 private:
  int* depth_;
};

// Received bytes are kept in blocks of this size.
constexpr size_t kReceiveBlock = 64 * 1024;

// lwIP's per-pcb extension slot, whose destroy callback runs from every
// tcp_free(): the one notification that covers every way a pcb dies,
// including the silent end of TIME_WAIT.
u8_t ExtArgId() {
  static const u8_t id = tcp_ext_arg_alloc_id();
  return id;
}

// The last pcb our code aborted. lwIP's accept callback must return ERR_ABRT
// if the delegate aborted the new connection inside OnAccept(), and by then
// the connection object may already be gone. Loop thread only.
struct tcp_pcb* g_last_aborted = nullptr;

void AbortPcb(struct tcp_pcb* pcb) {
  g_last_aborted = pcb;
  tcp_abort(pcb);
}

}  // namespace

// ---- TcpConnection ----

TcpConnection::TcpConnection(Stack* stack, struct tcp_pcb* pcb,
                             Delegate* delegate)
    : stack_(stack), pcb_(pcb), delegate_(delegate) {
  Attach();
  UpdateAddresses();
}

TcpConnection::~TcpConnection() {
  Close();
  DropReceived();
}

void TcpConnection::Attach() {
  static const struct tcp_ext_arg_callbacks kCallbacks = {
      &TcpConnection::OnPcbDestroyed, nullptr};
  tcp_ext_arg_set_callbacks(pcb_, ExtArgId(), &kCallbacks);
  tcp_ext_arg_set(pcb_, ExtArgId(), this);
  tcp_arg(pcb_, this);
  tcp_recv(pcb_, &TcpConnection::OnRecvThunk);
  tcp_sent(pcb_, &TcpConnection::OnSentThunk);
  tcp_err(pcb_, &TcpConnection::OnErrThunk);
  // Latency matters more than tiny-segment economy through a tunnel; bulk
  // writes fill whole segments anyway.
  tcp_nagle_disable(pcb_);
}

void TcpConnection::Detach() {
  // The callback table stays (lwIP forbids NULL); no owner, no effect.
  tcp_ext_arg_set(pcb_, ExtArgId(), nullptr);
  tcp_arg(pcb_, nullptr);
  tcp_recv(pcb_, nullptr);
  tcp_sent(pcb_, nullptr);
  tcp_err(pcb_, nullptr);
}

void TcpConnection::UpdateAddresses() {
  local_ = SocketAddress(internal::FromLwip(pcb_->local_ip), pcb_->local_port);
  remote_ =
      SocketAddress(internal::FromLwip(pcb_->remote_ip), pcb_->remote_port);
}

absl::StatusOr<std::unique_ptr<TcpConnection>> TcpConnection::Connect(
    Stack* stack, const SocketAddress& remote, Delegate* delegate) {
  if (remote.port() == 0 || remote.ip().IsUnspecified()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot connect to ", remote.ToString()));
  }
  struct tcp_pcb* pcb = tcp_new_ip_type(IpType(remote.ip()));
  if (pcb == nullptr) {
    return absl::ResourceExhaustedError("out of memory for a TCP connection");
  }
  std::unique_ptr<TcpConnection> conn(new TcpConnection(stack, pcb, delegate));
  conn->connecting_ = true;
  ip_addr_t ip = internal::ToLwip(remote.ip());
  err_t err = tcp_connect(pcb, &ip, remote.port(),
                          &TcpConnection::OnConnectedThunk);
  if (err != ERR_OK) {
    conn->Detach();
    conn->pcb_ = nullptr;
    tcp_abort(pcb);  // Never connected: frees it without a segment.
    stack->AfterLwipCall();
    return internal::FromLwipErr(err,
                                 absl::StrCat("connect to ", remote.ToString()));
  }
  conn->UpdateAddresses();
  stack->AfterLwipCall();
  return conn;
}

void TcpConnection::set_delegate(Delegate* delegate) {
  delegate_ = delegate;
  if (delegate_ != nullptr &&
      (rx_bytes_ > 0 || peer_closed_ || pending_error_.has_value())) {
    if (announce_ == nullptr) {
      announce_ = stack_->loop()->NewTimer([this] { Announce(); });
    }
    announce_->Start(absl::ZeroDuration());
  }
}

void TcpConnection::Announce() {
  if (delegate_ == nullptr || closed_by_app_) return;
  if (rx_bytes_ > 0 || peer_closed_) delegate_->OnReadable();
  if (closed_by_app_) return;  // Closed from inside OnReadable().
  if (pending_error_.has_value() && delegate_ != nullptr) {
    absl::Status status = std::move(*pending_error_);
    pending_error_.reset();
    delegate_->OnError(std::move(status));
  }
}

signed char TcpConnection::CallbackResult() {
  if (aborted_in_callback_ && callback_depth_ == 0) {
    aborted_in_callback_ = false;
    return ERR_ABRT;
  }
  return ERR_OK;
}

absl::StatusOr<size_t> TcpConnection::Write(absl::Span<const uint8_t> data) {
  if (pcb_ == nullptr) {
    return absl::FailedPreconditionError("write on a closed TCP connection");
  }
  if (write_shut_) {
    return absl::FailedPreconditionError("write after shutdown");
  }
  size_t total = 0;
  while (total < data.size()) {
    size_t space = pcb_->snd_buf;
    if (space == 0) break;
    // tcp_write takes at most 65535 bytes per call.
    u16_t chunk = static_cast<u16_t>(
        std::min<size_t>({data.size() - total, space, 0xFFFF}));
    u8_t flags = TCP_WRITE_FLAG_COPY;
    // PSH goes on the last segment of what this call queues.
    if (total + chunk < data.size() && chunk < space) {
      flags |= TCP_WRITE_FLAG_MORE;
    }
    err_t err = tcp_write(pcb_, data.data() + total, chunk, flags);
    if (err == ERR_MEM) break;  // Send queue full: would block.
    if (err != ERR_OK) {
      stack_->AfterLwipCall();
      return internal::FromLwipErr(err, "write");
    }
    total += chunk;
  }
  if (total < data.size()) want_writable_ = true;
  if (total > 0) tcp_output(pcb_);
  stack_->AfterLwipCall();
  return total;
}

size_t TcpConnection::Read(absl::Span<uint8_t> out) {
  size_t n = 0;
  while (n < out.size() && !rx_.empty()) {
    const std::vector<uint8_t>& block = rx_.front();
    const size_t take = std::min(out.size() - n, block.size() - rx_offset_);
    std::memcpy(out.data() + n, block.data() + rx_offset_, take);
    n += take;
    rx_offset_ += take;
    if (rx_offset_ == block.size()) {
      rx_.pop_front();
      rx_offset_ = 0;
    }
  }
  rx_bytes_ -= n;
  if (pcb_ != nullptr && n > 0) {
    // Open the window only by what the app consumed (tcp_recved takes u16).
    for (size_t left = n; left > 0;) {
      const u16_t step = static_cast<u16_t>(std::min<size_t>(left, 0xFFFF));
      tcp_recved(pcb_, step);
      left -= step;
    }
    stack_->AfterLwipCall();
  }
  return n;
}

void TcpConnection::AppendReceived(struct pbuf* p) {
  for (struct pbuf* q = p; q != nullptr; q = q->next) {
    const auto* data = static_cast<const uint8_t*>(q->payload);
    size_t left = q->len;
    while (left > 0) {
      if (rx_.empty() || rx_.back().size() == kReceiveBlock) {
        rx_.emplace_back();
        rx_.back().reserve(kReceiveBlock);
      }
      std::vector<uint8_t>& block = rx_.back();
      const size_t take = std::min(left, kReceiveBlock - block.size());
      block.insert(block.end(), data, data + take);
      data += take;
      left -= take;
    }
  }
  rx_bytes_ += p->tot_len;
  pbuf_free(p);
}

void TcpConnection::DropReceived() {
  rx_.clear();
  rx_offset_ = 0;
  rx_bytes_ = 0;
}

absl::Status TcpConnection::Shutdown() {
  if (pcb_ == nullptr) {
    return absl::FailedPreconditionError("shutdown of a closed connection");
  }
  if (write_shut_) return absl::OkStatus();
  write_shut_ = true;
  if (connecting_) {
    shutdown_pending_ = true;
    return absl::OkStatus();
  }
  err_t err = tcp_shutdown(pcb_, 0, 1);
  stack_->AfterLwipCall();
  return internal::FromLwipErr(err, "shutdown");
}

void TcpConnection::Close() {
  closed_by_app_ = true;
  if (announce_ != nullptr) announce_->Stop();
  if (pcb_ == nullptr) return;
  struct tcp_pcb* pcb = pcb_;
  Detach();
  pcb_ = nullptr;
  // lwIP resets instead of closing when received bytes were not consumed
  // (socket semantics); the pcb then lingers on its own (FIN_WAIT/TIME_WAIT)
  // with no owner, and lwIP frees it.
  if (tcp_close(pcb) != ERR_OK) {
    AbortPcb(pcb);
    if (callback_depth_ > 0) aborted_in_callback_ = true;
  }
  stack_->AfterLwipCall();
}

void TcpConnection::Abort() {
  closed_by_app_ = true;
  if (announce_ != nullptr) announce_->Stop();
  if (pcb_ == nullptr) return;
  struct tcp_pcb* pcb = pcb_;
  Detach();
  pcb_ = nullptr;
  AbortPcb(pcb);
  if (callback_depth_ > 0) aborted_in_callback_ = true;
  stack_->AfterLwipCall();
}

size_t TcpConnection::unacked_bytes() const {
  if (pcb_ == nullptr) return 0;
  return TCP_SND_BUF - pcb_->snd_buf;
}

namespace {

size_t CountSegments(const struct tcp_seg* seg) {
  size_t n = 0;
  for (; seg != nullptr; seg = seg->next) ++n;
  return n;
}

}  // namespace

std::string TcpConnection::DebugState() const {
  if (pcb_ == nullptr) return "closed";
  const struct tcp_pcb* p = pcb_;
  return absl::StrCat(
      "state=", tcp_debug_state_str(p->state), " snd_una=", p->lastack,
      " snd_nxt=", p->snd_nxt, " snd_wnd=", p->snd_wnd,
      " cwnd=", p->cwnd, " ssthresh=", p->ssthresh, " mss=", p->mss,
      " rto_ticks=", p->rto, " rtime=", p->rtime, " nrtx=", p->nrtx,
      " persist_backoff=", p->persist_backoff, " dupacks=", p->dupacks,
      " flags=0x", absl::Hex(p->flags), " unsent=", CountSegments(p->unsent),
      " unacked=", CountSegments(p->unacked), " rcv_nxt=", p->rcv_nxt,
      " rcv_wnd=", p->rcv_wnd, " rcv_ann_wnd=", p->rcv_ann_wnd,
      " ooseq=", CountSegments(p->ooseq), " app_rx_bytes=", rx_bytes_);
}

err_t TcpConnection::OnConnectedThunk(void* arg, struct tcp_pcb*, err_t) {
  auto* self = static_cast<TcpConnection*>(arg);
  self->connecting_ = false;
  self->UpdateAddresses();
  if (self->shutdown_pending_) {
    self->shutdown_pending_ = false;
    tcp_shutdown(self->pcb_, 0, 1);
  }
  if (self->delegate_ != nullptr) {
    CallbackScope scope(&self->callback_depth_);
    self->delegate_->OnConnected();
  }
  return self->CallbackResult();
}

err_t TcpConnection::OnRecvThunk(void* arg, struct tcp_pcb*, struct pbuf* p,
                                 err_t) {
  auto* self = static_cast<TcpConnection*>(arg);
  if (p == nullptr) {
    self->peer_closed_ = true;
  } else {
    self->AppendReceived(p);  // Frees p.
  }
  if (self->delegate_ != nullptr) {
    CallbackScope scope(&self->callback_depth_);
    self->delegate_->OnReadable();
  }
  return self->CallbackResult();
}

err_t TcpConnection::OnSentThunk(void* arg, struct tcp_pcb* pcb, u16_t) {
  auto* self = static_cast<TcpConnection*>(arg);
  if (self->want_writable_ && pcb->snd_buf >= kWritableThreshold &&
      pcb->snd_queuelen < TCP_SND_QUEUELEN / 2 && self->delegate_ != nullptr) {
    self->want_writable_ = false;
    CallbackScope scope(&self->callback_depth_);
    self->delegate_->OnWritable();
  }
  return self->CallbackResult();
}

void TcpConnection::OnPcbDestroyed(u8_t, void* data) {
  auto* self = static_cast<TcpConnection*>(data);
  if (self == nullptr) return;  // Detached: closed or aborted by the app.
  // Freed inside one of our own callbacks: that callback must return
  // ERR_ABRT, and an accept callback must know its new pcb is gone.
  g_last_aborted = self->pcb_;
  if (self->callback_depth_ > 0) self->aborted_in_callback_ = true;
  self->pcb_ = nullptr;
}

void TcpConnection::OnErrThunk(void* arg, err_t err) {
  auto* self = static_cast<TcpConnection*>(arg);
  // lwIP has already freed the pcb (OnPcbDestroyed ran).
  self->pcb_ = nullptr;
  const bool was_connecting = self->connecting_;
  self->connecting_ = false;
  if (err == ERR_CLSD) {
    // Both sides finished after our Shutdown(): a normal end, no error. The
    // peer's FIN was already delivered (peer_closed()).
    return;
  }
  absl::Status status;
  if (was_connecting && err == ERR_RST) {
    status = absl::UnavailableError(absl::StrCat(
        "connection to ", self->remote_.ToString(), " refused"));
  } else {
    status = internal::FromLwipErr(
        err, absl::StrCat("connection to ", self->remote_.ToString()));
  }
  // Without a delegate yet, or with an announcement of earlier bytes still
  // due, the error follows that announcement, in order.
  if (self->delegate_ == nullptr ||
      (self->announce_ != nullptr && self->announce_->IsArmed())) {
    self->pending_error_ = std::move(status);
    return;
  }
  CallbackScope scope(&self->callback_depth_);
  self->delegate_->OnError(std::move(status));
}

// ---- TcpListener ----

TcpListener::TcpListener(Stack* stack, struct tcp_pcb* pcb, Delegate* delegate,
                         SocketAddress local)
    : stack_(stack), pcb_(pcb), delegate_(delegate), local_(local) {
  tcp_arg(pcb_, this);
  tcp_accept(pcb_, &TcpListener::OnAcceptThunk);
}

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Listen(
    Stack* stack, const SocketAddress& local, Delegate* delegate,
    int backlog) {
  if (backlog < 1 || backlog > 255) {
    return absl::InvalidArgumentError("backlog must be 1..255");
  }
  struct tcp_pcb* pcb = tcp_new_ip_type(IpType(local.ip()));
  if (pcb == nullptr) {
    return absl::ResourceExhaustedError("out of memory for a TCP listener");
  }
  ip_addr_t ip = internal::ToLwip(local.ip());
  if (IpType(local.ip()) == IPADDR_TYPE_ANY) ip = *IP_ANY_TYPE;
  err_t err = tcp_bind(pcb, &ip, local.port());
  if (err != ERR_OK) {
    tcp_close(pcb);
    if (err == ERR_USE) {
      return absl::AlreadyExistsError(
          absl::StrCat(local.ToString(), " is already in use"));
    }
    return internal::FromLwipErr(err, absl::StrCat("bind ", local.ToString()));
  }
  struct tcp_pcb* lpcb =
      tcp_listen_with_backlog_and_err(pcb, static_cast<u8_t>(backlog), &err);
  if (lpcb == nullptr) {
    tcp_close(pcb);
    return internal::FromLwipErr(err,
                                 absl::StrCat("listen on ", local.ToString()));
  }
  SocketAddress bound(local.ip(), lpcb->local_port);
  stack->AfterLwipCall();
  return std::unique_ptr<TcpListener>(
      new TcpListener(stack, lpcb, delegate, bound));
}

TcpListener::~TcpListener() {
  tcp_arg(pcb_, nullptr);
  tcp_accept(pcb_, nullptr);
  tcp_close(pcb_);  // Never fails for a listening pcb.
  stack_->AfterLwipCall();
}

err_t TcpListener::OnAcceptThunk(void* arg, struct tcp_pcb* pcb, err_t err) {
  auto* self = static_cast<TcpListener*>(arg);
  if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
  g_last_aborted = nullptr;
  self->delegate_->OnAccept(std::unique_ptr<TcpConnection>(
      new TcpConnection(self->stack_, pcb, nullptr)));
  // The delegate may have aborted (or dropped) the new connection already.
  return g_last_aborted == pcb ? ERR_ABRT : ERR_OK;
}

}  // namespace stow::netstack
