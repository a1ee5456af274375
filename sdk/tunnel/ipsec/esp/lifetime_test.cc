#include "sdk/tunnel/ipsec/esp/lifetime.h"

#include "gtest/gtest.h"

namespace stow::esp {
namespace {

const absl::Time kCreated = absl::FromUnixSeconds(1700000000);

// Admit + Record, as the SAs do for a packet.
bool Pass(Lifetime& l, uint64_t bytes) {
  if (!l.Admit(bytes)) return false;
  l.Record(bytes);
  return true;
}

TEST(LifetimeTest, UnlimitedByDefault) {
  Lifetime l(LifetimeLimits{}, kCreated);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(Pass(l, 65535));
  EXPECT_EQ(l.CheckLifetime(kCreated + absl::Hours(24 * 365 * 100)),
            SaState::kFresh);
  EXPECT_FALSE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.packets(), 1000u);
  EXPECT_EQ(l.bytes(), 1000u * 65535);
}

TEST(LifetimeTest, PacketLimits) {
  LifetimeLimits limits;
  limits.soft_packets = 10;
  limits.hard_packets = 15;
  Lifetime l(limits, kCreated);
  for (int i = 1; i <= 9; ++i) ASSERT_TRUE(Pass(l, 100));
  EXPECT_FALSE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.state(), SaState::kFresh);
  ASSERT_TRUE(Pass(l, 100));  // The 10th packet reaches the soft limit.
  EXPECT_EQ(l.state(), SaState::kRekeyNeeded);
  EXPECT_TRUE(l.TakeRekeyNeeded());
  EXPECT_FALSE(l.TakeRekeyNeeded()) << "one-shot";
  for (int i = 11; i <= 14; ++i) ASSERT_TRUE(Pass(l, 100));
  EXPECT_EQ(l.state(), SaState::kRekeyNeeded);
  ASSERT_TRUE(Pass(l, 100));  // The 15th, the last allowed.
  EXPECT_EQ(l.state(), SaState::kExpired);
  EXPECT_FALSE(Pass(l, 100));
  EXPECT_EQ(l.packets(), 15u);
  EXPECT_FALSE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.CheckLifetime(kCreated), SaState::kExpired);
}

TEST(LifetimeTest, ByteLimitsAreNeverExceeded) {
  LifetimeLimits limits;
  limits.soft_bytes = 1000;
  limits.hard_bytes = 1500;
  Lifetime l(limits, kCreated);
  ASSERT_TRUE(Pass(l, 999));
  EXPECT_FALSE(l.TakeRekeyNeeded());
  ASSERT_TRUE(Pass(l, 1));  // 1000: soft.
  EXPECT_TRUE(l.TakeRekeyNeeded());
  ASSERT_TRUE(Pass(l, 400));  // 1400.
  EXPECT_EQ(l.state(), SaState::kRekeyNeeded);
  // 1400 + 101 would pass 1500: refused, and the SA is done.
  EXPECT_FALSE(Pass(l, 101));
  EXPECT_EQ(l.state(), SaState::kExpired);
  EXPECT_FALSE(Pass(l, 1));
  EXPECT_EQ(l.bytes(), 1400u);
}

TEST(LifetimeTest, ByteLimitReachedExactlyExpires) {
  LifetimeLimits limits;
  limits.hard_bytes = 300;
  Lifetime l(limits, kCreated);
  ASSERT_TRUE(Pass(l, 200));
  ASSERT_TRUE(Pass(l, 100));
  EXPECT_EQ(l.state(), SaState::kExpired);
  EXPECT_FALSE(Pass(l, 0));
}

TEST(LifetimeTest, TimeLimits) {
  LifetimeLimits limits;
  limits.soft_time = absl::Seconds(100);
  limits.hard_time = absl::Seconds(120);
  Lifetime l(limits, kCreated);
  EXPECT_EQ(l.CheckLifetime(kCreated), SaState::kFresh);
  EXPECT_EQ(
      l.CheckLifetime(kCreated + absl::Seconds(100) - absl::Nanoseconds(1)),
      SaState::kFresh);
  EXPECT_FALSE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.CheckLifetime(kCreated + absl::Seconds(100)),
            SaState::kRekeyNeeded);
  EXPECT_TRUE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.CheckLifetime(kCreated + absl::Seconds(110)),
            SaState::kRekeyNeeded);
  EXPECT_FALSE(l.TakeRekeyNeeded());
  ASSERT_TRUE(Pass(l, 10));
  EXPECT_EQ(
      l.CheckLifetime(kCreated + absl::Seconds(120) - absl::Nanoseconds(1)),
      SaState::kRekeyNeeded);
  EXPECT_EQ(l.CheckLifetime(kCreated + absl::Seconds(120)), SaState::kExpired);
  EXPECT_FALSE(Pass(l, 10)) << "expired by time refuses traffic";
  // Time going backwards does not revive it.
  EXPECT_EQ(l.CheckLifetime(kCreated), SaState::kExpired);
}

TEST(LifetimeTest, SoftAboveHardActsAtHard) {
  LifetimeLimits limits;
  limits.soft_packets = 100;
  limits.hard_packets = 3;
  limits.soft_time = absl::Hours(2);
  limits.hard_time = absl::Hours(1);
  Lifetime l(limits, kCreated);
  EXPECT_EQ(l.CheckLifetime(kCreated + absl::Minutes(59)), SaState::kFresh);
  ASSERT_TRUE(Pass(l, 1));
  ASSERT_TRUE(Pass(l, 1));
  EXPECT_FALSE(l.TakeRekeyNeeded());
  ASSERT_TRUE(Pass(l, 1));
  EXPECT_TRUE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.state(), SaState::kExpired);
}

TEST(LifetimeTest, MarkSoftAndExpire) {
  Lifetime l(LifetimeLimits{}, kCreated);
  l.MarkSoft();
  l.MarkSoft();
  EXPECT_TRUE(l.TakeRekeyNeeded());
  EXPECT_FALSE(l.TakeRekeyNeeded());
  EXPECT_EQ(l.state(), SaState::kRekeyNeeded);
  l.Expire();
  EXPECT_EQ(l.state(), SaState::kExpired);
  EXPECT_STREQ(SaStateName(l.state()), "expired");
}

}  // namespace
}  // namespace stow::esp
