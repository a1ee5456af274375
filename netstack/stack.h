// The netstack: lwIP (raw API, NO_SYS=1) driven by the event loop.
#ifndef STOWAWAY_NETSTACK_STACK_H_
#define STOWAWAY_NETSTACK_STACK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "netstack/link.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/loop.h"

struct netif;
struct pbuf;
struct ip4_addr;
struct ip6_addr;

namespace stow::netstack {

class Stack;

// A destination prefix routed to an interface.
struct Route {
  IpAddress prefix;
  int prefix_len = 0;
};

struct InterfaceConfig {
  // IPv4 address and prefix length of the interface, if any.
  absl::optional<IpAddress> ipv4;
  int ipv4_prefix_len = 32;
  // IPv6 address of the interface, if any.
  absl::optional<IpAddress> ipv6;
  // 0: the link's MTU. Larger than the link's MTU is an error.
  int mtu = 0;
  // False on links whose packets an AEAD already authenticated: lwIP then
  // skips verifying IP/TCP/UDP/ICMP checksums (it always generates them).
  bool verify_checksums = true;
  // Destinations sent through this interface besides its own subnet.
  std::vector<Route> routes;
  // Packets that match no route leave through the default interface.
  bool default_route = false;
};

// Per-interface counters. Loop thread only.
struct InterfaceCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  // Inbound packets dropped before lwIP saw them (runt, bad version, longer
  // than the MTU) or refused by lwIP's input.
  uint64_t rx_malformed = 0;
  // Inbound IPv6 router advertisements and redirects: a tunnel's peer does
  // not get to change routes.
  uint64_t rx_ignored = 0;
  // Inbound packets dropped because a buffer could not be allocated.
  uint64_t rx_no_memory = 0;
  // TCP over this interface: RTT samples whose computed retransmission
  // timeout was raised to the interface's floor, and retransmission
  // timeouts that fired (segments sent again after an RTO).
  uint64_t tcp_rto_raised = 0;
  uint64_t tcp_rto_timeouts = 0;
};

// An lwIP netif bound to a Link. Created by Stack::AddInterface; destroying
// it removes the netif, which aborts connections bound to its addresses.
// All methods on the loop thread.
class Interface : public Link::Receiver {
 public:
  ~Interface() override;
  Interface(const Interface&) = delete;
  Interface& operator=(const Interface&) = delete;

  // Link::Receiver: one inbound IP packet.
  void OnPacket(absl::Span<const uint8_t> packet) override;

  int mtu() const;
  const InterfaceConfig& config() const { return config_; }
  // A floor under the retransmission timeout lwIP computes for TCP
  // connections with a local address on this interface (0: none). For a
  // link that is itself reliable (a TLS tunnel over TCP), where an inner
  // retransmission only duplicates what the outer TCP already delivers.
  void SetTcpMinRto(absl::Duration floor) { tcp_min_rto_ = floor; }
  absl::Duration tcp_min_rto() const { return tcp_min_rto_; }
  const InterfaceCounters& counters() const { return counters_; }

 private:
  friend class Stack;
  Interface(Stack* stack, Link* link, const InterfaceConfig& config);
  absl::Status Init();
  void Send(struct pbuf* p);
  // Longest prefix among this interface's routes and subnet that contains
  // `dest`, or -1.
  int MatchLength(const IpAddress& dest) const;
  bool HasAddress(const IpAddress& ip) const;
  // Aborts the TCP connections bound to this interface's addresses, one at a
  // time (their OnError may close others), before netif_remove() would.
  void AbortConnections();

  static signed char NetifInit(struct netif* netif);
  static signed char OutputV4(struct netif* netif, struct pbuf* p,
                              const struct ip4_addr* dest);
  static signed char OutputV6(struct netif* netif, struct pbuf* p,
                              const struct ip6_addr* dest);

  Stack* const stack_;  // Not owned.
  Link* const link_;    // Not owned.
  const InterfaceConfig config_;
  std::unique_ptr<struct netif> netif_;
  bool added_ = false;
  InterfaceCounters counters_;
  absl::Duration tcp_min_rto_ = absl::ZeroDuration();
};

