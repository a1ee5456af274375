#include "sdk/event/uv_util.h"

#include "absl/strings/str_cat.h"

namespace stow::event::internal {
namespace {

absl::StatusCode CodeFor(int error) {
  switch (error) {
    case UV_EADDRINUSE:
      return absl::StatusCode::kAlreadyExists;
    case UV_EAGAIN:
    case UV_ENOBUFS:
    case UV_ECONNREFUSED:
    case UV_ECONNRESET:
    case UV_ECONNABORTED:
    case UV_ETIMEDOUT:
    case UV_ENETDOWN:
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_EPIPE:
    case UV_ENOTCONN:
      return absl::StatusCode::kUnavailable;
    case UV_EINVAL:
    case UV_EAFNOSUPPORT:
    case UV_EADDRNOTAVAIL:
    case UV_EMSGSIZE:
    case UV_EBADF:
    case UV_ENOTSOCK:
      return absl::StatusCode::kInvalidArgument;
    case UV_EACCES:
    case UV_EPERM:
      return absl::StatusCode::kPermissionDenied;
    case UV_EMFILE:
    case UV_ENFILE:
    case UV_ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    case UV_ECANCELED:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kUnknown;
  }
}

}  // namespace

absl::Status UvError(int error, absl::string_view context) {
  return absl::Status(CodeFor(error),
                      absl::StrCat(context, ": ", uv_strerror(error), " (",
                                   uv_err_name(error), ")"));
}

absl::Status BindError(int error, const SocketAddress& address) {
  if (error == UV_EADDRINUSE) {
    return absl::AlreadyExistsError(
        absl::StrCat(address.ToString(), " is already in use"));
  }
  return UvError(error, absl::StrCat("binding to ", address.ToString()));
}

}  // namespace stow::event::internal
