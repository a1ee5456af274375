// stow_status_name and stow_status_string: one table for both.
#include <cstddef>

#include "sdk/include/stowaway/stowaway.h"

namespace {

struct StatusText {
  stow_status status;
  const char* name;
  const char* text;
};

constexpr StatusText kStatusTable[] = {
    {STOW_OK, "STOW_OK", "success"},
    {STOW_ERR_INVALID_ARGUMENT, "STOW_ERR_INVALID_ARGUMENT",
     "an argument is invalid"},
    {STOW_ERR_NULL_HANDLE, "STOW_ERR_NULL_HANDLE", "a handle is NULL"},
    {STOW_ERR_BAD_HANDLE, "STOW_ERR_BAD_HANDLE",
     "the handle was destroyed or is of another kind"},
    {STOW_ERR_BAD_PROFILE, "STOW_ERR_BAD_PROFILE",
     "the profile is malformed or invalid"},
    {STOW_ERR_BAD_ADDRESS, "STOW_ERR_BAD_ADDRESS",
     "not an IPv4 or IPv6 address"},
    {STOW_ERR_BAD_NAME, "STOW_ERR_BAD_NAME", "not a valid host name"},
    {STOW_ERR_BAD_STRUCT_SIZE, "STOW_ERR_BAD_STRUCT_SIZE",
     "a struct has an unknown struct_size"},
    {STOW_ERR_BUFFER_TOO_SMALL, "STOW_ERR_BUFFER_TOO_SMALL",
     "the output buffer is too small"},
    {STOW_ERR_ILLEGAL_STATE, "STOW_ERR_ILLEGAL_STATE",
     "not allowed in the current state"},
    {STOW_ERR_WRONG_THREAD, "STOW_ERR_WRONG_THREAD",
     "a blocking function was called on the network thread"},
    {STOW_ERR_ENGINE_EXISTS, "STOW_ERR_ENGINE_EXISTS",
     "an engine exists already (one per process)"},
    {STOW_ERR_NOT_CONNECTED, "STOW_ERR_NOT_CONNECTED",
     "the session is not connected"},
    {STOW_ERR_CLOSED, "STOW_ERR_CLOSED", "shut down or closed"},
    {STOW_ERR_ALREADY_STARTED, "STOW_ERR_ALREADY_STARTED",
     "the session was started already"},
    {STOW_ERR_ADDRESS_IN_USE, "STOW_ERR_ADDRESS_IN_USE",
     "the address and port are in use"},
    {STOW_ERR_WOULD_BLOCK, "STOW_ERR_WOULD_BLOCK",
     "nothing to read or no room to write now"},
    {STOW_ERR_EOF, "STOW_ERR_EOF", "the peer finished sending"},
    {STOW_ERR_MESSAGE_TOO_LONG, "STOW_ERR_MESSAGE_TOO_LONG",
     "the datagram is too long"},
    {STOW_ERR_RESOURCE_EXHAUSTED, "STOW_ERR_RESOURCE_EXHAUSTED",
     "a limit was reached"},
    {STOW_ERR_UNSUPPORTED, "STOW_ERR_UNSUPPORTED", "not supported"},
    {STOW_ERR_UNREACHABLE, "STOW_ERR_UNREACHABLE",
     "no route to the destination through the tunnel"},
    {STOW_ERR_CONNECTION_REFUSED, "STOW_ERR_CONNECTION_REFUSED",
     "the connection was refused"},
    {STOW_ERR_CONNECTION_RESET, "STOW_ERR_CONNECTION_RESET",
     "the connection was reset"},
    {STOW_ERR_TIMED_OUT, "STOW_ERR_TIMED_OUT", "timed out"},
    {STOW_ERR_NAME_NOT_FOUND, "STOW_ERR_NAME_NOT_FOUND",
     "the name does not exist or has no address"},
    {STOW_ERR_DNS_FAILED, "STOW_ERR_DNS_FAILED",
     "the DNS servers failed or did not answer"},
    {STOW_ERR_AUTH_FAILED, "STOW_ERR_AUTH_FAILED", "authentication failed"},
    {STOW_ERR_NO_PROPOSAL, "STOW_ERR_NO_PROPOSAL",
     "the gateway and the profile share no algorithms"},
    {STOW_ERR_ABORTED, "STOW_ERR_ABORTED",
     "ended by the application or with its session"},
    {STOW_ERR_GATEWAY_UNREACHABLE, "STOW_ERR_GATEWAY_UNREACHABLE",
     "the gateway could not be reached"},
    {STOW_ERR_INTERNAL, "STOW_ERR_INTERNAL", "internal error"},
};

const StatusText* Find(stow_status status) {
  for (const StatusText& s : kStatusTable) {
    if (s.status == status) return &s;
  }
  return nullptr;
}

}  // namespace

extern "C" {

const char* stow_status_name(stow_status status) {
  const StatusText* s = Find(status);
  return s != nullptr ? s->name : "STOW_ERR_UNKNOWN";
}

const char* stow_status_string(stow_status status) {
  const StatusText* s = Find(status);
  return s != nullptr ? s->text : "unknown status code";
}

}  // extern "C"
