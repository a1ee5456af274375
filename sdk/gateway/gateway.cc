#include "sdk/gateway/gateway.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sdk/tunnel/ipsec/esp/udp_encap.h"

namespace stow::gateway {
namespace {
// Socket buffers for bursts from many clients.
constexpr int kSocketBuffer = 8 << 20;
}  // namespace

struct Gateway::Client {
  std::string name;
  absl::optional<IpAddress> ipv4;
  absl::optional<IpAddress> ipv6;
  std::unique_ptr<ipsec::EspPeer> peer;
  // Where the client's last authenticated packet came from; replies go
  // there. Unset until the client is heard from.
  absl::optional<SocketAddress> address;
  uint64_t rx_spoofed = 0;

  bool Owns(const IpAddress& ip) const {
    return (ipv4 && *ipv4 == ip) || (ipv6 && *ipv6 == ip);
  }
};

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
  // Services and forwards hold connections on the interface: they go first,
  // then the interface (which aborts what is left), then the socket.
  forwards_.clear();
  services_.reset();
  interface_.reset();
  socket_.reset();
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
    const std::string name =
        profile.name.empty() ? absl::StrCat("client ", clients_.size() + 1)
                             : profile.name;
    auto client = std::make_unique<Client>();
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
      for (const auto& [other, owner] : by_address_) {
        if (other == *ip) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": address ", ip->ToString(),
                           " already belongs to ", owner->name));
        }
      }
      by_address_.emplace_back(*ip, client.get());
    }
    auto peer = ipsec::EspPeer::Create(profile.keys,
                                       ipsec::EspRole::kResponder, loop_->Now());
    if (!peer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", peer.status().message()));
    }
    client->peer = *std::move(peer);
    const uint32_t spi = client->peer->inbound_spi();
    if (by_spi_.count(spi) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": esp.i2r.spi 0x", absl::Hex(spi, absl::kZeroPad8),
          " already belongs to ", by_spi_[spi]->name));
    }
    by_spi_[spi] = client.get();
    clients_.push_back(std::move(client));
  }

  socket_ = std::make_unique<event::UdpSocket>(
      loop_, static_cast<event::UdpSocket::Delegate*>(this));
  absl::Status status = socket_->Bind(c.listen);
  if (!status.ok()) return status;
  (void)socket_->SetBufferSizes(kSocketBuffer, kSocketBuffer);
  auto local = socket_->LocalAddress();
  if (!local.ok()) return local.status();
  local_ = *local;

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
      return;
    case esp::UdpKind::kMalformed:
      counters_.rx_malformed++;
      return;
    case esp::UdpKind::kEsp:
      OnEsp(classified.spi, data, from);
      return;
  }
}

void Gateway::OnEsp(uint32_t spi, absl::Span<const uint8_t> data,
                    const SocketAddress& from) {
  auto it = by_spi_.find(spi);
  if (it == by_spi_.end()) {
    counters_.rx_unknown_spi++;
    return;
  }
  Client* client = it->second;
  absl::Span<const uint8_t> inner =
      client->peer->Open(data, &buffer_, loop_->Now());
  ReportEvents(client);
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
  Client* client = nullptr;
  for (const auto& [ip, owner] : by_address_) {
    if (ip == destination) {
      client = owner;
      break;
    }
  }
  if (client == nullptr) {
    counters_.tx_no_client++;
    return;
  }
  if (!client->address) {
    counters_.tx_no_peer++;
    return;
  }
  absl::Span<const uint8_t> esp =
      client->peer->Seal(fragments, &buffer_, loop_->Now());
  ReportEvents(client);
  if (esp.empty()) return;
  absl::Span<const uint8_t> one[] = {esp};
  if (!socket_->SendTo(one, *client->address).ok()) {
    counters_.tx_send_failed++;
  }
}

void Gateway::ReportEvents(Client* client) {
  for (const tunnel::TunnelEvent& event : client->peer->TakeEvents()) {
    Log(absl::StrCat(client->name, ": ", tunnel::TunnelEventKindName(event.kind),
                     event.detail.empty() ? "" : " (", event.detail,
                     event.detail.empty() ? "" : ")"));
  }
}

std::string Gateway::StatusText() const {
  std::string out = "Stowaway gateway\n";
  absl::StrAppend(&out, "listening on ", local_.ToString(), " (ESP in UDP)\n");
  absl::StrAppend(&out, "virtual address ", config_.ipv4.ToString(), "/",
                  config_.ipv4_prefix_len);
  if (config_.ipv6) absl::StrAppend(&out, ", ", config_.ipv6->ToString(), "/64");
  absl::StrAppend(&out, "\n\nclients: ", clients_.size(), "\n");
  for (const auto& client : clients_) {
    std::vector<std::string> addresses;
    if (client->ipv4) addresses.push_back(client->ipv4->ToString());
    if (client->ipv6) addresses.push_back(client->ipv6->ToString());
    absl::StrAppend(
        &out, "  ", client->name, " [", absl::StrJoin(addresses, ", "), "] ",
        client->address ? absl::StrCat("at ", client->address->ToString())
                        : std::string("not heard from"),
        "\n");
    for (const auto& [name, value] : client->peer->Counters()) {
      if (value != 0) absl::StrAppend(&out, "    ", name, " ", value, "\n");
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

}  // namespace stow::gateway
