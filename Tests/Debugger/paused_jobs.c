/* SPDX-License-Identifier: Apache-2.0
 * A program to inspect with gdb (scripts/tiers/40-debugger.sh): it pauses three jobs of the C
 * library at known places, then stops itself with SIGTRAP (where gdb lists them live), or with
 * PAUSED_JOBS_ABORT set aborts there (the kernel writes a core file, which gdb lists them from).
 * Otherwise it resumes them to their end: outside a debugger the SIGTRAP is ignored. Exits 0
 * when every job finished. */
#include <asyncjobs/async.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE int wait_for_device(int request) {
    ASYNC_pause_job();
    return request * 2;
}

static NOINLINE int handle_request(void *arg) {
    int request = *(int *)arg;
    return wait_for_device(request) + 1;
}

static NOINLINE int descend(int depth) {
    if (depth == 0) {
        ASYNC_pause_job();
        return 0;
    }
    return descend(depth - 1) + 1;
}

static NOINLINE int deep_job(void *arg) {
    return descend(*(int *)arg);
}

static NOINLINE int pause_twice(void *arg) {
    (void)arg;
    ASYNC_pause_job();
    ASYNC_pause_job();
    return 7;
}

int main(void) {
    ASYNC_JOB *jobs[3] = {NULL, NULL, NULL};
    int (*bodies[3])(void *) = {handle_request, deep_job, pause_twice};
    int arguments[3] = {20, 12, 0};
    int results[3] = {0, 0, 0};
    if (!ASYNC_init_thread(0, 0)) return 1;
    for (int i = 0; i < 3; i++) {
        if (ASYNC_start_job(&jobs[i], NULL, &results[i], bodies[i], &arguments[i], sizeof(int)) != ASYNC_PAUSE) return 2;
    }
    // The second job of pause_twice's: resumed once, so it has paused twice when gdb looks.
    if (ASYNC_start_job(&jobs[2], NULL, &results[2], bodies[2], &arguments[2], sizeof(int)) != ASYNC_PAUSE) return 3;
    if (getenv("PAUSED_JOBS_ABORT") != NULL) abort();
    signal(SIGTRAP, SIG_IGN);  // gdb still stops on it; without gdb it is ignored
    raise(SIGTRAP);
    for (int i = 0; i < 3; i++) {
        while (jobs[i] != NULL) {
            int status = ASYNC_start_job(&jobs[i], NULL, &results[i], bodies[i], &arguments[i], sizeof(int));
            if (status == ASYNC_FINISH) jobs[i] = NULL;
            else if (status != ASYNC_PAUSE) return 4;
        }
    }
    printf("results %d %d %d\n", results[0], results[1], results[2]);
    ASYNC_cleanup_thread();
    return results[0] == 41 && results[1] == 12 && results[2] == 7 ? 0 : 5;
}
