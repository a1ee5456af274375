#include "netstack/links/tun_link.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace stow::netstack {
namespace {
// Packets read per readiness event before yielding to the loop.
constexpr int kReadBatch = 64;
}  // namespace

absl::StatusOr<int> OpenTunDevice(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad TUN device name \"", name, "\""));
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("open /dev/net/tun: ", std::strerror(errno)));
  }
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    std::string msg = absl::StrCat("TUNSETIFF ", name, ": ", std::strerror(e));
    if (e == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  return fd;
}

TunLink::TunLink(int fd, int mtu) : fd_(fd), mtu_(mtu), buffer_(65536) {}

absl::StatusOr<std::unique_ptr<TunLink>> TunLink::Create(event::UvLoop* loop,
                                                         int fd, int mtu) {
  std::unique_ptr<TunLink> link(new TunLink(fd, mtu));
  absl::StatusOr<std::unique_ptr<event::FdWatcher>> watcher =
      event::FdWatcher::Create(loop, fd);
  if (!watcher.ok()) return watcher.status();
  link->watcher_ = std::move(*watcher);
  TunLink* raw = link.get();
  absl::Status status = link->watcher_->Start(
      /*readable=*/true, /*writable=*/false,
      [raw](bool readable, bool) {
        if (readable) raw->OnReadable();
      });
  if (!status.ok()) return status;
  return link;
}

TunLink::~TunLink() {
  watcher_.reset();
  close(fd_);
}

void TunLink::SendPacket(
    absl::Span<const absl::Span<const uint8_t>> fragments) {
  absl::InlinedVector<struct iovec, 8> iov;
  for (absl::Span<const uint8_t> f : fragments) {
    iov.push_back({const_cast<uint8_t*>(f.data()), f.size()});
  }
  ssize_t n;
  do {
    n = writev(fd_, iov.data(), static_cast<int>(iov.size()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    counters_.tx_dropped++;  // Queue full: a drop, as on a real wire.
    return;
  }
  counters_.tx_packets++;
}

void TunLink::OnReadable() {
  for (int i = 0; i < kReadBatch; ++i) {
    ssize_t n = read(fd_, buffer_.data(), buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    counters_.rx_packets++;
    if (receiver_ != nullptr) {
      receiver_->OnPacket(
          absl::MakeConstSpan(buffer_.data(), static_cast<size_t>(n)));
    }
  }
}

}  // namespace stow::netstack