// lwIP's resources in use, from its statistics. All zero when nothing is
// alive.
struct StackResources {
  int tcp_pcbs = 0;         // active + TIME_WAIT + closing
  int tcp_listen_pcbs = 0;
  int udp_pcbs = 0;
  int raw_pcbs = 0;
  int tcp_segments = 0;     // queued outgoing segments
  int pbufs = 0;            // pbuf headers (ROM/REF) + pool pbufs
  int64_t heap_bytes = 0;   // PBUF_RAM and other mem_malloc'd bytes
  int reassembly = 0;       // IP datagrams being reassembled
  std::string ToString() const;
  bool IsEmpty() const;
};

// lwIP's drop counters, summed over all interfaces.
struct StackDropCounters {
  uint64_t ip_drop = 0;
  uint64_t ip_checksum = 0;
  uint64_t ip_length = 0;
  uint64_t ip_protocol = 0;
  uint64_t tcp_drop = 0;
  uint64_t udp_drop = 0;
  uint64_t icmp_drop = 0;
  uint64_t Total() const {
    return ip_drop + tcp_drop + udp_drop + icmp_drop;
  }
};

// The process's TCP/IP stack. lwIP keeps global state, so at most one Stack
// exists per process at a time (Create fails otherwise); several interfaces
// (one per tunnel) share it, routed by destination prefix.
//
// Timers: lwIP's timeouts are driven by one loop timer armed from
// sys_timeouts_sleeptime() after every entry into lwIP, so an idle stack
// (no connections, no recent traffic) never wakes up. lwIP's cyclic
// housekeeping (IP reassembly, ND6) runs once a second only while packets
// moved in the last minute.
//
// Threading: everything on the loop thread. Ownership: the Stack does not
// own interfaces or endpoints; destroy them before the Stack. Destroying the
// Stack aborts connections still closing in lwIP (FIN_WAIT, TIME_WAIT).
class Stack {
 public:
  static absl::StatusOr<std::unique_ptr<Stack>> Create(event::Loop* loop);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Adds a netif for `link` (not owned; must outlive the Interface).
  absl::StatusOr<std::unique_ptr<Interface>> AddInterface(
      Link* link, const InterfaceConfig& config);

  event::Loop* loop() const { return loop_; }

  StackResources Resources() const;
  StackDropCounters Drops() const;

  // Aborts every connection lwIP still holds without an owner (closed by the
  // app but still in FIN_WAIT/LAST_ACK/TIME_WAIT). For teardown checks.
  void AbortOrphanedConnections();

  // Internal: re-arms the loop timer after an entry into lwIP. Every netstack
  // entry point calls it before returning to the loop.
  void AfterLwipCall();
  // Internal: records traffic, which keeps housekeeping running.
  void NoteActivity();
  // Internal: the interface that owns `src` (replies leave where the
  // connection lives), else the one whose prefix best matches `dest`, or
  // nullptr.
  // For lwIP's TCP hooks: the retransmission timeout (in slow-timer ticks)
  // for a connection whose local address is `local`, raised to its
  // interface's floor; and the count of RTOs that fired.
  int16_t TcpRto(const IpAddress& local, int16_t ticks);
  void TcpRtoFired(const IpAddress& local);
  struct netif* Route(const IpAddress* src, const IpAddress& dest) const;

  // The live Stack of this process, or nullptr.
  static Stack* Current();

 private:
  explicit Stack(event::Loop* loop);
  void OnTimer();
  void OnHousekeeping();

  friend class Interface;
  event::Loop* const loop_;  // Not owned.
  std::unique_ptr<event::Timer> timer_;
  absl::Duration timer_deadline_ = absl::InfiniteDuration();
  std::unique_ptr<event::Timer> housekeeping_;
  absl::Duration last_activity_ = -absl::InfiniteDuration();
  std::vector<Interface*> interfaces_;
};

}  // namespace stow::netstack

#endif  // STOWAWAY_NETSTACK_STACK_H_
