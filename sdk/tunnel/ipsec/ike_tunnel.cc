#include "sdk/tunnel/ipsec/ike_tunnel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"

namespace stow::ipsec {
namespace {

// Socket buffers for bursts of a 2 MiB TCP window in 1400-byte packets (as
// EspTunnel).
constexpr int kSocketBuffer = 8 << 20;
// CHILD SAs kept for receiving: the newest, the one it replaces, and some
// slack should a gateway be slow to delete replaced ones.
constexpr size_t kMaxChildren = 4;

constexpr uint8_t kNonEspMarker[esp::kNonEspMarkerSize] = {0, 0, 0, 0};

// The source address the kernel picks towards `remote`: a connected UDP
// socket sends nothing, and getsockname() then tells. NAT detection hashes
// our address, so binding to this one makes the hash match what the
// gateway sees when no NAT is in between.
// TODO: belongs in sdk/event (UdpSocket::Connect or a route lookup helper).
absl::StatusOr<IpAddress> SourceAddressFor(const SocketAddress& remote) {
  sockaddr_storage to;
  const socklen_t to_len = remote.ToSockaddr(&to);
  const int fd = ::socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  const bool ok =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&to), to_len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) {
    return absl::UnavailableError(absl::StrCat(
        "no route to ", remote.ToString(), ": ", std::strerror(error)));
  }
  auto address = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&local));
  if (!address.ok()) return address.status();
  return address->ip();
}

// Adds `from` into `into`, by name, keeping `into`'s order and appending
// names it does not have.
void AddCounters(tunnel::CounterList* into, const tunnel::CounterList& from) {
  for (const auto& [name, value] : from) {
    auto it = std::find_if(into->begin(), into->end(),
                           [&](const auto& c) { return c.first == name; });
    if (it == into->end()) {
      into->emplace_back(name, value);
    } else {
      it->second += value;
    }
  }
}

