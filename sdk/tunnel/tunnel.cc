#include "sdk/tunnel/tunnel.h"

namespace stow::tunnel {

const char* TunnelEventKindName(TunnelEvent::Kind kind) {
  switch (kind) {
    case TunnelEvent::Kind::kPeerUp:
      return "peer-up";
    case TunnelEvent::Kind::kPeerMoved:
      return "peer-moved";
    case TunnelEvent::Kind::kRekeyNeeded:
      return "rekey-needed";
    case TunnelEvent::Kind::kExpired:
      return "expired";
  }
  return "unknown";
}

}  // namespace stow::tunnel
