#include "sdk/gateway/gateway.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sdk/tunnel/ipsec/ike/crypto/cert_auth.h"
#include "sdk/tunnel/ipsec/ike/sa/cert_credentials.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"

namespace stow::gateway {
namespace {
// Socket buffers for bursts from many clients.
constexpr int kSocketBuffer = 8 << 20;
// The non-ESP marker (RFC 3948 2.2) before IKE on the NAT-T socket.
constexpr uint8_t kNonEspMarker[esp::kNonEspMarkerSize] = {0, 0, 0, 0};

bool IsTerminal(ike::IkeEvent::Kind kind) {
  using Kind = ike::IkeEvent::Kind;
  return kind == Kind::kAuthFailed || kind == Kind::kNoProposalChosen ||
         kind == Kind::kPeerDead || kind == Kind::kFailed ||
         kind == Kind::kClosed;
}

std::string Hex64(uint64_t v) {
  return absl::StrCat(absl::Hex(v, absl::kZeroPad16));
}

// "42s", "1h3m0s".
std::string Seconds(absl::Duration d) {
  d = absl::Trunc(d, absl::Seconds(1));
  return d == absl::ZeroDuration() ? "0s" : absl::FormatDuration(d);
}

}  // namespace

ike::IdPayload GatewayIkeConfig::DefaultLocalId() {
  ike::IdPayload id;
  id.id_type = ike::IdType::kFqdn;
  const std::string name = "gw.stowaway.test";
  id.data.assign(name.begin(), name.end());
  return id;
}

// A client: manually keyed (one ESP SA from a profile, `ike` null) or
// keyed by its IKE SA, whose delegate it is (it forwards to the gateway).
struct Gateway::Client final : public ike::IkeSa::Delegate {
  Client(Gateway* g, uint64_t i) : gateway(g), id(i) {}

  Gateway* const gateway;  // Not owned.
  const uint64_t id;
  std::string name;
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  // ESP SAs by inbound SPI. `outbound` (one of them) seals: the newest.
  std::map<uint32_t, std::unique_ptr<ipsec::EspPeer>> peers;
  ipsec::EspPeer* outbound = nullptr;
  std::vector<uint32_t> installed;  // Inbound SPIs, oldest first.
  // Where the client's last authenticated ESP packet came from (for an IKE
  // client, first its IKE address); replies go there. Unset until known.
  absl::optional<SocketAddress> address;
  uint64_t rx_spoofed = 0;

  // IKE clients only.
  std::unique_ptr<ike::IkeSa> ike;
  InitKey init;                  // Its first IKE_SA_INIT.
  bool half_open = false;        // Counted in half_open_.
  std::vector<uint64_t> ike_spis;  // Registered in by_ike_spi_.
  absl::Duration deadline = absl::InfiniteDuration();  // In deadlines_.
  bool established = false;
  absl::Duration since;
  // The first event that ended the SA, for the removal line.
  absl::optional<ike::IkeEvent> end;

  bool Owns(const IpAddress& ip) const {
    return (ipv4 && *ipv4 == ip) || (ipv6 && *ipv6 == ip);
  }

