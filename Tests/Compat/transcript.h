/*
 * SPDX-License-Identifier: Apache-2.0
 * Shared by the differential C programs: the same source is built against OpenSSL's libcrypto
 * (-DUSE_OPENSSL) and against libAsyncJobsC, and prints a transcript that names no pointer and no
 * fd number, so the two transcripts can be compared line by line (scripts/tiers/30-c-library.sh).
 */
#ifndef SAJ_TEST_TRANSCRIPT_H
#define SAJ_TEST_TRANSCRIPT_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef USE_OPENSSL
#include <openssl/async.h>
#else
#include <asyncjobs/async.h>
#endif

static int failures = 0;

/* One transcript line. */
__attribute__((unused)) static void say(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

/* A check that both implementations must pass: a failure also fails the program. */
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            say("CHECK FAILED line %d: %s", __LINE__, #cond);                    \
            failures++;                                                          \
        }                                                                        \
    } while (0)

__attribute__((unused)) static const char *result_name(int rc)
{
    switch (rc) {
    case ASYNC_ERR: return "ERR";
    case ASYNC_NO_JOBS: return "NO_JOBS";
    case ASYNC_PAUSE: return "PAUSE";
    case ASYNC_FINISH: return "FINISH";
    default: return "?";
    }
}

/* Runs `body` in a forked child (stdout unbuffered there, 10 s alarm) and prints how it ended:
 * "exit N", "crashed" (any signal but SIGALRM) or "hung". The signal goes to stderr only. */
__attribute__((unused)) static void forked(const char *name, void (*body)(void))
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setvbuf(stdout, NULL, _IONBF, 0);
        alarm(10);
        body();
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) {
        say("%s: child exit %d", name, WEXITSTATUS(status));
        if (WEXITSTATUS(status) != 0) failures++;
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
        say("%s: child hung", name);
    } else {
        say("%s: child crashed", name);
        fprintf(stderr, "%s: child killed by signal %d (%s)\n", name, WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
}

/* Names for fds, so transcripts never show numbers. */
static int named_fds[16];
static const char *fd_labels[16];
static int named_count = 0;

__attribute__((unused)) static int name_fd(int fd, const char *label)
{
    named_fds[named_count] = fd;
    fd_labels[named_count] = label;
    named_count++;
    return fd;
}

__attribute__((unused)) static const char *fd_name(int fd)
{
    for (int i = named_count - 1; i >= 0; i--)
        if (named_fds[i] == fd) return fd_labels[i];
    return "unnamed-fd";
}

/* "[A, B]" for a list of fds. */
__attribute__((unused)) static const char *fd_list(const OSSL_ASYNC_FD *fds, size_t count)
{
    static char buffers[4][256];
    static int next = 0;
    char *out = buffers[next++ % 4];
    size_t used = 0;
    used += (size_t)snprintf(out + used, 256 - used, "[");
    for (size_t i = 0; i < count && used < 200; i++)
        used += (size_t)snprintf(out + used, 256 - used, "%s%s", i ? ", " : "", fd_name(fds[i]));
    snprintf(out + used, 256 - used, "]");
    return out;
}

__attribute__((unused)) static int finish(const char *program)
{
    say("%s: %s", program, failures ? "CHECKS FAILED" : "done");
    return failures ? 1 : 0;
}
#endif
