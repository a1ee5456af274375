#include "sdk/gateway/address_pool.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace stow::gateway {
namespace {

// At most this many addresses per pool (an IPv6 /64 has 2^64).
constexpr uint64_t kMaxPoolAddresses = uint64_t{1} << 32;

int HostBits(const ipsec::IpPrefix& prefix) {
  return (prefix.address.is_v4() ? 32 : 128) - prefix.length;
}

}  // namespace

size_t IpAddressHash::operator()(const IpAddress& ip) const {
  // FNV-1a over family and bytes: cheap, and the keys are not chosen by
  // an attacker (the gateway assigns them).
  uint64_t h = 1469598103934665603ull ^ (ip.is_v4() ? 4 : 6);
  for (uint8_t b : ip.bytes()) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

absl::StatusOr<AddressPool> AddressPool::Create(
    const ipsec::IpPrefix& prefix) {
  const bool v4 = prefix.address.is_v4();
  if (v4 ? (prefix.length < 8 || prefix.length > 32)
         : (prefix.length < 64 || prefix.length > 128)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address pool ", prefix.ToString(), ": the prefix length must be ",
        v4 ? "8..32" : "64..128"));
  }
  AddressPool pool;
  // The prefix with its host bits cleared.
  std::array<uint8_t, 16> bytes{};
  absl::Span<const uint8_t> in = prefix.address.bytes();
  std::copy(in.begin(), in.end(), bytes.begin());
  for (size_t bit = prefix.length; bit < in.size() * 8; ++bit) {
    bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  pool.prefix_.address =
      *IpAddress::FromBytes(absl::MakeConstSpan(bytes.data(), in.size()));
  pool.prefix_.length = prefix.length;

  const int host_bits = HostBits(prefix);
  // The highest offset in the prefix, capped.
  const uint64_t top = host_bits >= 33 ? kMaxPoolAddresses
                                       : (uint64_t{1} << host_bits) - 1;
  if (v4) {
    // Network and broadcast addresses are not hosts, except in /31 and /32.
    pool.first_ = host_bits >= 2 ? 1 : 0;
    pool.last_ = host_bits >= 2 ? top - 1 : top;
  } else {
    // The subnet-router anycast address (RFC 4291 2.6.1) is not a host.
    pool.first_ = host_bits >= 1 ? 1 : 0;
    pool.last_ = top;
  }
  pool.cursor_ = pool.first_;
  return pool;
}

absl::optional<uint64_t> AddressPool::OffsetOf(const IpAddress& ip) const {
  if (ip.family() != prefix_.address.family() ||
      !ip.InPrefix(prefix_.address, prefix_.length)) {
    return absl::nullopt;
  }
  const int host_bits = HostBits(prefix_);
  absl::Span<const uint8_t> b = ip.bytes();
  // The low 64 bits of the address.
  uint64_t low = 0;
  const size_t start = b.size() > 8 ? b.size() - 8 : 0;
  for (size_t i = start; i < b.size(); ++i) low = (low << 8) | b[i];
  if (host_bits < 64) low &= (uint64_t{1} << host_bits) - 1;
  return low;
}

IpAddress AddressPool::AddressAt(uint64_t offset) const {
  std::array<uint8_t, 16> bytes{};
  absl::Span<const uint8_t> base = prefix_.address.bytes();
  std::copy(base.begin(), base.end(), bytes.begin());
  for (size_t i = 0; i < 8 && i < base.size(); ++i) {
    bytes[base.size() - 1 - i] |= static_cast<uint8_t>(offset >> (8 * i));
  }
  return *IpAddress::FromBytes(absl::MakeConstSpan(bytes.data(), base.size()));
}

bool AddressPool::Usable(uint64_t offset) const {
  return offset >= first_ && offset <= last_ && reserved_.count(offset) == 0 &&
         allocated_.count(offset) == 0;
}

void AddressPool::Reserve(const IpAddress& ip) {
  absl::optional<uint64_t> offset = OffsetOf(ip);
  if (!offset || *offset < first_ || *offset > last_) return;
  if (allocated_.count(*offset) != 0) return;  // Already someone's.
  reserved_.insert(*offset);
}

absl::optional<IpAddress> AddressPool::Allocate(
    const absl::optional<IpAddress>& preferred) {
  if (preferred) {
    absl::optional<uint64_t> offset = OffsetOf(*preferred);
    if (offset && Usable(*offset)) {
      allocated_.insert(*offset);
      return AddressAt(*offset);
    }
  }
  const uint64_t count = last_ - first_ + 1;
  if (allocated_.size() + reserved_.size() >= count) return absl::nullopt;
  // Every step either finds a free offset or passes a taken one, so this
  // ends within (taken + 1) steps.
  uint64_t offset = std::clamp(cursor_, first_, last_);
  for (uint64_t tries = 0; tries < count; ++tries) {
    if (Usable(offset)) {
      allocated_.insert(offset);
      cursor_ = offset == last_ ? first_ : offset + 1;
      return AddressAt(offset);
    }
    offset = offset == last_ ? first_ : offset + 1;
  }
  return absl::nullopt;  // Not reached: the count says one is free.
}

bool AddressPool::Release(const IpAddress& ip) {
  absl::optional<uint64_t> offset = OffsetOf(ip);
  return offset && allocated_.erase(*offset) == 1;
}

bool AddressPool::Contains(const IpAddress& ip) const {
  absl::optional<uint64_t> offset = OffsetOf(ip);
  return offset && *offset >= first_ && *offset <= last_;
}

bool AddressPool::IsAllocated(const IpAddress& ip) const {
  absl::optional<uint64_t> offset = OffsetOf(ip);
  return offset && allocated_.count(*offset) != 0;
}

uint64_t AddressPool::capacity() const {
  return last_ - first_ + 1 - reserved_.size();
}

std::string AddressPool::ToString() const {
  return absl::StrCat(prefix_.ToString(), " (", allocated_.size(), " of ",
                      capacity(), " in use)");
}

}  // namespace stow::gateway
