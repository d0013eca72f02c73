/*
 * SPDX-License-Identifier: Apache-2.0
 * Differential: jobs and the pool (docs/contract.md "Jobs and the pool"), through the OpenSSL names.
 * Built against libcrypto (-DUSE_OPENSSL) and against libAsyncJobsC; the transcripts must match
 * except for diff_jobs.expected-diff. Nothing here pauses a job started without a wait context
 * (that crashes OpenSSL; see quirks.c).
 */
#include "transcript.h"
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>

static int return_42(void *arg) { (void)arg; return 42; }

static int only_pause(void *arg) { (void)arg; ASYNC_pause_job(); return 1; }

struct message { int counter; char text[28]; };

static int copy_job(void *arg)
{
    struct message *m = arg;
    say("copy: job sees counter=%d text=%s aligned=%s", m->counter, m->text,
        ((uintptr_t)arg % alignof(max_align_t)) == 0 ? "yes" : "no");
    m->counter++;
    ASYNC_pause_job();
    say("copy: after pause job sees counter=%d text=%s", m->counter, m->text);
    m->counter++;
    ASYNC_pause_job();
    say("copy: after second pause counter=%d", m->counter);
    return m->counter;
}

/* A 16-byte argument (this library keeps arguments up to 16 bytes in the job's record). */
struct small_message { long counter; char text[8]; };

static int small_copy_job(void *arg)
{
    struct small_message *m = arg;
    say("small copy: job sees counter=%ld text=%s aligned=%s", m->counter, m->text,
        ((uintptr_t)arg % alignof(max_align_t)) == 0 ? "yes" : "no");
    m->counter++;
    ASYNC_pause_job();
    say("small copy: after pause job sees counter=%ld text=%s current job set=%s", m->counter, m->text,
        ASYNC_get_current_job() ? "yes" : "no");
    m->counter++;
    ASYNC_pause_job();
    say("small copy: after second pause counter=%ld", m->counter);
    return (int)m->counter;
}

/* A 7-byte argument, copied and read back byte by byte. */
static int odd_size_job(void *arg)
{
    const unsigned char *bytes = arg;
    int sum = 0;
    for (int i = 0; i < 7; i++) sum = sum * 3 + bytes[i];
    ASYNC_pause_job();
    for (int i = 0; i < 7; i++) sum = sum * 3 + bytes[i];
    return sum;
}

static int large_job(void *arg)
{
    const unsigned char *bytes = arg;
    unsigned long sum = 0;
    ASYNC_pause_job();
    for (size_t i = 0; i < (1u << 20); i++) sum += bytes[i];
    return (int)(sum % 100000);
}

static int report_arg(void *arg)
{
    say("args: job got %s", arg == NULL ? "NULL" : "a pointer");
    return arg == NULL ? 0 : 1;
}

static int depth_pauses = 0;
static int recurse(int depth)
{
    volatile char pad[64];
    pad[0] = (char)depth;
    if (depth == 0) {
        depth_pauses += ASYNC_pause_job();
        return pad[0];
    }
    int below = recurse(depth - 1);
    depth_pauses += ASYNC_pause_job(); /* pausing while unwinding */
    return below + 1 + pad[0] - (char)depth;
}
static int deep_job(void *arg) { (void)arg; return recurse(20); }

static int id_job(void *arg)
{
    int id = *(int *)arg;
    for (int i = 0; i < 3; i++) ASYNC_pause_job();
    return id;
}

static ASYNC_WAIT_CTX *seen_ctx;
static int wait_ctx_job(void *arg)
{
    (void)arg;
    seen_ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    ASYNC_pause_job();
    return 1;
}

static int no_ctx_job(void *arg)
{
    (void)arg;
    say("wait_ctx: job started without ctx sees %s", ASYNC_get_wait_ctx(ASYNC_get_current_job()) ? "a ctx" : "NULL");
    return 1;
}

