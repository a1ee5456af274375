#include "netstack/stack.h"

#include "netstack/packet_check.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "lwip/init.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/memp.h"
#include "lwip/nd6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netstack/lwip_util.h"
#include "netstack/packet_check.h"
#include "netstack/port/port.h"

namespace stow::netstack {
namespace {

// Housekeeping (reassembly and ND6 timers) keeps running this long after the
// last packet: longer than IP_REASS_MAXAGE (15 s) and ND6's timeouts.
constexpr absl::Duration kHousekeepingLinger = absl::Seconds(60);
constexpr absl::Duration kHousekeepingInterval = absl::Seconds(1);

Stack* g_stack = nullptr;
bool g_lwip_initialized = false;
// lwIP keeps its timeouts (among them the TCP timer) in one global list with
// absolute times, so its clock must never run backwards, even when a new
// Stack on a new loop (whose clock starts at 0) replaces an old one.
uint64_t g_clock_offset_ms = 0;
uint64_t g_last_ms = 0;

uint64_t LwipClock(void* context) {
  if (g_stack == nullptr) return g_last_ms;
  auto* loop = static_cast<event::Loop*>(context);
  uint64_t now = loop->NowMillis() + g_clock_offset_ms;
  if (now > g_last_ms) g_last_ms = now;
  return g_last_ms;
}

int MempUsed(memp_t type) { return lwip_stats.memp[type]->used; }

}  // namespace

// ---- Interface ----

Interface::Interface(Stack* stack, Link* link, const InterfaceConfig& config)
    : stack_(stack), link_(link), config_(config) {}

int Interface::mtu() const { return netif_->mtu; }

absl::Status Interface::Init() {
  const int link_mtu = link_->mtu();
  const int mtu = config_.mtu == 0 ? link_mtu : config_.mtu;
  if (mtu < 576 || mtu > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface MTU ", mtu, " is outside 576..65535"));
  }
  if (mtu > link_mtu) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interface MTU ", mtu, " exceeds the link's MTU ", link_mtu));
  }
  if (config_.ipv4.has_value() && !config_.ipv4->is_v4()) {
    return absl::InvalidArgumentError("ipv4 must be an IPv4 address");
  }
  if (config_.ipv6.has_value() && !config_.ipv6->is_v6()) {
    return absl::InvalidArgumentError("ipv6 must be an IPv6 address");
  }
  if (config_.ipv4_prefix_len < 0 || config_.ipv4_prefix_len > 32) {
    return absl::InvalidArgumentError("ipv4_prefix_len must be 0..32");
  }
  if (!config_.ipv4.has_value() && !config_.ipv6.has_value()) {
    return absl::InvalidArgumentError("an interface needs an address");
  }
  for (const Route& r : config_.routes) {
    if (r.prefix_len < 0 || r.prefix_len > (r.prefix.is_v4() ? 32 : 128)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad route prefix length ", r.prefix_len));
    }
    if (r.prefix.is_v4() ? !config_.ipv4.has_value()
                         : !config_.ipv6.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route ", r.prefix.ToString(), "/", r.prefix_len,
          " needs an interface address of its family"));
    }
  }

  netif_ = std::make_unique<struct netif>();
  std::memset(netif_.get(), 0, sizeof(struct netif));
  ip4_addr_t addr = {0}, mask = {0}, gw = {0};
  if (config_.ipv4.has_value()) {
    std::memcpy(&addr.addr, config_.ipv4->bytes().data(), 4);
    uint32_t m = config_.ipv4_prefix_len == 0
                     ? 0
                     : ~uint32_t{0} << (32 - config_.ipv4_prefix_len);
    mask.addr = lwip_htonl(m);
  }
  if (netif_add(netif_.get(), &addr, &mask, &gw, this, &Interface::NetifInit,
                ip_input) == nullptr) {
    return absl::InternalError("lwIP refused the interface");
  }
  added_ = true;
  netif_->mtu = static_cast<u16_t>(mtu);
  if (config_.ipv6.has_value()) {
    ip_addr_t a6 = internal::ToLwip(*config_.ipv6);
    netif_ip6_addr_set(netif_.get(), 0, ip_2_ip6(&a6));
    netif_ip6_addr_set_state(netif_.get(), 0, IP6_ADDR_PREFERRED);
  }
  NETIF_SET_CHECKSUM_CTRL(
      netif_.get(),
      config_.verify_checksums
          ? NETIF_CHECKSUM_ENABLE_ALL
          : (NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_UDP |
             NETIF_CHECKSUM_GEN_TCP | NETIF_CHECKSUM_GEN_ICMP |
             NETIF_CHECKSUM_GEN_ICMP6));
  netif_set_up(netif_.get());
  netif_set_link_up(netif_.get());
  if (config_.default_route) netif_set_default(netif_.get());
  link_->SetReceiver(this);
  return absl::OkStatus();
}

