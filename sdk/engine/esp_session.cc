#include "sdk/engine/esp_session.h"

#include <utility>

namespace stow::engine {

absl::StatusOr<std::unique_ptr<EspSession>> EspSession::Start(
    event::UvLoop* loop, netstack::Stack* stack,
    const ipsec::EspProfile& profile, tunnel::Tunnel::EventCallback on_event) {
  std::unique_ptr<EspSession> session(new EspSession(profile));
  auto tunnel = ipsec::EspTunnel::Create(loop, profile, std::move(on_event));
  if (!tunnel.ok()) return tunnel.status();
  session->tunnel_ = *std::move(tunnel);
  netstack::InterfaceConfig config;
  config.ipv4 = profile.ipv4;
  config.ipv6 = profile.ipv6;
  config.mtu = profile.mtu;
  config.verify_checksums = false;  // ESP's AEAD authenticated every packet.
  for (const ipsec::IpPrefix& route : profile.routes) {
    config.routes.push_back({route.address, route.length});
  }
  config.default_route = profile.routes.empty();
  auto interface = stack->AddInterface(session->tunnel_.get(), config);
  if (!interface.ok()) return interface.status();
  session->interface_ = *std::move(interface);
  return session;
}

EspSession::~EspSession() {
  interface_.reset();  // Aborts the session's connections first.
  tunnel_.reset();
}

tunnel::CounterList EspSession::Counters() const {
  tunnel::CounterList list = tunnel_->Counters();
  const netstack::InterfaceCounters& c = interface_->counters();
  list.insert(list.end(), {{"netstack_rx_packets", c.rx_packets},
                           {"netstack_tx_packets", c.tx_packets},
                           {"netstack_rx_malformed", c.rx_malformed},
                           {"netstack_rx_ignored", c.rx_ignored}});
  return list;
}

}  // namespace stow::engine
