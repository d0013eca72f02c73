/*
 * SPDX-License-Identifier: Apache-2.0
 * Differential: ASYNC_WAIT_CTX (docs/contract.md "Wait contexts" and "How engines and applications
 * drive it"), through the OpenSSL names. Built against libcrypto and libAsyncJobsC; the
 * transcripts must match except for diff_wait_ctx.expected-diff.
 */
#include "transcript.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

static const char key1[] = "key1", key2[] = "key2", key3[] = "key3", key4[] = "key4";
static const char engine_key[] = "engine";
static ASYNC_WAIT_CTX *freed_ctx;

static const char *key_name(const void *key)
{
    if (key == key1) return "key1";
    if (key == key2) return "key2";
    if (key == key3) return "key3";
    if (key == key4) return "key4";
    if (key == engine_key) return "engine key";
    return "other-key";
}

static void print_cleanup(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD fd, void *data)
{
    say("cleanup: ctx %s, %s, fd %s, data %s", ctx == freed_ctx ? "ok" : "wrong", key_name(key), fd_name(fd),
        data ? (const char *)data : "NULL");
}

static void closing_cleanup(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD fd, void *data)
{
    (void)ctx; (void)data;
    say("cleanup: engine closes its fd (%s)", key_name(key));
    close(fd);
}

static void show_fds(const char *when, ASYNC_WAIT_CTX *ctx)
{
    OSSL_ASYNC_FD all[16], add[16], del[16];
    size_t n = 99, nadd = 99, ndel = 99;
    int r1 = ASYNC_WAIT_CTX_get_all_fds(ctx, NULL, &n);
    int r2 = ASYNC_WAIT_CTX_get_all_fds(ctx, all, &n);
    int r3 = ASYNC_WAIT_CTX_get_changed_fds(ctx, add, &nadd, del, &ndel);
    say("%s: all %s, added %s, deleted %s (rc %d%d%d)", when, fd_list(all, n), fd_list(add, nadd), fd_list(del, ndel),
        r1, r2, r3);
}

/* A job whose segments change the ctx's fds. */
static int fdA, fdB, fdC, fdD, fdX;
static int segments_job(void *arg)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    (void)arg;
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key1, fdA, NULL, NULL);
    ASYNC_pause_job();                                 /* segment 1: added A */
    ASYNC_WAIT_CTX_clear_fd(ctx, key1);
    ASYNC_pause_job();                                 /* segment 2: deleted A */
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key2, fdB, NULL, NULL);
    ASYNC_WAIT_CTX_clear_fd(ctx, key2);
    ASYNC_pause_job();                                 /* segment 3: B added and cleared: nothing */
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key3, fdC, NULL, NULL);
    return 1;                                          /* segment 4: added C, then finish */
}

static int pause_twice(void *arg)
{
    (void)arg;
    ASYNC_pause_job();
    ASYNC_pause_job();
    return 2;
}

/* A software engine: one eventfd per ctx under its own key, made readable by "hardware"
 * (here, the application); tolerates a spurious resume. */
/* More entries than this library keeps inline (four): set in one segment, some cleared in the
 * next (old ones: reported deleted; a new one: never existed), a fifth set again. */
static int many_job(void *arg)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    (void)arg;
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key1, fdA, "dataA", print_cleanup);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key2, fdB, "dataB", print_cleanup);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key3, fdC, NULL, NULL);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key4, fdD, "dataD", print_cleanup);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key1, fdX, "dataX", print_cleanup);
    ASYNC_pause_job();
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key2, fdA, "dataA2", print_cleanup);
    ASYNC_WAIT_CTX_clear_fd(ctx, key3);
    ASYNC_WAIT_CTX_clear_fd(ctx, key2);
    ASYNC_WAIT_CTX_clear_fd(ctx, key1);
    ASYNC_pause_job();
    return 1;
}

