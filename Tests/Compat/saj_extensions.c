/*
 * SPDX-License-Identifier: Apache-2.0
 * What the C library offers beyond OpenSSL 3.0, against this library alone (no libcrypto):
 *  - switch hooks (SAJ_add_thread_switch_hook, SAJ_add_process_switch_hook): an errno-like
 *    per-thread "last error" and a per-thread "current arena" that follow each job;
 *  - ASYNC_set_mem_functions / ASYNC_get_mem_functions (OpenSSL 3.2), which the differential
 *    asynctest_port compares only when the system's OpenSSL has them;
 *  - wait-context reads from another thread while a writer changes the context (OpenSSL's are not
 *    safe from another thread; here they read a copy under a sequence lock).
 * Prints saj_extensions.expected.
 */
#include "transcript.h"
#include <pthread.h>

#define STEP(name, expr) say("%s: %s", name, (expr) ? "ok" : "FAILED")

/* ---- A library's per-thread state ---- */

/* An errno-like "last error" of some library, kept per thread. */
static _Thread_local int lib_last_error;
/* The thread's current arena (a name stands for the arena). */
static _Thread_local const char *current_arena = "thread arena";

/* The hooks. The word of a job lives in *state between its switches. */
static int error_starts, error_swaps, arena_ends;

static void error_start(void **state, void *arg)
{
    (void)arg;
    error_starts++;
    *state = (void *)(intptr_t)0; /* a job starts with no error */
}
static void error_swap(void **state, void *arg)
{
    (void)arg;
    int thread = lib_last_error;
    lib_last_error = (int)(intptr_t)*state;
    *state = (void *)(intptr_t)thread;
    error_swaps++;
}
static void arena_start(void **state, void *arg)
{
    (void)arg;
    *state = (void *)current_arena; /* a job starts in its starter's arena */
}
static void arena_swap(void **state, void *arg)
{
    (void)arg;
    const char *thread = current_arena;
    current_arena = *state;
    *state = (void *)thread;
}
static void arena_end(void **state, void *arg)
{
    (void)arg;
    (void)state;
    arena_ends++;
}

/* A job that sets its own error and arena, pauses, and reports what it sees after the resume. */
struct seen {
    int error_at_start, error_after_resume;
    const char *arena_at_start, *arena_after_resume;
};
static int job_with_state(void *arg)
{
    struct seen *seen = *(struct seen **)arg;
    seen->error_at_start = lib_last_error;
    seen->arena_at_start = current_arena;
    lib_last_error = 42;
    current_arena = "job arena";
    ASYNC_pause_job();
    seen->error_after_resume = lib_last_error;
    seen->arena_after_resume = current_arena;
    lib_last_error = 43;
    return 1;
}

static int pause_once(void *arg)
{
    (void)arg;
    ASYNC_pause_job();
    return 1;
}

static void test_thread_hooks(void)
{
    ASYNC_JOB *job = NULL, *paused = NULL;
    int ret = 0;
    struct seen seen = {0}, *seen_ptr = &seen;
    STEP("thread hooks: add the error hook", SAJ_add_thread_switch_hook(error_start, error_swap, NULL, NULL) == 1);
    STEP("thread hooks: add the arena hook", SAJ_add_thread_switch_hook(arena_start, arena_swap, arena_end, NULL) == 1);
    lib_last_error = 7;
    current_arena = "caller arena";
    STEP("thread hooks: the job pauses", ASYNC_start_job(&job, NULL, &ret, job_with_state, &seen_ptr, sizeof seen_ptr) == ASYNC_PAUSE);
    STEP("thread hooks: the job started with no error, in the caller's arena",
         seen.error_at_start == 0 && strcmp(seen.arena_at_start, "caller arena") == 0);
    STEP("thread hooks: the job's error and arena did not leak to the caller",
         lib_last_error == 7 && strcmp(current_arena, "caller arena") == 0);
    lib_last_error = 8;
    current_arena = "caller's second arena";
    STEP("thread hooks: the job finishes", ASYNC_start_job(&job, NULL, &ret, job_with_state, NULL, 0) == ASYNC_FINISH && ret == 1);
    STEP("thread hooks: after the resume the job saw its own error and arena",
         seen.error_after_resume == 42 && strcmp(seen.arena_after_resume, "job arena") == 0);
    STEP("thread hooks: the caller keeps its own", lib_last_error == 8 && strcmp(current_arena, "caller's second arena") == 0);
    STEP("thread hooks: one start, four swaps, one end", error_starts == 1 && error_swaps == 4 && arena_ends == 1);
    STEP("thread hooks: a paused job", ASYNC_start_job(&paused, NULL, &ret, pause_once, NULL, 0) == ASYNC_PAUSE);
    STEP("thread hooks: no hook may be added while it is paused",
         SAJ_add_thread_switch_hook(NULL, error_swap, NULL, NULL) == 0 && SAJ_get_last_error() == SAJ_E_JOBS_IN_USE);
    STEP("thread hooks: it finishes", ASYNC_start_job(&paused, NULL, &ret, pause_once, NULL, 0) == ASYNC_FINISH);
    STEP("thread hooks: a hook needs a swap function",
         SAJ_add_thread_switch_hook(error_start, NULL, NULL, NULL) == 0 && SAJ_get_last_error() == SAJ_E_NULL_ARGUMENT);
    ASYNC_cleanup_thread();
    /* A new pool of this thread has no hooks (they were the old pool's). */
    error_swaps = 0;
    STEP("thread hooks: a new pool's job", ASYNC_start_job(&job, NULL, &ret, pause_once, NULL, 0) == ASYNC_PAUSE
                                               && ASYNC_start_job(&job, NULL, &ret, pause_once, NULL, 0) == ASYNC_FINISH);
    STEP("thread hooks: runs no hook of the old pool", error_swaps == 0);
    ASYNC_cleanup_thread();
}

