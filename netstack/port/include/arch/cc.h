// lwIP architecture header for Stowaway (Linux/POSIX, GCC or Clang).
#ifndef STOWAWAY_NETSTACK_PORT_ARCH_CC_H_
#define STOWAWAY_NETSTACK_PORT_ARCH_CC_H_

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_ERRNO_STDINCLUDE 1

#ifdef __cplusplus
extern "C" {
#endif
// Defined in netstack/port/port.cc: logs and aborts. An lwIP assertion means
// a bug in our use of lwIP, never bad network input.
void netstack_lwip_assert(const char* message, const char* file, int line);
void netstack_lwip_diag(const char* fmt, ...);
#ifdef __cplusplus
}
#endif

#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    netstack_lwip_diag x;         \
  } while (0)
#define LWIP_PLATFORM_ASSERT(x) netstack_lwip_assert((x), __FILE__, __LINE__)

#define LWIP_RAND() ((u32_t)random())

#endif  // STOWAWAY_NETSTACK_PORT_ARCH_CC_H_
