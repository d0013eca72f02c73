/*
 * SPDX-License-Identifier: Apache-2.0
 * The cases of OpenSSL's test/asynctest.c, rewritten as one transcript line per step. Built
 * against libcrypto and libAsyncJobsC (both builds link libcrypto: test_ASYNC_start_job_ex uses
 * OpenSSL's library contexts); transcripts compared (asynctest_port.expected-diff).
 */
#include "transcript.h"
#include <openssl/crypto.h>

static int counter;
static ASYNC_JOB *saved_job;
__attribute__((unused)) static int alloc_calls, free_calls;

static int only_pause(void *arg) { (void)arg; ASYNC_pause_job(); return 1; }

static int add_two(void *arg)
{
    (void)arg;
    counter++;
    ASYNC_pause_job();
    counter++;
    return 2;
}

static int save_current(void *arg)
{
    (void)arg;
    saved_job = ASYNC_get_current_job();
    ASYNC_pause_job();
    return 1;
}

#define MAGIC_FD ((OSSL_ASYNC_FD)99)
static int four_segments(void *arg)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    (void)arg;
    if (ctx == NULL) return 0;
    ASYNC_pause_job();                                           /* none added or removed */
    if (!ASYNC_WAIT_CTX_set_wait_fd(ctx, ctx, MAGIC_FD, NULL, NULL)) return 0;
    ASYNC_pause_job();                                           /* one added */
    if (!ASYNC_WAIT_CTX_clear_fd(ctx, ctx)) return 0;
    ASYNC_pause_job();                                           /* cleared */
    if (!ASYNC_WAIT_CTX_set_wait_fd(ctx, ctx, MAGIC_FD, NULL, NULL)) return 0;
    if (!ASYNC_WAIT_CTX_clear_fd(ctx, ctx)) return 0;            /* added and cleared */
    return 1;
}

static int block_around_pause(void *arg)
{
    (void)arg;
    ASYNC_block_pause();
    ASYNC_pause_job();
    ASYNC_unblock_pause();
    ASYNC_pause_job();
    return 1;
}

static int callback_fn(void *arg) { return *(int *)arg == 100; }

#define STEP(name, expr) say("%s: %s", name, (expr) ? "ok" : "FAILED")

/* test_ASYNC_start_job_ex's job: makes its own library context the default, pauses twice, and
 * checks after each resume that its default is still its own. */
static OSSL_LIB_CTX *seen_at_start;
static int own_default_kept(void *arg)
{
    OSSL_LIB_CTX *mine = OSSL_LIB_CTX_new(), *previous, *now;
    int ok = 1;
    (void)arg;
    if (mine == NULL) return 0;
    seen_at_start = OSSL_LIB_CTX_set0_default(NULL);
    previous = OSSL_LIB_CTX_set0_default(mine);
    ASYNC_pause_job();
    now = OSSL_LIB_CTX_set0_default(previous);
    if (now != mine) ok = 0;
    previous = OSSL_LIB_CTX_set0_default(mine);
    ASYNC_pause_job();
    now = OSSL_LIB_CTX_set0_default(previous);
    if (now != mine) ok = 0;
    OSSL_LIB_CTX_free(mine);
    return ok;
}

/* Two jobs, each with its own default, paused and resumed in turn. */
static int own_default_interleaved(void *arg)
{
    OSSL_LIB_CTX *mine = *(OSSL_LIB_CTX **)arg;
    OSSL_LIB_CTX_set0_default(mine);
    ASYNC_pause_job();
    if (OSSL_LIB_CTX_set0_default(NULL) != mine) return 0;
    ASYNC_pause_job();
    return OSSL_LIB_CTX_set0_default(NULL) == mine;
}

