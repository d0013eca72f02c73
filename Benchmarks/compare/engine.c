// SPDX-License-Identifier: Apache-2.0
// An engine's real pattern, compiled twice from this one source like loops.c:
//   cc engine.c -lcrypto                          -> OpenSSL 3's ASYNC_* (the system's libcrypto)
//   cc -DUSE_SAJ engine.c -lAsyncJobsC ...        -> this project's C library, same names
// and driven by scripts/bench.
//
// The engine is written the way OpenSSL's engines/e_dasync.c is (its dummy_pause_job): inside
// the job it gets the current job and its wait context; if a callback is set it calls it and
// pauses; otherwise it looks its fd up with ASYNC_WAIT_CTX_get_fd (on first use it makes a pipe
// and registers the read end with ASYNC_WAIT_CTX_set_wait_fd, the write end as custom data and a
// cleanup routine that closes both), writes a byte, pauses, and reads the byte back.
// The driver is apps/speed.c's run_benchmark: ASYNC_init_thread(JOBS, JOBS), JOBS jobs, one wait
// context each; a poll() over the fds that ASYNC_WAIT_CTX_get_all_fds reports (at most one per
// context, as speed.c checks), resuming the jobs whose fd is readable; after each pause the
// changes are read with ASYNC_WAIT_CTX_get_changed_fds and the tracked fd checked.
//
//   engine time MODE       one timed repetition (>= 0.3 s): prints "MODE ns_per_op ops cpu_ns_per_op"
//                          (wall time, and the process's CPU time, user + system: on a shared
//                          machine the pattern's wall time includes waiting for a CPU)
//   engine count MODE N    about N operations, callgrind collecting only inside the timed part
//   engine transcript MODE what the run saw (statuses, fd changes, callbacks, cleanups): the same
//                          for both libraries
// MODE:
//   fd, callback     the engine pattern with fd / callback notification (ns per engine operation)
//   floor            the fd pattern's system-call floor: the same driver, pipes and poll() with
//                    the job calls taken out (write, poll, read only); it calls no ASYNC_ function
//   get_fd, get_all_fds, get_changed_fds, get_callback, set_clear_fd, current_job
//                    one wait-context call (set_clear_fd: set_wait_fd + clear_fd; current_job:
//                    get_current_job + get_wait_ctx, inside a job) on a context holding one
//                    engine's fd, as in the pattern
#define _GNU_SOURCE
#ifdef USE_SAJ
#include <asyncjobs/async.h>
#else
#include <openssl/async.h>
#endif

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

enum { JOBS = 1000, OPS_PER_JOB = 16 };

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "engine: %s failed\n", what);
    exit(1);
}

// What a run saw, printed by `engine transcript`.
static struct {
    long started, paused, finished, ops;
    long added, deleted, tracked_mismatch, too_many_fds;
    long callbacks, cleanups, polls_short;
} seen;

// ---- the engine (e_dasync.c's dummy_pause_job) ----

static const char engine_id[] = "dasync-like";

static void wait_cleanup(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD readfd, void *pvwritefd) {
    (void)ctx;
    (void)key;
    OSSL_ASYNC_FD *pwritefd = (OSSL_ASYNC_FD *)pvwritefd;
    close(readfd);
    close(*pwritefd);
    free(pwritefd);
    seen.cleanups++;
}

