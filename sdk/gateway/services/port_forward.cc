#include "sdk/gateway/services/port_forward.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/gateway/services/http_request.h"

namespace stow::gateway {
namespace {

constexpr absl::string_view kExample = "10.99.0.1:8080=127.0.0.1:8000";

absl::Status SideError(absl::string_view what, absl::string_view text,
                       absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", text, "\": ", problem));
}

// "IPv4:port" or "[IPv6]:port".
absl::StatusOr<SocketAddress> ParseSide(absl::string_view what,
                                        absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is empty; expected IPv4:PORT or [IPv6]:PORT"));
  }
  absl::string_view host;
  absl::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    bracketed = true;
    size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return SideError(what, text, "missing ']' after the IPv6 address");
    }
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      return SideError(what, text, "has no port; expected [IPv6]:PORT");
    }
    if (rest.front() != ':') {
      return SideError(what, text, "expected ':' and a port after ']'");
    }
    port_text = rest.substr(1);
  } else {
    size_t colon = text.find(':');
    if (colon == absl::string_view::npos) {
      return SideError(what, text, "has no port; expected IPv4:PORT");
    }
    if (text.find(':', colon + 1) != absl::string_view::npos) {
      return SideError(
          what, text,
          "IPv6 addresses need brackets, e.g. [fd99::1]:8080");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  absl::optional<uint64_t> port = ParseDecimal(port_text);
  if (!port.has_value() || *port == 0 || *port > 65535) {
    return SideError(what, text,
                     absl::StrCat("port \"", port_text,
                                  "\" is not a number in 1..65535"));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
  if (!ip.ok()) {
    return SideError(what, text,
                     absl::StrCat("\"", host, "\" is not an ",
                                  bracketed ? "IPv6" : "IPv4",
                                  " address (host names are not resolved)"));
  }
  if (bracketed && ip->is_v4()) {
    return SideError(what, text, "IPv4 addresses are written without brackets");
  }
  if (!bracketed && ip->is_v6()) {
    return SideError(what, text, "IPv6 addresses need brackets");
  }
  return SocketAddress(*ip, static_cast<uint16_t>(*port));
}

}  // namespace

std::string ForwardSpec::ToString() const {
  return absl::StrCat(virtual_address.ToString(), "=",
                      host_address.ToString());
}

absl::StatusOr<ForwardSpec> ParseForwardSpec(absl::string_view text) {
  size_t eq = text.find('=');
  if (eq == absl::string_view::npos ||
      text.find('=', eq + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward spec \"", text,
        "\" needs exactly one '=' between the virtual address and the host "
        "address, e.g. ",
        kExample));
  }
  absl::StatusOr<SocketAddress> virtual_address =
      ParseSide("virtual address", text.substr(0, eq));
  if (!virtual_address.ok()) return virtual_address.status();
  absl::StatusOr<SocketAddress> host_address =
      ParseSide("host address", text.substr(eq + 1));
  if (!host_address.ok()) return host_address.status();
  if (host_address->ip().IsUnspecified()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host address \"", text.substr(eq + 1),
                     "\" is unspecified; name a host address such as "
                     "127.0.0.1"));
  }
  return ForwardSpec{*virtual_address, *host_address};
}

PortForward::PortForward(const ForwardSpec& spec,
                         std::unique_ptr<proxy::RemoteForward> forward)
    : spec_(spec), forward_(std::move(forward)) {}

absl::StatusOr<std::unique_ptr<PortForward>> PortForward::Start(
    netstack::Stack* stack, event::UvLoop* loop, const ForwardSpec& spec,
    const PortForwardOptions& options) {
  proxy::ForwardOptions forward_options;
  forward_options.max_connections = options.max_connections;
  forward_options.host_queue_limit = options.host_queue_limit;
  absl::StatusOr<std::unique_ptr<proxy::RemoteForward>> forward =
      proxy::RemoteForward::Start(stack, loop, spec.virtual_address,
                                  spec.host_address, forward_options);
  if (!forward.ok()) return forward.status();
  return std::unique_ptr<PortForward>(
      new PortForward(spec, std::move(*forward)));
}

PortForward::~PortForward() = default;

SocketAddress PortForward::listen_address() const {
  return forward_->listen_address();
}

size_t PortForward::live_relays() const { return forward_->live_relays(); }

PortForwardCounters PortForward::counters() const {
  const proxy::ForwardCounters c = forward_->counters();
  PortForwardCounters out;
  out.accepted = c.accepted;
  out.active = c.active;
  out.closed = c.closed;
  out.connect_failures = c.connect_failures;
  out.errors = c.errors;
  out.rejected = c.rejected;
  out.bytes_to_host = c.bytes_to_host;
  out.bytes_to_virtual = c.bytes_to_tunnel;
  return out;
}

}  // namespace stow::gateway
