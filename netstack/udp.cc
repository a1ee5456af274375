#include "netstack/udp.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/raw.h"
#include "lwip/udp.h"
#include "netstack/lwip_util.h"

namespace stow::netstack {

// lwIP-typed callbacks, kept out of the headers.
struct UdpThunks {
  static void OnDatagram(void* arg, struct udp_pcb*, struct pbuf* p,
                         const ip_addr_t* addr, u16_t port) {
    auto* self = static_cast<UdpEndpoint*>(arg);
    SocketAddress from(internal::FromLwip(*addr), port);
    absl::Span<const uint8_t> payload;
    if (p->next == nullptr) {
      payload = absl::MakeConstSpan(static_cast<const uint8_t*>(p->payload),
                                    p->len);
    } else {
      self->scratch_.resize(p->tot_len);
      pbuf_copy_partial(p, self->scratch_.data(), p->tot_len, 0);
      payload = self->scratch_;
    }
    self->delegate_->OnDatagram(payload, from);
    pbuf_free(p);
  }

  static u8_t OnIcmp(void* arg, struct raw_pcb*, struct pbuf* p,
                     const ip_addr_t*) {
    auto* self = static_cast<Pinger*>(arg);
    if (!self->HandlePacket(p)) return 0;  // Not ours: lwIP goes on.
    pbuf_free(p);
    return 1;
  }
};

namespace {

u8_t IpType(const IpAddress& ip) {
  if (ip.is_v4()) return IPADDR_TYPE_V4;
  return ip.IsUnspecified() ? IPADDR_TYPE_ANY : IPADDR_TYPE_V6;
}

absl::Status CheckDestination(const SocketAddress& to) {
  if (to.port() == 0 || to.ip().IsUnspecified()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot send to ", to.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- UdpEndpoint ----

UdpEndpoint::UdpEndpoint(Stack* stack, struct udp_pcb* pcb, Delegate* delegate)
    : stack_(stack), pcb_(pcb), delegate_(delegate) {
  udp_recv(pcb_, &UdpThunks::OnDatagram, this);
}

UdpEndpoint::~UdpEndpoint() {
  udp_recv(pcb_, nullptr, nullptr);
  udp_remove(pcb_);
  stack_->AfterLwipCall();
}

absl::StatusOr<std::unique_ptr<UdpEndpoint>> UdpEndpoint::Bind(
    Stack* stack, const SocketAddress& local, Delegate* delegate) {
  struct udp_pcb* pcb = udp_new_ip_type(IpType(local.ip()));
  if (pcb == nullptr) {
    return absl::ResourceExhaustedError("out of memory for a UDP endpoint");
  }
  ip_addr_t ip = internal::ToLwip(local.ip());
  if (IpType(local.ip()) == IPADDR_TYPE_ANY) ip = *IP_ANY_TYPE;
  err_t err = udp_bind(pcb, &ip, local.port());
  if (err != ERR_OK) {
    udp_remove(pcb);
    if (err == ERR_USE) {
      return absl::AlreadyExistsError(
          absl::StrCat(local.ToString(), " is already in use"));
    }
    return internal::FromLwipErr(err, absl::StrCat("bind ", local.ToString()));
  }
  return std::unique_ptr<UdpEndpoint>(new UdpEndpoint(stack, pcb, delegate));
}

absl::Status UdpEndpoint::Connect(const SocketAddress& remote) {
  absl::Status status = CheckDestination(remote);
  if (!status.ok()) return status;
  ip_addr_t ip = internal::ToLwip(remote.ip());
  err_t err = udp_connect(pcb_, &ip, remote.port());
  if (err != ERR_OK) {
    return internal::FromLwipErr(err,
                                 absl::StrCat("connect ", remote.ToString()));
  }
  connected_ = true;
  return absl::OkStatus();
}

absl::Status UdpEndpoint::SendTo(absl::Span<const uint8_t> payload,
                                 const SocketAddress& to) {
  absl::Status status = CheckDestination(to);
  if (!status.ok()) return status;
  const size_t max = to.ip().is_v4() ? kMaxPayloadV4 : kMaxPayloadV6;
  if (payload.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("a UDP payload to ", to.ip().ToString(), " is at most ",
                     max, " bytes, not ", payload.size()));
  }
  struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT,
                              static_cast<u16_t>(payload.size()), PBUF_RAM);
  if (p == nullptr) {
    return absl::ResourceExhaustedError("out of memory for a datagram");
  }
  if (!payload.empty()) std::memcpy(p->payload, payload.data(), payload.size());
  ip_addr_t ip = internal::ToLwip(to.ip());
  err_t err = udp_sendto(pcb_, p, &ip, to.port());
  pbuf_free(p);
  stack_->AfterLwipCall();
  return internal::FromLwipErr(err, absl::StrCat("send to ", to.ToString()));
}

absl::Status UdpEndpoint::Send(absl::Span<const uint8_t> payload) {
  if (!connected_) {
    return absl::FailedPreconditionError("Send() on an unconnected endpoint");
  }
  return SendTo(payload, SocketAddress(internal::FromLwip(pcb_->remote_ip),
                                       pcb_->remote_port));
}

SocketAddress UdpEndpoint::local_address() const {
  return SocketAddress(internal::FromLwip(pcb_->local_ip), pcb_->local_port);
}

// ---- Pinger ----

namespace {
constexpr uint8_t kEchoRequest4 = 8, kEchoReply4 = 0;
constexpr uint8_t kEchoRequest6 = 128, kEchoReply6 = 129;
uint16_t g_next_identifier = 0x5357;  // "SW"
}  // namespace

Pinger::Pinger(Stack* stack, struct raw_pcb* pcb, IpAddress::Family family,
               Delegate* delegate, uint16_t identifier)
    : stack_(stack),
      pcb_(pcb),
      family_(family),
      delegate_(delegate),
      identifier_(identifier) {
  raw_recv(pcb_, &UdpThunks::OnIcmp, this);
}

Pinger::~Pinger() {
  raw_recv(pcb_, nullptr, nullptr);
  raw_remove(pcb_);
}

absl::StatusOr<std::unique_ptr<Pinger>> Pinger::Create(
    Stack* stack, IpAddress::Family family, Delegate* delegate) {
  const bool v4 = family == IpAddress::Family::kV4;
  struct raw_pcb* pcb =
      raw_new_ip_type(v4 ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6,
                      v4 ? IP_PROTO_ICMP : IP6_NEXTH_ICMP6);
  if (pcb == nullptr) {
    return absl::ResourceExhaustedError("out of memory for a pinger");
  }
  if (!v4) {
    // lwIP computes the ICMPv6 checksum (pseudo-header) at offset 2.
    pcb->chksum_reqd = 1;
    pcb->chksum_offset = 2;
  }
  return std::unique_ptr<Pinger>(
      new Pinger(stack, pcb, family, delegate, g_next_identifier++));
}

absl::Status Pinger::Send(const IpAddress& to, uint16_t sequence,
                          size_t payload_size) {
  const bool v4 = family_ == IpAddress::Family::kV4;
  if (to.is_v4() != v4) {
    return absl::InvalidArgumentError("address family differs from pinger's");
  }
  if (payload_size > 1400) {
    return absl::InvalidArgumentError("echo payload is at most 1400 bytes");
  }
  const size_t len = 8 + payload_size;
  struct pbuf* p = pbuf_alloc(PBUF_IP, static_cast<u16_t>(len), PBUF_RAM);
  if (p == nullptr) {
    return absl::ResourceExhaustedError("out of memory for an echo request");
  }
  auto* b = static_cast<uint8_t*>(p->payload);
  b[0] = v4 ? kEchoRequest4 : kEchoRequest6;
  b[1] = 0;
  b[2] = b[3] = 0;
  b[4] = identifier_ >> 8;
  b[5] = identifier_ & 0xFF;
  b[6] = sequence >> 8;
  b[7] = sequence & 0xFF;
  for (size_t i = 0; i < payload_size; ++i) b[8 + i] = static_cast<uint8_t>(i);
  if (v4) {
    u16_t sum = inet_chksum(b, static_cast<u16_t>(len));
    std::memcpy(b + 2, &sum, 2);
  }
  ip_addr_t ip = internal::ToLwip(to);
  outstanding_.emplace_back(sequence, stack_->loop()->Now());
  if (outstanding_.size() > 1024) outstanding_.erase(outstanding_.begin());
  err_t err = raw_sendto(pcb_, p, &ip);
  pbuf_free(p);
  stack_->AfterLwipCall();
  return internal::FromLwipErr(err, absl::StrCat("ping ", to.ToString()));
}

bool Pinger::HandlePacket(struct pbuf* p) {
  // Raw pcbs see the whole IP packet. Copy the headers we need.
  uint8_t head[60 + 8];
  const u16_t n = pbuf_copy_partial(
      p, head, static_cast<u16_t>(std::min<size_t>(sizeof(head), p->tot_len)),
      0);
  if (n < 1) return false;
  size_t ip_len;
  IpAddress from;
  if ((head[0] >> 4) == 4) {
    ip_len = (head[0] & 0x0F) * 4;
    if (ip_len < 20 || n < ip_len + 8) return false;
    from = *IpAddress::FromBytes(absl::MakeConstSpan(head + 12, 4));
    if (head[ip_len] != kEchoReply4) return false;
  } else {
    ip_len = 40;  // Echo replies carry no extension headers in practice.
    if (n < ip_len + 8 || head[6] != IP6_NEXTH_ICMP6) return false;
    from = *IpAddress::FromBytes(absl::MakeConstSpan(head + 8, 16));
    if (head[ip_len] != kEchoReply6) return false;
  }
  const uint8_t* icmp = head + ip_len;
  const uint16_t id = static_cast<uint16_t>(icmp[4] << 8 | icmp[5]);
  const uint16_t seq = static_cast<uint16_t>(icmp[6] << 8 | icmp[7]);
  if (id != identifier_) return false;
  for (auto it = outstanding_.begin(); it != outstanding_.end(); ++it) {
    if (it->first == seq) {
      absl::Duration rtt = stack_->loop()->Now() - it->second;
      outstanding_.erase(it);
      delegate_->OnEchoReply(from, seq, rtt);
      return true;
    }
  }
  return true;  // Ours, but a duplicate or too late: consumed.
}

}  // namespace stow::netstack