static void dummy_pause_job(void) {
    ASYNC_JOB *job;
    ASYNC_WAIT_CTX *waitctx;
    ASYNC_callback_fn callback;
    void *callback_arg;
    OSSL_ASYNC_FD pipefds[2] = {0, 0};
    OSSL_ASYNC_FD *writefd;
    char buf = 'X';

    if ((job = ASYNC_get_current_job()) == NULL) return;
    waitctx = ASYNC_get_wait_ctx(job);
    if (ASYNC_WAIT_CTX_get_callback(waitctx, &callback, &callback_arg) && callback != NULL) {
        (*callback)(callback_arg);
        ASYNC_pause_job();
        return;
    }
    if (ASYNC_WAIT_CTX_get_fd(waitctx, engine_id, &pipefds[0], (void **)&writefd)) {
        pipefds[1] = *writefd;
    } else {
        writefd = malloc(sizeof *writefd);
        if (writefd == NULL) return;
        if (pipe(pipefds) != 0) {
            free(writefd);
            return;
        }
        *writefd = pipefds[1];
        if (!ASYNC_WAIT_CTX_set_wait_fd(waitctx, engine_id, pipefds[0], writefd, wait_cleanup)) {
            wait_cleanup(waitctx, engine_id, pipefds[0], writefd);
            return;
        }
    }
    if (write(pipefds[1], &buf, 1) < 0) return;
    ASYNC_pause_job();
    if (read(pipefds[0], &buf, 1) < 0) return;
}

// ---- the driver (apps/speed.c's run_benchmark, with poll) ----

struct slot {
    ASYNC_JOB *job;
    ASYNC_WAIT_CTX *ctx;
    OSSL_ASYNC_FD fd;  // tracked through get_changed_fds
    int ready;         // callback mode: the callback was called
    int remaining;     // floor: operations left
    int readfd, writefd;  // floor: the slot's pipe
};

static struct slot slots[JOBS];
static struct pollfd pfds[JOBS];
static int pfd_slot[JOBS];
static int ready_queue[JOBS];
static int ready_count;

// The job function: OPS_PER_JOB engine operations. Its argument is a copy of a slot pointer.
static int engine_job(void *arg) {
    (void)arg;
    for (int i = 0; i < OPS_PER_JOB; i++) dummy_pause_job();
    return OPS_PER_JOB;
}

static int engine_callback(void *arg) {
    struct slot *slot = arg;
    slot->ready = 1;
    ready_queue[ready_count++] = (int)(slot - slots);
    seen.callbacks++;
    return 1;
}

static void track_changes(struct slot *slot) {
    size_t numadd = 0, numdel = 0;
    if (!ASYNC_WAIT_CTX_get_changed_fds(slot->ctx, NULL, &numadd, NULL, &numdel)) fail("get_changed_fds");
    if (numadd == 0 && numdel == 0) return;
    OSSL_ASYNC_FD add[4], del[4];
    if (numadd > 4 || numdel > 4) fail("too many changed fds");
    if (!ASYNC_WAIT_CTX_get_changed_fds(slot->ctx, add, &numadd, del, &numdel)) fail("get_changed_fds");
    seen.added += (long)numadd;
    seen.deleted += (long)numdel;
    for (size_t k = 0; k < numdel; k++) {
        if (del[k] == slot->fd) slot->fd = -1;
    }
    if (numadd > 0) slot->fd = add[0];
}

// Starts or resumes slot i; returns 1 while the job is in progress.
static int step(int i) {
    struct slot *slot = &slots[i];
    int job_op_count = 0;
    int was_paused = slot->job != NULL;
    struct slot *arg = slot;
    int ret = ASYNC_start_job(&slot->job, slot->ctx, &job_op_count, engine_job, &arg, sizeof arg);
    if (!was_paused) seen.started++;
    switch (ret) {
    case ASYNC_PAUSE:
        seen.paused++;
        track_changes(slot);
        return 1;
    case ASYNC_FINISH:
        seen.finished++;
        seen.ops += job_op_count;
        slot->job = NULL;
        return 0;
    default:
        fail("ASYNC_start_job");
        return 0;
    }
}

