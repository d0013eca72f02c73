/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * swift-async-jobs C library (libAsyncJobsC): OpenSSL's ASYNC job API under the `SAJ_` prefix.
 * This header is the source of truth: the Swift implementation (target AsyncJobsCompat) is
 * checked against it by the compiler (`@c @implementation`).
 *
 * Every exported symbol starts with `SAJ_`, so the library never clashes with a real libcrypto
 * in the same process. Programs written for OpenSSL include <asyncjobs/async.h> instead, which
 * maps the `ASYNC_*` names onto these. Behaviour: docs/c-api.md and docs/contract.md.
 *
 * Threads: jobs belong to the thread that started them; SAJ_WAIT_CTX functions may be called
 * from any thread.
 */
#ifndef SAJ_ASYNC_H
#define SAJ_ASYNC_H

#include <stddef.h>

#if defined(__clang__)
#define SAJ_NULLABLE _Nullable
#define SAJ_NONNULL _Nonnull
#else
#define SAJ_NULLABLE
#define SAJ_NONNULL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this C API: major * 10000 + minor * 100 + patch. */
#define SAJ_VERSION 10000

/* A job (an opaque handle; OpenSSL's ASYNC_JOB). The struct tags are OpenSSL's, so that a
 * translation unit that also sees <openssl/async.h> gets the very same types. */
typedef struct async_job_st SAJ_JOB;
/* A wait context (OpenSSL's ASYNC_WAIT_CTX). */
typedef struct async_wait_ctx_st SAJ_WAIT_CTX;
/* An engine's completion callback (OpenSSL's ASYNC_callback_fn). */
typedef int (*SAJ_callback_fn)(void *SAJ_NULLABLE arg);
/* Job stack allocation functions (OpenSSL 3.2's ASYNC_stack_alloc_fn / ASYNC_stack_free_fn).
 * `*num` holds the requested size; the function may raise it to the size it really gave. */
typedef void *SAJ_NULLABLE (*SAJ_stack_alloc_fn)(size_t *SAJ_NONNULL num);
typedef void (*SAJ_stack_free_fn)(void *SAJ_NULLABLE addr);
/* A wait-context cleanup routine: called by SAJ_WAIT_CTX_free with (ctx, key, fd, custom_data). */
typedef void (*SAJ_cleanup_fn)(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, const void *SAJ_NULLABLE key, int fd,
                               void *SAJ_NULLABLE custom_data);
/* A job function. */
typedef int (*SAJ_job_fn)(void *SAJ_NULLABLE arg);

/* A wait file descriptor (OpenSSL's OSSL_ASYNC_FD) and the "no descriptor" value. */
typedef int SAJ_FD;
#define SAJ_BAD_FD -1

/* Results of SAJ_start_job. */
#define SAJ_ERR 0
#define SAJ_NO_JOBS 1
#define SAJ_PAUSE 2
#define SAJ_FINISH 3

/* Engine status values of SAJ_WAIT_CTX_set_status. */
#define SAJ_STATUS_UNSUPPORTED 0
#define SAJ_STATUS_ERR 1
#define SAJ_STATUS_OK 2
#define SAJ_STATUS_EAGAIN 3

/* Diagnostics: SAJ_get_last_error() after a call that failed. */
#define SAJ_E_NONE 0                   /* no failure recorded on this thread */
#define SAJ_E_NESTED_START 1           /* start/resume called from inside a job */
#define SAJ_E_STALE_JOB 2              /* resumed a handle whose job finished or was cancelled */
#define SAJ_E_WRONG_THREAD 3           /* resumed a job on another thread than its own */
#define SAJ_E_OUT_OF_MEMORY 4          /* the argument copy could not be allocated */
#define SAJ_E_STACK_ALLOCATION 5       /* a job stack could not be allocated */
#define SAJ_E_INVALID_POOL_SIZE 6      /* init_thread(max, init) with init > max > 0 */
#define SAJ_E_INVALID_STACK_SIZE 7     /* SAJ_set_stack_size below the minimum */
#define SAJ_E_NULL_ARGUMENT 8          /* a required pointer was NULL */
#define SAJ_E_WAIT_FD_UNAVAILABLE 9    /* no eventfd for a first-design wait fd */
#define SAJ_E_PAUSED_JOBS_CANCELLED 10 /* cleanup_thread cancelled jobs that were still paused */
#define SAJ_E_INSIDE_JOB 11            /* cleanup_thread called from inside a job */
#define SAJ_E_JOBS_IN_USE 12           /* a thread switch hook added while a job of the pool is in use */
#define SAJ_E_TOO_MANY_HOOKS 13        /* the process already has 16 process-wide switch hooks */