bool EndsSa(ike::IkeEvent::Kind kind) {
  using Kind = ike::IkeEvent::Kind;
  return kind == Kind::kAuthFailed || kind == Kind::kNoProposalChosen ||
         kind == Kind::kPeerDead || kind == Kind::kFailed ||
         kind == Kind::kClosed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<IkeTunnel>> IkeTunnel::Create(
    event::UvLoop* loop, const IkeProfile& profile, Delegate* delegate) {
  std::unique_ptr<IkeTunnel> tunnel(new IkeTunnel(loop, profile, delegate));
  tunnel->socket_ = std::make_unique<event::UdpSocket>(
      loop, static_cast<event::UdpSocket::Delegate*>(tunnel.get()));
  auto source = SourceAddressFor(profile.gateway);
  const IpAddress bind_ip =
      source.ok() ? *source : IpAddress::Any(profile.gateway.ip().family());
  absl::Status status = tunnel->socket_->Bind(SocketAddress(bind_ip, 0));
  if (!status.ok()) return status;
  // Larger buffers are best effort: the tunnel works without them.
  (void)tunnel->socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  auto local = tunnel->socket_->LocalAddress();
  if (!local.ok()) return local.status();
  tunnel->local_ = *local;
  IkeTunnel* raw = tunnel.get();
  tunnel->ike_timer_ = loop->NewTimer([raw] { raw->OnIkeTimer(); });
  tunnel->keepalive_timer_ = loop->NewTimer([raw] { raw->OnKeepaliveTimer(); });
  return tunnel;
}

IkeTunnel::IkeTunnel(event::UvLoop* loop, const IkeProfile& profile,
                     Delegate* delegate)
    : loop_(loop),
      profile_(profile),
      delegate_(delegate),
      mtu_(profile.mtu),
      last_send_(loop->Now()) {}

IkeTunnel::~IkeTunnel() {
  ike_timer_.reset();
  keepalive_timer_.reset();
  children_.clear();
  sa_.reset();
  socket_.reset();
}

void IkeTunnel::Connect() {
  if (sa_ != nullptr) AddCounters(&retired_ike_, sa_->CounterList());
  DropChildren();
  sa_.reset();
  up_ = false;
  down_reported_ = false;
  closing_ = false;
  peer_up_reported_ = false;
  rekey_child_pending_ = false;
  end_kind_ = ike::IkeEvent::Kind::kFailed;
  end_detail_.clear();
  remote_ts_.clear();
  connects_++;
  const SocketAddress& remote =
      profile_.ike.force_nat_t ? profile_.gateway_nat_t : profile_.gateway;
  sa_ = ike::IkeSa::CreateInitiator(profile_.ike, this, local_, remote);
  Drive([this] { sa_->Start(loop_->Now()); });
}

void IkeTunnel::Close(const std::string& reason) {
  if (sa_ == nullptr) return;
  const ike::IkeSa::State state = sa_->state();
  closing_ = true;
  up_ = false;
  if (state != ike::IkeSa::State::kIdle && state != ike::IkeSa::State::kClosed) {
    Drive([&] { sa_->Close(loop_->Now(), reason); });
  }
  DropChildren();
  ArmKeepalive();
}

void IkeTunnel::RekeyChild() {
  if (sa_ == nullptr || closing_) return;
  Drive([this] { sa_->RekeyChild(loop_->Now()); });
}

void IkeTunnel::RekeyIke() {
  if (sa_ == nullptr || closing_) return;
  Drive([this] { sa_->RekeyIke(loop_->Now()); });
}

void IkeTunnel::CheckLiveness() {
  if (sa_ == nullptr || closing_) return;
  Drive([this] { sa_->CheckLiveness(loop_->Now()); });
}

ike::IkeSa::State IkeTunnel::ike_state() const {
  return sa_ == nullptr ? ike::IkeSa::State::kIdle : sa_->state();
}

const ike::AssignedConfig& IkeTunnel::assigned_config() const {
  static const ike::AssignedConfig* const kNone = new ike::AssignedConfig();
  return sa_ == nullptr ? *kNone : sa_->assigned_config();
}

template <typename Call>
void IkeTunnel::Drive(Call call) {
  if (driving_) {  // From inside a delegate call: settle in the outer one.
    call();
    return;
  }
  driving_ = true;
  call();
  driving_ = false;
  AfterDrive();
}

void IkeTunnel::AfterDrive() {
  if (sa_ == nullptr) return;
  if (rekey_child_pending_ && !closing_ &&
      sa_->state() == ike::IkeSa::State::kEstablished) {
    rekey_child_pending_ = false;
    driving_ = true;
    sa_->RekeyChild(loop_->Now());
    driving_ = false;
  }
  ArmIkeTimer();
  ArmKeepalive();
  if (!up_ && !closing_ && !down_reported_ &&
      sa_->state() == ike::IkeSa::State::kEstablished && !children_.empty()) {
    up_ = true;
    delegate_->OnTunnelUp();  // May Close() or Connect().
    if (sa_ == nullptr) return;
  }
  if (!down_reported_ && !closing_ &&
      sa_->state() == ike::IkeSa::State::kClosed) {
    down_reported_ = true;
    up_ = false;
    DropChildren();
    ike_timer_->Stop();
    ArmKeepalive();
    const std::string detail =
        end_detail_.empty() ? sa_->close_reason() : end_detail_;
    delegate_->OnTunnelDown(end_kind_, detail);  // May Connect().
  }
}

void IkeTunnel::ArmIkeTimer() {
  const absl::Duration deadline =
      sa_ == nullptr ? absl::InfiniteDuration() : sa_->NextDeadline();
  if (deadline == absl::InfiniteDuration()) {
    ike_timer_->Stop();
    return;
  }
  ike_timer_->Start(deadline - loop_->Now());
}

void IkeTunnel::OnIkeTimer() {
  if (sa_ == nullptr) return;
  Drive([this] { sa_->OnTimer(loop_->Now()); });
}

void IkeTunnel::ArmKeepalive() {
  const bool nat_t = sa_ != nullptr && !closing_ &&
                     sa_->state() != ike::IkeSa::State::kClosed &&
                     sa_->nat_t();
  if (!nat_t || profile_.nat_keepalive == absl::InfiniteDuration() ||
      profile_.nat_keepalive <= absl::ZeroDuration()) {
    keepalive_timer_->Stop();
    return;
  }
  keepalive_timer_->Start(last_send_ + profile_.nat_keepalive - loop_->Now());
}

void IkeTunnel::OnKeepaliveTimer() {
  if (loop_->Now() - last_send_ >= profile_.nat_keepalive) {
    absl::Span<const uint8_t> one[] = {esp::NatKeepaliveDatagram()};
    if (Send(one, profile_.gateway_nat_t).ok()) tx_keepalives_++;
  }
  ArmKeepalive();
}

absl::Status IkeTunnel::Send(
    absl::Span<const absl::Span<const uint8_t>> fragments,
    const SocketAddress& to) {
  absl::Status status = socket_->SendTo(fragments, to);
  if (!status.ok()) tx_send_failed_++;
  last_send_ = loop_->Now();
  return status;
}

// ---------------------------------------------------------------------------
// IkeSa::Delegate

void IkeTunnel::SendIke(absl::Span<const uint8_t> message, bool nat_t) {
  ike_sent_++;
  if (nat_t) {
    absl::Span<const uint8_t> two[] = {absl::MakeConstSpan(kNonEspMarker),
                                       message};
    (void)Send(two, profile_.gateway_nat_t);
  } else {
    absl::Span<const uint8_t> one[] = {message};
    (void)Send(one, profile_.gateway);
  }
}

void IkeTunnel::OnIkeEvent(const ike::IkeEvent& event) {
  if (EndsSa(event.kind) && end_detail_.empty()) {
    end_kind_ = event.kind;
    end_detail_ = event.detail.empty()
                      ? std::string(ike::IkeEventKindName(event.kind))
                      : event.detail;
  }
  delegate_->OnIkeEvent(event);
}

void IkeTunnel::OnChildSaUp(const ike::ChildSaInfo& child) {
  auto peer = EspPeer::Create(child.keys, child.esp_role, loop_->Now());
  if (!peer.ok()) {
    esp_create_failed_++;
    delegate_->OnIkeEvent(
        {ike::IkeEvent::Kind::kInfo,
         absl::StrCat("CHILD SA 0x", absl::Hex(child.inbound_spi),
                      " unusable: ", peer.status().message())});
    return;
  }
  if (children_.size() >= kMaxChildren) RetireChild(children_.begin());
  children_.push_back({*std::move(peer), false});
  remote_ts_ = child.remote_ts;
}

void IkeTunnel::OnChildSaDown(uint32_t inbound_spi) {
  auto it = std::find_if(children_.begin(), children_.end(),
                         [&](const Child& c) {
                           return c.peer->inbound_spi() == inbound_spi;
                         });
  if (it != children_.end()) RetireChild(it);
}

// ---------------------------------------------------------------------------
// CHILD SAs

void IkeTunnel::RetireChild(std::vector<Child>::iterator it) {
  AddCounters(&retired_esp_, it->peer->Counters());
  children_.erase(it);
}

void IkeTunnel::DropChildren() {
  while (!children_.empty()) RetireChild(children_.begin());
}

IkeTunnel::Child* IkeTunnel::Newest() {
  return children_.empty() ? nullptr : &children_.back();
}

void IkeTunnel::ReportEspEvents(Child* child) {
  for (const tunnel::TunnelEvent& event : child->peer->TakeEvents()) {
    if (event.kind == tunnel::TunnelEvent::Kind::kRekeyNeeded &&
        !child->rekey_requested) {
      // A byte or packet limit (time is the IKE SA's child_rekey timer).
      child->rekey_requested = true;
      rekey_child_pending_ = true;
    }
    delegate_->OnTunnelEvent(event);
  }
  if (rekey_child_pending_ && !driving_ && sa_ != nullptr) {
    Drive([] {});  // Settles: starts the rekey.
  }
}

// ---------------------------------------------------------------------------
// Datagrams

void IkeTunnel::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  Child* child = Newest();
  if (child == nullptr) {
    tx_no_sa_++;
    return;
  }
  absl::Span<const uint8_t> esp =
      child->peer->Seal(fragments, &tx_buffer_, loop_->Now());
  const bool sealed = !esp.empty();
  if (sealed) {
    absl::Span<const uint8_t> one[] = {esp};
    (void)Send(one, profile_.gateway_nat_t);
  }
  ReportEspEvents(child);  // Counted by the peer when not sealed.
}

