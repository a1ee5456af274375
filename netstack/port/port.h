// The lwIP port's clock hook. Only netstack/ includes this.
#ifndef STOWAWAY_NETSTACK_PORT_PORT_H_
#define STOWAWAY_NETSTACK_PORT_PORT_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Returns milliseconds on a monotonic clock.
typedef uint64_t (*stow_lwip_clock_fn)(void* context);

// Installs the clock behind lwIP's sys_now(). Loop thread only.
void netstack_lwip_set_clock(stow_lwip_clock_fn fn, void* context);

#ifdef __cplusplus
}
#endif

#endif  // STOWAWAY_NETSTACK_PORT_PORT_H_
