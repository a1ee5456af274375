#include "sdk/gateway/services/dns_service.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "sdk/dns/message.h"

namespace stow::gateway {
namespace {

using netstack::TcpConnection;

// Header flag bits (RFC 1035 4.1.1).
constexpr uint16_t kQr = 0x8000;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kAa = 0x0400;
constexpr uint16_t kTc = 0x0200;
constexpr uint16_t kRd = 0x0100;

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeAny = 255;
// Meta query types this server does not implement: IXFR, AXFR, MAILB, MAILA.
constexpr uint16_t kFirstMetaType = 251;
constexpr uint16_t kLastMetaType = 254;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kClassAny = 255;

// Longest name on the wire, the root label included (RFC 1035 2.3.4).
constexpr size_t kMaxWireName = 255;
// Each answer: a pointer to the question's name (2), TYPE, CLASS, TTL,
// RDLENGTH (10), then RDATA.
constexpr size_t kRecordOverhead = 12;
// A compression pointer to offset 12, where the question's name starts.
constexpr uint8_t kNamePointer[2] = {0xC0, 0x0C};

// TCP: bytes asked of the stack per read.
constexpr size_t kTcpReadChunk = 16 * 1024;

uint16_t Get16(absl::Span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

void Put16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}

void Put32(std::vector<uint8_t>* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

// Writes a header: the query's ID, QR and `flags`, the four counts.
void PutHeader(absl::Span<const uint8_t> query, uint16_t flags,
               uint16_t qdcount, uint16_t ancount,
               std::vector<uint8_t>* out) {
  out->push_back(query[0]);
  out->push_back(query[1]);
  Put16(out, static_cast<uint16_t>(kQr | flags));
  Put16(out, qdcount);
  Put16(out, ancount);
  Put16(out, 0);
  Put16(out, 0);
}

// The wire form of a normalized text name (labels already checked), without
// the root label: the table's key.
std::string WireKey(absl::string_view normalized) {
  std::string key;
  for (absl::string_view label : absl::StrSplit(normalized, '.')) {
    key.push_back(static_cast<char>(label.size()));
    key.append(label.data(), label.size());
  }
  return key;
}

}  // namespace

absl::StatusOr<std::vector<DnsRecord>> ParseDnsRecords(
    const std::vector<std::string>& specs) {
  std::vector<DnsRecord> records;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", spec, "\": expected name=address"));
    }
    absl::StatusOr<std::string> name = dns::NormalizeName(spec.substr(0, eq));
    if (!name.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", spec, "\": ", name.status().message()));
    }
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(spec.substr(eq + 1));
    if (!ip.ok() || ip->IsUnspecified()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", spec, "\": not an IP address"));
    }
    records.push_back({*std::move(name), *ip});
  }
  return records;
}

// ---- DnsTable ----

absl::StatusOr<DnsTable> DnsTable::Create(
    const std::vector<DnsRecord>& records, uint32_t ttl) {
  DnsTable table;
  // TTLs are unsigned 31-bit on the wire (RFC 2181 8).
  if (ttl > 0x7FFFFFFFu) {
    return absl::InvalidArgumentError("DNS TTL above 2^31 - 1");
  }
  table.ttl_ = ttl;
  for (const DnsRecord& record : records) {
    absl::StatusOr<std::string> name = dns::NormalizeName(record.name);
    if (!name.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS record \"", record.name, "\": ", name.status().message()));
    }
    if (record.address.IsUnspecified()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS record \"", record.name, "\": unspecified address"));
    }
    const std::string key = WireKey(*name);
    Entry& entry = table.names_[key];
    std::vector<std::vector<uint8_t>>& list =
        record.address.is_v4() ? entry.a : entry.aaaa;
    std::vector<uint8_t> rdata(record.address.bytes().begin(),
                               record.address.bytes().end());
    if (std::find(list.begin(), list.end(), rdata) == list.end()) {
      list.push_back(std::move(rdata));
    }
    // Every proper suffix: strip one label at a time, down to the root.
    for (size_t at = 0; at < key.size();) {
      at += 1 + static_cast<uint8_t>(key[at]);
      table.ancestors_.insert(key.substr(at));
    }
  }
  return table;
}

