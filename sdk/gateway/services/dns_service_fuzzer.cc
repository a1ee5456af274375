// Fuzz target: arbitrary bytes as a DNS query to the gateway's DNS server
// (DnsTable::Answer, the whole per-query path behind the UDP and TCP
// framing). Besides crashes and sanitizer reports, a finding is a broken
// promise: a reply over the size limit, a reply that does not carry the
// query's ID and QR, a truncated reply with records, a response to a
// message without a header or with QR set.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sdk/gateway/services/dns_service.h"

namespace {

using namespace stow::gateway;  // NOLINT: a fuzz target's one file.

void Check(bool ok) {
  if (!ok) std::abort();
}

const DnsTable& Table() {
  static const DnsTable* table = [] {
    std::vector<DnsRecord> records = {
        {"www.test", stow::IpAddress::V4(10, 1, 2, 3)},
        {"www.test", *stow::IpAddress::Parse("fd00::5")},
        {"a.b.c.test", stow::IpAddress::V4(10, 1, 2, 4)},
    };
    for (int i = 0; i < 40; ++i) {
      records.push_back({"many.test", stow::IpAddress::V4(10, 2, 0, i + 1)});
    }
    return new DnsTable(*DnsTable::Create(records, 60));
  }();
  return *table;
}

uint16_t Get16(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

void Run(const uint8_t* data, size_t size, size_t max_reply) {
  std::vector<uint8_t> reply;
  const DnsTable::Result r =
      Table().Answer(absl::MakeConstSpan(data, size), max_reply, &reply);
  if (r.outcome == DnsOutcome::kDropped) {
    Check(reply.empty());
    Check(size < 12 || (data[2] & 0x80) != 0);
    return;
  }
  Check(size >= 12 && (data[2] & 0x80) == 0);
  Check(reply.size() >= 12 && reply.size() <= max_reply);
  Check(reply[0] == data[0] && reply[1] == data[1]);
  Check((reply[2] & 0x80) != 0);
  Check(Get16(reply, 8) == 0 && Get16(reply, 10) == 0);
  const uint16_t qdcount = Get16(reply, 4);
  const uint16_t ancount = Get16(reply, 6);
  Check(qdcount <= 1);
  if (qdcount == 0) Check(reply.size() == 12 && ancount == 0);
  // The echoed question is a prefix of the query's body.
  if (qdcount == 1) {
    Check(reply.size() > 12 && reply.size() - 12 >= 1);
    const size_t question_end = ancount == 0 ? reply.size() : 0;
    if (question_end != 0) {
      Check(question_end <= size);
      for (size_t i = 12; i < question_end; ++i) Check(reply[i] == data[i]);
    }
  }
  if (r.truncated) {
    Check((reply[2] & 0x02) != 0 && ancount == 0);
    Check(r.outcome == DnsOutcome::kAnswer);
  }
  if (ancount > 0) Check(r.outcome == DnsOutcome::kAnswer);
  if (r.outcome == DnsOutcome::kAnswer && !r.truncated) Check(ancount > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run(data, size, kMaxDnsUdpReply);
  Run(data, size, kMaxDnsTcpReply);
  return 0;
}