Interface::~Interface() {
  link_->SetReceiver(nullptr);
  if (added_) {
    // Their owners see the error now. netif_remove() would abort them too,
    // but while walking a list that those owners' callbacks may change.
    AbortConnections();
    netif_remove(netif_.get());
  }
  auto& list = stack_->interfaces_;
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (*it == this) {
      list.erase(it);
      break;
    }
  }
  stack_->AfterLwipCall();
}

err_t Interface::NetifInit(struct netif* netif) {
  netif->name[0] = 's';
  netif->name[1] = 'w';
  netif->output = &Interface::OutputV4;
  netif->output_ip6 = &Interface::OutputV6;
  netif->flags = 0;  // Point-to-point: no ARP, no broadcast.
  return ERR_OK;
}

err_t Interface::OutputV4(struct netif* netif, struct pbuf* p,
                          const ip4_addr_t*) {
  static_cast<Interface*>(netif->state)->Send(p);
  return ERR_OK;
}

err_t Interface::OutputV6(struct netif* netif, struct pbuf* p,
                          const ip6_addr_t*) {
  static_cast<Interface*>(netif->state)->Send(p);
  return ERR_OK;
}

void Interface::Send(struct pbuf* p) {
  absl::InlinedVector<absl::Span<const uint8_t>, 8> fragments;
  for (struct pbuf* q = p; q != nullptr; q = q->next) {
    if (q->len == 0) continue;
    fragments.push_back(absl::MakeConstSpan(
        static_cast<const uint8_t*>(q->payload), q->len));
  }
  counters_.tx_packets++;
  counters_.tx_bytes += p->tot_len;
  stack_->NoteActivity();
  link_->SendPacket(fragments);
}

void Interface::OnPacket(absl::Span<const uint8_t> packet) {
  counters_.rx_packets++;
  counters_.rx_bytes += packet.size();
  // lwIP validates headers, lengths and checksums itself (and counts what it
  // drops); these checks keep obviously broken input away from it.
  const int version = packet.empty() ? 0 : packet[0] >> 4;
  const size_t min_len = version == 6 ? 40 : 20;
  if ((version != 4 && version != 6) || packet.size() < min_len ||
      packet.size() > 65535 || (version == 4 && !config_.ipv4) ||
      (version == 6 && !config_.ipv6)) {
    counters_.rx_malformed++;
    return;
  }
  bool fragment = false;
  if (version == 6) {
    switch (CheckIpv6(packet)) {
      case PacketVerdict::kPass:
        break;
      case PacketVerdict::kFragment:
        fragment = true;
        break;
      case PacketVerdict::kMalformed:
        counters_.rx_malformed++;
        return;
      case PacketVerdict::kIgnored:
        counters_.rx_ignored++;
        return;
    }
  }
  // lwIP 2.1.3's IPv6 reassembly (ip6_frag.c, IPV6_FRAG_COPYHEADER) links
  // queued fragments through a packed {pbuf* next; u16 start, end;} that it
  // writes 4 bytes (sizeof(void*) + 4 - 8) before each fragment's Fragment
  // header, which sits 40 + 8k bytes into the packet. With the packet at an
  // 8-aligned address that pointer is misaligned, and LeakSanitizer, which
  // only scans aligned words, reports every queued fragment but the first as
  // leaked. Starting IPv6 packets 4 bytes past alignment aligns it, so leak
  // checks (tests, fuzzing) see the queue as lwIP does. lwIP's headers are
  // packed structs; 4-byte alignment is all its 32-bit fields need.
  constexpr size_t kReassHelperOffset =
      (sizeof(void*) + 2 * sizeof(u16_t) - 8) % alignof(void*);
  const size_t pad =
      version == 6 && packet.size() + kReassHelperOffset <= 0xFFFF
          ? kReassHelperOffset
          : 0;
  struct pbuf* p = pbuf_alloc(
      PBUF_RAW, static_cast<u16_t>(packet.size() + pad), PBUF_RAM);
  if (p == nullptr) {
    counters_.rx_no_memory++;
    return;
  }
  pbuf_remove_header(p, pad);
  std::memcpy(p->payload, packet.data(), packet.size());
  stack_->NoteActivity();
  // lwIP 2.1.3 can declare an IPv6 datagram complete with a hole in it: when
  // a fragment is inserted before one received earlier, ip6_reass checks it
  // for overlap with its predecessor but not for a gap (ip6_frag.c, the
  // "start < iprh_tmp->start" branch; IPv4's ip4_frag.c checks both). The
  // four fragments of a datagram arriving as 1st, 4th, 3rd, 2nd are then
  // delivered after the 3rd, without the 2nd. Each fragment may be
  // authenticated by the tunnel, the splice is not: the transport checksum
  // is the only check of the whole, so it is verified for anything this
  // fragment completes, even on links that skip verification. Such a
  // datagram is then dropped (lost) instead of delivered corrupted.
  const u16_t checksum_flags = netif_->chksum_flags;
  if (fragment) {
    netif_->chksum_flags |= NETIF_CHECKSUM_CHECK_UDP |
                            NETIF_CHECKSUM_CHECK_TCP |
                            NETIF_CHECKSUM_CHECK_ICMP6;
  }
  if (netif_->input(p, netif_.get()) != ERR_OK) {
    pbuf_free(p);
    counters_.rx_malformed++;
  }
  if (fragment) netif_->chksum_flags = checksum_flags;
  stack_->AfterLwipCall();
}