/* ---- Pool (one per thread) ---- */

/* Sets the calling thread's pool limits (max_size 0: no limit) and makes init_size jobs now.
 * Returns 1, or 0 if init_size > max_size > 0 or the jobs cannot be made. */
int SAJ_init_thread(size_t max_size, size_t init_size);
/* Frees the calling thread's pool; paused jobs are cancelled first (their pauses return 0). */
void SAJ_cleanup_thread(void);

/* ---- Jobs ---- */

/* Starts func(copy of args) as a job when *job == NULL, or resumes the paused *job.
 * Returns SAJ_PAUSE (*job set), SAJ_FINISH (*job = NULL, *ret = result if ret != NULL),
 * SAJ_NO_JOBS (pool at its limit; nothing touched) or SAJ_ERR (nothing changed). */
int SAJ_start_job(SAJ_JOB *SAJ_NULLABLE *SAJ_NULLABLE job, SAJ_WAIT_CTX *SAJ_NULLABLE ctx,
                  int *SAJ_NULLABLE ret, SAJ_job_fn SAJ_NULLABLE func, void *SAJ_NULLABLE args,
                  size_t size);
/* Suspends the running job. Returns 1 (also outside a job or while pausing is blocked), or 0 when
 * the job is being cancelled and must return. */
int SAJ_pause_job(void);
/* The running job, or NULL. */
SAJ_JOB *SAJ_NULLABLE SAJ_get_current_job(void);
/* The wait context the job was started with, or NULL (also for a NULL or finished job). */
SAJ_WAIT_CTX *SAJ_NULLABLE SAJ_get_wait_ctx(SAJ_JOB *SAJ_NULLABLE job);
/* Blocks / unblocks pausing for the running job (counted per job; unbalanced unblock ignored). */
void SAJ_block_pause(void);
void SAJ_unblock_pause(void);
/* 1: jobs work on this platform. */
int SAJ_is_capable(void);

/* ---- Job stacks ---- */

/* Installs stack allocation functions for pools created afterwards (on any thread). A NULL
 * argument keeps the current function. Returns 1. */
int SAJ_set_mem_functions(SAJ_stack_alloc_fn SAJ_NULLABLE alloc_fn, SAJ_stack_free_fn SAJ_NULLABLE free_fn);
/* The current stack allocation functions (the library's own defaults unless set). */
void SAJ_get_mem_functions(SAJ_stack_alloc_fn SAJ_NULLABLE *SAJ_NULLABLE alloc_fn,
                           SAJ_stack_free_fn SAJ_NULLABLE *SAJ_NULLABLE free_fn);
/* Usable stack bytes of pools created afterwards (default 65536, minimum 16384). Returns 1, or 0
 * below the minimum. */
int SAJ_set_stack_size(size_t bytes);
/* Usable stack bytes of pools created from now on. */
size_t SAJ_get_stack_size(void);

/* ---- Switch hooks: per-thread state that follows jobs ---- */

/* A switch hook's function: called with the job's state word for the hook and the hook's arg.
 * Runs on the switching thread inside the switch: it must not start, resume or pause a job. */
typedef void (*SAJ_switch_fn)(void *SAJ_NULLABLE *SAJ_NONNULL state, void *SAJ_NULLABLE arg);
/* A hook gives every job its own word of some per-thread state (an errno-like last error, a
 * current arena, a default context): `start` (may be NULL: the word starts NULL) makes the word
 * of a job whose function starts, on the starter's side; `swap` exchanges the thread's word with
 * *state before every switch into a job and before every switch out of it; `end` (may be NULL)
 * lets go of the job's word once its function has returned. docs/c-api.md has an example.
 * SAJ_add_thread_switch_hook: for the calling thread's pool (made if needed); returns 1, or 0
 * when a job of the pool is paused (SAJ_E_JOBS_IN_USE; also from inside a job).
 * SAJ_add_process_switch_hook: for every pool made afterwards, on any thread (never removed);
 * returns 1, or 0 when 16 are registered (SAJ_E_TOO_MANY_HOOKS).
 * Without hooks a switch costs nothing more; with hooks it takes the switch's slower path. */