/* A paused job of a thread that cleans up is cancelled: its hooks still run and end it. */
static void test_cancelled_job_ends_its_state(void)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    struct seen seen = {0}, *seen_ptr = &seen;
    arena_ends = 0;
    current_arena = "caller arena";
    STEP("cancel: add the arena hook", SAJ_add_thread_switch_hook(arena_start, arena_swap, arena_end, NULL) == 1);
    STEP("cancel: the job pauses", ASYNC_start_job(&job, NULL, &ret, job_with_state, &seen_ptr, sizeof seen_ptr) == ASYNC_PAUSE);
    ASYNC_cleanup_thread();
    STEP("cancel: the cancelled job ran in its own arena", strcmp(seen.arena_after_resume, "job arena") == 0);
    STEP("cancel: its state was ended", arena_ends == 1);
    STEP("cancel: the caller's arena is its own", strcmp(current_arena, "caller arena") == 0);
}

/* Process-wide hooks reach the pools made afterwards, on any thread. */
static int process_swaps;
static void counting_swap(void **state, void *arg)
{
    (void)state;
    (void)arg;
    __atomic_fetch_add(&process_swaps, 1, __ATOMIC_RELAXED);
}

static void *thread_runs_a_job(void *arg)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    (void)arg;
    if (ASYNC_start_job(&job, NULL, &ret, pause_once, NULL, 0) != ASYNC_PAUSE) return NULL;
    if (ASYNC_start_job(&job, NULL, &ret, pause_once, NULL, 0) != ASYNC_FINISH) return NULL;
    ASYNC_cleanup_thread();
    return (void *)1;
}

static void test_process_hooks(void)
{
    pthread_t thread;
    void *result = NULL;
    int added = 0;
    STEP("process hooks: add one", SAJ_add_process_switch_hook(NULL, counting_swap, NULL, NULL) == 1);
    STEP("process hooks: another thread's new pool runs a job",
         pthread_create(&thread, NULL, thread_runs_a_job, NULL) == 0 && pthread_join(thread, &result) == 0 && result != NULL);
    STEP("process hooks: the hook ran on every switch of it (4)", process_swaps == 4);
    /* Without libcrypto in the process no hook of the library's own is registered: 16 fit. */
    for (int i = 1; i < 16; i++) added += SAJ_add_process_switch_hook(NULL, counting_swap, NULL, NULL);
    STEP("process hooks: 16 in all", added == 15);
    STEP("process hooks: the 17th is refused",
         SAJ_add_process_switch_hook(NULL, counting_swap, NULL, NULL) == 0 && SAJ_get_last_error() == SAJ_E_TOO_MANY_HOOKS);
}

/* ---- ASYNC_set_mem_functions (OpenSSL 3.2) ---- */

static int alloc_calls, free_calls, counter;
static void *counting_alloc(size_t *num) { alloc_calls++; return malloc(*num); }
static void counting_free(void *addr) { free_calls++; free(addr); }
static int add_two(void *arg)
{
    (void)arg;
    counter++;
    ASYNC_pause_job();
    counter++;
    return 2;
}