bool Interface::HasAddress(const IpAddress& ip) const {
  return (config_.ipv4.has_value() && *config_.ipv4 == ip) ||
         (config_.ipv6.has_value() && *config_.ipv6 == ip);
}

void Interface::AbortConnections() {
  bool again = true;
  while (again) {
    again = false;
    for (struct tcp_pcb* pcb = tcp_active_pcbs; pcb != nullptr;
         pcb = pcb->next) {
      if (HasAddress(internal::FromLwip(pcb->local_ip))) {
        tcp_abort(pcb);
        again = true;  // The list may have changed: start over.
        break;
      }
    }
  }
}

int Interface::MatchLength(const IpAddress& dest) const {
  int best = -1;
  for (const netstack::Route& r : config_.routes) {
    if (r.prefix_len > best && dest.InPrefix(r.prefix, r.prefix_len)) {
      best = r.prefix_len;
    }
  }
  if (config_.ipv4.has_value() &&
      dest.InPrefix(*config_.ipv4, config_.ipv4_prefix_len) &&
      config_.ipv4_prefix_len > best) {
    best = config_.ipv4_prefix_len;
  }
  // lwIP treats a static IPv6 address as on-link /64.
  if (config_.ipv6.has_value() && dest.InPrefix(*config_.ipv6, 64) &&
      64 > best) {
    best = 64;
  }
  return best;
}

// ---- Stack ----

std::string StackResources::ToString() const {
  return absl::StrCat("tcp_pcbs=", tcp_pcbs, " tcp_listen_pcbs=",
                      tcp_listen_pcbs, " udp_pcbs=", udp_pcbs,
                      " raw_pcbs=", raw_pcbs, " tcp_segments=", tcp_segments,
                      " pbufs=", pbufs, " heap_bytes=", heap_bytes,
                      " reassembly=", reassembly);
}

bool StackResources::IsEmpty() const {
  return tcp_pcbs == 0 && tcp_listen_pcbs == 0 && udp_pcbs == 0 &&
         raw_pcbs == 0 && tcp_segments == 0 && pbufs == 0 &&
         heap_bytes == 0 && reassembly == 0;
}

Stack* Stack::Current() { return g_stack; }

Stack::Stack(event::Loop* loop) : loop_(loop) {}

absl::StatusOr<std::unique_ptr<Stack>> Stack::Create(event::Loop* loop) {
  if (!loop->IsLoopThread()) {
    return absl::FailedPreconditionError(
        "Stack::Create must run on the loop thread");
  }
  if (g_stack != nullptr) {
    return absl::FailedPreconditionError(
        "a netstack already exists in this process (lwIP keeps global state, "
        "so there is one per process; add an interface to it instead)");
  }
  std::unique_ptr<Stack> stack(new Stack(loop));
  const uint64_t loop_now = loop->NowMillis();
  g_clock_offset_ms = g_last_ms > loop_now ? g_last_ms - loop_now : 0;
  g_stack = stack.get();
  netstack_lwip_set_clock(&LwipClock, loop);
  if (!g_lwip_initialized) {
    lwip_init();
    // lwIP registers its cyclic timers (reassembly, ND6) to fire forever;
    // we run them ourselves, only while there is traffic (OnHousekeeping).
    for (int i = LWIP_TCP ? 1 : 0; i < lwip_num_cyclic_timers; ++i) {
      sys_untimeout(&lwip_cyclic_timer,
                    const_cast<struct lwip_cyclic_timer*>(
                        &lwip_cyclic_timers[i]));
    }
    g_lwip_initialized = true;
  }
  Stack* raw = stack.get();
  stack->timer_ = loop->NewTimer([raw] { raw->OnTimer(); });
  stack->housekeeping_ = loop->NewTimer([raw] { raw->OnHousekeeping(); });
  // A TCP timer left armed by a previous Stack fires now and retires.
  stack->AfterLwipCall();
  return stack;
}

