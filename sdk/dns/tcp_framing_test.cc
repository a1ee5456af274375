#include "sdk/dns/tcp_framing.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace stow::dns {
namespace {

using State = TcpMessageReader::State;

std::vector<uint8_t> Message(size_t n) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i * 7 + 1);
  return m;
}

TEST(FrameTcpMessageTest, PrefixesTheLength) {
  const std::vector<uint8_t> m = Message(300);
  absl::StatusOr<std::vector<uint8_t>> framed = FrameTcpMessage(m);
  ASSERT_TRUE(framed.ok()) << framed.status();
  ASSERT_EQ(framed->size(), 302u);
  EXPECT_EQ((*framed)[0], 0x01);
  EXPECT_EQ((*framed)[1], 0x2C);
  EXPECT_EQ(std::vector<uint8_t>(framed->begin() + 2, framed->end()), m);
  EXPECT_TRUE(FrameTcpMessage(Message(kMaxTcpMessage)).ok());
  EXPECT_EQ(FrameTcpMessage(Message(kMaxTcpMessage + 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TcpMessageReaderTest, WholeMessageInOnePiece) {
  const std::vector<uint8_t> m = Message(40);
  std::vector<uint8_t> stream = *FrameTcpMessage(m);
  const std::vector<uint8_t> next = {0, 12, 9, 9};  // A next message's start.
  stream.insert(stream.end(), next.begin(), next.end());
  TcpMessageReader reader;
  EXPECT_EQ(reader.Feed(stream), 42u);  // The next message is left alone.
  ASSERT_EQ(reader.state(), State::kComplete);
  EXPECT_EQ(std::vector<uint8_t>(reader.message().begin(),
                                 reader.message().end()),
            m);
  EXPECT_EQ(reader.Feed(stream), 0u);  // Nothing more once complete.
  reader.Reset();
  EXPECT_EQ(reader.state(), State::kNeedMore);
  EXPECT_EQ(reader.announced_length(), 0u);
}

// Every way of cutting the stream in two, and one byte at a time: the
// prefix itself may arrive split.
TEST(TcpMessageReaderTest, PartialReads) {
  const std::vector<uint8_t> m = Message(300);
  const std::vector<uint8_t> stream = *FrameTcpMessage(m);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    TcpMessageReader reader;
    const absl::Span<const uint8_t> all(stream);
    EXPECT_EQ(reader.Feed(all.first(cut)), cut);
    if (cut < stream.size()) {
      EXPECT_EQ(reader.state(), State::kNeedMore) << cut;
      EXPECT_EQ(reader.announced_length(), cut >= 2 ? 300u : 0u) << cut;
    }
    EXPECT_EQ(reader.Feed(all.subspan(cut)), stream.size() - cut);
    ASSERT_EQ(reader.state(), State::kComplete) << cut;
    EXPECT_EQ(reader.message().size(), 300u);
    EXPECT_TRUE(std::equal(m.begin(), m.end(), reader.message().begin()));
  }
  TcpMessageReader bytewise;
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_EQ(bytewise.state(), State::kNeedMore) << i;
    ASSERT_EQ(bytewise.Feed(absl::MakeConstSpan(&stream[i], 1)), 1u);
  }
  ASSERT_EQ(bytewise.state(), State::kComplete);
  EXPECT_TRUE(std::equal(m.begin(), m.end(), bytewise.message().begin()));
}

TEST(TcpMessageReaderTest, LengthShorterThanAHeaderIsRefused) {
  for (uint8_t len : {0, 1, 5, 11}) {
    TcpMessageReader reader;
    const std::vector<uint8_t> stream = {0, len, 1, 2, 3, 4, 5};
    EXPECT_EQ(reader.Feed(stream), 2u);
    EXPECT_EQ(reader.state(), State::kError) << int{len};
    EXPECT_NE(reader.error().find("shorter than a DNS header"),
              std::string::npos)
        << reader.error();
    EXPECT_EQ(reader.Feed(stream), 0u);
  }
  TcpMessageReader twelve;
  const std::vector<uint8_t> ok = {0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(twelve.Feed(ok), 14u);
  EXPECT_EQ(twelve.state(), State::kComplete);
}

TEST(TcpMessageReaderTest, LargestMessage) {
  const std::vector<uint8_t> m = Message(kMaxTcpMessage);
  const std::vector<uint8_t> stream = *FrameTcpMessage(m);
  TcpMessageReader reader;
  size_t used = 0;
  while (used < stream.size()) {
    used += reader.Feed(absl::MakeConstSpan(stream).subspan(
        used, std::min<size_t>(1000, stream.size() - used)));
  }
  ASSERT_EQ(reader.state(), State::kComplete);
  EXPECT_EQ(reader.announced_length(), kMaxTcpMessage);
  EXPECT_TRUE(std::equal(m.begin(), m.end(), reader.message().begin()));
}

}  // namespace
}  // namespace stow::dns
