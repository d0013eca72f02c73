/*
 * SPDX-License-Identifier: Apache-2.0
 * The corners of docs/contract.md's table of deliberate differences, each in a forked child (OpenSSL
 * 3.0 crashes or misbehaves on most of them). Built against libcrypto and libAsyncJobsC; the
 * transcripts differ exactly as quirks.expected-diff says, which also pins this library's
 * documented results.
 */
#include "transcript.h"
#include <pthread.h>

static int only_pause(void *arg) { (void)arg; ASYNC_pause_job(); return 1; }
static int return_5(void *arg) { (void)arg; return 5; }

/* start from inside a job, before the job's first pause. */
static int nest_before_pause(void *arg)
{
    ASYNC_JOB *inner = NULL;
    int inner_ret = -1;
    int rc = ASYNC_start_job(&inner, (ASYNC_WAIT_CTX *)arg, &inner_ret, return_5, NULL, 0);
    say("nested start before first pause: rc=%s inner job %s", result_name(rc), inner ? "set" : "NULL");
    say("after nested start: current job %s", ASYNC_get_current_job() ? "set" : "NULL");
    ASYNC_pause_job();
    return 1;
}
static void case_nested_before_pause(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = -1;
    int rc = ASYNC_start_job(&job, ctx, &ret, nest_before_pause, ctx, 0);
    say("outer: rc=%s", result_name(rc));
    rc = ASYNC_start_job(&job, ctx, &ret, nest_before_pause, NULL, 0);
    say("outer resumed: rc=%s ret=%d", result_name(rc), ret);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

/* start from inside a job, after it was resumed. */
static int nest_after_resume(void *arg)
{
    ASYNC_JOB *inner = NULL;
    int inner_ret = -1;
    ASYNC_pause_job();
    int rc = ASYNC_start_job(&inner, (ASYNC_WAIT_CTX *)arg, &inner_ret, return_5, NULL, 0);
    say("nested start after a resume: rc=%s", result_name(rc));
    return 1;
}
static void case_nested_after_resume(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = -1;
    ASYNC_start_job(&job, ctx, &ret, nest_after_resume, ctx, 0);
    int rc = ASYNC_start_job(&job, ctx, &ret, nest_after_resume, NULL, 0);
    say("outer: rc=%s ret=%d", result_name(rc), ret);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

/* Resuming a handle whose job finished. */
static void case_stale_handle(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL, *stale;
    int ret = -1;
    ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    stale = job;
    int rc = ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    say("job: rc=%s ret=%d", result_name(rc), ret);
    ret = 1234;
    rc = ASYNC_start_job(&stale, ctx, &ret, only_pause, NULL, 0);
    say("stale handle resumed: rc=%s ret %s handle %s", result_name(rc), ret == 1234 ? "untouched" : "written",
        stale ? "kept" : "cleared");
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

/* A stale handle after its record (OpenSSL: its ASYNC_JOB) was given to a newer, paused job. */
static int pause_return_2(void *arg) { (void)arg; ASYNC_pause_job(); return 2; }
static void case_stale_handle_reused(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new(), *newer_ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL, *stale, *newer = NULL;
    int ret = -1;
    ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    stale = job;
    ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    int rc = ASYNC_start_job(&newer, newer_ctx, &ret, pause_return_2, NULL, 0);
    say("newer job: rc=%s", result_name(rc));
    ASYNC_WAIT_CTX *seen = ASYNC_get_wait_ctx(stale);
    say("get_wait_ctx(stale handle): %s", seen == NULL ? "NULL" : seen == newer_ctx ? "the newer job's" : "other");
    ret = 1234;
    rc = ASYNC_start_job(&stale, ctx, &ret, only_pause, NULL, 0);
    say("stale handle after reuse: rc=%s ret %s", result_name(rc), ret == 1234 ? "untouched" : "written");
    rc = ASYNC_start_job(&newer, newer_ctx, &ret, pause_return_2, NULL, 0);
    say("newer job resumed: rc=%s ret=%d", result_name(rc), ret);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_WAIT_CTX_free(newer_ctx);
    ASYNC_cleanup_thread();
}

/* Resuming on another thread. */
static ASYNC_JOB *cross_job;
static ASYNC_WAIT_CTX *cross_ctx;
static void *resume_elsewhere(void *arg)
{
    int ret = -1;
    (void)arg;
    int rc = ASYNC_start_job(&cross_job, cross_ctx, &ret, only_pause, NULL, 0);
    say("resume on another thread: rc=%s", result_name(rc));
    return NULL;
}
static void case_wrong_thread(void)
{
    pthread_t thread;
    int ret = -1;
    cross_ctx = ASYNC_WAIT_CTX_new();
    ASYNC_start_job(&cross_job, cross_ctx, &ret, only_pause, NULL, 0);
    pthread_create(&thread, NULL, resume_elsewhere, NULL);
    pthread_join(thread, NULL);
    int rc = ASYNC_start_job(&cross_job, cross_ctx, &ret, only_pause, NULL, 0);
    say("resume on its own thread: rc=%s ret=%d", result_name(rc), ret);
    ASYNC_WAIT_CTX_free(cross_ctx);
    ASYNC_cleanup_thread();
}

/* ret == NULL. */
static void case_null_ret(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int rc = ASYNC_start_job(&job, ctx, NULL, only_pause, NULL, 0);
    say("ret NULL: rc=%s", result_name(rc));
    rc = ASYNC_start_job(&job, ctx, NULL, only_pause, NULL, 0);
    say("ret NULL: resumed rc=%s", result_name(rc));
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

/* A job started without a ctx pauses and is resumed. */
static void case_null_ctx(void)
{
    ASYNC_JOB *job = NULL;
    int ret = -1;
    int rc = ASYNC_start_job(&job, NULL, &ret, only_pause, NULL, 0);
    say("NULL ctx: rc=%s", result_name(rc));
    rc = ASYNC_start_job(&job, NULL, &ret, only_pause, NULL, 0);
    say("NULL ctx: resumed rc=%s ret=%d", result_name(rc), ret);
    ASYNC_cleanup_thread();
}

static void case_wait_ctx_of_null(void)
{
    say("get_wait_ctx(NULL): %s", ASYNC_get_wait_ctx(NULL) ? "set" : "NULL");
}

/* A job that ends while pausing is blocked; a later job pauses. */
static int block_and_return(void *arg) { (void)arg; ASYNC_block_pause(); return 1; }
static void case_block_per_job(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = -1;
    ASYNC_start_job(&job, ctx, &ret, block_and_return, NULL, 0);
    int rc = ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    say("later job after a job ended blocked: rc=%s", result_name(rc));
    if (rc == ASYNC_PAUSE) ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

/* cleanup_thread while a job is paused; then its stale handle is resumed. */
static int report_pause(void *arg)
{
    (void)arg;
    int first = ASYNC_pause_job();
    say("paused job: pause returned %d", first);
    return 9;
}
static void case_cleanup_with_paused(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = -1;
    ASYNC_start_job(&job, ctx, &ret, report_pause, NULL, 0);
    ASYNC_cleanup_thread();
    say("cleanup with a paused job: returned");
    int rc = ASYNC_start_job(&job, ctx, &ret, report_pause, NULL, 0);
    say("its handle resumed after cleanup: rc=%s", result_name(rc));
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
}

int main(void)
{
    forked("nested start before first pause", case_nested_before_pause);
    forked("nested start after a resume", case_nested_after_resume);
    forked("stale handle", case_stale_handle);
    forked("stale handle after reuse", case_stale_handle_reused);
    forked("wrong thread", case_wrong_thread);
    forked("ret NULL", case_null_ret);
    forked("NULL ctx pause", case_null_ctx);
    forked("get_wait_ctx(NULL)", case_wait_ctx_of_null);
    forked("block per job", case_block_per_job);
    forked("cleanup with paused jobs", case_cleanup_with_paused);
    return finish("quirks");
}
