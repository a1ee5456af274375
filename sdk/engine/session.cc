#include "sdk/engine/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stow::engine {

std::string AddressList(const std::vector<IpAddress>& addresses) {
  return absl::StrJoin(addresses, ", ",
                       [](std::string* out, const IpAddress& ip) {
                         out->append(ip.ToString());
                       });
}

std::string RouteList(const std::vector<netstack::Route>& routes) {
  return absl::StrJoin(routes, ", ",
                       [](std::string* out, const netstack::Route& r) {
                         absl::StrAppend(out, r.prefix.ToString(), "/",
                                         r.prefix_len);
                       });
}

bool SameRoutes(const std::vector<netstack::Route>& a,
                const std::vector<netstack::Route>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const netstack::Route& x, const netstack::Route& y) {
                      return x.prefix == y.prefix &&
                             x.prefix_len == y.prefix_len;
                    });
}

bool IsTerminal(SessionEvent::Kind kind) {
  return kind == SessionEvent::Kind::kAuthFailed ||
         kind == SessionEvent::Kind::kNoProposalChosen ||
         kind == SessionEvent::Kind::kDisconnected;
}


const char* SessionEventKindName(SessionEvent::Kind kind) {
  switch (kind) {
    case SessionEvent::Kind::kConnecting:
      return "connecting";
    case SessionEvent::Kind::kConnected:
      return "connected";
    case SessionEvent::Kind::kRekeyed:
      return "rekeyed";
    case SessionEvent::Kind::kReconnecting:
      return "reconnecting";
    case SessionEvent::Kind::kAuthFailed:
      return "auth_failed";
    case SessionEvent::Kind::kNoProposalChosen:
      return "no_proposal_chosen";
    case SessionEvent::Kind::kDisconnected:
      return "disconnected";
    case SessionEvent::Kind::kInfo:
      return "info";
  }
  return "unknown";
}


EventQueue::EventQueue(event::Loop* loop, Session::EventCallback callback)
    : callback_(std::move(callback)),
      timer_(loop->NewTimer([this] { Deliver(); })) {}

void EventQueue::Emit(SessionEvent event) {
  for (const SessionEvent& queued : pending_) {
    if (IsTerminal(queued.kind)) return;  // Nothing after the end.
  }
  pending_.push_back(std::move(event));
  if (!timer_->IsArmed()) timer_->Start(absl::ZeroDuration());
}

void EventQueue::Deliver() {
  std::vector<SessionEvent> events = std::exchange(pending_, {});
  for (const SessionEvent& event : events) {
    if (callback_) callback_(event);
    if (IsTerminal(event.kind)) {
      pending_.clear();
      return;
    }
  }
}

absl::Status SessionInterface::Update(netstack::Stack* stack,
                                      netstack::Link* link,
                                      const absl::optional<IpAddress>& v4,
                                      const absl::optional<IpAddress>& v6,
                                      std::vector<netstack::Route> new_routes,
                                      EventQueue* events) {
  if (!v4 && !v6) {
    return absl::FailedPreconditionError(
        "the gateway assigned no virtual address");
  }
  if (interface != nullptr && ipv4 == v4 && ipv6 == v6 &&
      SameRoutes(routes, new_routes)) {
    return absl::OkStatus();  // Same address: connections carry on.
  }
  if (interface != nullptr) {
    changes++;
    events->Emit({SessionEvent::Kind::kInfo,
                  absl::StrCat("virtual address changed from ",
                               ipv4 ? ipv4->ToString() : "-", "/",
                               ipv6 ? ipv6->ToString() : "-", " to ",
                               v4 ? v4->ToString() : "-", "/",
                               v6 ? v6->ToString() : "-",
                               ": connections on the old one end")});
  }
  interface.reset();  // Aborts connections bound to the old address.
  ipv4 = v4;
  ipv6 = v6;
  routes = std::move(new_routes);
  netstack::InterfaceConfig config;
  config.ipv4 = ipv4;
  config.ipv6 = ipv6;
  // ESP's AEAD or TLS authenticated every packet: lwIP's checksum checks
  // add nothing.
  config.verify_checksums = false;
  config.routes = routes;
  config.default_route = routes.empty();
  auto added = stack->AddInterface(link, config);
  if (!added.ok()) return added.status();
  interface = *std::move(added);
  return absl::OkStatus();
}

}  // namespace stow::engine