static int work_done;
static int engine_job(void *arg)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    OSSL_ASYNC_FD fd;
    void *custom = NULL;
    (void)arg;
    if (ASYNC_WAIT_CTX_get_fd(ctx, engine_key, &fd, &custom)) {
        say("engine: reuses its fd");
    } else {
        fd = name_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "engine-fd");
        ASYNC_WAIT_CTX_set_wait_fd(ctx, engine_key, fd, NULL, closing_cleanup);
        size_t nadd = 0, ndel = 0;
        ASYNC_WAIT_CTX_get_changed_fds(ctx, NULL, &nadd, NULL, &ndel);
        say("engine: made its fd (added count %zu)", nadd);
    }
    work_done = 0;
    int pauses = 0;
    for (;;) {
        ASYNC_pause_job();
        pauses++;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) break;
        say("engine: spurious resume, pausing again");
    }
    uint64_t value;
    if (read(fd, &value, sizeof value) != sizeof value) say("engine: drain failed");
    say("engine: work done after %d pauses", pauses);
    return 100 + pauses;
}

/* Callback path: a worker thread completes the work and calls the callback. */
static int callback_calls;
static int callback_pipe[2];
static int app_callback(void *arg)
{
    callback_calls++;
    char c = *(char *)arg;
    if (write(callback_pipe[1], &c, 1) != 1) return 0;
    return 1;
}
static void *hardware_thread(void *arg)
{
    ASYNC_WAIT_CTX *ctx = arg;
    ASYNC_callback_fn cb = NULL;
    void *cb_arg = NULL;
    usleep(10000);
    ASYNC_WAIT_CTX_set_status(ctx, ASYNC_STATUS_OK);
    if (ASYNC_WAIT_CTX_get_callback(ctx, &cb, &cb_arg)) cb(cb_arg);
    return NULL;
}
static int callback_job(void *arg)
{
    ASYNC_WAIT_CTX *ctx = ASYNC_get_wait_ctx(ASYNC_get_current_job());
    pthread_t thread;
    (void)arg;
    ASYNC_WAIT_CTX_set_status(ctx, ASYNC_STATUS_EAGAIN);
    pthread_create(&thread, NULL, hardware_thread, ctx);
    ASYNC_pause_job();
    pthread_join(thread, NULL);
    return ASYNC_WAIT_CTX_get_status(ctx);
}