  // ike::IkeSa::Delegate
  void SendIke(absl::Span<const uint8_t> message, bool nat_t) override {
    gateway->SendIkeDatagram(message, ike ? ike->remote() : init.from, nat_t);
  }
  void OnIkeEvent(const ike::IkeEvent& event) override {
    gateway->OnIkeEvent(this, event);
  }
  void OnChildSaUp(const ike::ChildSaInfo& child) override {
    gateway->OnChildSaUp(this, child);
  }
  void OnChildSaDown(uint32_t inbound_spi) override {
    gateway->OnChildSaDown(this, inbound_spi);
  }
  absl::StatusOr<ike::AssignedConfig> AssignConfig(
      const ike::ConfigRequest& request, const ike::IdPayload& peer) override {
    return gateway->AssignConfig(this, request, peer);
  }
};

size_t Gateway::InitKeyHash::operator()(const InitKey& k) const {
  return IpAddressHash()(k.from.ip()) ^
         std::hash<uint64_t>()(k.spi_i ^ (uint64_t{k.from.port()} << 48));
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    event::UvLoop* loop, netstack::Stack* stack, GatewayConfig config) {
  std::unique_ptr<Gateway> gateway(
      new Gateway(loop, stack, std::move(config)));
  absl::Status status = gateway->Init();
  if (!status.ok()) return status;
  return gateway;
}

Gateway::Gateway(event::UvLoop* loop, netstack::Stack* stack,
                 GatewayConfig config)
    : loop_(loop), stack_(stack), config_(std::move(config)) {}

Gateway::~Gateway() {
  destroying_ = true;
  // IKE clients are told (one INFORMATIONAL with DELETE each, no retries)
  // while the sockets are still there; then they go without more logs.
  ike_timer_.reset();
  const absl::Duration now = loop_->Now();
  for (auto& [id, client] : clients_) {
    if (client->ike && client->ike->state() != ike::IkeSa::State::kClosed) {
      client->ike->Close(now, "gateway stopping");
    }
  }
  // Services and forwards hold connections on the interface: they go first,
  // then the interface (which aborts what is left). Aborting sends RSTs to
  // the clients through SendPacket(), so the clients go only after that,
  // then the sockets.
  forwards_.clear();
  services_.reset();
  interface_.reset();
  tls_.reset();
  by_address_.clear();
  clients_.clear();
  ike_socket_.reset();
  socket_.reset();
}

size_t Gateway::ike_clients() const {
  size_t n = 0;
  for (const auto& [id, client] : clients_) n += client->ike != nullptr;
  return n;
}

std::string Gateway::OwnerOf(const IpAddress& ip) const {
  auto it = by_address_.find(ip);
  if (it != by_address_.end()) return it->second->name;
  return tls_ ? tls_->OwnerOf(ip) : std::string();
}

absl::Status Gateway::Init() {
  const GatewayConfig& c = config_;
  if (!c.ipv4.is_v4() || c.ipv4_prefix_len < 8 || c.ipv4_prefix_len > 30) {
    return absl::InvalidArgumentError(
        "gateway ipv4: needs an IPv4 address with a prefix of 8..30");
  }
  if (c.ipv6 && !c.ipv6->is_v6()) {
    return absl::InvalidArgumentError("gateway ipv6: not an IPv6 address");
  }
  for (const ipsec::EspProfile& profile : c.clients) {
    const uint64_t id = next_client_id_++;
    const std::string name =
        profile.name.empty() ? absl::StrCat("client ", id) : profile.name;
    auto client = std::make_unique<Client>(this, id);
    client->name = name;
    client->ipv4 = profile.ipv4;
    client->ipv6 = profile.ipv6;
    if (profile.ipv4 &&
        (!profile.ipv4->InPrefix(c.ipv4, c.ipv4_prefix_len) ||
         *profile.ipv4 == c.ipv4)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ipv4 ", profile.ipv4->ToString(), " is not a client "
          "address in ", c.ipv4.ToString(), "/", c.ipv4_prefix_len));
    }
    if (profile.ipv6 &&
        (!c.ipv6 || !profile.ipv6->InPrefix(*c.ipv6, 64) ||
         *profile.ipv6 == *c.ipv6)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ipv6 ", profile.ipv6->ToString(),
          c.ipv6 ? absl::StrCat(" is not a client address in ",
                                c.ipv6->ToString(), "/64")
                 : std::string(" given but the gateway has no IPv6")));
    }
    for (const absl::optional<IpAddress>& ip : {profile.ipv4, profile.ipv6}) {
      if (!ip) continue;
      auto [it, inserted] = by_address_.emplace(*ip, client.get());
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": address ", ip->ToString(),
                         " already belongs to ", it->second->name));
      }
    }
    auto peer = ipsec::EspPeer::Create(profile.keys,
                                       ipsec::EspRole::kResponder, loop_->Now());
    if (!peer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", peer.status().message()));
    }
    const uint32_t spi = (*peer)->inbound_spi();
    if (by_spi_.count(spi) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": esp.i2r.spi 0x", absl::Hex(spi, absl::kZeroPad8),
          " already belongs to ", by_spi_[spi]->name));
    }
    client->outbound = peer->get();
    client->peers[spi] = *std::move(peer);
    client->installed.push_back(spi);
    by_spi_[spi] = client.get();
    clients_[id] = std::move(client);
  }
  if (c.ike.enabled) {
    absl::Status status = InitIke();
    if (!status.ok()) return status;
  }

  socket_ = std::make_unique<event::UdpSocket>(
      loop_, static_cast<event::UdpSocket::Delegate*>(this));
  absl::Status status = socket_->Bind(c.listen);
  if (!status.ok()) return status;
  (void)socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  auto local = socket_->LocalAddress();
  if (!local.ok()) return local.status();
  local_ = *local;
  if (c.ike.enabled && c.ike.ike_listen) {
    ike_socket_ =
        std::make_unique<event::UdpSocket>(loop_, &ike_socket_delegate_);
    status = ike_socket_->Bind(*c.ike.ike_listen);
    if (!status.ok()) return status;
    auto ike_local = ike_socket_->LocalAddress();
    if (!ike_local.ok()) return ike_local.status();
    ike_local_ = *ike_local;
  }

  netstack::InterfaceConfig iface;
  iface.ipv4 = c.ipv4;
  iface.ipv4_prefix_len = c.ipv4_prefix_len;
  iface.ipv6 = c.ipv6;
  iface.mtu = c.mtu;
  iface.verify_checksums = false;  // ESP's AEAD authenticated every packet.
  if (c.ipv6) iface.routes.push_back({*c.ipv6, 64});
  auto interface = stack_->AddInterface(static_cast<netstack::Link*>(this),
                                        iface);
  if (!interface.ok()) return interface.status();
  interface_ = *std::move(interface);

  ServicesConfig services = c.services;
  if (services.addresses.empty()) {
    services.addresses.push_back(c.ipv4);
    if (c.ipv6) services.addresses.push_back(*c.ipv6);
  }
  auto started = Services::Start(stack_, services);
  if (!started.ok()) return started.status();
  services_ = *std::move(started);
  services_->set_status_page([this] { return StatusText(); });

  for (const ForwardSpec& spec : c.forwards) {
    auto forward = PortForward::Start(stack_, loop_, spec);
    if (!forward.ok()) return forward.status();
    forwards_.push_back(*std::move(forward));
  }
  if (c.tls.enabled) return InitTls();
  return absl::OkStatus();
}

namespace {
bool Overlap(const ipsec::IpPrefix& a, const ipsec::IpPrefix& b) {
  return a.address.is_v4() == b.address.is_v4() &&
         a.address.InPrefix(b.address, std::min(a.length, b.length));
}
}  // namespace

absl::Status Gateway::InitTls() {
  const GatewayConfig& c = config_;
  const GatewayTlsConfig& t = c.tls;
  if (t.users == nullptr) {
    return absl::InvalidArgumentError("tls: needs users (a user file)");
  }
  if (!t.pool4.address.is_v4() || t.pool4.length < c.ipv4_prefix_len ||
      !t.pool4.address.InPrefix(c.ipv4, c.ipv4_prefix_len)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls pool ", t.pool4.ToString(), ": not inside the gateway's ",
        c.ipv4.ToString(), "/", c.ipv4_prefix_len));
  }
  if (c.ike.enabled && c.ike.pool4 && Overlap(t.pool4, *c.ike.pool4)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls pool ", t.pool4.ToString(), " overlaps the IKE pool ",
                     c.ike.pool4->ToString()));
  }
  if (t.pool6) {
    if (!c.ipv6 || !t.pool6->address.is_v6() || t.pool6->length < 64 ||
        !t.pool6->address.InPrefix(*c.ipv6, 64)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tls pool6 ", t.pool6->ToString(), ": not inside the gateway's "
          "IPv6 /64"));
    }
    if (c.ike.enabled && c.ike.pool6 && Overlap(*t.pool6, *c.ike.pool6)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls pool6 ", t.pool6->ToString(),
                       " overlaps the IKE pool6 ", c.ike.pool6->ToString()));
    }
  }
  tls::TlsServerConfig server;
  server.listen = t.listen;
  server.cert_pem = t.cert_pem;
  server.key_pem = t.key_pem;
  server.idle_timeout = t.idle_timeout;
  server.dtls_listen = t.dtls_listen;
  tls::AnyConnectServerConfig& a = server.anyconnect;
  a.users = t.users;
  a.pool4 = t.pool4;
  a.pool6 = t.pool6;
  a.reserved.push_back(c.ipv4);
  if (c.ipv6) a.reserved.push_back(*c.ipv6);
  for (const auto& [ip, owner] : by_address_) a.reserved.push_back(ip);
  a.networks = {ipsec::IpPrefix{c.ipv4, c.ipv4_prefix_len}};
  if (c.ipv6) a.networks.push_back(ipsec::IpPrefix{*c.ipv6, 64});
  a.dns = t.dns.empty() ? c.ike.dns : t.dns;
  a.default_domain = t.default_domain;
  a.mtu = c.mtu;
  a.dpd_seconds = t.dpd_seconds;
  a.keepalive_seconds = t.keepalive_seconds;
  a.dtls = t.dtls;
  a.dtls_dpd_seconds = t.dpd_seconds;
  a.dtls_keepalive_seconds = t.keepalive_seconds;
  a.cookie_lifetime = t.cookie_lifetime;
  a.max_failures = t.max_failures;
  a.lockout = t.lockout;
  auto started = tls::TlsServer::Start(loop_, &tls_delegate_, std::move(server));
  if (!started.ok()) return started.status();
  tls_ = *std::move(started);
  return absl::OkStatus();
}

