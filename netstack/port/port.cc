// lwIP port glue: assertion and diagnostic sinks, and the clock. The clock is
// the netstack's loop clock, installed by netstack::Stack, so tests that use
// a fake clock drive lwIP's timers deterministically.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "lwip/arch.h"
#include "lwip/sys.h"
#include "netstack/port/port.h"

namespace {
stow_lwip_clock_fn g_clock = nullptr;
void* g_clock_context = nullptr;
}  // namespace

extern "C" {

void netstack_lwip_set_clock(stow_lwip_clock_fn fn, void* context) {
  g_clock = fn;
  g_clock_context = context;
}

u32_t sys_now(void) {
  if (g_clock == nullptr) return 0;
  return static_cast<u32_t>(g_clock(g_clock_context));
}

void netstack_lwip_assert(const char* message, const char* file, int line) {
  std::fprintf(stderr, "lwIP assertion failed: %s at %s:%d\n", message, file,
               line);
  std::abort();
}

void netstack_lwip_diag(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
}

}  // extern "C"
