#include "sdk/tunnel/tls/cstp.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stow::tunnel::tls {
namespace {

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Example bytes from the decrypted ocserv 1.1.6 / openconnect 9.01 captures
// (shared/interop/ocserv/README.md).
TEST(CstpTest, BuildersMatchCapturedBytes) {
  EXPECT_EQ(BuildCstpDpdRequest(), Hex("5354460100000300"));
  EXPECT_EQ(BuildCstpDpdResponse(), Hex("5354460100000400"));
  EXPECT_EQ(BuildCstpKeepalive(), Hex("5354460100000700"));
  EXPECT_EQ(BuildCstpTerminate(), Hex("5354460100000900"));
  EXPECT_EQ(BuildCstpDisconnect("Aborted by caller"),
            Hex("5354460100120500b041626f727465642062792063616c6c6572"));
  const std::vector<uint8_t> pkt = {0x45, 1, 2, 3};
  EXPECT_EQ(*BuildCstpData(pkt), Hex("535446010004000045010203"));
  EXPECT_FALSE(BuildCstpData(std::vector<uint8_t>(65536)).ok());
  EXPECT_TRUE(BuildCstpData(std::vector<uint8_t>(65535)).ok());
}

TEST(CstpTest, ReadsFramesFedOneByteAtATime) {
  std::vector<uint8_t> stream;
  for (auto f : {Hex("5354460100120500b041626f727465642062792063616c6c6572"),
                 BuildCstpKeepalive(), *BuildCstpData({0x60, 0, 0}),
                 Hex("5354460100020600abcd") /* unknown type 6 */,
                 Hex("5354460100000500")}) {
    stream.insert(stream.end(), f.begin(), f.end());
  }
  CstpReader reader;
  std::vector<CstpFrame> frames;
  for (uint8_t b : stream) {
    reader.Append({&b, 1});
    CstpFrame f;
    while (reader.Next(&f) == CstpReadResult::kFrame) frames.push_back(f);
  }
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_TRUE(frames[0].is(CstpType::kDisconnect));
  CstpDisconnect d = ParseCstpDisconnect(frames[0].payload);
  EXPECT_TRUE(d.has_code);
  EXPECT_EQ(d.code, 0xb0);
  EXPECT_EQ(d.text, "Aborted by caller");
  EXPECT_TRUE(frames[1].is(CstpType::kKeepalive));
  EXPECT_TRUE(frames[1].payload.empty());
  EXPECT_TRUE(frames[2].is(CstpType::kData));
  EXPECT_EQ(frames[2].payload, (std::vector<uint8_t>{0x60, 0, 0}));
  EXPECT_EQ(frames[3].type, 6);
  EXPECT_FALSE(frames[3].known());
  EXPECT_STREQ(CstpTypeName(frames[3].type), "UNKNOWN");
  EXPECT_EQ(frames[3].payload, Hex("abcd"));
  EXPECT_FALSE(ParseCstpDisconnect(frames[4].payload).has_code);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(CstpTest, ReadsManyFramesInOnePiece) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 1000; ++i) {
    auto f = *BuildCstpData(std::vector<uint8_t>(i % 300, uint8_t(i)));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  CstpReader reader(1500);
  reader.Append(stream);
  CstpFrame f;
  int n = 0;
  while (reader.Next(&f) == CstpReadResult::kFrame) {
    ASSERT_EQ(f.payload.size(), static_cast<size_t>(n % 300));
    ++n;
  }
  EXPECT_EQ(n, 1000);
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kNeedMore);
}

TEST(CstpTest, BadMagicIsStickyAndEarly) {
  CstpReader reader;
  const uint8_t bad[] = {'S', 'T', 'X'};
  reader.Append(bad);
  CstpFrame f;
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kBadMagic);
  reader.Append(BuildCstpKeepalive());
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kBadMagic);
  EXPECT_EQ(reader.error(), CstpReadResult::kBadMagic);
  // Version byte other than 1.
  CstpReader r2;
  r2.Append(Hex("5354460200000700"));
  EXPECT_EQ(r2.Next(&f), CstpReadResult::kBadMagic);
}

TEST(CstpTest, OversizedLengthIsAnError) {
  CstpReader reader(1500);
  reader.Append(Hex("53544601"));
  CstpFrame f;
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kNeedMore);
  reader.Append(Hex("05dd0000"));  // 1501
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kTooLarge);
  CstpReader ok(1500);
  ok.Append(*BuildCstpData(std::vector<uint8_t>(1500)));
  EXPECT_EQ(ok.Next(&f), CstpReadResult::kFrame);
  EXPECT_EQ(f.payload.size(), 1500u);
}

TEST(CstpTest, TruncatedFrameWaits) {
  CstpReader reader;
  auto frame = *BuildCstpData({1, 2, 3, 4, 5});
  reader.Append(absl::MakeConstSpan(frame).first(frame.size() - 1));
  CstpFrame f;
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kNeedMore);
  EXPECT_EQ(reader.buffered(), frame.size() - 1);
  reader.Append(absl::MakeConstSpan(frame).last(1));
  EXPECT_EQ(reader.Next(&f), CstpReadResult::kFrame);
}

}  // namespace
}  // namespace stow::tunnel::tls