void Gateway::TlsDelegate::OnTunnelPacket(absl::Span<const uint8_t> packet) {
  if (gateway_->receiver_ != nullptr) gateway_->receiver_->OnPacket(packet);
}

void Gateway::TlsDelegate::OnTunnelLog(const std::string& line) {
  gateway_->Log(line);
}

absl::Status Gateway::InitIke() {
  const GatewayConfig& c = config_;
  const GatewayIkeConfig& k = c.ike;
  if (!k.credentials || !k.peer_authenticator) {
    return absl::InvalidArgumentError(
        "ike: needs credentials (a PSK or a certificate)");
  }
  if (k.cookie_threshold < 0 || k.max_half_open < 1) {
    return absl::InvalidArgumentError(
        "ike: cookie_threshold must be >= 0 and max_half_open >= 1");
  }
  if (k.pool4) {
    if (!k.pool4->address.is_v4() ||
        k.pool4->length < c.ipv4_prefix_len ||
        !k.pool4->address.InPrefix(c.ipv4, c.ipv4_prefix_len)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ike pool ", k.pool4->ToString(), ": not inside the gateway's ",
          c.ipv4.ToString(), "/", c.ipv4_prefix_len));
    }
    auto pool = AddressPool::Create(*k.pool4);
    if (!pool.ok()) return pool.status();
    pool4_ = *std::move(pool);
    pool4_->Reserve(c.ipv4);
  }
  if (k.pool6) {
    if (!c.ipv6 || !k.pool6->address.is_v6() || k.pool6->length < 64 ||
        !k.pool6->address.InPrefix(*c.ipv6, 64)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ike pool6 ", k.pool6->ToString(), ": not inside the gateway's ",
          c.ipv6 ? absl::StrCat(c.ipv6->ToString(), "/64")
                 : std::string("IPv6 prefix (it has none)")));
    }
    auto pool = AddressPool::Create(*k.pool6);
    if (!pool.ok()) return pool.status();
    pool6_ = *std::move(pool);
    pool6_->Reserve(*c.ipv6);
  }
  // Manually keyed clients keep their addresses.
  for (const auto& [ip, owner] : by_address_) {
    if (pool4_) pool4_->Reserve(ip);
    if (pool6_) pool6_->Reserve(ip);
  }

  ike::IkeConfig& t = ike_template_;
  t.role = ike::Role::kResponder;
  t.ike = k.ike_algorithms;
  t.esp = k.esp_algorithms;
  t.local_id = k.local_id;
  t.credentials = k.credentials;
  t.peer_authenticator = k.peer_authenticator;
  t.timers = k.timers;
  // ESP arrives only inside UDP here: make every initiator encapsulate.
  t.force_nat_t = true;
  // Clients reach the gateway's own prefixes through the tunnel.
  t.local_ts.push_back(ike::SelectorForPrefix(c.ipv4, c.ipv4_prefix_len));
  if (c.ipv6) t.local_ts.push_back(ike::SelectorForPrefix(*c.ipv6, 64));
  cookies_ = std::make_unique<CookieJar>(k.cookie_rotation);
  ike_timer_ = loop_->NewTimer([this] { OnIkeTimer(); });
  return absl::OkStatus();
}

void Gateway::Log(const std::string& line) {
  if (config_.log) config_.log(line);
}

void Gateway::OnDatagram(absl::Span<const uint8_t> data,
                         const SocketAddress& from) {
  counters_.rx_datagrams++;
  const esp::UdpClassified classified = esp::ClassifyUdp(data);
  switch (classified.kind) {
    case esp::UdpKind::kNatKeepalive:
      counters_.rx_keepalives++;
      return;
    case esp::UdpKind::kIke:
      counters_.rx_ike++;
      OnIke(classified.payload, from, /*nat_t=*/true);
      return;
    case esp::UdpKind::kMalformed:
      counters_.rx_malformed++;
      return;
    case esp::UdpKind::kEsp:
      OnEsp(classified.spi, data, from);
      return;
  }
}

void Gateway::IkeSocketDelegate::OnDatagram(absl::Span<const uint8_t> data,
                                            const SocketAddress& from) {
  gateway_->counters_.rx_datagrams++;
  gateway_->counters_.rx_ike++;
  gateway_->OnIke(data, from, /*nat_t=*/false);
}

void Gateway::OnEsp(uint32_t spi, absl::Span<const uint8_t> data,
                    const SocketAddress& from) {
  auto it = by_spi_.find(spi);
  if (it == by_spi_.end()) {
    counters_.rx_unknown_spi++;
    return;
  }
  Client* client = it->second;
  ipsec::EspPeer* peer = client->peers.at(spi).get();
  absl::Span<const uint8_t> inner = peer->Open(data, &buffer_, loop_->Now());
  ReportEvents(client, peer);
  if (inner.empty()) return;  // Counted by the client's peer.
  IpAddress source, destination;
  absl::Span<const uint8_t> one[] = {inner};
  if (!ipsec::ReadIpAddresses(one, &source, &destination) ||
      !client->Owns(source)) {
    // A client may only send from its own virtual addresses.
    client->rx_spoofed++;
    counters_.rx_spoofed++;
    return;
  }
  // RFC 3948: replies follow the latest authenticated source address.
  if (!client->address) {
    Log(absl::StrCat(client->name, ": up, from ", from.ToString()));
    client->address = from;
  } else if (*client->address != from) {
    Log(absl::StrCat(client->name, ": moved from ",
                     client->address->ToString(), " to ", from.ToString()));
    client->address = from;
  }
  if (receiver_ != nullptr) receiver_->OnPacket(inner);
}

