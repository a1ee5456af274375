// lwIP options for Stowaway: a single-threaded (NO_SYS=1) stack driven by
// the libuv loop, terminating one application's sockets over point-to-point
// tunnel links. See docs/architecture.md, "Netstack".
#ifndef STOWAWAY_NETSTACK_PORT_LWIPOPTS_H_
#define STOWAWAY_NETSTACK_PORT_LWIPOPTS_H_

// ---- System: no OS, no threads inside lwIP; the loop thread owns it. ----
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0
#define LWIP_TIMERS 1
// In 2.1.3 this only makes lwip_cyclic_timer() visible, so the netstack can
// unregister lwIP's always-on cyclic timers and run them only while there
// is traffic (netstack/stack.cc): an idle stack never wakes up.
#define LWIP_TESTMODE 1

// ---- Memory: the C heap. pbufs and pcbs are malloc'd so that limits come
// from our own budget (netstack/stack.h), ASan sees every buffer, and no
// fixed pool silently runs dry. Stats stay on: teardown checks read them.
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define MEM_STATS 1
#define MEMP_STATS 1
#define SYS_STATS 0
#define LINK_STATS 1
#define IP_STATS 1
#define IP6_STATS 1
#define TCP_STATS 1
#define UDP_STATS 1
#define ICMP_STATS 1
#define ICMP6_STATS 1
// Upper bounds for the memp "pools" (with MEMP_MEM_MALLOC these are only
// counters' types, not preallocated memory).
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 256
#define MEMP_NUM_UDP_PCB 1024
#define MEMP_NUM_RAW_PCB 64
#define MEMP_NUM_TCP_SEG 65535
#define MEMP_NUM_PBUF 65535
#define PBUF_POOL_SIZE 65535
#define MEMP_NUM_REASSDATA 64
#define MEMP_NUM_FRAG_PBUF 256
#define MEMP_NUM_SYS_TIMEOUT 16
#define MEMP_OVERFLOW_CHECK 0
#define MEMP_SANITY_CHECK 0

// ---- Protocols ----
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_RAW 1
#define LWIP_ICMP 1
#define LWIP_BROADCAST_PING 0
#define LWIP_MULTICAST_PING 0
#define LWIP_UDP 1
#define LWIP_UDPLITE 0
#define LWIP_TCP 1
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define IP_REASS_MAX_PBUFS 256
#define IP_DEFAULT_TTL 64
#define LWIP_IPV6_FRAG 1
#define LWIP_IPV6_REASS 1
// Required on 64-bit: lwIP's reassembly helper (with a pointer) does not fit
// in the 8-byte fragment header it would otherwise overwrite. It then
// starts 4 bytes before the Fragment header; Interface::OnPacket offsets
// IPv6 packets so that its pointer is 8-aligned, which LeakSanitizer needs
// to see queued fragments as reachable. lwIP 2.1.3's IPv6 reassembly has
// known flaws we work around before it (netstack/packet_check.h and
// Interface::OnPacket): empty fragments, nested Fragment headers, and no
// hole check when a fragment is inserted before a later one.
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DHCP6 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_NUM_ADDRESSES 3
#define LWIP_ND6_QUEUEING 0
#define LWIP_IPV6_SCOPES 0
#define LWIP_ND6_ALLOW_RA_UPDATES 0
#define LWIP_ND6_TCP_REACHABILITY_HINTS 0
#define LWIP_IPV6_FORWARD 0

// Several netifs (one per tunnel), routed by destination prefix.
#define LWIP_SINGLE_NETIF 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_HOOK_FILENAME "arch/stow_hooks.h"
#define LWIP_HOOK_IP4_ROUTE_SRC(src, dest) netstack_route_ip4((src), (dest))
#define LWIP_HOOK_IP6_ROUTE(src, dest) netstack_route_ip6((src), (dest))

// Checksums: always generated; checked per netif (off on links whose
// packets are already authenticated by an AEAD).
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define LWIP_CHECKSUM_ON_COPY 1

// ---- TCP tuned for tunnels ----
// MSS: the largest we announce; the netif's MTU lowers it per connection.
#define TCP_MSS 1460
#define TCP_CALCULATE_EFF_SEND_MSS 1
// Window scaling: 2 MiB receive window (scale 6 allows up to 4 MiB).
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 6
#define TCP_WND (2 * 1024 * 1024)
// Send buffer: 2 MiB of unacknowledged + queued bytes per connection.
#define TCP_SND_BUF (2 * 1024 * 1024)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF) / TCP_MSS)
// Only netconn/sockets read TCP_SNDLOWAT; the netstack has its own
// writable threshold (netstack/tcp.h). lwIP bounds it below u16 overflow.
#define TCP_SNDLOWAT (0xFFFF - (4 * TCP_MSS) - 1)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
// Send a window update once reads reopened this much. Small enough to matter
// when the peer does not scale windows (its view is capped at 64 KiB).
#define TCP_WND_UPDATE_THRESHOLD LWIP_MIN(TCP_WND / 8, 8 * TCP_MSS)
// Out-of-order queue with SACK out (RFC 2018 receiver side).
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
#define TCP_OOSEQ_MAX_BYTES (4 * 1024 * 1024)
#define TCP_OOSEQ_MAX_PBUFS 4096
#define LWIP_TCP_TIMESTAMPS 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 128
#define LWIP_TCP_KEEPALIVE 1
#define TCP_OVERSIZE TCP_MSS
#define TCP_MAXRTX 12
#define TCP_SYNMAXRTX 6
// One slot: its destroy callback tells TcpConnection whenever lwIP frees a
// pcb, including silently at the end of TIME_WAIT.
#define LWIP_TCP_PCB_NUM_EXT_ARGS 1
#define LWIP_EVENT_API 0
#define LWIP_CALLBACK_API 1
// The TCP timer runs only while connections exist (lwIP's tcp_timer_needed).
// 50 ms instead of 250 ms: retransmission timeouts are counted in slow
// ticks (2 x this) and lwIP's RTT variance bottoms out at 3 slow ticks, so
// the shortest RTO is 300 ms here. lwIP's sender is Reno
// (no SACK or NewReno recovery), so under loss it waits for RTOs often:
// 64 MiB each way over ESP with 3 % loss and reordering took 223 s with a
// 100 ms tick and 127 s with 50 ms (esp_gateway_test). The cost is 20
// wake-ups a second while any connection exists.
#define TCP_TMR_INTERVAL 50

// ---- UDP ----
#define LWIP_UDP_TODO 0
#define LWIP_NETBUF_RECVINFO 0

// ---- pbufs ----
#define PBUF_LINK_HLEN 0
#define PBUF_LINK_ENCAPSULATION_HLEN 0
#define PBUF_POOL_BUFSIZE LWIP_MEM_ALIGN_SIZE(TCP_MSS + 40 + 40 + PBUF_LINK_HLEN)

// ---- Assertions stay on (they catch our own misuse of lwIP). lwIP tests
// these with #ifdef: defining LWIP_NOASSERT, even to 0, would turn them off,
// and defining LWIP_DEBUG, even to 0, would turn debug code on.
#define LWIP_PERF 0

#endif  // STOWAWAY_NETSTACK_PORT_LWIPOPTS_H_