void IkeTunnel::OnDatagram(absl::Span<const uint8_t> data,
                           const SocketAddress& from) {
  const bool nat_t_port = from == profile_.gateway_nat_t;
  if (!nat_t_port && from != profile_.gateway) {
    rx_foreign_++;
    return;
  }
  absl::Span<const uint8_t> ike_message;
  if (!nat_t_port) {
    // The IKE port (500): plain IKE, no marker, no ESP.
    if (data.size() < esp::kIkeHeaderSize) {
      rx_malformed_++;
      return;
    }
    ike_message = data;
  } else {
    const esp::UdpClassified classified = esp::ClassifyUdp(data);
    switch (classified.kind) {
      case esp::UdpKind::kNatKeepalive:
        rx_keepalives_++;
        return;
      case esp::UdpKind::kMalformed:
        rx_malformed_++;
        return;
      case esp::UdpKind::kEsp:
        OnEsp(data, classified.spi);
        return;
      case esp::UdpKind::kIke:
        ike_message = classified.payload;
        break;
    }
  }
  if (sa_ == nullptr || sa_->state() == ike::IkeSa::State::kClosed) {
    rx_ike_no_sa_++;
    return;
  }
  ike_received_++;
  Drive([&] { sa_->OnMessage(ike_message, from, loop_->Now(), nat_t_port); });
}