void Gateway::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  IpAddress source, destination;
  if (!ipsec::ReadIpAddresses(fragments, &source, &destination)) {
    counters_.tx_no_client++;
    return;
  }
  auto it = by_address_.find(destination);
  if (it == by_address_.end()) {
    // A TLS client's, or nobody's. The TLS server counts its own drops.
    if (tls_ == nullptr || tls_->SendPacket(destination, fragments) ==
                               tls::TlsServer::SendResult::kNoTunnel) {
      counters_.tx_no_client++;
    }
    return;
  }
  Client* client = it->second;
  if (!client->address || client->outbound == nullptr) {
    counters_.tx_no_peer++;
    return;
  }
  ipsec::EspPeer* peer = client->outbound;
  absl::Span<const uint8_t> esp = peer->Seal(fragments, &buffer_, loop_->Now());
  ReportEvents(client, peer);
  if (esp.empty()) return;
  absl::Span<const uint8_t> one[] = {esp};
  if (!socket_->SendTo(one, *client->address).ok()) {
    counters_.tx_send_failed++;
  }
}

void Gateway::ReportEvents(Client* client, ipsec::EspPeer* peer) {
  for (const tunnel::TunnelEvent& event : peer->TakeEvents()) {
    // For IKE clients the IkeSa rekeys on its own timers; these are logs.
    Log(absl::StrCat(client->name, ": ",
                     client->ike ? absl::StrCat("ESP SA 0x",
                                                absl::Hex(peer->inbound_spi(),
                                                          absl::kZeroPad8),
                                                " ")
                                 : "",
                     tunnel::TunnelEventKindName(event.kind),
                     event.detail.empty() ? "" : " (", event.detail,
                     event.detail.empty() ? "" : ")"));
  }
}

// --- IKE ---------------------------------------------------------------------

void Gateway::OnIke(absl::Span<const uint8_t> message,
                    const SocketAddress& from, bool nat_t) {
  if (!config_.ike.enabled) {
    counters_.ike_disabled++;
    return;
  }
  absl::StatusOr<ike::Header> header = ike::ParseHeader(message);
  if (!header.ok()) {
    counters_.ike_malformed++;
    return;
  }
  const absl::Duration now = loop_->Now();
  if (header->spi_r == 0) {
    // Only a first IKE_SA_INIT request (or its retransmission) has no SPIr.
    if (header->exchange_type != ike::ExchangeType::kIkeSaInit ||
        header->response || !header->initiator || header->spi_i == 0) {
      counters_.ike_unknown_spi++;
      return;
    }
    auto it = by_init_.find(InitKey{header->spi_i, from});
    if (it != by_init_.end()) {
      Client* client = it->second;
      client->ike->OnMessage(message, from, now, nat_t);
      AfterIke(client);
      return;
    }
    OnFirstInit(message, *header, from, nat_t);
    return;
  }
  // Our SPI is the responder's when the sender is the SA's original
  // initiator (the I flag), else the initiator's (after an IKE rekey we
  // started). The SA confirms both.
  const uint64_t ours = header->initiator ? header->spi_r : header->spi_i;
  auto it = by_ike_spi_.find(ours);
  if (it == by_ike_spi_.end() ||
      !it->second->ike->OwnsSpis(header->spi_i, header->spi_r)) {
    counters_.ike_unknown_spi++;
    return;
  }
  Client* client = it->second;
  client->ike->OnMessage(message, from, now, nat_t);
  AfterIke(client);
}

void Gateway::OnFirstInit(absl::Span<const uint8_t> message,
                          const ike::Header& header, const SocketAddress& from,
                          bool nat_t) {
  const GatewayIkeConfig& k = config_.ike;
  absl::StatusOr<ike::Message> parsed = ike::ParseMessage(message);
  if (!parsed.ok()) {
    // Version > 2 and the like: the IkeSa would answer, but creating state
    // for unparseable datagrams is what a flood wants.
    counters_.ike_malformed++;
    return;
  }
  const absl::Duration now = loop_->Now();
  if (k.cookie_threshold > 0 && half_open_ >= k.cookie_threshold) {
    const ike::Bytes* nonce = InitiatorNonce(*parsed);
    if (nonce == nullptr) {
      counters_.ike_malformed++;
      return;
    }
    const ike::Bytes* cookie = LeadingCookie(*parsed);
    if (cookie == nullptr ||
        !cookies_->Verify(*cookie, *nonce, from.ip(), header.spi_i, now)) {
      if (cookie != nullptr) counters_.ike_cookies_rejected++;
      counters_.ike_cookies_sent++;
      SendIkeDatagram(
          BuildCookieReply(header,
                           cookies_->Make(*nonce, from.ip(), header.spi_i, now)),
          from, nat_t);
      return;
    }
    counters_.ike_cookies_accepted++;
  }
  if (half_open_ >= k.max_half_open) {
    counters_.ike_half_open_dropped++;
    return;
  }
  const uint64_t id = next_client_id_++;
  auto owned = std::make_unique<Client>(this, id);
  Client* client = owned.get();
  client->name = absl::StrCat("ike#", id, " ", from.ToString());
  client->init = InitKey{header.spi_i, from};
  client->since = now;
  clients_[id] = std::move(owned);
  by_init_[client->init] = client;
  counters_.ike_sas_created++;
  const SocketAddress local =
      nat_t || !ike_local_ ? local_ : *ike_local_;
  client->ike = ike::IkeSa::CreateResponder(ike_template_, client, local, from,
                                            message, *parsed, nat_t, now);
  if (client->ike->state() == ike::IkeSa::State::kClosed) {
    // Refused (no proposal, INVALID_KE, ...): the error reply went out.
    counters_.ike_sas_refused++;
  }
  AfterIke(client);
}

void Gateway::SendIkeDatagram(absl::Span<const uint8_t> message,
                              const SocketAddress& to, bool nat_t) {
  if (!nat_t && ike_socket_) {
    absl::Span<const uint8_t> one[] = {message};
    if (!ike_socket_->SendTo(one, to).ok()) counters_.tx_send_failed++;
    return;
  }
  // The NAT-T socket always needs the marker (it is how IKE is told from
  // ESP there).
  absl::Span<const uint8_t> two[] = {kNonEspMarker, message};
  if (!socket_->SendTo(two, to).ok()) counters_.tx_send_failed++;
}

