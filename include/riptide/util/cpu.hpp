#pragma once
// CPU helpers: pinning, the allowed-CPU set, and a spin-wait hint.
// Syscall wrappers return 0 or -errno (liburing's convention); nothing here throws.

#include <cstdint>
#include <vector>

namespace riptide::util {

// Pins the calling thread to `cpu`. Returns 0 or -errno (e.g. -EINVAL if not allowed).
int pin_current_thread(int cpu) noexcept;

// CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> allowed_cpus();

// Names the calling thread (visible in top/ps); truncated to 15 bytes.
void name_current_thread(const char* name) noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace riptide::util