int main(void)
{
    int pipes[5][2];
    for (int i = 0; i < 5; i++) if (pipe(pipes[i]) != 0) return 2;
    fdA = name_fd(pipes[0][0], "A");
    fdB = name_fd(pipes[1][0], "B");
    fdC = name_fd(pipes[2][0], "C");
    fdD = name_fd(pipes[3][0], "D");
    fdX = name_fd(pipes[4][0], "X");

    /* A new ctx. */
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_callback_fn cb = (ASYNC_callback_fn)1;
    void *cb_arg = (void *)1;
    show_fds("new", ctx);
    say("new: get_callback %d, outputs %s", ASYNC_WAIT_CTX_get_callback(ctx, &cb, &cb_arg),
        cb == (ASYNC_callback_fn)1 && cb_arg == (void *)1 ? "untouched" : "written");
    say("new: status %d", ASYNC_WAIT_CTX_get_status(ctx));

    /* Keys: duplicates are kept, lookups act on the newest. */
    say("set key1=A: %d", ASYNC_WAIT_CTX_set_wait_fd(ctx, key1, fdA, "dataA", print_cleanup));
    say("set key1=B: %d", ASYNC_WAIT_CTX_set_wait_fd(ctx, key1, fdB, "dataB", print_cleanup));
    say("set key2=C: %d", ASYNC_WAIT_CTX_set_wait_fd(ctx, key2, fdC, NULL, NULL));
    say("set key3=D: %d", ASYNC_WAIT_CTX_set_wait_fd(ctx, key3, fdD, "dataD", print_cleanup));
    OSSL_ASYNC_FD fd = -7;
    void *data = (void *)7;
    int rc = ASYNC_WAIT_CTX_get_fd(ctx, key1, &fd, &data);
    say("get key1: %d fd %s data %s", rc, fd_name(fd), (char *)data);
    fd = -7; data = (void *)7;
    rc = ASYNC_WAIT_CTX_get_fd(ctx, key4, &fd, &data);
    say("get key4: %d outputs %s", rc, fd == -7 && data == (void *)7 ? "untouched" : "written");
    show_fds("four set", ctx);
    say("clear key1: %d", ASYNC_WAIT_CTX_clear_fd(ctx, key1));
    rc = ASYNC_WAIT_CTX_get_fd(ctx, key1, &fd, &data);
    say("get key1 after clear: %d fd %s data %s", rc, fd_name(fd), (char *)data);
    say("clear key4: %d", ASYNC_WAIT_CTX_clear_fd(ctx, key4));
    show_fds("after clear", ctx);
    say("changed fds read twice: same");
    show_fds("again", ctx);
    OSSL_ASYNC_FD only[16];
    size_t nadd = 0, ndel = 0;
    ASYNC_WAIT_CTX_get_changed_fds(ctx, only, &nadd, NULL, &ndel);
    say("changed with delfd NULL: added %s, %zu deleted", fd_list(only, nadd), ndel);
    /* Free: cleanups of live entries, newest first; a cleared entry gets none. */
    freed_ctx = ctx;
    ASYNC_WAIT_CTX_free(ctx);
    say("free: done");
    ASYNC_WAIT_CTX_free(NULL);
    say("free(NULL): ok");

    /* More entries than this library keeps inline, over job segments, then freed. */
    ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *many = NULL;
    int many_ret = 0;
    rc = ASYNC_start_job(&many, ctx, &many_ret, many_job, NULL, 0);
    show_fds("five set", ctx);
    fd = -7; data = NULL;
    rc = ASYNC_WAIT_CTX_get_fd(ctx, key1, &fd, &data);
    say("five set: get key1: %d fd %s data %s", rc, fd_name(fd), (char *)data);
    rc = ASYNC_start_job(&many, ctx, &many_ret, many_job, NULL, 0);
    show_fds("three cleared, one set and cleared", ctx);
    rc = ASYNC_WAIT_CTX_get_fd(ctx, key1, &fd, &data);
    say("three cleared: get key1: %d fd %s data %s", rc, fd_name(fd), (char *)data);
    rc = ASYNC_WAIT_CTX_get_fd(ctx, key3, &fd, &data);
    say("three cleared: get key3: %d", rc);
    rc = ASYNC_start_job(&many, ctx, &many_ret, many_job, NULL, 0);
    say("many: rc=%s ret=%d", result_name(rc), many_ret);
    show_fds("many finished", ctx);
    freed_ctx = ctx;
    ASYNC_WAIT_CTX_free(ctx);
    say("many: freed");

    /* Changed fds over job segments. */
    ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = 0;
    rc = ASYNC_start_job(&job, ctx, &ret, segments_job, NULL, 0);
    show_fds("segment 1 (job added A)", ctx);
    ASYNC_WAIT_CTX_set_wait_fd(ctx, key4, fdX, NULL, NULL);
    show_fds("app added X while paused", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, segments_job, NULL, 0);
    show_fds("segment 2 (job cleared A)", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, segments_job, NULL, 0);
    show_fds("segment 3 (job added and cleared B)", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, segments_job, NULL, 0);
    say("segment 4: rc=%s ret=%d", result_name(rc), ret);
    show_fds("after finish (job added C)", ctx);
    show_fds("after finish, read again", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, pause_twice, NULL, 0);
    show_fds("next job started and paused", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, pause_twice, NULL, 0);
    show_fds("next job resumed and paused", ctx);
    rc = ASYNC_start_job(&job, ctx, &ret, pause_twice, NULL, 0);
    say("next job: rc=%s ret=%d", result_name(rc), ret);
    ASYNC_WAIT_CTX_free(ctx);

    /* The engine pattern: one fd per ctx under the engine's key, reused; spurious resume;
     * the application polls the fds it collects and resumes; free closes the fd. */
    ctx = ASYNC_WAIT_CTX_new();
    for (int round = 0; round < 2; round++) {
        job = NULL;
        rc = ASYNC_start_job(&job, ctx, &ret, engine_job, NULL, 0);
        say("app: rc=%s, resuming before the work is done", result_name(rc));
        rc = ASYNC_start_job(&job, ctx, &ret, engine_job, NULL, 0);
        OSSL_ASYNC_FD fds[4];
        size_t n = 0;
        ASYNC_WAIT_CTX_get_all_fds(ctx, NULL, &n);
        ASYNC_WAIT_CTX_get_all_fds(ctx, fds, &n);
        uint64_t one = 1;
        if (write(fds[0], &one, sizeof one) != sizeof one) say("app: signal failed");
        struct pollfd p = {fds[0], POLLIN, 0};
        say("app: rc=%s, %zu fd(s), poll says %d ready", result_name(rc), n, poll(&p, 1, 1000));
        rc = ASYNC_start_job(&job, ctx, &ret, engine_job, NULL, 0);
        say("app: rc=%s ret=%d", result_name(rc), ret);
    }
    OSSL_ASYNC_FD engine_fd = -1;
    void *engine_data = NULL;
    ASYNC_WAIT_CTX_get_fd(ctx, engine_key, &engine_fd, &engine_data); /* OpenSSL writes both outputs */
    ASYNC_WAIT_CTX_free(ctx);
    say("engine fd closed by cleanup: %s", fcntl(engine_fd, F_GETFD) == -1 ? "yes" : "no");

    /* Callback and status: stored verbatim, never called or changed by the library. */
    ctx = ASYNC_WAIT_CTX_new();
    char tag = 'k';
    if (pipe(callback_pipe) != 0) return 2;
    say("set_callback: %d", ASYNC_WAIT_CTX_set_callback(ctx, app_callback, &tag));
    cb = NULL; cb_arg = NULL;
    rc = ASYNC_WAIT_CTX_get_callback(ctx, &cb, &cb_arg);
    say("get_callback: %d same function %s same arg %s", rc, cb == app_callback ? "yes" : "no",
        cb_arg == &tag ? "yes" : "no");
    rc = ASYNC_WAIT_CTX_set_status(ctx, 42);
    say("set_status 42: %d, get %d", rc, ASYNC_WAIT_CTX_get_status(ctx));
    rc = ASYNC_WAIT_CTX_set_status(ctx, -5);
    say("set_status -5: %d, get %d", rc, ASYNC_WAIT_CTX_get_status(ctx));
    job = NULL;
    rc = ASYNC_start_job(&job, ctx, &ret, callback_job, NULL, 0);
    say("callback job: rc=%s, status %d (set by the engine)", result_name(rc), ASYNC_WAIT_CTX_get_status(ctx));
    char got = 0;
    if (read(callback_pipe[0], &got, 1) != 1) say("callback: read failed");
    say("callback fired from another thread with arg %c, status %d", got, ASYNC_WAIT_CTX_get_status(ctx));
    rc = ASYNC_start_job(&job, ctx, &ret, callback_job, NULL, 0);
    say("callback job: rc=%s ret=%d, callback calls %d (library called none)", result_name(rc), ret, callback_calls);
    say("set_callback NULL: %d", ASYNC_WAIT_CTX_set_callback(ctx, NULL, &tag));
    cb = (ASYNC_callback_fn)1; cb_arg = (void *)1;
    rc = ASYNC_WAIT_CTX_get_callback(ctx, &cb, &cb_arg);
    say("get_callback after NULL: %d outputs %s", rc, cb == (ASYNC_callback_fn)1 && cb_arg == (void *)1 ? "untouched" : "written");
    say("set_callback on NULL ctx: %d", ASYNC_WAIT_CTX_set_callback(NULL, app_callback, NULL));
    ASYNC_WAIT_CTX_free(ctx);

    ASYNC_cleanup_thread();
    return finish("diff_wait_ctx");
}
