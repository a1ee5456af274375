// The link from a libuv handle back to the wrapper that owns it.
#ifndef STOWAWAY_SDK_EVENT_HANDLE_OWNER_H_
#define STOWAWAY_SDK_EVENT_HANDLE_OWNER_H_

namespace stow::event::internal {

// Base of every wrapper that owns one libuv handle (timers, sockets, fd
// watchers). While the handle is open its `data` field points at this
// HandleOwner, which is how UvLoop::Shutdown() finds the owner of a handle
// that leaked past shutdown and makes it let go.
//
// Threading: loop thread only.
class HandleOwner {
 public:
  // Stops the handle and starts closing it; libuv frees its memory from the
  // close callback. Afterwards no libuv callback reaches the owner, and the
  // owner's destructor is the only call still allowed on it. Idempotent.
  virtual void CloseHandle() = 0;

 protected:
  HandleOwner() = default;
  HandleOwner(const HandleOwner&) = delete;
  HandleOwner& operator=(const HandleOwner&) = delete;
  ~HandleOwner() = default;
};

}  // namespace stow::event::internal

#endif  // STOWAWAY_SDK_EVENT_HANDLE_OWNER_H_