void Gateway::AfterIke(Client* client) {
  ike::IkeSa* sa = client->ike.get();
  if (sa == nullptr) return;
  if (sa->state() == ike::IkeSa::State::kClosed) {
    RemoveClient(client);
    ScheduleIkeTimer();
    return;
  }
  const bool half_open = sa->state() == ike::IkeSa::State::kInitReplied;
  if (half_open != client->half_open) {
    half_open_ += half_open ? 1 : -1;
    client->half_open = half_open;
  }
  // Register the SA's SPIs (new ones after an IKE rekey). One of the two is
  // ours (random, 64 bits); the peer's is registered only where free, and
  // every lookup is confirmed by OwnsSpis().
  for (uint64_t spi : {sa->spi_i(), sa->spi_r()}) {
    if (spi == 0) continue;
    auto [it, inserted] = by_ike_spi_.emplace(spi, client);
    if (inserted) client->ike_spis.push_back(spi);
  }
  const absl::Duration deadline = sa->NextDeadline();
  if (deadline != client->deadline) {
    if (client->deadline != absl::InfiniteDuration()) {
      deadlines_.erase({client->deadline, client->id});
    }
    client->deadline = deadline;
    if (deadline != absl::InfiniteDuration()) {
      deadlines_.emplace(deadline, client->id);
    }
    ScheduleIkeTimer();
  }
}

void Gateway::ScheduleIkeTimer() {
  if (ike_timer_ == nullptr) return;
  if (deadlines_.empty()) {
    ike_timer_->Stop();
    return;
  }
  // At least 1 ms: a deadline that does not move after OnTimer() must not
  // spin the loop.
  const absl::Duration delay = deadlines_.begin()->first - loop_->Now();
  ike_timer_->Start(std::max(delay, absl::Milliseconds(1)));
}

void Gateway::OnIkeTimer() {
  const absl::Duration now = loop_->Now();
  std::vector<uint64_t> due;
  for (const auto& [when, id] : deadlines_) {
    if (when > now) break;
    due.push_back(id);
  }
  for (uint64_t id : due) {
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second->ike == nullptr) continue;
    Client* client = it->second.get();
    client->ike->OnTimer(now);
    AfterIke(client);
  }
  ScheduleIkeTimer();
}

void Gateway::RemoveClient(Client* client) {
  std::vector<std::string> released;
  for (const absl::optional<IpAddress>& ip : {client->ipv4, client->ipv6}) {
    if (!ip) continue;
    by_address_.erase(*ip);
    if ((pool4_ && pool4_->Release(*ip)) || (pool6_ && pool6_->Release(*ip))) {
      released.push_back(ip->ToString());
    }
  }
  for (const auto& [spi, peer] : client->peers) by_spi_.erase(spi);
  for (uint64_t spi : client->ike_spis) {
    auto it = by_ike_spi_.find(spi);
    if (it != by_ike_spi_.end() && it->second == client) by_ike_spi_.erase(it);
  }
  by_init_.erase(client->init);
  if (client->half_open) half_open_--;
  if (client->deadline != absl::InfiniteDuration()) {
    deadlines_.erase({client->deadline, client->id});
  }
  counters_.ike_closed++;
  if (!destroying_) {
    // One line: why, and what was given back.
    std::string why;
    if (client->end) {
      why = absl::StrCat(ike::IkeEventKindName(client->end->kind),
                         client->end->detail.empty() ? "" : ": ",
                         client->end->detail);
    } else {
      why = absl::StrCat("closed: ", client->ike->close_reason());
    }
    Log(absl::StrCat(
        client->name, ": removed (", why, ")",
        released.empty() ? ""
                         : absl::StrCat("; released ",
                                        absl::StrJoin(released, ", ")),
        client->established
            ? absl::StrCat("; up ", Seconds(loop_->Now() - client->since))
            : ""));
  }
  clients_.erase(client->id);  // Destroys the IkeSa: not inside its calls.
}

void Gateway::OnIkeEvent(Client* client, const ike::IkeEvent& event) {
  using Kind = ike::IkeEvent::Kind;
  if (IsTerminal(event.kind)) {
    // Logged once, with the removal that follows.
    if (!client->end) client->end = event;
    return;
  }
  if (event.kind == Kind::kEstablished) {
    client->established = true;
    client->since = loop_->Now();
    counters_.ike_established++;
    client->name = absl::StrCat("ike#", client->id, " ",
                                ike::DescribeIdentity(client->ike
                                                   ? client->ike->peer_id()
                                                   : ike::IdPayload()));
  }
  if (destroying_) return;
  Log(absl::StrCat(client->name, ": ", ike::IkeEventKindName(event.kind),
                   event.detail.empty() ? "" : " (", event.detail,
                   event.detail.empty() ? "" : ")"));
}

void Gateway::OnChildSaUp(Client* client, const ike::ChildSaInfo& child) {
  const absl::Duration now = loop_->Now();
  auto peer = ipsec::EspPeer::Create(child.keys, child.esp_role, now);
  if (!peer.ok()) {
    Log(absl::StrCat(client->name, ": CHILD SA 0x",
                     absl::Hex(child.inbound_spi, absl::kZeroPad8),
                     " unusable: ", peer.status().message()));
    return;
  }
  const uint32_t spi = (*peer)->inbound_spi();
  auto [it, inserted] = by_spi_.emplace(spi, client);
  if (!inserted) {
    // Another client's (a manual profile's) SPI: this SA cannot be told
    // apart from it. Its traffic is lost; the next rekey picks a new SPI.
    counters_.ike_spi_collisions++;
    Log(absl::StrCat(client->name, ": CHILD SA SPI 0x",
                     absl::Hex(spi, absl::kZeroPad8), " already belongs to ",
                     it->second->name, "; not installed"));
    return;
  }
  client->outbound = peer->get();
  client->peers[spi] = *std::move(peer);
  client->installed.push_back(spi);
  // ESP replies go where IKE comes from until ESP itself arrives.
  if (!client->address && client->ike) client->address = client->ike->remote();
}

