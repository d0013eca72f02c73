// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export (epoll, eventfd) and a thread's
// kernel name, for AsyncJobsNIO's DescriptorWatcher. Not API.
#pragma once
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// Sets the calling thread's name as the kernel shows it (`/proc/self/task/*/comm`, `top -H`,
/// `perf`), cut to the kernel's 15 bytes.
void aj_nio_name_current_thread(const char *name);
