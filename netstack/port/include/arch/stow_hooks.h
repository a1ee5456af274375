// lwIP hooks implemented by the netstack (netstack/stack.cc). Included by
// lwIP through LWIP_HOOK_FILENAME.
#ifndef STOWAWAY_NETSTACK_PORT_ARCH_STOW_HOOKS_H_
#define STOWAWAY_NETSTACK_PORT_ARCH_STOW_HOOKS_H_

#include "lwip/arch.h"

#ifdef __cplusplus
extern "C" {
#endif
struct netif;
struct ip4_addr;
struct ip6_addr;
struct tcp_pcb;

// Route an outgoing IPv4/IPv6 packet to a netif by destination prefix.
// Returns NULL to fall back to lwIP's own choice (netif address match, then
// the default netif).
struct netif* netstack_route_ip4(const struct ip4_addr* src,
                             const struct ip4_addr* dest);
struct netif* netstack_route_ip6(const struct ip6_addr* src,
                             const struct ip6_addr* dest);
// TCP (build-time edits of tcp_in.c and tcp.c, third_party/lwip): the
// retransmission timeout computed from an RTT sample, in slow-timer ticks,
// possibly raised to the floor of the connection's interface; and a
// retransmission timeout that fired, counted per interface.
s16_t netstack_tcp_rto(const struct tcp_pcb* pcb, s16_t ticks);
void netstack_tcp_rto_fired(const struct tcp_pcb* pcb);
#ifdef __cplusplus
}
#endif

#endif  // STOWAWAY_NETSTACK_PORT_ARCH_STOW_HOOKS_H_
