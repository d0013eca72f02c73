// SPDX-License-Identifier: Apache-2.0
// Linux headers that Glibc's Swift module map does not export: epoll and eventfd, for
// AsyncJobsNIO's DescriptorWatcher. Not API.
#pragma once
#include <sys/epoll.h>
#include <sys/eventfd.h>
