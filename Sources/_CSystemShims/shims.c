// SPDX-License-Identifier: Apache-2.0
// eventfd reads and writes without glibc's cancellation point, the affinity mask's CPU count,
// dladdr, and the futex lock (see system_shims.h).
#define _GNU_SOURCE
#include "system_shims.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AJ_SHIMS_TSAN 1
#endif
#endif

long aj_eventfd_add(int fd, uint64_t value) {
#ifdef AJ_SHIMS_TSAN
    return write(fd, &value, sizeof value);
#else
    return syscall(SYS_write, fd, &value, sizeof value);
#endif
}

long aj_eventfd_take(int fd, uint64_t *value) {
#ifdef AJ_SHIMS_TSAN
    return read(fd, value, sizeof *value);
#else
    return syscall(SYS_read, fd, value, sizeof *value);
#endif
}

int aj_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int aj_thread_set_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = '\0';
    return pthread_setname_np(pthread_self(), truncated);
}

int aj_thread_set_batch_scheduling(void) {
    struct sched_param param = {0};
    return sched_setscheduler(0, SCHED_BATCH, &param) == 0 ? 0 : errno;
}

int aj_thread_scheduling_policy(void) { return sched_getscheduler(0); }

int aj_sched_batch(void) { return SCHED_BATCH; }

static __thread int aj_edge_watcher;

void aj_thread_set_edge_watcher(int value) { aj_edge_watcher = value; }

int aj_thread_edge_watcher(void) { return aj_edge_watcher; }

int aj_symbol_for_address(const void *address, const char **name, const void **start, const char **image) {
    Dl_info info;
    if (dladdr(address, &info) == 0) return 0;
    *name = info.dli_sname;
    *start = info.dli_saddr;
    *image = info.dli_fname;
    return 1;
}

// The three-state futex mutex (U. Drepper, "Futexes Are Tricky", mutex 3). A locker that finds
// the lock taken marks it 2 and sleeps while it stays 2; the unlock that finds 2 wakes one
// sleeper, which takes the lock marking it 2 again (it cannot know whether others sleep), so no
// wake-up is lost. No spinning, like a default pthread mutex.
void aj_mutex_lock(uint32_t *word) {
    uint32_t state = 0;
    if (__atomic_compare_exchange_n(word, &state, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    if (state != 2) state = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    // A lock, like pthread_mutex_lock, leaves errno as it was: the futex call sets it (EAGAIN,
    // EINTR), and a caller may take the lock between a failed system call and its errno check.
    int saved = errno;
    while (state != 0) {
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        state = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    }
    errno = saved;
}

void aj_mutex_unlock(uint32_t *word) {
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) {
        int saved = errno;
        syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        errno = saved;
    }
}