static int block_job(void *arg)
{
    (void)arg;
    ASYNC_block_pause();
    say("block: blocked pause returns %d (job continues)", ASYNC_pause_job());
    ASYNC_block_pause();
    ASYNC_unblock_pause();
    say("block: still blocked after nested block/unblock, pause returns %d", ASYNC_pause_job());
    ASYNC_unblock_pause();
    ASYNC_pause_job();
    say("block: unblocked pause paused and resumed");
    ASYNC_unblock_pause(); /* unbalanced: ignored */
    ASYNC_pause_job();
    say("block: pause after an unbalanced unblock paused and resumed");
    return 7;
}

struct thread_result { int start_rc, resume_rc, current_inside_ok, ret; };
static ASYNC_JOB *thread_job_seen;
static int thread_job(void *arg)
{
    (void)arg;
    thread_job_seen = ASYNC_get_current_job();
    ASYNC_pause_job();
    return 5;
}
static void *thread_main(void *arg)
{
    struct thread_result *r = arg;
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    r->start_rc = ASYNC_start_job(&job, ctx, &r->ret, thread_job, NULL, 0);
    r->current_inside_ok = (thread_job_seen == job) && ASYNC_get_current_job() == NULL;
    r->resume_rc = ASYNC_start_job(&job, ctx, &r->ret, thread_job, NULL, 0);
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
    return NULL;
}

