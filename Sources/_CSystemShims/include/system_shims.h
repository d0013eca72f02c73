// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export (eventfd, epoll, timerfd, signalfd
// bits), eventfd reads and writes without glibc's cancellation point, and the affinity mask's
// CPU count (CPU_COUNT is a macro that needs _GNU_SOURCE), and the futex lock under FutexMutex.
#ifndef AJ_SYSTEM_SHIMS_H
#define AJ_SYSTEM_SHIMS_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <stdint.h>

/// write(2) of `value` to an eventfd, as a plain system call: glibc's read and write enable and
/// disable asynchronous cancellation around the call (two atomic operations on the thread's
/// cancellation word), which an engine signalling a million operations a second pays for
/// nothing (nothing here is cancelled with pthread_cancel). Under ThreadSanitizer it is the
/// libc call, which TSan intercepts to see the write -> read ordering. Returns as write(2).
long aj_eventfd_add(int fd, uint64_t value);

/// read(2) of an eventfd's counter into `value`, as `aj_eventfd_add` writes. Returns as read(2).
long aj_eventfd_take(int fd, uint64_t *value);

/// The number of CPUs in the calling thread's affinity mask (sched_getaffinity(2) and
/// CPU_COUNT), or -1 with errno set if the mask cannot be read.
int aj_affinity_cpu_count(void);

/// Names the calling thread (pthread_setname_np, which needs _GNU_SOURCE): the first 15 bytes of
/// `name`, as ps, top, gdb and /proc show it. Returns 0 or an error number.
int aj_thread_set_name(const char *name);

/// Puts the calling thread in the SCHED_BATCH scheduling class (sched_setscheduler(2) with pid
/// 0 acts on the calling thread; no privilege needed): the scheduler treats it as CPU-bound and
/// favours other threads' wake-ups over it. Returns 0 or an error number.
int aj_thread_set_batch_scheduling(void);

/// The calling thread's scheduling policy (sched_getscheduler(2)), e.g. SCHED_OTHER or
/// SCHED_BATCH, or -1.
int aj_thread_scheduling_policy(void);

/// SCHED_BATCH, for comparisons in Swift.
int aj_sched_batch(void);

/// A flag of the calling thread (thread-local storage, which Swift cannot declare): set by a job
/// loop on its own thread while it watches engine descriptors edge-triggered.
void aj_thread_set_edge_watcher(int value);
int aj_thread_edge_watcher(void);

/// dladdr(3) (a GNU extension Glibc's module does not export): the symbol containing `address`,
/// its start and the file of its image, each NULL when unknown. Returns 0 if no image holds it.
int aj_symbol_for_address(const void *address, const char **name, const void **start, const char **image);
/// Takes the lock whose word is at `word` (0 unlocked, 1 locked, 2 locked and maybe waited
/// for): one compare-and-swap when it is free; otherwise the thread sleeps in futex(2) until an
/// unlock wakes it. Not recursive. Out of line on purpose: compiled with the package's C flags, so
/// that ThreadSanitizer instruments its atomic operations (acquire here, release in the unlock)
/// and sees every hand-over of the lock.
void aj_mutex_lock(uint32_t *word);

/// Releases a lock taken with `aj_mutex_lock` (by any thread), waking one sleeper if there may be one.
void aj_mutex_unlock(uint32_t *word);
#endif
