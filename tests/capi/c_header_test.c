/* Compiled as C: the public header is valid C, its enums and status type
 * are 32 bits wide, the callback structs start with struct_size, and the
 * simplest calls work from a C program. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sdk/include/stowaway/stowaway.h"

_Static_assert(sizeof(stow_status) == 4, "stow_status is 32 bits");
_Static_assert(sizeof(STOW_ERR_INTERNAL) == 4, "status enum is 32 bits");
_Static_assert(sizeof(STOW_SESSION_CLOSED) == 4, "state enum is 32 bits");
_Static_assert(sizeof(STOW_CATEGORY_INTERNAL) == 4, "category enum");
_Static_assert(offsetof(stow_tcp_callbacks, struct_size) == 0,
               "struct_size first");
_Static_assert(offsetof(stow_session_callbacks, struct_size) == 0,
               "struct_size first");
_Static_assert(offsetof(stow_udp_callbacks, struct_size) == 0,
               "struct_size first");
_Static_assert(offsetof(stow_tcp_listener_callbacks, struct_size) == 0,
               "struct_size first");
_Static_assert(offsetof(stow_session_event, struct_size) == 0,
               "struct_size first");

static int failures = 0;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s\n", what);
    failures++;
  }
}

int main(void) {
  stow_engine *engine = NULL;
  stow_session *session = NULL;
  const char *bad = "{\"gateway\": 1}";
  check(strcmp(stow_status_name(STOW_ERR_BAD_HANDLE), "STOW_ERR_BAD_HANDLE") ==
            0,
        "stow_status_name");
  check(stow_api_version() == STOW_API_VERSION, "stow_api_version");
  check(stow_engine_create(&engine) == STOW_OK, "stow_engine_create");
  check(stow_session_create(engine, bad, strlen(bad), NULL, &session) ==
            STOW_ERR_BAD_PROFILE,
        "a bad profile is refused");
  check(session == NULL, "no session for a bad profile");
  check(strstr(stow_last_error_message(), "gateway") != NULL,
        "the message names the field");
  check(stow_engine_destroy(engine) == STOW_OK, "stow_engine_destroy");
  if (failures == 0) printf("PASS: the C API from C\n");
  return failures == 0 ? 0 : 1;
}
