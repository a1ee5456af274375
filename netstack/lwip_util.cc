#include "netstack/lwip_util.h"

#include "absl/strings/str_cat.h"

namespace stow::netstack::internal {

absl::Status FromLwipErr(err_t err, absl::string_view what) {
  switch (err) {
    case ERR_OK:
      return absl::OkStatus();
    case ERR_MEM:
    case ERR_BUF:
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory"));
    case ERR_TIMEOUT:
      return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    case ERR_RTE:
      return absl::UnavailableError(absl::StrCat(what, ": no route to host"));
    case ERR_INPROGRESS:
    case ERR_WOULDBLOCK:
      return absl::UnavailableError(absl::StrCat(what, ": would block"));
    case ERR_VAL:
    case ERR_ARG:
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": invalid argument"));
    case ERR_USE:
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": address already in use"));
    case ERR_ALREADY:
    case ERR_ISCONN:
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": already connecting or connected"));
    case ERR_CONN:
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": not connected"));
    case ERR_CLSD:
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": connection closed"));
    case ERR_ABRT:
      return absl::AbortedError(absl::StrCat(what, ": connection aborted"));
    case ERR_RST:
      return absl::AbortedError(
          absl::StrCat(what, ": connection reset by peer"));
    default:
      return absl::InternalError(absl::StrCat(what, ": lwIP error ", err));
  }
}

}  // namespace stow::netstack::internal