Stack::~Stack() {
  if (!interfaces_.empty()) {
    std::fprintf(stderr,
                 "netstack: Stack destroyed with %zu live interfaces; destroy "
                 "interfaces and endpoints first\n",
                 interfaces_.size());
    std::abort();
  }
  // Connections the app closed may still linger in lwIP (FIN_WAIT, LAST_ACK,
  // TIME_WAIT); nothing can reach them any more.
  AbortOrphanedConnections();
  while (tcp_active_pcbs != nullptr) tcp_abort(tcp_active_pcbs);
  StackResources left = Resources();
  if (left.tcp_listen_pcbs || left.udp_pcbs || left.raw_pcbs) {
    std::fprintf(stderr,
                 "netstack: Stack destroyed with live endpoints (%s)\n",
                 left.ToString().c_str());
  }
  timer_.reset();
  housekeeping_.reset();
  LwipClock(loop_);  // Latch the clock for the next Stack.
  g_stack = nullptr;
  netstack_lwip_set_clock(&LwipClock, nullptr);
}

void Stack::AbortOrphanedConnections() {
  bool again = true;
  while (again) {
    again = false;
    for (struct tcp_pcb* pcb = tcp_active_pcbs; pcb != nullptr;
         pcb = pcb->next) {
      if (pcb->callback_arg == nullptr) {
        tcp_abort(pcb);
        again = true;
        break;
      }
    }
  }
  while (tcp_tw_pcbs != nullptr) tcp_abort(tcp_tw_pcbs);
  AfterLwipCall();
}

absl::StatusOr<std::unique_ptr<Interface>> Stack::AddInterface(
    Link* link, const InterfaceConfig& config) {
  std::unique_ptr<Interface> iface(new Interface(this, link, config));
  absl::Status status = iface->Init();
  if (!status.ok()) return status;
  interfaces_.push_back(iface.get());
  return iface;
}

StackResources Stack::Resources() const {
  StackResources r;
  // Every tcp_pcb: active, TIME_WAIT, and bound or closed ones.
  r.tcp_pcbs = MempUsed(MEMP_TCP_PCB);
  r.tcp_listen_pcbs = MempUsed(MEMP_TCP_PCB_LISTEN);
  r.udp_pcbs = MempUsed(MEMP_UDP_PCB);
  r.raw_pcbs = MempUsed(MEMP_RAW_PCB);
  r.tcp_segments = MempUsed(MEMP_TCP_SEG);
  r.pbufs = MempUsed(MEMP_PBUF) + MempUsed(MEMP_PBUF_POOL);
  // With MEMP_MEM_MALLOC every memp object is also heap. lwIP's own timer
  // list (the TCP timer retires on its next tick) is not a leak.
  const int64_t timeouts =
      static_cast<int64_t>(MempUsed(MEMP_SYS_TIMEOUT)) *
      LWIP_MEM_ALIGN_SIZE(memp_pools[MEMP_SYS_TIMEOUT]->size);
  r.heap_bytes = static_cast<int64_t>(lwip_stats.mem.used) - timeouts;
  r.reassembly = MempUsed(MEMP_REASSDATA) + MempUsed(MEMP_IP6_REASSDATA);
  return r;
}

StackDropCounters Stack::Drops() const {
  StackDropCounters d;
  d.ip_drop = lwip_stats.ip.drop + lwip_stats.ip6.drop;
  d.ip_checksum = lwip_stats.ip.chkerr + lwip_stats.ip6.chkerr;
  d.ip_length = lwip_stats.ip.lenerr + lwip_stats.ip6.lenerr;
  d.ip_protocol = lwip_stats.ip.proterr + lwip_stats.ip6.proterr;
  d.tcp_drop = lwip_stats.tcp.drop;
  d.udp_drop = lwip_stats.udp.drop;
  d.icmp_drop = lwip_stats.icmp.drop + lwip_stats.icmp6.drop;
  return d;
}