static void run_fd_pass(void) {
    int inprogress = 0;
    for (int i = 0; i < JOBS; i++) inprogress += step(i);
    while (inprogress > 0) {
        int nfds = 0;
        for (int i = 0; i < JOBS; i++) {
            if (slots[i].job == NULL) continue;
            size_t num_job_fds = 0;
            OSSL_ASYNC_FD job_fd = -1;
            if (!ASYNC_WAIT_CTX_get_all_fds(slots[i].ctx, NULL, &num_job_fds) || num_job_fds > 1) {
                seen.too_many_fds++;
                fail("Too many fds in ASYNC_WAIT_CTX");
            }
            ASYNC_WAIT_CTX_get_all_fds(slots[i].ctx, &job_fd, &num_job_fds);
            if (num_job_fds == 1 && job_fd != slots[i].fd) seen.tracked_mismatch++;
            pfds[nfds].fd = num_job_fds == 1 ? job_fd : -1;
            pfds[nfds].events = POLLIN;
            pfds[nfds].revents = 0;
            pfd_slot[nfds] = i;
            nfds++;
        }
        int ready = poll(pfds, (nfds_t)nfds, -1);
        if (ready < 0) fail("poll");
        if (ready < nfds) seen.polls_short++;
        for (int k = 0; k < nfds; k++) {
            if (pfds[k].fd >= 0 && !(pfds[k].revents & POLLIN)) continue;
            inprogress -= 1 - step(pfd_slot[k]);
        }
    }
}

static void run_callback_pass(void) {
    int inprogress = 0;
    for (int i = 0; i < JOBS; i++) inprogress += step(i);
    while (inprogress > 0) {
        if (ready_count == 0) fail("no callback before the pause");
        // Resume every job whose callback came, in the order the callbacks came.
        int count = ready_count;
        int batch[JOBS];
        memcpy(batch, ready_queue, (size_t)count * sizeof batch[0]);
        ready_count = 0;
        for (int k = 0; k < count; k++) {
            slots[batch[k]].ready = 0;
            inprogress -= 1 - step(batch[k]);
        }
    }
}

// The floor: the same poll() driver over the same kind of pipes, with no job calls.
static void run_floor_pass(void) {
    char buf = 'X';
    int inprogress = 0;
    for (int i = 0; i < JOBS; i++) {
        slots[i].remaining = OPS_PER_JOB;
        if (write(slots[i].writefd, &buf, 1) < 0) fail("write");
        inprogress++;
    }
    while (inprogress > 0) {
        int nfds = 0;
        for (int i = 0; i < JOBS; i++) {
            if (slots[i].remaining == 0) continue;
            pfds[nfds].fd = slots[i].readfd;
            pfds[nfds].events = POLLIN;
            pfds[nfds].revents = 0;
            pfd_slot[nfds] = i;
            nfds++;
        }
        int ready = poll(pfds, (nfds_t)nfds, -1);
        if (ready < 0) fail("poll");
        if (ready < nfds) seen.polls_short++;
        for (int k = 0; k < nfds; k++) {
            if (!(pfds[k].revents & POLLIN)) continue;
            struct slot *slot = &slots[pfd_slot[k]];
            if (read(slot->readfd, &buf, 1) < 0) fail("read");
            seen.ops++;
            if (--slot->remaining == 0) {
                inprogress--;
            } else if (write(slot->writefd, &buf, 1) < 0) {
                fail("write");
            }
        }
    }
}

static void setup_pattern(int callback_mode, int floor) {
    // 1,000 pipes: more descriptors than the usual soft limit of 1,024.
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 4096) {
        limit.rlim_cur = limit.rlim_max < 4096 ? limit.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (floor) {
        for (int i = 0; i < JOBS; i++) {
            int fds[2];
            if (pipe(fds) != 0) fail("pipe");
            slots[i].readfd = fds[0];
            slots[i].writefd = fds[1];
        }
        return;
    }
    if (!ASYNC_init_thread(JOBS, JOBS)) fail("ASYNC_init_thread");
    for (int i = 0; i < JOBS; i++) {
        slots[i].ctx = ASYNC_WAIT_CTX_new();
        if (slots[i].ctx == NULL) fail("ASYNC_WAIT_CTX_new");
        slots[i].fd = -1;
        if (callback_mode && !ASYNC_WAIT_CTX_set_callback(slots[i].ctx, engine_callback, &slots[i]))
            fail("ASYNC_WAIT_CTX_set_callback");
    }
}

