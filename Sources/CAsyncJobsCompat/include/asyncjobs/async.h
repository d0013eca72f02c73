/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * OpenSSL's <openssl/async.h> names on swift-async-jobs. A program written for OpenSSL's ASYNC
 * API replaces `#include <openssl/async.h>` with `#include <asyncjobs/async.h>` and links with
 * `-lAsyncJobsC` (see `pkg-config --cflags --libs asyncjobs`). Every name below is a macro onto
 * the SAJ_ symbols of <asyncjobs/saj_async.h>, so nothing clashes with a real libcrypto loaded in
 * the same process.
 *
 * Default: the OpenSSL 3.x API (ASYNC_init_thread, the 6-argument ASYNC_start_job, ASYNC_WAIT_CTX,
 * and 3.2's ASYNC_set_mem_functions / ASYNC_get_mem_functions).
 * `#define SAJ_FIRST_DESIGN` before the include: the first design's API of 2015 instead
 * (ASYNC_init_pool, ASYNC_free_pool, the 5-argument ASYNC_start_job, ASYNC_get_wait_fd,
 * ASYNC_wake, ASYNC_clear_wake, ASYNC_in_job); the other 3.x names stay available.
 *
 * Include it before any OpenSSL header that includes <openssl/async.h> (such as <openssl/ssl.h>):
 * it takes over that header's include guard. Included after it, the types are the same and the
 * macros still route every call here.
 */
#ifndef SAJ_COMPAT_ASYNC_H
#define SAJ_COMPAT_ASYNC_H

#include <stdlib.h> /* as <openssl/async.h> does */
#include <asyncjobs/saj_async.h>

#ifndef OPENSSL_ASYNC_H
#define OPENSSL_ASYNC_H
#define HEADER_ASYNC_H
typedef SAJ_JOB ASYNC_JOB;
typedef SAJ_WAIT_CTX ASYNC_WAIT_CTX;
typedef SAJ_callback_fn ASYNC_callback_fn;
#endif

/* Types and constants: the same tokens as OpenSSL, so a repeated definition is harmless. */
#define OSSL_ASYNC_FD int
#define OSSL_BAD_ASYNC_FD -1

#define ASYNC_ERR 0
#define ASYNC_NO_JOBS 1
#define ASYNC_PAUSE 2
#define ASYNC_FINISH 3

#define ASYNC_STATUS_UNSUPPORTED 0
#define ASYNC_STATUS_ERR 1
#define ASYNC_STATUS_OK 2
#define ASYNC_STATUS_EAGAIN 3

/* OpenSSL 3.2 */
typedef SAJ_stack_alloc_fn ASYNC_stack_alloc_fn;
typedef SAJ_stack_free_fn ASYNC_stack_free_fn;

/* Functions common to both designs. */
#define ASYNC_pause_job SAJ_pause_job
#define ASYNC_get_current_job SAJ_get_current_job
#define ASYNC_get_wait_ctx SAJ_get_wait_ctx
#define ASYNC_block_pause SAJ_block_pause
#define ASYNC_unblock_pause SAJ_unblock_pause
#define ASYNC_is_capable SAJ_is_capable
#define ASYNC_init_thread SAJ_init_thread
#define ASYNC_cleanup_thread SAJ_cleanup_thread
#define ASYNC_set_mem_functions SAJ_set_mem_functions
#define ASYNC_get_mem_functions SAJ_get_mem_functions

#define ASYNC_WAIT_CTX_new SAJ_WAIT_CTX_new
#define ASYNC_WAIT_CTX_free SAJ_WAIT_CTX_free
#define ASYNC_WAIT_CTX_set_wait_fd SAJ_WAIT_CTX_set_wait_fd
#define ASYNC_WAIT_CTX_get_fd SAJ_WAIT_CTX_get_fd
#define ASYNC_WAIT_CTX_get_all_fds SAJ_WAIT_CTX_get_all_fds
#define ASYNC_WAIT_CTX_get_changed_fds SAJ_WAIT_CTX_get_changed_fds
#define ASYNC_WAIT_CTX_clear_fd SAJ_WAIT_CTX_clear_fd
#define ASYNC_WAIT_CTX_set_callback SAJ_WAIT_CTX_set_callback
#define ASYNC_WAIT_CTX_get_callback SAJ_WAIT_CTX_get_callback
#define ASYNC_WAIT_CTX_set_status SAJ_WAIT_CTX_set_status
#define ASYNC_WAIT_CTX_get_status SAJ_WAIT_CTX_get_status

#ifdef SAJ_FIRST_DESIGN
/* OpenSSL 1.1.0 development (ASYNC_start_job.pod of 2015). */
#define ASYNC_init_pool SAJ_init_thread
#define ASYNC_free_pool SAJ_cleanup_thread
#define ASYNC_start_job SAJ_start_job_v1
#define ASYNC_get_wait_fd SAJ_get_wait_fd
#define ASYNC_wake SAJ_wake
#define ASYNC_clear_wake SAJ_clear_wake
#define ASYNC_in_job SAJ_in_job
#else
#define ASYNC_start_job SAJ_start_job
#endif

#endif /* SAJ_COMPAT_ASYNC_H */