int SAJ_add_thread_switch_hook(SAJ_switch_fn SAJ_NULLABLE start, SAJ_switch_fn SAJ_NULLABLE swap,
                               SAJ_switch_fn SAJ_NULLABLE end, void *SAJ_NULLABLE arg);
int SAJ_add_process_switch_hook(SAJ_switch_fn SAJ_NULLABLE start, SAJ_switch_fn SAJ_NULLABLE swap,
                                SAJ_switch_fn SAJ_NULLABLE end, void *SAJ_NULLABLE arg);

/* ---- Wait contexts ---- */

SAJ_WAIT_CTX *SAJ_NULLABLE SAJ_WAIT_CTX_new(void);
void SAJ_WAIT_CTX_free(SAJ_WAIT_CTX *SAJ_NULLABLE ctx);
int SAJ_WAIT_CTX_set_wait_fd(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, const void *SAJ_NULLABLE key, SAJ_FD fd,
                             void *SAJ_NULLABLE custom_data, SAJ_cleanup_fn SAJ_NULLABLE cleanup);
int SAJ_WAIT_CTX_get_fd(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, const void *SAJ_NULLABLE key, SAJ_FD *SAJ_NULLABLE fd,
                        void *SAJ_NULLABLE *SAJ_NULLABLE custom_data);
int SAJ_WAIT_CTX_get_all_fds(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, SAJ_FD *SAJ_NULLABLE fd, size_t *SAJ_NULLABLE numfds);
int SAJ_WAIT_CTX_get_changed_fds(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, SAJ_FD *SAJ_NULLABLE addfd,
                                 size_t *SAJ_NULLABLE numaddfds, SAJ_FD *SAJ_NULLABLE delfd,
                                 size_t *SAJ_NULLABLE numdelfds);
int SAJ_WAIT_CTX_clear_fd(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, const void *SAJ_NULLABLE key);
int SAJ_WAIT_CTX_set_callback(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, SAJ_callback_fn SAJ_NULLABLE callback,
                              void *SAJ_NULLABLE callback_arg);
int SAJ_WAIT_CTX_get_callback(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, SAJ_callback_fn SAJ_NULLABLE *SAJ_NULLABLE callback,
                              void *SAJ_NULLABLE *SAJ_NULLABLE callback_arg);
int SAJ_WAIT_CTX_set_status(SAJ_WAIT_CTX *SAJ_NULLABLE ctx, int status);
int SAJ_WAIT_CTX_get_status(SAJ_WAIT_CTX *SAJ_NULLABLE ctx);

/* ---- First design (OpenSSL 1.1.0 development, 2015): one wait fd per job ---- */

/* ASYNC_start_job of the first design: SAJ_start_job without a wait context. */
int SAJ_start_job_v1(SAJ_JOB *SAJ_NULLABLE *SAJ_NULLABLE job, int *SAJ_NULLABLE ret, SAJ_job_fn SAJ_NULLABLE func,
                     void *SAJ_NULLABLE args, size_t size);
/* The job's own wait fd (an eventfd made on first use, kept with the pooled job); -1 on failure. */
int SAJ_get_wait_fd(SAJ_JOB *SAJ_NULLABLE job);
/* Makes the job's wait fd readable / unreadable again. Any thread may wake a job. */
void SAJ_wake(SAJ_JOB *SAJ_NULLABLE job);
void SAJ_clear_wake(SAJ_JOB *SAJ_NULLABLE job);
/* 1 inside a job, 0 outside. */
int SAJ_in_job(void);

/* ---- Diagnostics ---- */

/* The SAJ_E_* code of the last failure on the calling thread (not reset by successful calls). */
int SAJ_get_last_error(void);
/* Forgets the calling thread's last failure. */
void SAJ_clear_last_error(void);
/* A static English description of a SAJ_E_* code. */
const char *SAJ_NONNULL SAJ_error_string(int code);

#ifdef __cplusplus
}
#endif

#endif /* SAJ_ASYNC_H */