static void teardown_pattern(int floor) {
    if (floor) {
        for (int i = 0; i < JOBS; i++) {
            close(slots[i].readfd);
            close(slots[i].writefd);
        }
        return;
    }
    for (int i = 0; i < JOBS; i++) ASYNC_WAIT_CTX_free(slots[i].ctx);
    ASYNC_cleanup_thread();
}

// ---- single wait-context calls ----

static ASYNC_WAIT_CTX *call_ctx;
static volatile long sink;
static long call_n;

static void noop_cleanup(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD fd, void *data) {
    (void)ctx, (void)key, (void)fd, (void)data;
}

static int noop_callback(void *arg) {
    (void)arg;
    return 1;
}

static void call_get_fd(long n) {
    OSSL_ASYNC_FD fd;
    void *data;
    for (long i = 0; i < n; i++) {
        if (!ASYNC_WAIT_CTX_get_fd(call_ctx, engine_id, &fd, &data)) fail("get_fd");
        sink += fd;
    }
}

static void call_get_all_fds(long n) {
    OSSL_ASYNC_FD fd;
    size_t num;
    for (long i = 0; i < n; i++) {
        if (!ASYNC_WAIT_CTX_get_all_fds(call_ctx, &fd, &num)) fail("get_all_fds");
        sink += fd;
    }
}

static void call_get_changed_fds(long n) {
    OSSL_ASYNC_FD add[4], del[4];
    size_t numadd, numdel;
    for (long i = 0; i < n; i++) {
        if (!ASYNC_WAIT_CTX_get_changed_fds(call_ctx, add, &numadd, del, &numdel)) fail("get_changed_fds");
        sink += (long)numadd;
    }
}

static void call_get_callback(long n) {
    ASYNC_callback_fn callback;
    void *arg;
    for (long i = 0; i < n; i++) {
        if (!ASYNC_WAIT_CTX_get_callback(call_ctx, &callback, &arg)) fail("get_callback");
        sink += (long)(intptr_t)arg;
    }
}

static const char other_id[] = "another engine";

static void call_set_clear_fd(long n) {
    for (long i = 0; i < n; i++) {
        if (!ASYNC_WAIT_CTX_set_wait_fd(call_ctx, other_id, 7, NULL, noop_cleanup)) fail("set_wait_fd");
        if (!ASYNC_WAIT_CTX_clear_fd(call_ctx, other_id)) fail("clear_fd");
    }
}

static int current_job_body(void *arg) {
    (void)arg;
    for (long i = 0; i < call_n; i++) {
        ASYNC_JOB *job = ASYNC_get_current_job();
        sink += (long)(intptr_t)ASYNC_get_wait_ctx(job);
    }
    return 1;
}

static void call_current_job(long n) {
    ASYNC_JOB *job = NULL;
    int ret;
    call_n = n;
    if (ASYNC_start_job(&job, call_ctx, &ret, current_job_body, NULL, 0) != ASYNC_FINISH) fail("current_job");
}

static void setup_calls(const char *name) {
    if (!ASYNC_init_thread(1, 1)) fail("ASYNC_init_thread");
    call_ctx = ASYNC_WAIT_CTX_new();
    if (call_ctx == NULL) fail("ASYNC_WAIT_CTX_new");
    if (!strcmp(name, "get_callback")) {
        if (!ASYNC_WAIT_CTX_set_callback(call_ctx, noop_callback, call_ctx)) fail("set_callback");
    } else {
        // One engine's fd, set (and reported as added) as in the pattern's first pause.
        if (!ASYNC_WAIT_CTX_set_wait_fd(call_ctx, engine_id, 5, NULL, noop_cleanup)) fail("set_wait_fd");
    }
}

// ---- driver ----

