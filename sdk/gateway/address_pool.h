// A pool of virtual addresses the gateway hands to IKE clients (the
// configuration payload, RFC 7296 2.19): every address of one IPv4 or IPv6
// prefix except the reserved ones, each given to at most one client until
// released.
#ifndef STOWAWAY_SDK_GATEWAY_ADDRESS_POOL_H_
#define STOWAWAY_SDK_GATEWAY_ADDRESS_POOL_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
#include "sdk/tunnel/ipsec/profile.h"

namespace stow::gateway {

// Hash of an IpAddress for unordered containers (family and bytes).
struct IpAddressHash {
  size_t operator()(const IpAddress& ip) const;
};

// Threading: one owner on one thread (the loop thread). A plain value.
class AddressPool {
 public:
  // IPv4 prefixes of length 8..32, IPv6 of 64..128 (the host part must fit
  // 64 bits; at most 2^32 addresses are ever handed out). The network
  // address (and for IPv4 prefixes up to /30 the broadcast address) is never
  // handed out. InvalidArgument naming the prefix otherwise.
  static absl::StatusOr<AddressPool> Create(const ipsec::IpPrefix& prefix);

  // Marks `ip` as never to be handed out (the gateway's own address, the
  // manually keyed clients'). No-op for an address outside the pool.
  void Reserve(const IpAddress& ip);

  // A free address: `preferred` if it is in the pool and free (a client
  // reconnecting keeps its address), else the next free one after the last
  // handed out. nullopt when every address is taken.
  absl::optional<IpAddress> Allocate(
      const absl::optional<IpAddress>& preferred = absl::nullopt);
  // Gives `ip` back. False if it was not handed out by this pool.
  bool Release(const IpAddress& ip);

  bool Contains(const IpAddress& ip) const;
  bool IsAllocated(const IpAddress& ip) const;
  size_t allocated() const { return allocated_.size(); }
  // How many addresses can be handed out when none is (reserved ones
  // excluded).
  uint64_t capacity() const;
  const ipsec::IpPrefix& prefix() const { return prefix_; }
  // "10.99.100.0/24 (3 of 253 in use)"
  std::string ToString() const;

 private:
  AddressPool() = default;
  // Host offset of `ip` within the prefix, if it lies in it.
  absl::optional<uint64_t> OffsetOf(const IpAddress& ip) const;
  IpAddress AddressAt(uint64_t offset) const;
  bool Usable(uint64_t offset) const;

  ipsec::IpPrefix prefix_;
  uint64_t first_ = 0;  // Lowest usable offset.
  uint64_t last_ = 0;   // Highest usable offset.
  uint64_t cursor_ = 0;  // Where the next search starts.
  std::set<uint64_t> reserved_;
  std::set<uint64_t> allocated_;
};

}  // namespace stow::gateway

#endif  // STOWAWAY_SDK_GATEWAY_ADDRESS_POOL_H_
