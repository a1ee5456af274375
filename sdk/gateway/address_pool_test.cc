#include "sdk/gateway/address_pool.h"

#include <set>
#include <string>
#include <unordered_set>

#include "gtest/gtest.h"

namespace stow::gateway {
namespace {

AddressPool Pool(const std::string& text) {
  auto prefix = ipsec::ParseIpPrefix(text);
  EXPECT_TRUE(prefix.ok()) << text;
  auto pool = AddressPool::Create(*prefix);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *std::move(pool);
}

IpAddress Ip(const std::string& text) { return *IpAddress::Parse(text); }

TEST(AddressPoolTest, HandsOutEveryHostAddressOnceThenNothing) {
  AddressPool pool = Pool("10.99.100.0/29");  // .1 .. .6
  EXPECT_EQ(pool.capacity(), 6u);
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    auto ip = pool.Allocate();
    ASSERT_TRUE(ip.has_value());
    EXPECT_TRUE(ip->InPrefix(Ip("10.99.100.0"), 29)) << ip->ToString();
    seen.insert(ip->ToString());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"10.99.100.1", "10.99.100.2",
                                         "10.99.100.3", "10.99.100.4",
                                         "10.99.100.5", "10.99.100.6"}));
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_EQ(pool.allocated(), 6u);
  // A released address is the only one to be had.
  EXPECT_TRUE(pool.Release(Ip("10.99.100.4")));
  EXPECT_FALSE(pool.Release(Ip("10.99.100.4")));
  EXPECT_EQ(pool.Allocate(), Ip("10.99.100.4"));
  EXPECT_FALSE(pool.Allocate().has_value());
}

TEST(AddressPoolTest, ReservedAddressesAreSkipped) {
  AddressPool pool = Pool("10.99.100.0/30");  // .1 .2
  pool.Reserve(Ip("10.99.100.1"));
  pool.Reserve(Ip("10.98.0.1"));  // Outside: ignored.
  EXPECT_EQ(pool.capacity(), 1u);
  EXPECT_EQ(pool.Allocate(), Ip("10.99.100.2"));
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_FALSE(pool.Release(Ip("10.99.100.1")));
}

TEST(AddressPoolTest, PreferredAddressWhenFree) {
  AddressPool pool = Pool("10.99.100.0/24");
  EXPECT_EQ(pool.Allocate(Ip("10.99.100.77")), Ip("10.99.100.77"));
  // Taken: the next free one instead.
  auto other = pool.Allocate(Ip("10.99.100.77"));
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, Ip("10.99.100.77"));
  // Outside the pool, or the broadcast address: ignored.
  auto third = pool.Allocate(Ip("10.99.100.255"));
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(*third, Ip("10.99.100.255"));
  EXPECT_TRUE(pool.IsAllocated(Ip("10.99.100.77")));
  EXPECT_EQ(pool.allocated(), 3u);
}

TEST(AddressPoolTest, SingleAddressPool) {
  AddressPool pool = Pool("10.99.100.9/32");
  EXPECT_EQ(pool.capacity(), 1u);
  EXPECT_EQ(pool.Allocate(), Ip("10.99.100.9"));
  EXPECT_FALSE(pool.Allocate().has_value());
}

TEST(AddressPoolTest, Ipv6PoolMasksThePrefixAndSkipsTheAnycastAddress) {
  AddressPool pool = Pool("fd99::100:5/112");
  EXPECT_EQ(pool.prefix().address, Ip("fd99::100:0"));
  EXPECT_EQ(pool.capacity(), 65535u);
  EXPECT_EQ(pool.Allocate(), Ip("fd99::100:1"));
  EXPECT_EQ(pool.Allocate(), Ip("fd99::100:2"));
  EXPECT_TRUE(pool.Contains(Ip("fd99::100:ffff")));
  EXPECT_FALSE(pool.Contains(Ip("fd99::101:1")));
  EXPECT_FALSE(pool.Contains(Ip("10.0.0.1")));
  // A /64 is capped but works.
  AddressPool big = Pool("fd00:1::/64");
  EXPECT_EQ(big.Allocate(), Ip("fd00:1::1"));
  EXPECT_EQ(big.Allocate(Ip("fd00:1::9abc:def0")), Ip("fd00:1::9abc:def0"));
  // Beyond the first 2^32 addresses: not handed out.
  EXPECT_NE(big.Allocate(Ip("fd00:1::1234:5678:9abc:def0")),
            Ip("fd00:1::1234:5678:9abc:def0"));
}

TEST(AddressPoolTest, RefusesUnusablePrefixes) {
  for (const char* text : {"10.0.0.0/7", "fd00::/63", "fd00::/48"}) {
    auto prefix = ipsec::ParseIpPrefix(text);
    ASSERT_TRUE(prefix.ok()) << text;
    auto pool = AddressPool::Create(*prefix);
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(AddressPoolTest, WrapsAroundAfterReleases) {
  AddressPool pool = Pool("10.0.0.0/29");
  std::vector<IpAddress> got;
  for (int i = 0; i < 6; ++i) got.push_back(*pool.Allocate());
  ASSERT_TRUE(pool.Release(got[1]));
  ASSERT_TRUE(pool.Release(got[5]));
  std::set<std::string> again = {pool.Allocate()->ToString(),
                                 pool.Allocate()->ToString()};
  EXPECT_EQ(again, (std::set<std::string>{got[1].ToString(),
                                          got[5].ToString()}));
}

TEST(IpAddressHashTest, UsableInUnorderedSet) {
  std::unordered_set<IpAddress, IpAddressHash> set;
  set.insert(Ip("10.0.0.1"));
  set.insert(Ip("::a00:1"));
  set.insert(Ip("10.0.0.1"));
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.count(Ip("::a00:1")), 1u);
}

}  // namespace
}  // namespace stow::gateway