struct mode {
    const char *name;
    void (*run)(long n);  // n operations (calls); NULL for the pattern modes
};

static const struct mode calls[] = {
    {"get_fd", call_get_fd},
    {"get_all_fds", call_get_all_fds},
    {"get_changed_fds", call_get_changed_fds},
    {"get_callback", call_get_callback},
    {"set_clear_fd", call_set_clear_fd},
    {"current_job", call_current_job},
};

static void (*pattern_pass(const char *name))(void) {
    if (!strcmp(name, "fd")) return run_fd_pass;
    if (!strcmp(name, "callback")) return run_callback_pass;
    if (!strcmp(name, "floor")) return run_floor_pass;
    return NULL;
}

static void print_transcript(const char *name) {
    printf("mode %s: %d jobs x %d operations\n", name, JOBS, OPS_PER_JOB);
    printf("started %ld paused %ld finished %ld operations %ld\n", seen.started, seen.paused, seen.finished,
           seen.ops);
    printf("changed fds: added %ld deleted %ld; tracked fd != get_all_fds fd: %ld; too many fds: %ld\n",
           seen.added, seen.deleted, seen.tracked_mismatch, seen.too_many_fds);
    printf("callbacks %ld cleanups %ld\n", seen.callbacks, seen.cleanups);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: engine time MODE | engine count MODE N | engine transcript MODE\n");
        return 2;
    }
    const char *how = argv[1], *name = argv[2];
    const long ops_per_pass = (long)JOBS * OPS_PER_JOB;
    void (*pass)(void) = pattern_pass(name);
    if (pass) {
        int floor = pass == run_floor_pass;
        setup_pattern(pass == run_callback_pass, floor);
        if (!strcmp(how, "transcript")) {
            pass();
            pass();
            teardown_pattern(floor);
            print_transcript(name);
            return 0;
        }
        pass();  // the first pass makes the pipes (fd mode)
        long passes;
        if (!strcmp(how, "count")) {
            if (argc < 4) fail("count needs N");
            passes = (atol(argv[3]) + ops_per_pass - 1) / ops_per_pass;
            CALLGRIND_TOGGLE_COLLECT;
            for (long p = 0; p < passes; p++) pass();
            CALLGRIND_TOGGLE_COLLECT;
            teardown_pattern(floor);
            return 0;
        }
        // Calibrate: double the passes until they take 50 ms, then time >= 0.3 s.
        passes = 1;
        for (;;) {
            double t0 = now_ns();
            for (long p = 0; p < passes; p++) pass();
            if (now_ns() - t0 >= 5e7) break;
            passes *= 2;
        }
        passes = (long)((double)passes * 6.5);
        double t0 = now_ns(), c0 = cpu_ns();
        for (long p = 0; p < passes; p++) pass();
        double elapsed = now_ns() - t0, cpu = cpu_ns() - c0;
        teardown_pattern(floor);
        double ops = (double)(passes * ops_per_pass);
        printf("%s %.2f %ld %.2f\n", name, elapsed / ops, passes * ops_per_pass, cpu / ops);
        return 0;
    }
    const struct mode *call = NULL;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (!strcmp(name, calls[i].name)) call = &calls[i];
    }
    if (!call) fail("unknown mode");
    setup_calls(name);
    if (!strcmp(how, "count")) {
        if (argc < 4) fail("count needs N");
        long n = atol(argv[3]);
        CALLGRIND_TOGGLE_COLLECT;
        call->run(n);
        CALLGRIND_TOGGLE_COLLECT;
        return 0;
    }
    long n = 1000;
    for (;;) {
        double t0 = now_ns();
        call->run(n);
        if (now_ns() - t0 >= 5e7) break;
        n *= 2;
    }
    n = (long)((double)n * 6.5);
    double t0 = now_ns();
    call->run(n);
    double elapsed = now_ns() - t0;
    printf("%s %.2f %ld\n", name, elapsed / (double)n, n);
    return 0;
}
