// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export (eventfd, epoll, timerfd, signalfd bits).
// Declarations only; no code, no policy.
#ifndef AJ_SYSTEM_SHIMS_H
#define AJ_SYSTEM_SHIMS_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#endif