void Gateway::OnChildSaDown(Client* client, uint32_t inbound_spi) {
  auto it = client->peers.find(inbound_spi);
  if (it == client->peers.end()) return;
  auto owner = by_spi_.find(inbound_spi);
  if (owner != by_spi_.end() && owner->second == client) by_spi_.erase(owner);
  const bool was_outbound = client->outbound == it->second.get();
  client->peers.erase(it);
  client->installed.erase(std::remove(client->installed.begin(),
                                      client->installed.end(), inbound_spi),
                          client->installed.end());
  if (was_outbound) {
    // The newest remaining one, if any (a rekey installs before deleting).
    client->outbound = client->installed.empty()
                           ? nullptr
                           : client->peers.at(client->installed.back()).get();
  }
}

absl::StatusOr<ike::AssignedConfig> Gateway::AssignConfig(
    Client* client, const ike::ConfigRequest& request,
    const ike::IdPayload& /*peer*/) {
  ike::AssignedConfig out;
  out.dns = config_.ike.dns;
  if (client->ipv4 || client->ipv6) {  // Asked again: the same.
    out.ipv4 = client->ipv4;
    out.ipv6 = client->ipv6;
    return out;
  }
  bool want4 = request.ipv4 && pool4_.has_value();
  bool want6 = request.ipv6 && pool6_.has_value();
  if (!want4 && !want6) {
    // Nothing of what was asked for exists: give what there is.
    want4 = pool4_.has_value();
    want6 = !want4 && pool6_.has_value();
  }
  if (!want4 && !want6) {
    return absl::FailedPreconditionError("the gateway has no address pool");
  }
  absl::optional<IpAddress> v4, v6;
  if (want4) {
    v4 = pool4_->Allocate();
    if (!v4) {
      counters_.ike_pool_exhausted++;
      return absl::ResourceExhaustedError(
          absl::StrCat("address pool ", pool4_->prefix().ToString(),
                       " exhausted"));
    }
  }
  if (want6) {
    v6 = pool6_->Allocate();
    if (!v6) {
      if (v4) pool4_->Release(*v4);
      counters_.ike_pool_exhausted++;
      return absl::ResourceExhaustedError(
          absl::StrCat("address pool ", pool6_->prefix().ToString(),
                       " exhausted"));
    }
  }
  for (const absl::optional<IpAddress>& ip : {v4, v6}) {
    if (ip) by_address_[*ip] = client;
  }
  client->ipv4 = v4;
  client->ipv6 = v6;
  out.ipv4 = v4;
  out.ipv6 = v6;
  out.ipv6_prefix_len = 128;
  return out;
}

std::string Gateway::StatusText() const {
  std::string out = "Stowaway gateway\n";
  absl::StrAppend(&out, "listening on ", local_.ToString(),
                  config_.ike.enabled ? " (ESP in UDP, IKE)" : " (ESP in UDP)",
                  "\n");
  if (ike_local_) {
    absl::StrAppend(&out, "listening on ", ike_local_->ToString(), " (IKE)\n");
  }
  absl::StrAppend(&out, "virtual address ", config_.ipv4.ToString(), "/",
                  config_.ipv4_prefix_len);
  if (config_.ipv6) absl::StrAppend(&out, ", ", config_.ipv6->ToString(), "/64");
  absl::StrAppend(&out, "\n");
  if (config_.ike.enabled) {
    absl::StrAppend(&out, "IKE identity ",
                    ike::DescribeIdentity(config_.ike.local_id), ", auth ",
                    config_.ike.credentials->Describe(), "\n");
    if (pool4_) absl::StrAppend(&out, "pool ", pool4_->ToString(), "\n");
    if (pool6_) absl::StrAppend(&out, "pool6 ", pool6_->ToString(), "\n");
    if (!config_.ike.dns.empty()) {
      std::vector<std::string> dns;
      for (const IpAddress& ip : config_.ike.dns) dns.push_back(ip.ToString());
      absl::StrAppend(&out, "dns ", absl::StrJoin(dns, ", "), "\n");
    }
  }
  absl::StrAppend(&out, "\nclients: ", clients_.size(), "\n");
  const absl::Duration now = loop_->Now();
  for (const auto& [id, client] : clients_) {
    std::vector<std::string> addresses;
    if (client->ipv4) addresses.push_back(client->ipv4->ToString());
    if (client->ipv6) addresses.push_back(client->ipv6->ToString());
    absl::StrAppend(
        &out, "  ", client->name, " [", absl::StrJoin(addresses, ", "), "] ",
        client->address ? absl::StrCat("at ", client->address->ToString())
                        : std::string("not heard from"),
        "\n");
    if (const ike::IkeSa* sa = client->ike.get()) {
      absl::StrAppend(
          &out, "    IKE ", ike::IkeSa::StateName(sa->state()), " ",
          client->established
              ? absl::StrCat(Seconds(now - client->since), ", ")
              : "",
          "identity ", ike::DescribeIdentity(sa->peer_id()), ", from ",
          sa->remote().ToString(), sa->nat_t() ? " (NAT-T)" : "", ", SPIs ",
          Hex64(sa->spi_i()), "_", Hex64(sa->spi_r()), "\n");
      const std::string algorithms = sa->Describe();
      if (!algorithms.empty()) {
        absl::StrAppend(&out, "    algorithms ", algorithms, "\n");
      }
      for (const auto& [name, value] : sa->CounterList()) {
        if (value != 0) absl::StrAppend(&out, "    ", name, " ", value, "\n");
      }
    }
    for (uint32_t spi : client->installed) {
      const ipsec::EspPeer& peer = *client->peers.at(spi);
      if (client->ike) {
        absl::StrAppend(&out, "    ESP SA in 0x",
                        absl::Hex(peer.inbound_spi(), absl::kZeroPad8),
                        " out 0x",
                        absl::Hex(peer.outbound_spi(), absl::kZeroPad8),
                        &peer == client->outbound ? " (sending)" : "", "\n");
      }
      for (const auto& [name, value] : peer.Counters()) {
        if (value != 0) absl::StrAppend(&out, "    ", name, " ", value, "\n");
      }
    }
    if (client->rx_spoofed != 0) {
      absl::StrAppend(&out, "    rx_spoofed ", client->rx_spoofed, "\n");
    }
  }
  const GatewayCounters& g = counters_;
  absl::StrAppend(&out, "\ngateway\n",
                  "  rx_datagrams ", g.rx_datagrams, "\n",
                  "  rx_keepalives ", g.rx_keepalives, "\n",
                  "  rx_ike ", g.rx_ike, "\n",
                  "  rx_unknown_spi ", g.rx_unknown_spi, "\n",
                  "  rx_malformed ", g.rx_malformed, "\n",
                  "  rx_spoofed ", g.rx_spoofed, "\n",
                  "  tx_no_client ", g.tx_no_client, "\n",
                  "  tx_no_peer ", g.tx_no_peer, "\n",
                  "  tx_send_failed ", g.tx_send_failed, "\n");
  if (config_.ike.enabled) {
    absl::StrAppend(&out, "\nike\n",
                    "  ike_half_open ", half_open_, "\n",
                    "  ike_malformed ", g.ike_malformed, "\n",
                    "  ike_unknown_spi ", g.ike_unknown_spi, "\n",
                    "  ike_cookies_sent ", g.ike_cookies_sent, "\n",
                    "  ike_cookies_accepted ", g.ike_cookies_accepted, "\n",
                    "  ike_cookies_rejected ", g.ike_cookies_rejected, "\n",
                    "  ike_half_open_dropped ", g.ike_half_open_dropped, "\n",
                    "  ike_sas_created ", g.ike_sas_created, "\n",
                    "  ike_sas_refused ", g.ike_sas_refused, "\n",
                    "  ike_established ", g.ike_established, "\n",
                    "  ike_closed ", g.ike_closed, "\n",
                    "  ike_pool_exhausted ", g.ike_pool_exhausted, "\n",
                    "  ike_spi_collisions ", g.ike_spi_collisions, "\n");
  } else if (g.ike_disabled != 0) {
    absl::StrAppend(&out, "  ike_disabled ", g.ike_disabled, "\n");
  }
  if (tls_) absl::StrAppend(&out, "\n", tls_->StatusText());
  // Service counters that moved (one "name value" per line).
  absl::StrAppend(&out, "\nservices\n");
  for (absl::string_view line :
       absl::StrSplit(FormatCounters(services_->counters()), '\n',
                      absl::SkipEmpty())) {
    if (!absl::EndsWith(line, " 0")) absl::StrAppend(&out, "  ", line, "\n");
  }
  return out;
}

