// SPDX-License-Identifier: Apache-2.0
// The comparison loops, compiled twice from this one source:
//   cc loops.c -lcrypto                           -> OpenSSL 3's ASYNC_* (the system's libcrypto)
//   cc -DUSE_SAJ loops.c -lAsyncJobsC ...         -> this project's C library, same names
// and driven by scripts/bench. Every operation is the same sequence of ASYNC_* calls for both.
//
//   loops time OP        one timed repetition of OP (>= 0.3 s): prints "OP ns_per_op iterations"
//   loops count OP N     exactly N operations, with callgrind collecting only inside the loop
//   loops rss N          RSS per job with N jobs paused at once: prints "rss N bytes_per_job"
// OP: roundtrip | startfinish | startpausefinish | fresh
#define _GNU_SOURCE
#ifdef USE_SAJ
#include <asyncjobs/async.h>
#else
#include <openssl/async.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

static ASYNC_WAIT_CTX *wait_ctx;
static volatile long sink;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "loops: %s failed\n", what);
    exit(1);
}

// ---- job functions ----

// Pauses until ASYNC_pause_job fails (never, in the round-trip loop).
static int pause_forever(void *arg) {
    (void)arg;
    for (;;) {
        if (!ASYNC_pause_job()) return 0;
    }
}

static int finish_at_once(void *arg) {
    sink += *(int *)arg;
    return 1;
}

static int pause_once(void *arg) {
    (void)arg;
    ASYNC_pause_job();
    return 1;
}

static int start(ASYNC_JOB **job, int (*fn)(void *), int *arg) {
    int ret = 0;
    int status = ASYNC_start_job(job, wait_ctx, &ret, fn, arg, sizeof *arg);
    if (status == ASYNC_ERR || status == ASYNC_NO_JOBS) fail("ASYNC_start_job");
    return status;
}

// ---- operations: each runs n of them ----

static ASYNC_JOB *round_trip_job;

static void setup_roundtrip(void) {
    int arg = 1;
    if (start(&round_trip_job, pause_forever, &arg) != ASYNC_PAUSE) fail("round-trip setup");
}

// Resume a paused job; it pauses again: one pause + resume round trip.
static void op_roundtrip(long n) {
    int arg = 1;
    for (long i = 0; i < n; i++) {
        if (start(&round_trip_job, pause_forever, &arg) != ASYNC_PAUSE) fail("round trip");
    }
}

// Pooled job that finishes without pausing.
static void op_startfinish(long n) {
    int arg = 1;
    for (long i = 0; i < n; i++) {
        ASYNC_JOB *job = NULL;
        if (start(&job, finish_at_once, &arg) != ASYNC_FINISH) fail("start -> finish");
    }
}

// Pooled job: start, it pauses, resume, it finishes.
static void op_startpausefinish(long n) {
    int arg = 1;
    for (long i = 0; i < n; i++) {
        ASYNC_JOB *job = NULL;
        if (start(&job, pause_once, &arg) != ASYNC_PAUSE) fail("start -> pause");
        if (start(&job, pause_once, &arg) != ASYNC_FINISH) fail("resume -> finish");
    }
}

// ---- fresh jobs: n new jobs on a cold pool, each up to its first pause ----

enum { FRESH_BATCH = 1000 };
static ASYNC_JOB *fresh_jobs[FRESH_BATCH];

static void fresh_prepare(void) {
    if (!ASYNC_init_thread(0, 0)) fail("ASYNC_init_thread");
}

static void fresh_batch(int count) {
    int arg = 1;
    for (int i = 0; i < count; i++) {
        fresh_jobs[i] = NULL;
        if (start(&fresh_jobs[i], pause_once, &arg) != ASYNC_PAUSE) fail("fresh start");
    }
}

// Untimed: finish the batch's jobs and free the pool, so the next batch starts cold again.
static void fresh_cleanup(int count) {
    int arg = 1;
    for (int i = 0; i < count; i++) {
        if (start(&fresh_jobs[i], pause_once, &arg) != ASYNC_FINISH) fail("fresh finish");
    }
    ASYNC_cleanup_thread();
}

