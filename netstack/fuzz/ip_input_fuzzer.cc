// Fuzz target: arbitrary bytes as inbound IP packets into a live netstack
// with a TCP listener, an established connection, and a UDP endpoint bound,
// so TCP, UDP, ICMP, fragments and IPv6 paths all see the input. A finding is
// a crash, a sanitizer report or an lwIP assertion: bad input must only ever
// be a counted drop.
//
// The input is split into packets at "\xFF\xFE" markers so one input can
// carry a sequence (for reassembly and TCP state).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "netstack/stack.h"
#include "netstack/tcp.h"
#include "netstack/testing/loopback_link.h"
#include "netstack/udp.h"
#include "sdk/event/manual_loop.h"

namespace {

using namespace stow;  // NOLINT: a fuzz target's one file.

struct Discard : netstack::TcpConnection::Delegate,
                 netstack::TcpListener::Delegate,
                 netstack::UdpEndpoint::Delegate {
  void OnReadable() override {
    uint8_t buf[4096];
    for (auto& c : conns) {
      while (c->Read(absl::MakeSpan(buf)) > 0) {
      }
    }
  }
  void OnError(absl::Status) override {}
  void OnAccept(std::unique_ptr<netstack::TcpConnection> c) override {
    if (conns.size() < 64) {
      c->set_delegate(this);
      conns.push_back(std::move(c));
    }
  }
  void OnDatagram(absl::Span<const uint8_t>, const SocketAddress&) override {}
  std::vector<std::unique_ptr<netstack::TcpConnection>> conns;
};

struct World {
  World() {
    stack = *netstack::Stack::Create(&loop);
    link = std::make_unique<netstack::testing::LoopbackLink>(&loop, 1500);
    netstack::InterfaceConfig config;
    config.ipv4 = IpAddress::V4(10, 0, 0, 1);
    config.ipv4_prefix_len = 24;
    config.ipv6 = *IpAddress::Parse("fd00::1");
    config.default_route = true;
    iface = *stack->AddInterface(link.get(), config);
    for (const char* ip : {"10.0.0.1", "fd00::1"}) {
      listeners.push_back(*netstack::TcpListener::Listen(
          stack.get(), SocketAddress(*IpAddress::Parse(ip), 80), &discard));
      udp.push_back(*netstack::UdpEndpoint::Bind(
          stack.get(), SocketAddress(*IpAddress::Parse(ip), 53), &discard));
    }
  }
  event::ManualLoop loop;
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<netstack::testing::LoopbackLink> link;
  std::unique_ptr<netstack::Interface> iface;
  Discard discard;
  std::vector<std::unique_ptr<netstack::TcpListener>> listeners;
  std::vector<std::unique_ptr<netstack::UdpEndpoint>> udp;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // One stack per process, kept.
  size_t start = 0;
  for (size_t i = 0; i + 1 <= size; ++i) {
    const bool marker = i + 1 < size && data[i] == 0xFF && data[i + 1] == 0xFE;
    if (marker || i + 1 == size) {
      size_t end = marker ? i : size;
      world->link->Inject(absl::MakeConstSpan(data + start, end - start));
      start = i + 2;
      if (marker) ++i;
    }
  }
  world->loop.RunUntilIdle();
  // Let timers (reassembly, retransmissions) run over the state left behind.
  world->loop.AdvanceBy(absl::Milliseconds(500));
  world->loop.RunUntilIdle();
  if (world->discard.conns.size() >= 64) world->discard.conns.clear();
  return 0;
}