void Stack::AfterLwipCall() {
  const u32_t sleep_ms = sys_timeouts_sleeptime();
  if (sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE) return;
  const absl::Duration delay = absl::Milliseconds(sleep_ms);
  const absl::Duration deadline = loop_->Now() + delay;
  // Re-arm only for an earlier deadline; an early wake-up is harmless.
  if (timer_->IsArmed() && deadline >= timer_deadline_) return;
  timer_deadline_ = deadline;
  timer_->Start(delay);
}

void Stack::OnTimer() {
  timer_deadline_ = absl::InfiniteDuration();
  sys_check_timeouts();
  AfterLwipCall();
}

void Stack::NoteActivity() {
  last_activity_ = loop_->Now();
  if (!housekeeping_->IsArmed()) housekeeping_->Start(kHousekeepingInterval);
}

void Stack::OnHousekeeping() {
#if IP_REASSEMBLY
  ip_reass_tmr();
#endif
#if LWIP_IPV6_REASS
  ip6_reass_tmr();
#endif
  nd6_tmr();
  AfterLwipCall();
  if (loop_->Now() - last_activity_ < kHousekeepingLinger ||
      Resources().reassembly > 0) {
    housekeeping_->Start(kHousekeepingInterval);
  }
}

struct netif* Stack::Route(const IpAddress* src, const IpAddress& dest) const {
  if (src != nullptr && !src->IsUnspecified()) {
    for (const Interface* iface : interfaces_) {
      if (iface->HasAddress(*src)) return iface->netif_.get();
    }
  }
  struct netif* best = nullptr;
  int best_len = -1;
  for (const Interface* iface : interfaces_) {
    int len = iface->MatchLength(dest);
    if (len > best_len) {
      best_len = len;
      best = iface->netif_.get();
    }
  }
  return best;
}

int16_t Stack::TcpRto(const IpAddress& local, int16_t ticks) {
  for (Interface* iface : interfaces_) {
    if (!iface->HasAddress(local)) continue;
    const int64_t floor =
        absl::ToInt64Milliseconds(iface->tcp_min_rto_) / TCP_SLOW_INTERVAL;
    if (ticks < floor) {
      iface->counters_.tcp_rto_raised++;
      return static_cast<int16_t>(std::min<int64_t>(floor, INT16_MAX));
    }
    return ticks;
  }
  return ticks;
}

void Stack::TcpRtoFired(const IpAddress& local) {
  for (Interface* iface : interfaces_) {
    if (iface->HasAddress(local)) {
      iface->counters_.tcp_rto_timeouts++;
      return;
    }
  }
}

}  // namespace stow::netstack

namespace {

stow::IpAddress FromRaw(const void* bytes, size_t len) {
  return *stow::IpAddress::FromBytes(
      absl::MakeConstSpan(static_cast<const uint8_t*>(bytes), len));
}

}  // namespace

extern "C" struct netif* netstack_route_ip4(const ip4_addr_t* src,
                                         const ip4_addr_t* dest) {
  stow::netstack::Stack* stack = stow::netstack::Stack::Current();
  if (stack == nullptr) return nullptr;
  stow::IpAddress from;
  if (src != nullptr) from = FromRaw(&src->addr, 4);
  return stack->Route(src != nullptr ? &from : nullptr,
                      FromRaw(&dest->addr, 4));
}

namespace {

stow::IpAddress LocalAddressOf(const struct tcp_pcb* pcb) {
  if (IP_IS_V6_VAL(pcb->local_ip)) {
    return FromRaw(ip_2_ip6(&pcb->local_ip)->addr, 16);
  }
  return FromRaw(&ip_2_ip4(&pcb->local_ip)->addr, 4);
}

}  // namespace

extern "C" s16_t netstack_tcp_rto(const struct tcp_pcb* pcb, s16_t ticks) {
  stow::netstack::Stack* stack = stow::netstack::Stack::Current();
  if (stack == nullptr) return ticks;
  return stack->TcpRto(LocalAddressOf(pcb), ticks);
}

extern "C" void netstack_tcp_rto_fired(const struct tcp_pcb* pcb) {
  stow::netstack::Stack* stack = stow::netstack::Stack::Current();
  if (stack != nullptr) stack->TcpRtoFired(LocalAddressOf(pcb));
}

extern "C" struct netif* netstack_route_ip6(const ip6_addr_t* src,
                                         const ip6_addr_t* dest) {
  stow::netstack::Stack* stack = stow::netstack::Stack::Current();
  if (stack == nullptr) return nullptr;
  stow::IpAddress from;
  if (src != nullptr) from = FromRaw(src->addr, 16);
  return stack->Route(src != nullptr ? &from : nullptr,
                      FromRaw(dest->addr, 16));
}