absl::StatusOr<GatewayConfig> GatewayConfigFromFlags(
    const std::string& listen, const std::vector<std::string>& client_files,
    const std::vector<std::string>& forward_specs, const std::string& ipv4,
    const std::string& ipv6) {
  GatewayConfig config;
  auto address = SocketAddress::Parse(listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: not an address:port: \"", listen, "\""));
  }
  config.listen = *address;
  auto v4 = ipsec::ParseIpPrefix(ipv4);
  if (!v4.ok() || !v4->address.is_v4()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ipv4: not an IPv4 address/prefix: \"", ipv4, "\""));
  }
  config.ipv4 = v4->address;
  config.ipv4_prefix_len = v4->length == 32 ? 16 : v4->length;
  if (!ipv6.empty()) {
    auto v6 = IpAddress::Parse(ipv6);
    if (!v6.ok() || !v6->is_v6()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ipv6: not an IPv6 address: \"", ipv6, "\""));
    }
    config.ipv6 = *v6;
  }
  for (const std::string& file : client_files) {
    auto profile = ipsec::LoadEspProfile(file);
    if (!profile.ok()) return profile.status();
    if (profile->name.empty()) profile->name = file;
    config.clients.push_back(*std::move(profile));
  }
  for (const std::string& spec : forward_specs) {
    auto forward = ParseForwardSpec(spec);
    if (!forward.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--forward ", spec, ": ", forward.status().message()));
    }
    config.forwards.push_back(*forward);
  }
  return config;
}

absl::Status ApplyIkeFlags(const IkeFlags& flags, GatewayConfig* config) {
  GatewayIkeConfig& k = config->ike;
  k.enabled = flags.ike;
  if (!flags.ike) return absl::OkStatus();
  if (!flags.ike_listen.empty()) {
    auto address = SocketAddress::Parse(flags.ike_listen);
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--ike_listen: not an address:port: \"", flags.ike_listen, "\""));
    }
    k.ike_listen = *address;
  }
  auto id = ike::ParseIdentity(flags.id);
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--id: ", id.status().message()));
  }
  k.local_id = *id;

  // Credentials: our certificate (--cert/--key) or the PSK proves who we
  // are; clients may use the PSK or a certificate from --ca.
  const bool with_cert = !flags.cert.empty() || !flags.key.empty();
  if (with_cert && (flags.cert.empty() || flags.key.empty())) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  std::string psk = flags.psk;
  if (!flags.psk_file.empty()) {
    if (!psk.empty()) {
      return absl::InvalidArgumentError("--psk and --psk_file: give one");
    }
    std::ifstream in(flags.psk_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--psk_file ", flags.psk_file, ": cannot read"));
    }
    psk = std::string(absl::StripTrailingAsciiWhitespace(text.str()));
  }
  if (psk.empty() && !with_cert) {
    return absl::InvalidArgumentError(
        "--ike needs a key: --psk or --psk_file (non-empty), or --cert and "
        "--key");
  }
  if (psk.empty() && flags.ca.empty()) {
    return absl::InvalidArgumentError(
        "--ike without a PSK needs --ca to check the clients' certificates");
  }
  std::shared_ptr<ike::PskCredentials> psk_credentials;
  if (!psk.empty()) {
    auto credentials = ike::PskCredentials::Create(psk);
    if (!credentials.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--psk: ", credentials.status().message()));
    }
    psk_credentials = *credentials;
  }
  std::shared_ptr<ike::CaPeerAuthenticator> cas;
  if (!flags.ca.empty()) {
    auto loaded = ike::CaPeerAuthenticator::Load(flags.ca);
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ca: ", loaded.status().message()));
    }
    cas = *loaded;
  }
  if (with_cert) {
    auto mine = ike::CertificateCredentials::Load(flags.cert, flags.key);
    if (!mine.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cert/--key: ", mine.status().message()));
    }
    k.credentials = *mine;
  } else {
    k.credentials = psk_credentials;
  }
  k.peer_authenticator =
      std::make_shared<ike::AnyOfPeerAuthenticator>(psk_credentials, cas);

  if (!flags.ike_proposals.empty()) {
    auto algorithms = ike::ParseIkeAlgorithms(flags.ike_proposals);
    if (!algorithms.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ike_proposals: ", algorithms.status().message()));
    }
    k.ike_algorithms = *algorithms;
  }
  if (!flags.esp_proposals.empty()) {
    auto algorithms = ike::ParseEspAlgorithms(flags.esp_proposals);
    if (!algorithms.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--esp_proposals: ", algorithms.status().message()));
    }
    k.esp_algorithms = *algorithms;
  }
  for (const auto& [name, value] :
       {std::make_pair("--dpd_delay", flags.dpd_delay),
        std::make_pair("--child_rekey", flags.child_rekey),
        std::make_pair("--ike_rekey", flags.ike_rekey)}) {
    if (value < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": must not be negative (0 disables)"));
    }
  }
  k.timers.dpd_delay = flags.dpd_delay;
  k.timers.child_rekey = flags.child_rekey;
  k.timers.ike_rekey = flags.ike_rekey;
  if (flags.cookie_threshold < 0) {
    return absl::InvalidArgumentError(
        "--cookie_threshold: must be >= 0 (0 disables cookies)");
  }
  k.cookie_threshold = flags.cookie_threshold;
  if (flags.max_half_open < 1) {
    return absl::InvalidArgumentError("--max_half_open: must be >= 1");
  }
  k.max_half_open = flags.max_half_open;

  k.pool4.reset();
  if (!flags.pool.empty()) {
    auto prefix = ipsec::ParseIpPrefix(flags.pool);
    if (!prefix.ok() || !prefix->address.is_v4() ||
        !absl::StrContains(flags.pool, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--pool: not an IPv4 prefix such as 10.99.100.0/24: \"", flags.pool,
          "\""));
    }
    k.pool4 = *prefix;
  }
  k.pool6.reset();
  if (!flags.pool6.empty()) {
    auto prefix = ipsec::ParseIpPrefix(flags.pool6);
    if (!prefix.ok() || !prefix->address.is_v6() ||
        !absl::StrContains(flags.pool6, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--pool6: not an IPv6 prefix such as fd99::100:0/112: \"",
          flags.pool6, "\""));
    }
    k.pool6 = *prefix;
  }
  k.dns.clear();
  for (const std::string& text : flags.dns) {
    if (text.empty()) continue;
    auto ip = IpAddress::Parse(text);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dns: not an IP address: \"", text, "\""));
    }
    k.dns.push_back(*ip);
  }
  return absl::OkStatus();
}