DnsTable::Result DnsTable::Answer(absl::Span<const uint8_t> query,
                                  size_t max_reply,
                                  std::vector<uint8_t>* reply) const {
  reply->clear();
  if (query.size() < dns::kHeaderSize) return {DnsOutcome::kDropped, false};
  const uint16_t flags = Get16(query, 2);
  // Never answer a response: two servers would answer each other forever.
  if ((flags & kQr) != 0) return {DnsOutcome::kDropped, false};
  const uint16_t rd = flags & kRd;

  // Header-only errors keep the opcode (RFC 1035 4.1.1) and RD.
  auto header_only = [&](dns::Rcode rcode, DnsOutcome outcome) {
    PutHeader(query,
              static_cast<uint16_t>((flags & kOpcodeMask) | rd |
                                    static_cast<uint16_t>(rcode)),
              0, 0, reply);
    return Result{outcome, false};
  };
  if ((flags & kOpcodeMask) != 0) {
    return header_only(dns::Rcode::kNotImp, DnsOutcome::kNotImp);
  }
  const uint16_t qdcount = Get16(query, 4);
  const uint16_t ancount = Get16(query, 6);
  const uint16_t nscount = Get16(query, 8);
  const uint16_t arcount = Get16(query, 10);
  if (qdcount != 1 || ancount != 0 || nscount != 0) {
    return header_only(dns::Rcode::kFormErr, DnsOutcome::kFormErr);
  }

  // The question: uncompressed labels (nothing precedes it that a pointer
  // could sensibly name), QTYPE, QCLASS.
  std::string key;
  size_t pos = dns::kHeaderSize;
  while (true) {
    if (pos >= query.size()) {
      return header_only(dns::Rcode::kFormErr, DnsOutcome::kFormErr);
    }
    const uint8_t len = query[pos++];
    if (len == 0) break;
    // Pointers (0xC0) and the extended label types (0x40, 0x80) are above
    // the 63-byte label limit.
    if (len > dns::kMaxLabelLength || query.size() - pos < len ||
        key.size() + 1 + len + 1 > kMaxWireName) {
      return header_only(dns::Rcode::kFormErr, DnsOutcome::kFormErr);
    }
    key.push_back(static_cast<char>(len));
    for (size_t i = 0; i < len; ++i) {
      key.push_back(absl::ascii_tolower(static_cast<char>(query[pos + i])));
    }
    pos += len;
  }
  if (query.size() - pos < 4) {
    return header_only(dns::Rcode::kFormErr, DnsOutcome::kFormErr);
  }
  const uint16_t qtype = Get16(query, pos);
  const uint16_t qclass = Get16(query, pos + 2);
  pos += 4;
  // Additional records (an EDNS OPT) are skipped unread; without them
  // nothing may follow the question.
  if (arcount == 0 && pos != query.size()) {
    return header_only(dns::Rcode::kFormErr, DnsOutcome::kFormErr);
  }
  const absl::Span<const uint8_t> question =
      query.subspan(dns::kHeaderSize, pos - dns::kHeaderSize);

  auto with_question = [&](uint16_t reply_flags, uint16_t ancount_out) {
    PutHeader(query, static_cast<uint16_t>(reply_flags | rd), 1, ancount_out,
              reply);
    reply->insert(reply->end(), question.begin(), question.end());
  };
  if (qclass != kClassIn && qclass != kClassAny) {
    with_question(static_cast<uint16_t>(dns::Rcode::kRefused), 0);
    return {DnsOutcome::kRefused, false};
  }
  if (qtype >= kFirstMetaType && qtype <= kLastMetaType) {
    with_question(static_cast<uint16_t>(dns::Rcode::kNotImp), 0);
    return {DnsOutcome::kNotImp, false};
  }

  // Records of the asked type(s), A before AAAA.
  std::vector<std::pair<uint16_t, const std::vector<uint8_t>*>> answers;
  auto it = names_.find(key);
  if (it == names_.end()) {
    if (ancestors_.count(key) == 0) {
      with_question(
          static_cast<uint16_t>(kAa | static_cast<uint16_t>(
                                          dns::Rcode::kNxDomain)),
          0);
      return {DnsOutcome::kNxDomain, false};
    }
  } else {
    if (qtype == kTypeA || qtype == kTypeAny) {
      for (const auto& rdata : it->second.a) {
        answers.push_back({kTypeA, &rdata});
      }
    }
    if (qtype == kTypeAaaa || qtype == kTypeAny) {
      for (const auto& rdata : it->second.aaaa) {
        answers.push_back({kTypeAaaa, &rdata});
      }
    }
  }
  if (answers.empty()) {
    with_question(kAa, 0);
    return {DnsOutcome::kNoData, false};
  }
  size_t size = dns::kHeaderSize + question.size();
  for (const auto& answer : answers) {
    size += kRecordOverhead + answer.second->size();
  }
  if (size > std::max(max_reply, kMaxDnsUdpReply) || answers.size() > 0xFFFF) {
    with_question(static_cast<uint16_t>(kAa | kTc), 0);
    return {DnsOutcome::kAnswer, true};
  }
  reply->reserve(size);
  with_question(kAa, static_cast<uint16_t>(answers.size()));
  for (const auto& [type, rdata] : answers) {
    reply->insert(reply->end(), std::begin(kNamePointer),
                  std::end(kNamePointer));
    Put16(reply, type);
    Put16(reply, kClassIn);
    Put32(reply, ttl_);
    Put16(reply, static_cast<uint16_t>(rdata->size()));
    reply->insert(reply->end(), rdata->begin(), rdata->end());
  }
  return {DnsOutcome::kAnswer, false};
}

