// Helpers shared by sdk/event's libuv wrappers. Includes uv.h, so it is
// private to sdk/event.
#ifndef STOWAWAY_SDK_EVENT_UV_UTIL_H_
#define STOWAWAY_SDK_EVENT_UV_UTIL_H_

#include <uv.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sdk/base/ip_address.h"
#include "sdk/event/handle_owner.h"

namespace stow::event::internal {

// Maps a libuv error code (negative errno) to a Status whose message starts
// with `context`, e.g. "connecting to 127.0.0.1:9: connection refused
// (ECONNREFUSED)". kUnavailable means a transient network condition (would
// block, refused, reset, unreachable); kAlreadyExists an address in use.
absl::Status UvError(int error, absl::string_view context);

// The error for binding to `address`; an address in use gives kAlreadyExists
// with the message "<address> is already in use".
absl::Status BindError(int error, const SocketAddress& address);

// Wires a freshly initialized handle to its owner.
inline void SetOwner(void* handle, HandleOwner* owner) {
  static_cast<uv_handle_t*>(handle)->data = owner;
}

// The owner of an open handle, or null once its owner closed it.
inline HandleOwner* OwnerOf(const void* handle) {
  return static_cast<HandleOwner*>(static_cast<const uv_handle_t*>(handle)->data);
}

// Closes `handle`, allocated with `new T`, and deletes it from libuv's close
// callback: libuv uses the memory until then, after the owner is gone.
// Clears `data` first so callbacks of cancelled requests (run while
// closing) find no owner.
template <typename T>
void CloseAndDelete(T* handle) {
  auto* h = reinterpret_cast<uv_handle_t*>(handle);
  h->data = nullptr;
  uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
}

}  // namespace stow::event::internal

#endif  // STOWAWAY_SDK_EVENT_UV_UTIL_H_