absl::Status ApplyTlsFlags(const TlsFlags& flags, GatewayConfig* config) {
  GatewayTlsConfig& t = config->tls;
  t.enabled = !flags.tls_listen.empty();
  if (!t.enabled) {
    if (!flags.tls_cert.empty() || !flags.tls_users.empty() ||
        !flags.tls_user.empty() || flags.dtls || !flags.dtls_listen.empty()) {
      return absl::InvalidArgumentError(
          "--tls_cert, --tls_users, --tls_user, --dtls and --dtls_listen "
          "need --tls_listen");
    }
    return absl::OkStatus();
  }
  auto address = SocketAddress::Parse(flags.tls_listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_listen: not an address:port: \"", flags.tls_listen, "\""));
  }
  t.listen = *address;
  if (flags.tls_cert.empty() || flags.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_listen needs --tls_cert and --tls_key (PEM files)");
  }
  for (const auto& [flag, path, out] :
       {std::make_tuple("--tls_cert", flags.tls_cert, &t.cert_pem),
        std::make_tuple("--tls_key", flags.tls_key, &t.key_pem)}) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path, ": cannot read"));
    }
    *out = text.str();
  }
  auto users = std::make_shared<tls::PasswordFile>();
  if (!flags.tls_users.empty()) {
    auto loaded = tls::PasswordFile::Load(flags.tls_users);
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_users: ", loaded.status().message()));
    }
    *users = *std::move(loaded);
  }
  for (const std::string& spec : flags.tls_user) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
      return absl::InvalidArgumentError(
          "--tls_user: expected user:password");
    }
    auto entry = tls::MakePasswordEntry(spec.substr(0, colon), {},
                                        spec.substr(colon + 1));
    absl::Status added = entry.status();
    if (added.ok()) added = users->Add(*std::move(entry));
    if (!added.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_user: ", added.message()));
    }
  }
  if (users->size() == 0) {
    return absl::InvalidArgumentError(
        "--tls_listen needs users: --tls_users=FILE or --tls_user=user:pw");
  }
  t.users = users;
  auto pool = ipsec::ParseIpPrefix(flags.tls_pool);
  if (!pool.ok() || !pool->address.is_v4() ||
      !absl::StrContains(flags.tls_pool, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_pool: not an IPv4 prefix such as 10.99.101.0/24: \"",
        flags.tls_pool, "\""));
  }
  t.pool4 = *pool;
  t.pool6.reset();
  if (!flags.tls_pool6.empty()) {
    auto prefix = ipsec::ParseIpPrefix(flags.tls_pool6);
    if (!prefix.ok() || !prefix->address.is_v6() ||
        !absl::StrContains(flags.tls_pool6, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls_pool6: not an IPv6 prefix such as fd99::101:0/112: \"",
          flags.tls_pool6, "\""));
    }
    t.pool6 = *prefix;
  }
  t.default_domain = flags.tls_default_domain;
  t.dtls = flags.dtls;
  t.dtls_listen.reset();
  if (!flags.dtls_listen.empty()) {
    if (!t.dtls) {
      return absl::InvalidArgumentError("--dtls_listen needs --dtls");
    }
    auto dtls_address = SocketAddress::Parse(flags.dtls_listen);
    if (!dtls_address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dtls_listen: not an address:port: \"", flags.dtls_listen, "\""));
    }
    t.dtls_listen = *dtls_address;
  }
  for (const auto& [name, value, out] :
       {std::make_tuple("--tls_dpd", flags.tls_dpd, &t.dpd_seconds),
        std::make_tuple("--tls_keepalive", flags.tls_keepalive,
                        &t.keepalive_seconds)}) {
    if (value < absl::ZeroDuration() || value > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": must be 0 (off) to 24h"));
    }
    *out = static_cast<int>(absl::ToInt64Seconds(value));
  }
  if (flags.tls_cookie_lifetime < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "--tls_cookie_lifetime: must be at least 1s");
  }
  t.cookie_lifetime = flags.tls_cookie_lifetime;
  if (flags.tls_idle_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--tls_idle_timeout: must not be negative (0: automatic)");
  }
  t.idle_timeout = flags.tls_idle_timeout;
  return absl::OkStatus();
}

}  // namespace stow::gateway