// ---- UDP ----

class DnsService::UdpServer : public netstack::UdpEndpoint::Delegate {
 public:
  explicit UdpServer(DnsService* owner) : owner_(owner) {}
  void OnDatagram(absl::Span<const uint8_t> payload,
                  const SocketAddress& from) override {
    DnsCounters& c = *owner_->counters_;
    c.udp_queries++;
    DnsTable::Result result =
        owner_->table_.Answer(payload, kMaxDnsUdpReply, &owner_->scratch_);
    owner_->Count(result);
    if (result.outcome == DnsOutcome::kDropped) return;
    if (!endpoint->SendTo(owner_->scratch_, from).ok()) c.send_errors++;
  }
  std::unique_ptr<netstack::UdpEndpoint> endpoint;

 private:
  DnsService* const owner_;  // Not owned.
};

// ---- TCP ----

class DnsService::Acceptor : public netstack::TcpListener::Delegate {
 public:
  explicit Acceptor(DnsService* owner) : owner_(owner) {}
  void OnAccept(std::unique_ptr<TcpConnection> connection) override {
    owner_->Accept(std::move(connection));
  }
  std::unique_ptr<netstack::TcpListener> listener;

 private:
  DnsService* const owner_;  // Not owned.
};

// One TCP connection: reads length-prefixed queries, answers each in
// order. Reads only while every answer so far is in the stack's send
// buffer, so a client that does not read closes its own window. Ends
// exactly once (End()); the owner deletes it on a later loop turn.
class DnsService::Session : public TcpConnection::Delegate {
 public:
  Session(DnsService* owner, std::unique_ptr<TcpConnection> conn)
      : owner_(owner),
        conn_(std::move(conn)),
        idle_(owner->loop_->NewTimer([this] { OnIdle(); })) {
    conn_->set_delegate(this);
  }

  void Start() { idle_->Start(owner_->config_.tcp_idle_timeout); }

