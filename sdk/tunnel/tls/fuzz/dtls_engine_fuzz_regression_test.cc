// Runs dtls_engine_fuzzer over seeds built from a real handshake (the
// ClientHello, the server's flight, an application record), mutations of
// them and random datagrams, in every test run and under ASan/UBSan;
// tools/fuzz.sh runs the manual cc_binary under libFuzzer.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/tunnel/tls/dtls_engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stow::tunnel::tls {
namespace {

using Datagrams = std::vector<std::vector<uint8_t>>;

// Frames datagrams as the fuzzer reads them: 2-byte length, bytes.
std::string Frame(const Datagrams& ds) {
  std::string s;
  for (const auto& d : ds) {
    s.push_back(static_cast<char>(d.size() >> 8));
    s.push_back(static_cast<char>(d.size() & 0xff));
    s.append(d.begin(), d.end());
  }
  return s;
}

std::vector<std::string> Seeds() {
  DtlsClientOptions o;
  o.psk = std::vector<uint8_t>(32, 0x5a);
  o.session_id = std::vector<uint8_t>(32, 0x11);
  auto client = *DtlsEngine::Client(o);
  auto server = *DtlsEngine::Server(
      [&](absl::Span<const uint8_t>) -> absl::optional<std::vector<uint8_t>> {
        return o.psk;
      });
  client->Start();
  Datagrams hello, flight, finish, last, record;
  client->TakeDatagrams(&hello);
  for (auto& d : hello) server->FeedDatagram(d);
  server->TakeDatagrams(&flight);
  for (auto& d : flight) client->FeedDatagram(d);
  client->TakeDatagrams(&finish);
  for (auto& d : finish) server->FeedDatagram(d);
  server->TakeDatagrams(&last);
  for (auto& d : last) client->FeedDatagram(d);
  EXPECT_EQ(client->state(), DtlsEngine::State::kEstablished);
  EXPECT_TRUE(client->WriteRecord(std::vector<uint8_t>(100, 7)).ok());
  client->TakeDatagrams(&record);
  return {
      Frame(hello),  Frame(flight),
      Frame(finish), Frame(last),
      Frame(record), Frame({hello[0], hello[0], std::vector<uint8_t>(13, 22)})};
}

TEST(DtlsEngineFuzzRegressionTest, SeedsMutationsAndRandomInputs) {
  std::mt19937 rng(20261122);
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& s : seeds) {
    ASSERT_FALSE(s.empty());
    ASSERT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()),
                                     s.size()),
              0);
  }
  for (int i = 0; i < 1500; ++i) {
    std::string input;
    if (i % 2 == 0) {
      input = seeds[rng() % seeds.size()];
      for (int m = 0; m < 1 + static_cast<int>(rng() % 6); ++m) {
        // Leave the 2-byte length prefix of the first datagram alone most
        // of the time so that the mutation lands inside a real message.
        size_t at = input.size() > 2 ? 2 + rng() % (input.size() - 2) : 0;
        input[at] = static_cast<char>(rng());
      }
      if (rng() % 4 == 0) input.resize(rng() % input.size());
    } else {
      input.resize(rng() % 600);
      for (char& c : input) c = static_cast<char>(rng());
    }
    ASSERT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(input.data()), input.size()),
              0);
  }
}

}  // namespace
}  // namespace stow::tunnel::tls