void IkeTunnel::OnEsp(absl::Span<const uint8_t> datagram, uint32_t spi) {
  auto it = std::find_if(
      children_.begin(), children_.end(),
      [&](const Child& c) { return c.peer->inbound_spi() == spi; });
  if (it == children_.end()) {
    rx_unknown_spi_++;
    return;
  }
  Child* child = &*it;
  absl::Span<const uint8_t> inner =
      child->peer->Open(datagram, &rx_buffer_, loop_->Now());
  ReportEspEvents(child);
  if (inner.empty()) return;  // Counted by the peer.
  if (!peer_up_reported_) {
    peer_up_reported_ = true;
    delegate_->OnTunnelEvent(
        {tunnel::TunnelEvent::Kind::kPeerUp,
         absl::StrCat("gateway ", profile_.gateway_nat_t.ToString(),
                      ", SPI 0x", absl::Hex(spi, absl::kZeroPad8))});
  }
  if (receiver_ == nullptr) {
    rx_no_receiver_++;
    return;
  }
  receiver_->OnPacket(inner);
}

tunnel::CounterList IkeTunnel::Counters() const {
  tunnel::CounterList list = retired_ike_;
  if (sa_ != nullptr) AddCounters(&list, sa_->CounterList());
  tunnel::CounterList esp = retired_esp_;
  for (const Child& child : children_) AddCounters(&esp, child.peer->Counters());
  list.insert(list.end(), esp.begin(), esp.end());
  const event::UdpSocket::Counters& s = socket_->counters();
  list.insert(list.end(),
              {
                  {"ike_connects", connects_},
                  {"ike_datagrams_sent", ike_sent_},
                  {"ike_datagrams_received", ike_received_},
                  {"child_sas", children_.size()},
                  {"esp_sa_create_failed", esp_create_failed_},
                  {"udp_datagrams_sent", s.datagrams_sent},
                  {"udp_bytes_sent", s.bytes_sent},
                  {"udp_datagrams_received", s.datagrams_received},
                  {"udp_bytes_received", s.bytes_received},
                  {"udp_send_failed", tx_send_failed_},
                  {"nat_keepalives_sent", tx_keepalives_},
                  {"nat_keepalives_received", rx_keepalives_},
                  {"rx_foreign", rx_foreign_},
                  {"rx_malformed", rx_malformed_},
                  {"rx_ike_no_sa", rx_ike_no_sa_},
                  {"rx_unknown_spi", rx_unknown_spi_},
                  {"rx_no_receiver", rx_no_receiver_},
                  {"tx_no_sa", tx_no_sa_},
              });
  return list;
}

}  // namespace stow::ipsec