int main(void)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = -1, rc;

    say("outside: pause returns %d", ASYNC_pause_job());
    say("outside: current job is %s", ASYNC_get_current_job() ? "set" : "NULL");
    say("outside: is_capable %d", ASYNC_is_capable());

    /* A job that returns without pausing. */
    rc = ASYNC_start_job(&job, ctx, &ret, return_42, NULL, 0);
    say("finish: rc=%s job=%s ret=%d", result_name(rc), job ? "set" : "NULL", ret);

    /* The argument copy: the caller changes and frees its buffer at once; the job's writes to
     * its copy persist across pauses. */
    struct message *m = malloc(sizeof *m);
    m->counter = 10;
    strcpy(m->text, "original");
    rc = ASYNC_start_job(&job, ctx, &ret, copy_job, m, sizeof *m);
    say("copy: start rc=%s", result_name(rc));
    m->counter = 99;
    strcpy(m->text, "changed");
    free(m);
    while ((rc = ASYNC_start_job(&job, ctx, &ret, copy_job, NULL, 0)) == ASYNC_PAUSE) {}
    say("copy: rc=%s ret=%d", result_name(rc), ret);

    /* The same with a 16-byte argument, and two such jobs paused at once. */
    struct small_message *sm = malloc(sizeof *sm), *sm2 = malloc(sizeof *sm2);
    ASYNC_JOB *job2 = NULL;
    int ret2 = -1;
    sm->counter = 20;
    strcpy(sm->text, "first");
    sm2->counter = 30;
    strcpy(sm2->text, "second");
    rc = ASYNC_start_job(&job, ctx, &ret, small_copy_job, sm, sizeof *sm);
    say("small copy: start rc=%s", result_name(rc));
    rc = ASYNC_start_job(&job2, ctx, &ret2, small_copy_job, sm2, sizeof *sm2);
    say("small copy: second start rc=%s", result_name(rc));
    sm->counter = 99;
    strcpy(sm->text, "changed");
    free(sm);
    free(sm2);
    while ((rc = ASYNC_start_job(&job, ctx, &ret, small_copy_job, NULL, 0)) == ASYNC_PAUSE) {}
    say("small copy: rc=%s ret=%d", result_name(rc), ret);
    while ((rc = ASYNC_start_job(&job2, ctx, &ret2, small_copy_job, NULL, 0)) == ASYNC_PAUSE) {}
    say("small copy: second rc=%s ret=%d", result_name(rc), ret2);

    /* An odd size (7 bytes), the caller's buffer gone before the resume. */
    unsigned char *odd = malloc(7);
    for (int i = 0; i < 7; i++) odd[i] = (unsigned char)(i * 37 + 5);
    int expect_odd = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 7; i++) expect_odd = expect_odd * 3 + odd[i];
    rc = ASYNC_start_job(&job, ctx, &ret, odd_size_job, odd, 7);
    memset(odd, 0, 7);
    free(odd);
    while ((rc = ASYNC_start_job(&job, ctx, &ret, odd_size_job, NULL, 0)) == ASYNC_PAUSE) {}
    say("odd size: rc=%s sum %s", result_name(rc), ret == expect_odd ? "matches" : "differs");

    /* Arguments larger than a job stack. */
    unsigned char *big = malloc(1u << 20);
    unsigned long expect = 0;
    for (size_t i = 0; i < (1u << 20); i++) { big[i] = (unsigned char)(i * 7); expect += big[i]; }
    rc = ASYNC_start_job(&job, ctx, &ret, large_job, big, 1u << 20);
    memset(big, 0, 1u << 20);
    free(big);
    rc = ASYNC_start_job(&job, ctx, &ret, large_job, NULL, 0);
    say("large args: rc=%s checksum %s", result_name(rc), ret == (int)(expect % 100000) ? "matches" : "differs");

    /* args NULL, or size 0. */
    char byte = 'x';
    rc = ASYNC_start_job(&job, ctx, &ret, report_arg, NULL, 16);
    say("args NULL size 16: rc=%s", result_name(rc));
    rc = ASYNC_start_job(&job, ctx, &ret, report_arg, &byte, 0);
    say("args set size 0: rc=%s", result_name(rc));

    /* Pool limit: NO_JOBS touches neither *job nor *ret. */
    say("init(1, 0): %d", ASYNC_init_thread(1, 0));
    ASYNC_JOB *a = NULL, *b = NULL;
    int ret_a = -1, ret_b = 777;
    rc = ASYNC_start_job(&a, ctx, &ret_a, only_pause, NULL, 0);
    say("limit: first rc=%s", result_name(rc));
    rc = ASYNC_start_job(&b, ctx, &ret_b, only_pause, NULL, 0);
    say("limit: second rc=%s job=%s ret=%d", result_name(rc), b ? "set" : "NULL", ret_b);
    rc = ASYNC_start_job(&a, ctx, &ret_a, only_pause, NULL, 0);
    say("limit: first resumed rc=%s ret=%d", result_name(rc), ret_a);
    rc = ASYNC_start_job(&b, ctx, &ret_b, only_pause, NULL, 0);
    say("limit: second again rc=%s", result_name(rc));
    rc = ASYNC_start_job(&b, ctx, &ret_b, only_pause, NULL, 0);
    say("limit: second resumed rc=%s ret=%d", result_name(rc), ret_b);

    /* Limits. */
    say("init(2, 3): %d", ASYNC_init_thread(2, 3));
    say("init(0, 2): %d", ASYNC_init_thread(0, 2));
    say("init(0, 0): %d", ASYNC_init_thread(0, 0));
    /* Calling init again applies the new limits at once. */
    say("init(3, 1): %d", ASYNC_init_thread(3, 1));
    ASYNC_JOB *jobs[4] = {NULL, NULL, NULL, NULL};
    int rets[4];
    for (int i = 0; i < 4; i++) {
        rc = ASYNC_start_job(&jobs[i], ctx, &rets[i], only_pause, NULL, 0);
        say("re-init: job %d rc=%s", i, result_name(rc));
    }
    for (int i = 0; i < 3; i++) ASYNC_start_job(&jobs[i], ctx, &rets[i], only_pause, NULL, 0);
    say("init(1, 0) again: %d", ASYNC_init_thread(1, 0));
    jobs[0] = jobs[1] = NULL;
    say("re-init lower: rc=%s", result_name(ASYNC_start_job(&jobs[0], ctx, &rets[0], only_pause, NULL, 0)));
    say("re-init lower: rc=%s", result_name(ASYNC_start_job(&jobs[1], ctx, &rets[1], only_pause, NULL, 0)));
    say("re-init lower: resume rc=%s", result_name(ASYNC_start_job(&jobs[0], ctx, &rets[0], only_pause, NULL, 0)));

    /* Cleanup twice is harmless; a later start makes a fresh pool without limit. */
    ASYNC_cleanup_thread();
    ASYNC_cleanup_thread();
    say("cleanup twice: ok");
    a = b = NULL;
    say("fresh pool: rc=%s", result_name(ASYNC_start_job(&a, ctx, &ret_a, only_pause, NULL, 0)));
    say("fresh pool: rc=%s", result_name(ASYNC_start_job(&b, ctx, &ret_b, only_pause, NULL, 0)));
    ASYNC_start_job(&a, ctx, &ret_a, only_pause, NULL, 0);
    ASYNC_start_job(&b, ctx, &ret_b, only_pause, NULL, 0);

    /* get_wait_ctx: inside, and from the paused handle. */
    job = NULL;
    rc = ASYNC_start_job(&job, ctx, &ret, wait_ctx_job, NULL, 0);
    say("wait_ctx: inside %s, from handle %s", seen_ctx == ctx ? "is the ctx" : "differs",
        ASYNC_get_wait_ctx(job) == ctx ? "is the ctx" : "differs");
    ASYNC_start_job(&job, ctx, &ret, wait_ctx_job, NULL, 0);
    rc = ASYNC_start_job(&job, NULL, &ret, no_ctx_job, NULL, 0);
    say("wait_ctx: no-ctx job rc=%s", result_name(rc));

    /* Pause deep in the call stack, and while unwinding. */
    rc = ASYNC_start_job(&job, ctx, &ret, deep_job, NULL, 0);
    int pauses = 0;
    while (rc == ASYNC_PAUSE) { pauses++; rc = ASYNC_start_job(&job, ctx, &ret, deep_job, NULL, 0); }
    say("depth: %d pauses, rc=%s ret=%d, pause returned 1 each time: %s", pauses, result_name(rc), ret,
        depth_pauses == pauses ? "yes" : "no");

    /* 1000 paused jobs resumed in a shuffled order. */
    enum { N = 1000 };
    static ASYNC_JOB *many[N];
    static ASYNC_WAIT_CTX *ctxs[N];
    static int many_ret[N], order[N], done[N];
    int paused = 0;
    for (int i = 0; i < N; i++) {
        ctxs[i] = ASYNC_WAIT_CTX_new();
        many[i] = NULL;
        paused += ASYNC_start_job(&many[i], ctxs[i], &many_ret[i], id_job, &i, sizeof i) == ASYNC_PAUSE;
        order[i] = i;
    }
    unsigned seed = 12345;
    int finished = 0, right = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = N - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 8) % (unsigned)(i + 1));
            int t = order[i]; order[i] = order[j]; order[j] = t;
        }
        for (int k = 0; k < N; k++) {
            int i = order[k];
            if (done[i]) continue;
            rc = ASYNC_start_job(&many[i], ctxs[i], &many_ret[i], id_job, NULL, 0);
            if (rc == ASYNC_FINISH) { done[i] = 1; finished++; right += many_ret[i] == i; }
        }
    }
    for (int i = 0; i < N; i++) ASYNC_WAIT_CTX_free(ctxs[i]);
    say("many: %d paused, %d finished, %d with their own id", paused, finished, right);

    /* block/unblock. */
    ASYNC_block_pause(); /* outside a job: no effect */
    ASYNC_unblock_pause();
    ASYNC_unblock_pause();
    rc = ASYNC_start_job(&job, ctx, &ret, block_job, NULL, 0);
    while (rc == ASYNC_PAUSE) {
        say("block: job paused");
        rc = ASYNC_start_job(&job, ctx, &ret, block_job, NULL, 0);
    }
    say("block: rc=%s ret=%d", result_name(rc), ret);

    /* Jobs on different threads are independent. */
    job = NULL;
    rc = ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    struct thread_result tr = {0};
    pthread_t thread;
    pthread_create(&thread, NULL, thread_main, &tr);
    pthread_join(thread, NULL);
    say("threads: other thread start=%s resume=%s ret=%d current-ok=%d", result_name(tr.start_rc),
        result_name(tr.resume_rc), tr.ret, tr.current_inside_ok);
    rc = ASYNC_start_job(&job, ctx, &ret, only_pause, NULL, 0);
    say("threads: main job rc=%s ret=%d", result_name(rc), ret);

    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
    return finish("diff_jobs");
}