  // Owner teardown: resets the connection without going through Retire.
  void AbortNow() {
    if (done_) return;
    done_ = true;
    conn_->Abort();
    idle_->Stop();
    owner_->counters_->tcp_active--;
    owner_->counters_->tcp_closed++;
  }

  void OnReadable() override { Pump(); }
  void OnWritable() override { Pump(); }
  void OnError(absl::Status) override { End(/*error=*/true); }

  std::list<std::unique_ptr<Session>>::iterator position;

 private:
  void Pump() {
    while (!done_) {
      if (!Flush()) return;
      if (AnswerOne()) continue;
      if (done_) return;
      // One incomplete message plus one read at most.
      const size_t old = in_.size();
      in_.resize(old + kTcpReadChunk);
      const size_t n = conn_->Read(absl::MakeSpan(in_).subspan(old));
      in_.resize(old + n);
      if (n == 0) break;
      Progress();
    }
    if (done_ || !conn_->peer_closed() || conn_->readable_bytes() > 0) return;
    // The client finished sending and everything it sent is answered (and
    // in the send buffer); a partial message left over is cut off.
    conn_->Close();
    End(/*error=*/in_begin_ != in_.size());
  }

  // Answers the first complete message in in_, if there is one. False when
  // there is none yet, or when the session ended.
  bool AnswerOne() {
    const size_t have = in_.size() - in_begin_;
    if (have < 2) return Compact();
    const size_t len = Get16(in_, in_begin_);
    DnsCounters& c = *owner_->counters_;
    if (len < dns::kHeaderSize) {
      c.tcp_queries++;
      c.dropped++;
      Fail();
      return false;
    }
    if (have < 2 + len) return Compact();
    c.tcp_queries++;
    const absl::Span<const uint8_t> query =
        absl::MakeConstSpan(in_).subspan(in_begin_ + 2, len);
    DnsTable::Result result =
        owner_->table_.Answer(query, kMaxDnsTcpReply, &reply_);
    owner_->Count(result);
    in_begin_ += 2 + len;
    if (result.outcome == DnsOutcome::kDropped) {
      Fail();
      return false;
    }
    Put16(&out_, static_cast<uint16_t>(reply_.size()));
    out_.insert(out_.end(), reply_.begin(), reply_.end());
    return true;
  }

  // Drops consumed input from the buffer; returns false (for AnswerOne).
  bool Compact() {
    in_.erase(in_.begin(), in_.begin() + in_begin_);
    in_begin_ = 0;
    return false;
  }

  // Writes what the stack takes of out_; true once it is all written.
  bool Flush() {
    while (!done_ && out_begin_ < out_.size()) {
      absl::StatusOr<size_t> n = conn_->Write(
          absl::MakeConstSpan(out_).subspan(out_begin_));
      if (!n.ok()) {
        Fail();
        return false;
      }
      if (*n == 0) return false;
      out_begin_ += *n;
      Progress();
    }
    if (done_) return false;
    out_.clear();
    out_begin_ = 0;
    return true;
  }

  void Progress() { idle_->Start(owner_->config_.tcp_idle_timeout); }

  void OnIdle() {
    if (done_) return;
    owner_->counters_->tcp_idle_timeouts++;
    // Quiet between queries: a normal end. Mid-query or with answers the
    // client does not take: reset.
    if (in_begin_ == in_.size() && out_begin_ == out_.size() &&
        conn_->readable_bytes() == 0) {
      conn_->Close();
      End(/*error=*/false);
    } else {
      Fail();
    }
  }

  void Fail() {
    conn_->Abort();
    End(/*error=*/true);
  }

  void End(bool error) {
    if (done_) return;
    done_ = true;
    idle_->Stop();
    DnsCounters& c = *owner_->counters_;
    c.tcp_active--;
    c.tcp_closed++;
    if (error) c.tcp_errors++;
    owner_->Retire(this);
  }