static void test_set_mem_functions(void)
{
    ASYNC_stack_alloc_fn alloc_fn = NULL;
    ASYNC_stack_free_fn free_fn = NULL;
    ASYNC_JOB *job = NULL;
    int ret = 0;
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    STEP("set_mem_functions: set", ASYNC_set_mem_functions(counting_alloc, counting_free) == 1);
    ASYNC_get_mem_functions(&alloc_fn, &free_fn);
    STEP("set_mem_functions: get returns them", alloc_fn == counting_alloc && free_fn == counting_free);
    STEP("set_mem_functions: init(1, 1)", ASYNC_init_thread(1, 1));
    STEP("set_mem_functions: init used the alloc function", alloc_calls == 1);
    STEP("set_mem_functions: job on the custom stack pauses", ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_PAUSE);
    STEP("set_mem_functions: and finishes", ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_FINISH && ret == 2);
    ASYNC_cleanup_thread();
    STEP("set_mem_functions: cleanup used the free function", free_calls == 1);
    ASYNC_WAIT_CTX_free(ctx);
}

/* ---- Wait-context reads racing a writer ---- */

static char stable_key, other_keys[8];
static ASYNC_WAIT_CTX *raced_ctx;
static volatile int writer_done;

/* Keeps adding and clearing up to 8 other entries, so that the context keeps crossing the four
 * entries the readers' copy holds (and the locked path serves the rest). */
static void *keep_writing(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20000; round++) {
        int n = round % 9;
        for (int i = 0; i < n; i++) ASYNC_WAIT_CTX_set_wait_fd(raced_ctx, &other_keys[i], 100 + i, NULL, NULL);
        for (int i = 0; i < n; i++) ASYNC_WAIT_CTX_clear_fd(raced_ctx, &other_keys[i]);
    }
    writer_done = 1;
    return NULL;
}

static void test_reads_race_a_writer(void)
{
    raced_ctx = ASYNC_WAIT_CTX_new();
    STEP("racing reads: a stable entry",
         ASYNC_WAIT_CTX_set_wait_fd(raced_ctx, &stable_key, 42, &stable_key, NULL) == 1);
    pthread_t writer;
    pthread_create(&writer, NULL, keep_writing, NULL);
    long reads = 0, wrong = 0, wrong_lists = 0;
    while (!writer_done || reads < 200000) {
        OSSL_ASYNC_FD fd = -1;
        void *data = NULL;
        size_t count = 0;
        if (!ASYNC_WAIT_CTX_get_fd(raced_ctx, &stable_key, &fd, &data) || fd != 42 || data != &stable_key) wrong++;
        /* The count alone (no array), as a caller sizes its array first. */
        if (!ASYNC_WAIT_CTX_get_all_fds(raced_ctx, NULL, &count) || count < 1 || count > 9) wrong++;
        /* The lists themselves (an array for the most there can be): the stable fd exactly once,
         * last (it is the oldest), every other one the writer's; nothing deleted (each of the
         * writer's entries is added and cleared within the change period: it never existed). */
        OSSL_ASYNC_FD all[16], added[16], deleted[16];
        size_t nadded = 0, ndeleted = 0;
        if (!ASYNC_WAIT_CTX_get_all_fds(raced_ctx, all, &count) || count < 1 || count > 9 || all[count - 1] != 42)
            wrong_lists++;
        else
            for (size_t i = 0; i + 1 < count; i++) wrong_lists += all[i] < 100 || all[i] > 107;
        if (!ASYNC_WAIT_CTX_get_changed_fds(raced_ctx, added, &nadded, deleted, &ndeleted) || nadded < 1 ||
            nadded > 9 || added[nadded - 1] != 42 || ndeleted != 0)
            wrong_lists++;
        reads++;
    }
    pthread_join(writer, NULL);
    STEP("racing reads: get_fd always found the stable entry, get_all_fds a possible count", wrong == 0);
    STEP("racing reads: get_all_fds and get_changed_fds always a possible list", wrong_lists == 0);
    size_t count = 0;
    STEP("racing reads: the writer's entries are gone",
         ASYNC_WAIT_CTX_get_all_fds(raced_ctx, NULL, &count) == 1 && count == 1);
    ASYNC_WAIT_CTX_free(raced_ctx);
}

int main(void)
{
    test_reads_race_a_writer();
    test_thread_hooks();
    test_cancelled_job_ends_its_state();
    test_set_mem_functions();
    test_process_hooks();
    return finish("saj_extensions");
}
