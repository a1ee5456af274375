#include "sdk/dns/cache.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stow::dns {
namespace {

CachedAnswer Addresses(uint8_t last) {
  CachedAnswer a;
  a.kind = CachedAnswer::Kind::kAddresses;
  a.addresses = {IpAddress::V4(10, 0, 0, last)};
  return a;
}

CachedAnswer Negative(CachedAnswer::Kind kind) {
  CachedAnswer a;
  a.kind = kind;
  return a;
}

TEST(AnswerCacheTest, LivesUntilItsDeadline) {
  AnswerCache cache(8);
  const absl::Duration t0 = absl::Seconds(100);
  cache.Insert("www.test", RecordType::kA, Addresses(1), t0,
               absl::Seconds(60));
  absl::optional<CachedAnswer> hit =
      cache.Lookup("www.test", RecordType::kA, t0 + absl::Seconds(59));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->kind, CachedAnswer::Kind::kAddresses);
  EXPECT_EQ(hit->addresses, std::vector<IpAddress>{IpAddress::V4(10, 0, 0, 1)});
  // Keyed by type too.
  EXPECT_FALSE(cache.Lookup("www.test", RecordType::kAaaa, t0).has_value());
  EXPECT_FALSE(cache.Lookup("www.test", RecordType::kA, t0 + absl::Seconds(60))
                   .has_value());
  EXPECT_EQ(cache.size(), 0u);  // The expired entry was dropped.
}

TEST(AnswerCacheTest, NegativeAnswersAndReplacement) {
  AnswerCache cache(8);
  cache.Insert("nope.test", RecordType::kA,
               Negative(CachedAnswer::Kind::kNxDomain), absl::ZeroDuration(),
               absl::Seconds(5));
  cache.Insert("v4.test", RecordType::kAaaa,
               Negative(CachedAnswer::Kind::kNoData), absl::ZeroDuration(),
               absl::Seconds(5));
  EXPECT_EQ(cache.Lookup("nope.test", RecordType::kA, absl::Seconds(1))->kind,
            CachedAnswer::Kind::kNxDomain);
  EXPECT_EQ(cache.Lookup("v4.test", RecordType::kAaaa, absl::Seconds(1))->kind,
            CachedAnswer::Kind::kNoData);
  // A newer answer replaces the old; a zero TTL removes it.
  cache.Insert("nope.test", RecordType::kA, Addresses(2), absl::Seconds(1),
               absl::Seconds(5));
  EXPECT_EQ(cache.Lookup("nope.test", RecordType::kA, absl::Seconds(5))->kind,
            CachedAnswer::Kind::kAddresses);
  cache.Insert("nope.test", RecordType::kA, Addresses(3), absl::Seconds(1),
               absl::ZeroDuration());
  EXPECT_FALSE(
      cache.Lookup("nope.test", RecordType::kA, absl::Seconds(1)).has_value());
  EXPECT_EQ(cache.size(), 1u);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AnswerCacheTest, EvictsTheLeastRecentlyUsed) {
  AnswerCache cache(3);
  const absl::Duration now = absl::ZeroDuration();
  const absl::Duration ttl = absl::Hours(1);
  cache.Insert("a", RecordType::kA, Addresses(1), now, ttl);
  cache.Insert("b", RecordType::kA, Addresses(2), now, ttl);
  cache.Insert("c", RecordType::kA, Addresses(3), now, ttl);
  ASSERT_TRUE(cache.Lookup("a", RecordType::kA, now).has_value());  // a used.
  cache.Insert("d", RecordType::kA, Addresses(4), now, ttl);         // b goes.
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_FALSE(cache.Lookup("b", RecordType::kA, now).has_value());
  EXPECT_TRUE(cache.Lookup("a", RecordType::kA, now).has_value());
  EXPECT_TRUE(cache.Lookup("c", RecordType::kA, now).has_value());
  EXPECT_TRUE(cache.Lookup("d", RecordType::kA, now).has_value());
  // Replacing an entry does not evict another.
  cache.Insert("c", RecordType::kA, Addresses(5), now, ttl);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(AnswerCacheTest, ZeroEntriesDisables) {
  AnswerCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Insert("a", RecordType::kA, Addresses(1), absl::ZeroDuration(),
               absl::Hours(1));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(
      cache.Lookup("a", RecordType::kA, absl::ZeroDuration()).has_value());
}

}  // namespace
}  // namespace stow::dns