static void test_init_thread(void)
{
    ASYNC_JOB *job1 = NULL, *job2 = NULL, *job3 = NULL;
    int r1 = 0, r2 = 0, r3 = 0;
    ASYNC_WAIT_CTX *ctx = NULL;
    STEP("init_thread: init(2, 0)", ASYNC_init_thread(2, 0));
    STEP("init_thread: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("init_thread: job1 pauses", ASYNC_start_job(&job1, ctx, &r1, only_pause, NULL, 0) == ASYNC_PAUSE);
    STEP("init_thread: job2 pauses", ASYNC_start_job(&job2, ctx, &r2, only_pause, NULL, 0) == ASYNC_PAUSE);
    STEP("init_thread: job3 gets NO_JOBS", ASYNC_start_job(&job3, ctx, &r3, only_pause, NULL, 0) == ASYNC_NO_JOBS);
    STEP("init_thread: job1 finishes", ASYNC_start_job(&job1, ctx, &r1, only_pause, NULL, 0) == ASYNC_FINISH);
    STEP("init_thread: job3 pauses", ASYNC_start_job(&job3, ctx, &r3, only_pause, NULL, 0) == ASYNC_PAUSE);
    STEP("init_thread: job2 finishes", ASYNC_start_job(&job2, ctx, &r2, only_pause, NULL, 0) == ASYNC_FINISH);
    STEP("init_thread: job3 finishes", ASYNC_start_job(&job3, ctx, &r3, only_pause, NULL, 0) == ASYNC_FINISH);
    STEP("init_thread: results", r1 == 1 && r2 == 1 && r3 == 1);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void test_callback_status(void)
{
    ASYNC_WAIT_CTX *ctx = NULL;
    int arg = 100;
    ASYNC_callback_fn got = NULL;
    void *got_arg = NULL;
    STEP("callback_status: init(1, 0)", ASYNC_init_thread(1, 0));
    STEP("callback_status: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("callback_status: set_callback", ASYNC_WAIT_CTX_set_callback(ctx, callback_fn, &arg) == 1);
    STEP("callback_status: get_callback", ASYNC_WAIT_CTX_get_callback(ctx, &got, &got_arg) == 1);
    STEP("callback_status: same callback and arg", got == callback_fn && got_arg == (void *)&arg);
    STEP("callback_status: callback runs", got(got_arg) == 1);
    STEP("callback_status: set_status", ASYNC_WAIT_CTX_set_status(ctx, 1) == 1);
    STEP("callback_status: get_status", ASYNC_WAIT_CTX_get_status(ctx) == 1);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void test_start_job(void)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    ASYNC_WAIT_CTX *ctx = NULL;
    counter = 0;
    STEP("start_job: init(1, 0)", ASYNC_init_thread(1, 0));
    STEP("start_job: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("start_job: pauses", ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_PAUSE);
    STEP("start_job: counter 1", counter == 1);
    STEP("start_job: finishes", ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_FINISH);
    STEP("start_job: counter 2, ret 2", counter == 2 && ret == 2);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void test_get_current_job(void)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    ASYNC_WAIT_CTX *ctx = NULL;
    saved_job = NULL;
    STEP("current_job: init(1, 0)", ASYNC_init_thread(1, 0));
    STEP("current_job: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("current_job: pauses", ASYNC_start_job(&job, ctx, &ret, save_current, NULL, 0) == ASYNC_PAUSE);
    STEP("current_job: seen inside == paused handle", saved_job == job);
    STEP("current_job: finishes", ASYNC_start_job(&job, ctx, &ret, save_current, NULL, 0) == ASYNC_FINISH);
    STEP("current_job: ret 1", ret == 1);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void expect_fds(const char *name, ASYNC_WAIT_CTX *ctx, size_t all, size_t added, size_t deleted)
{
    size_t n = 99, nadd = 99, ndel = 99;
    OSSL_ASYNC_FD fd = OSSL_BAD_ASYNC_FD, addfd = OSSL_BAD_ASYNC_FD, delfd = OSSL_BAD_ASYNC_FD;
    int ok = ASYNC_WAIT_CTX_get_all_fds(ctx, NULL, &n) && n == all
        && ASYNC_WAIT_CTX_get_changed_fds(ctx, NULL, &nadd, NULL, &ndel) && nadd == added && ndel == deleted;
    if (ok && all) ok = ASYNC_WAIT_CTX_get_all_fds(ctx, &fd, &n) && fd == MAGIC_FD;
    if (ok && added) ok = ASYNC_WAIT_CTX_get_changed_fds(ctx, &addfd, &nadd, NULL, &ndel) && addfd == MAGIC_FD;
    if (ok && deleted) ok = ASYNC_WAIT_CTX_get_changed_fds(ctx, NULL, &nadd, &delfd, &ndel) && delfd == MAGIC_FD;
    say("get_all_fds: %s: %zu fds, %zu added, %zu deleted: %s", name, n, nadd, ndel, ok ? "ok" : "FAILED");
}

static void test_get_all_fds(void)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    ASYNC_WAIT_CTX *ctx = NULL;
    STEP("get_all_fds: init(1, 0)", ASYNC_init_thread(1, 0));
    STEP("get_all_fds: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("get_all_fds: segment 1 pauses", ASYNC_start_job(&job, ctx, &ret, four_segments, NULL, 0) == ASYNC_PAUSE);
    expect_fds("none", ctx, 0, 0, 0);
    STEP("get_all_fds: segment 2 pauses", ASYNC_start_job(&job, ctx, &ret, four_segments, NULL, 0) == ASYNC_PAUSE);
    expect_fds("one added", ctx, 1, 1, 0);
    STEP("get_all_fds: segment 3 pauses", ASYNC_start_job(&job, ctx, &ret, four_segments, NULL, 0) == ASYNC_PAUSE);
    expect_fds("cleared", ctx, 0, 0, 1);
    STEP("get_all_fds: segment 4 finishes", ASYNC_start_job(&job, ctx, &ret, four_segments, NULL, 0) == ASYNC_FINISH);
    expect_fds("added and cleared before finish", ctx, 0, 0, 0);
    STEP("get_all_fds: ret 1", ret == 1);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void test_block_pause(void)
{
    ASYNC_JOB *job = NULL;
    int ret = 0;
    ASYNC_WAIT_CTX *ctx = NULL;
    STEP("block_pause: init(1, 0)", ASYNC_init_thread(1, 0));
    STEP("block_pause: ctx", (ctx = ASYNC_WAIT_CTX_new()) != NULL);
    STEP("block_pause: blocked pause skipped, second pause pauses",
         ASYNC_start_job(&job, ctx, &ret, block_around_pause, NULL, 0) == ASYNC_PAUSE);
    STEP("block_pause: finishes", ASYNC_start_job(&job, ctx, &ret, block_around_pause, NULL, 0) == ASYNC_FINISH);
    STEP("block_pause: ret 1", ret == 1);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

static void test_start_job_ex(void)
{
    ASYNC_JOB *job = NULL, *c = NULL, *d = NULL;
    int ret = 0, rc = 0, rd = 0;
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    OSSL_LIB_CTX *caller = OSSL_LIB_CTX_new(), *cctx = OSSL_LIB_CTX_new(), *dctx = OSSL_LIB_CTX_new();
    OSSL_LIB_CTX *global = OSSL_LIB_CTX_set0_default(caller);
    STEP("start_job_ex: contexts", ctx != NULL && caller != NULL && cctx != NULL && dctx != NULL);
    STEP("start_job_ex: pauses", ASYNC_start_job(&job, ctx, &ret, own_default_kept, NULL, 0) == ASYNC_PAUSE);
    STEP("start_job_ex: the job started with the caller's default", seen_at_start == caller);
    STEP("start_job_ex: the job's default did not leak to the caller", OSSL_LIB_CTX_set0_default(NULL) == caller);
    OSSL_LIB_CTX_set0_default(global);
    STEP("start_job_ex: resumed with the global default, pauses again",
         ASYNC_start_job(&job, ctx, &ret, own_default_kept, NULL, 0) == ASYNC_PAUSE);
    STEP("start_job_ex: the caller's default is still the global one", OSSL_LIB_CTX_set0_default(NULL) == global);
    STEP("start_job_ex: finishes, its default its own after each resume",
         ASYNC_start_job(&job, ctx, &ret, own_default_kept, NULL, 0) == ASYNC_FINISH && ret == 1);
    STEP("start_job_ex: the caller's default after the finish", OSSL_LIB_CTX_set0_default(NULL) == global);
    STEP("start_job_ex: interleaved, C pauses",
         ASYNC_start_job(&c, ctx, &rc, own_default_interleaved, &cctx, sizeof cctx) == ASYNC_PAUSE);
    STEP("start_job_ex: interleaved, D pauses",
         ASYNC_start_job(&d, ctx, &rd, own_default_interleaved, &dctx, sizeof dctx) == ASYNC_PAUSE);
    STEP("start_job_ex: interleaved, C again", ASYNC_start_job(&c, ctx, &rc, own_default_interleaved, NULL, 0) == ASYNC_PAUSE);
    STEP("start_job_ex: interleaved, D again", ASYNC_start_job(&d, ctx, &rd, own_default_interleaved, NULL, 0) == ASYNC_PAUSE);
    STEP("start_job_ex: interleaved, D finishes with its own default",
         ASYNC_start_job(&d, ctx, &rd, own_default_interleaved, NULL, 0) == ASYNC_FINISH && rd == 1);
    STEP("start_job_ex: interleaved, C finishes with its own default",
         ASYNC_start_job(&c, ctx, &rc, own_default_interleaved, NULL, 0) == ASYNC_FINISH && rc == 1);
    STEP("start_job_ex: the caller's default after both", OSSL_LIB_CTX_set0_default(NULL) == global);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
    OSSL_LIB_CTX_free(caller);
    OSSL_LIB_CTX_free(cctx);
    OSSL_LIB_CTX_free(dctx);
}

/* ASYNC_set_mem_functions appeared in OpenSSL 3.2: with an older system OpenSSL neither build runs
 * this case (saj_extensions.c runs it against this library alone). */
#if OPENSSL_VERSION_NUMBER >= 0x30200000L
static void *counting_alloc(size_t *num) { alloc_calls++; return malloc(*num); }
static void counting_free(void *addr) { free_calls++; free(addr); }

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
    STEP("set_mem_functions: job on the custom stack pauses",
         ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_PAUSE);
    STEP("set_mem_functions: and finishes", ASYNC_start_job(&job, ctx, &ret, add_two, NULL, 0) == ASYNC_FINISH && ret == 2);
    ASYNC_cleanup_thread();
    STEP("set_mem_functions: cleanup used the free function", free_calls == 1);
    ASYNC_WAIT_CTX_free(ctx);
}
#else
static void test_set_mem_functions(void) { say("set_mem_functions: not in the system's OpenSSL (3.2+)"); }
#endif

int main(void)
{
    say("is_capable: %d", ASYNC_is_capable());
    test_init_thread();
    test_callback_status();
    test_start_job();
    test_get_current_job();
    test_get_all_fds();
    test_block_pause();
    test_start_job_ex();
    test_set_mem_functions();
    return finish("asynctest_port");
}
