// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export (eventfd, epoll, timerfd, signalfd
// bits), and eventfd reads and writes without glibc's cancellation point.
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
#endif