static double run_fresh(long n, int timed) {
    double elapsed = 0;
    for (long done = 0; done < n; done += FRESH_BATCH) {
        int count = (int)(n - done < FRESH_BATCH ? n - done : FRESH_BATCH);
        fresh_prepare();
        double t0 = timed ? now_ns() : 0;
        CALLGRIND_TOGGLE_COLLECT;
        fresh_batch(count);
        CALLGRIND_TOGGLE_COLLECT;
        if (timed) elapsed += now_ns() - t0;
        fresh_cleanup(count);
    }
    return elapsed;
}

// ---- driver ----

static void (*op_named(const char *name))(long) {
    if (!strcmp(name, "roundtrip")) return op_roundtrip;
    if (!strcmp(name, "startfinish")) return op_startfinish;
    if (!strcmp(name, "startpausefinish")) return op_startpausefinish;
    return NULL;
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages_total = 0, pages_rss = 0;
    if (!f || fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) fail("statm");
    fclose(f);
    return pages_rss * 4096;
}

static int rss(long n) {
    ASYNC_JOB **jobs = malloc((size_t)n * sizeof *jobs);
    int arg = 1;
    if (!jobs || !ASYNC_init_thread(0, 0)) fail("rss setup");
    // Touch the handle array now, so that its pages are not counted as the jobs'.
    for (long i = 0; i < n; i++) ((volatile ASYNC_JOB **)jobs)[i] = NULL;
    // One job first, so that the library's one-time state is not counted.
    ASYNC_JOB *first = NULL;
    start(&first, pause_once, &arg);
    start(&first, pause_once, &arg);
    long before = rss_bytes();
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (start(&jobs[i], pause_once, &arg) != ASYNC_PAUSE) fail("rss start");
    }
    double elapsed = now_ns() - t0;
    long after = rss_bytes();
    // Also: ns per job for these first jobs of the process (new memory, page faults, guard pages).
    printf("rss %ld %.0f %.1f\n", n, (double)(after - before) / (double)n, elapsed / (double)n);
    fflush(stdout);
    for (long i = 0; i < n; i++) start(&jobs[i], pause_once, &arg);
    ASYNC_cleanup_thread();
    free(jobs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: loops time OP | loops count OP N | loops rss N\n");
        return 2;
    }
    const char *mode = argv[1], *name = argv[2];
    // One wait context for every job (OpenSSL's pause needs one).
    wait_ctx = ASYNC_WAIT_CTX_new();
    if (!wait_ctx) fail("ASYNC_WAIT_CTX_new");
    if (!strcmp(mode, "rss")) return rss(atol(name));
    int fresh = !strcmp(name, "fresh");
    void (*op)(long) = op_named(name);
    if (!fresh && !op) fail("unknown operation");
    if (!fresh && !ASYNC_init_thread(1, 1)) fail("ASYNC_init_thread");
    if (!strcmp(name, "roundtrip")) setup_roundtrip();

    if (!strcmp(mode, "count")) {
        long n = atol(argv[3]);
        if (fresh) {
            run_fresh(n, 0);
        } else {
            CALLGRIND_TOGGLE_COLLECT;
            op(n);
            CALLGRIND_TOGGLE_COLLECT;
        }
        return 0;
    }
    // Calibrate: double n until one pass takes 50 ms, then time one pass of >= 0.3 s.
    long n = fresh ? FRESH_BATCH : 1000;
    for (;;) {
        double t0 = now_ns();
        double elapsed = fresh ? run_fresh(n, 1) : (op(n), now_ns() - t0);
        if (elapsed >= 5e7) break;
        n *= 2;
    }
    n = (long)((double)n * 6.5);
    if (fresh) n = (n + FRESH_BATCH - 1) / FRESH_BATCH * FRESH_BATCH;
    double t0 = now_ns();
    double elapsed = fresh ? run_fresh(n, 1) : (op(n), now_ns() - t0);
    printf("%s %.2f %ld\n", name, elapsed / (double)n, n);
    return 0;
}
