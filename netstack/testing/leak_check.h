// LeakSanitizer's verdict on the heap now, for tests that check mid-run
// (as libFuzzer does after each input) rather than only at exit.
#ifndef STOWAWAY_NETSTACK_TESTING_LEAK_CHECK_H_
#define STOWAWAY_NETSTACK_TESTING_LEAK_CHECK_H_

#if defined(__SANITIZE_ADDRESS__)
#define STOW_TEST_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STOW_TEST_HAVE_LSAN 1
#endif
#endif
#ifdef STOW_TEST_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace stow::netstack::testing {

// 0 when nothing is unreachable; always 0 without ASan.
inline int LeakCheck() {
#ifdef STOW_TEST_HAVE_LSAN
  return __lsan_do_recoverable_leak_check();
#else
  return 0;
#endif
}

}  // namespace stow::netstack::testing

#endif  // STOWAWAY_NETSTACK_TESTING_LEAK_CHECK_H_