  DnsService* const owner_;  // Not owned.
  std::unique_ptr<TcpConnection> conn_;
  std::unique_ptr<event::Timer> idle_;
  bool done_ = false;
  std::vector<uint8_t> in_;
  size_t in_begin_ = 0;
  std::vector<uint8_t> reply_;
  std::vector<uint8_t> out_;
  size_t out_begin_ = 0;
};

// ---- DnsService ----

DnsService::DnsService(netstack::Stack* stack, const DnsServiceConfig& config,
                       DnsTable table, DnsCounters* counters)
    : stack_(stack),
      loop_(stack->loop()),
      config_(config),
      table_(std::move(table)),
      counters_(counters != nullptr ? counters : &own_counters_),
      reaper_(stack->loop()->NewTimer([this] { Reap(); })) {}

absl::StatusOr<std::unique_ptr<DnsService>> DnsService::Start(
    netstack::Stack* stack, const DnsServiceConfig& config,
    DnsCounters* counters) {
  if (config.addresses.empty()) {
    return absl::InvalidArgumentError("DNS needs at least one address");
  }
  if (config.port == 0) return absl::InvalidArgumentError("DNS port 0");
  if (config.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be positive");
  }
  absl::StatusOr<DnsTable> table = DnsTable::Create(config.records, config.ttl);
  if (!table.ok()) return table.status();
  std::unique_ptr<DnsService> service(
      new DnsService(stack, config, *std::move(table), counters));
  for (const IpAddress& ip : config.addresses) {
    const SocketAddress local(ip, config.port);
    auto udp = std::make_unique<UdpServer>(service.get());
    absl::StatusOr<std::unique_ptr<netstack::UdpEndpoint>> endpoint =
        netstack::UdpEndpoint::Bind(stack, local, udp.get());
    if (!endpoint.ok()) return endpoint.status();
    udp->endpoint = *std::move(endpoint);
    service->udp_.push_back(std::move(udp));

    auto acceptor = std::make_unique<Acceptor>(service.get());
    absl::StatusOr<std::unique_ptr<netstack::TcpListener>> listener =
        netstack::TcpListener::Listen(stack, local, acceptor.get());
    if (!listener.ok()) return listener.status();
    acceptor->listener = *std::move(listener);
    service->acceptors_.push_back(std::move(acceptor));
  }
  return service;
}

DnsService::~DnsService() {
  acceptors_.clear();
  udp_.clear();
  for (std::unique_ptr<Session>& session : sessions_) session->AbortNow();
  sessions_.clear();
  retired_.clear();
  reaper_.reset();
}

void DnsService::Count(const DnsTable::Result& result) {
  DnsCounters& c = *counters_;
  if (result.truncated) c.truncated++;
  switch (result.outcome) {
    case DnsOutcome::kAnswer:
      c.answers++;
      break;
    case DnsOutcome::kNoData:
      c.nodata++;
      break;
    case DnsOutcome::kNxDomain:
      c.nxdomain++;
      break;
    case DnsOutcome::kFormErr:
      c.formerr++;
      break;
    case DnsOutcome::kNotImp:
      c.notimp++;
      break;
    case DnsOutcome::kRefused:
      c.refused++;
      break;
    case DnsOutcome::kDropped:
      c.dropped++;
      break;
  }
}

void DnsService::Accept(std::unique_ptr<TcpConnection> conn) {
  if (sessions_.size() >= config_.max_connections) {
    conn->Abort();
    counters_->tcp_rejected++;
    return;
  }
  counters_->tcp_accepted++;
  counters_->tcp_active++;
  auto session = std::make_unique<Session>(this, std::move(conn));
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  raw->position = std::prev(sessions_.end());
  raw->Start();
}

void DnsService::Retire(Session* session) {
  retired_.push_back(std::move(*session->position));
  sessions_.erase(session->position);
  reaper_->Start(absl::ZeroDuration());
}

void DnsService::Reap() {
  std::vector<std::unique_ptr<Session>> batch;
  batch.swap(retired_);
}

}  // namespace stow::gateway
