// SPDX-License-Identifier: Apache-2.0
// The wait-context readers of <asyncjobs/saj_async.h> (OpenSSL's ASYNC_WAIT_CTX_get_fd,
// get_all_fds, get_changed_fds and get_callback), in C: an engine calls them once or twice per
// operation, and OpenSSL's take a few loads. Each reads the context's mirror (the copy of its
// first descriptors and of its C callback that every writer publishes under the context's lock,
// Sources/AsyncJobs/Runtime/WaitContextMirror.swift) with the sequence lock the Swift readers
// use, without crossing into Swift; the policy stays in Swift. When the mirror cannot answer (a
// NULL argument, entries that are not mirrored, a publish under way), the call goes to the whole
// Swift version (Sources/AsyncJobsCompat/WaitContexts.swift), which retries the mirror and then
// takes the lock.
//
// Layout: `struct saj_mirror` must match WaitContext.Mirror, at SAJ_MIRROR_OFFSET from the
// object's address; the readers use it without a check per call. The rule is checked once, when
// the library is loaded (check_mirror_layout): Swift compares this struct's offsets and constants
// with the mirror it measures on a probe object, and a difference stops the process with a
// message naming it, before any context exists. A Swift test pins the same values.
//
// Memory order: as the Swift readers (WaitContext.Mirror.read): the header is loaded with
// acquire, the arrays relaxed, then an acquire fence and the header again; a result is used only
// if the header had neither the busy nor (for the entries) the unmirrored bit and did not
// change. Every index read is below a count of at most SAJ_MIRROR_CAPACITY (three bits, and
// the writers never store more).
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "asyncjobs/saj_async.h"

// The mirror's offset from a WaitContext's address: it is the class's first stored property,
// after Swift's two-word object header.
#define SAJ_MIRROR_OFFSET 16
#define SAJ_MIRROR_CAPACITY 4
// The header word (WaitContext.Mirror.Header): four three-bit counts, two flags, a generation.
#define SAJ_MIRROR_LIVE_SHIFT 0
#define SAJ_MIRROR_WORD_KEY_SHIFT 3
#define SAJ_MIRROR_ADDED_SHIFT 6
#define SAJ_MIRROR_DELETED_SHIFT 9
#define SAJ_MIRROR_BUSY ((uintptr_t)1 << 12)
#define SAJ_MIRROR_UNMIRRORED ((uintptr_t)1 << 13)
#define SAJ_MIRROR_KIND_WORD 1
#define SAJ_MIRROR_COUNT(header, shift) ((size_t)((header) >> (shift)) & 7)

// WaitContext.Mirror (Swift's Atomic<UInt> and Atomic<UInt32> are a word and 32 bits). Every
// array is oldest first: the readers walk it backwards, since the API reports newest first.
struct saj_mirror {
    uintptr_t header;
    // The live entries under C keys from slot 0 up (the other live ones from the last slot down).
    uintptr_t keys[SAJ_MIRROR_CAPACITY];
    uintptr_t words[SAJ_MIRROR_CAPACITY];
    // fd (bits 0-31) | key kind (32-39) | data kind (40-41).
    uintptr_t metas[SAJ_MIRROR_CAPACITY];
    // Every live entry's fd, the added ones', the deleted (and not added) ones'.
    uint32_t live_fds[SAJ_MIRROR_CAPACITY];
    uint32_t added_fds[SAJ_MIRROR_CAPACITY];
    uint32_t deleted_fds[SAJ_MIRROR_CAPACITY];
    uintptr_t callback_function;
    uintptr_t callback_argument;
};

// Swift's halves (AsyncJobsCompat, WaitContexts.swift).
intptr_t _saj_wait_mirror_check(const intptr_t *expected, intptr_t count);
int _saj_wait_ctx_get_fd_whole(SAJ_WAIT_CTX *ctx, const void *key, SAJ_FD *fd, void **custom_data);
int _saj_wait_ctx_get_all_fds_whole(SAJ_WAIT_CTX *ctx, SAJ_FD *fd, size_t *numfds);
int _saj_wait_ctx_get_changed_fds_whole(SAJ_WAIT_CTX *ctx, SAJ_FD *addfd, size_t *numaddfds, SAJ_FD *delfd,
                                        size_t *numdelfds);
int _saj_wait_ctx_get_callback_whole(SAJ_WAIT_CTX *ctx, SAJ_callback_fn *callback, void **callback_arg);

// The layout rule, checked once when the library is loaded (before any context can reach a
// reader): Swift measures the mirror on a probe object and compares it, field by field, with
// this struct and these constants. A difference is a build of the library whose halves disagree:
// reading on would return garbage, so the process stops here, saying which value differs.
__attribute__((constructor)) static void check_mirror_layout(void) {
    const intptr_t expected[] = {
        SAJ_MIRROR_OFFSET,
        offsetof(struct saj_mirror, keys),
        offsetof(struct saj_mirror, words),
        offsetof(struct saj_mirror, metas),
        offsetof(struct saj_mirror, live_fds),
        offsetof(struct saj_mirror, added_fds),
        offsetof(struct saj_mirror, deleted_fds),
        offsetof(struct saj_mirror, callback_function),
        offsetof(struct saj_mirror, callback_argument),
        SAJ_MIRROR_CAPACITY,
        SAJ_MIRROR_LIVE_SHIFT,
        SAJ_MIRROR_WORD_KEY_SHIFT,
        SAJ_MIRROR_ADDED_SHIFT,
        SAJ_MIRROR_DELETED_SHIFT,
        (intptr_t)SAJ_MIRROR_BUSY,
        (intptr_t)SAJ_MIRROR_UNMIRRORED,
        SAJ_MIRROR_KIND_WORD,
    };
    static const char *const names[] = {
        "the mirror's offset in the object", "keys", "words", "metas", "live_fds", "added_fds", "deleted_fds",
        "callback_function", "callback_argument", "the capacity", "the live count's shift",
        "the C-key count's shift", "the added count's shift", "the deleted count's shift", "the busy bit",
        "the unmirrored bit", "the C key's kind",
    };
    _Static_assert(sizeof names / sizeof names[0] == sizeof expected / sizeof expected[0], "one name per value");
    intptr_t mismatch = _saj_wait_mirror_check(expected, (intptr_t)(sizeof expected / sizeof expected[0]));
    if (mismatch < 0) return;
    fprintf(stderr,
            "libAsyncJobsC: the wait-context readers (saj_wait_ctx_readers.c, struct saj_mirror) and "
            "WaitContext.Mirror (WaitContextMirror.swift, mirrorLayout) disagree on %s (value %ld); both "
            "must describe the same layout\n",
            mismatch < (intptr_t)(sizeof names / sizeof names[0]) ? names[mismatch] : "the number of values",
            (long)mismatch);
    abort();
}

// The mirror of a context (not NULL).
static inline const struct saj_mirror *mirror_of(SAJ_WAIT_CTX *ctx) {
    return (const struct saj_mirror *)((const char *)ctx + SAJ_MIRROR_OFFSET);
}

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

// The header at the start of a read.
static inline uintptr_t read_begin(const struct saj_mirror *mirror) {
    return __atomic_load_n(&mirror->header, __ATOMIC_ACQUIRE);
}

// Whether nothing was published since `before` (a header read by `read_begin`).
static inline int read_valid(const struct saj_mirror *mirror, uintptr_t before) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return LOAD(mirror->header) == before;
}

// Copies the first `count` fds of `from` to `to` (when not NULL), last first.
static inline void copy_fds(const uint32_t *from, size_t count, SAJ_FD *to) {
    if (to == NULL) return;
    while (count > 0) *to++ = (SAJ_FD)LOAD(from[--count]);
}

int SAJ_WAIT_CTX_get_fd(SAJ_WAIT_CTX *ctx, const void *key, SAJ_FD *fd, void **custom_data) {
    if (__builtin_expect(ctx == NULL, 0)) goto whole;
    const struct saj_mirror *mirror = mirror_of(ctx);
    uintptr_t before = read_begin(mirror);
    // The live entries under C keys, newest first (a busy or unmirrored header counts none).
    size_t slot = SAJ_MIRROR_COUNT(before, SAJ_MIRROR_WORD_KEY_SHIFT);
    while (slot > 0) {
        slot--;
        if (LOAD(mirror->keys[slot]) != (uintptr_t)key) continue;
        SAJ_FD found = (SAJ_FD)(uint32_t)LOAD(mirror->metas[slot]);
        uintptr_t word = LOAD(mirror->words[slot]);
        if (!read_valid(mirror, before)) goto whole;
        if (fd != NULL) *fd = found;
        if (custom_data != NULL) *custom_data = (void *)word;
        return 1;
    }
    if (__builtin_expect(before & (SAJ_MIRROR_BUSY | SAJ_MIRROR_UNMIRRORED), 0)) goto whole;
    if (!read_valid(mirror, before)) goto whole;
    return 0;
whole:
    return _saj_wait_ctx_get_fd_whole(ctx, key, fd, custom_data);
}

int SAJ_WAIT_CTX_get_all_fds(SAJ_WAIT_CTX *ctx, SAJ_FD *fd, size_t *numfds) {
    if (__builtin_expect(ctx == NULL || numfds == NULL, 0)) goto whole;
    const struct saj_mirror *mirror = mirror_of(ctx);
    uintptr_t before = read_begin(mirror);
    if (__builtin_expect(before & (SAJ_MIRROR_BUSY | SAJ_MIRROR_UNMIRRORED), 0)) goto whole;
    // Straight into the caller's array (sized from an earlier call, as OpenSSL's callers do; a
    // torn copy is written over by the whole version).
    size_t count = SAJ_MIRROR_COUNT(before, SAJ_MIRROR_LIVE_SHIFT);
    copy_fds(mirror->live_fds, count, fd);
    if (!read_valid(mirror, before)) goto whole;
    *numfds = count;
    return 1;
whole:
    return _saj_wait_ctx_get_all_fds_whole(ctx, fd, numfds);
}

int SAJ_WAIT_CTX_get_changed_fds(SAJ_WAIT_CTX *ctx, SAJ_FD *addfd, size_t *numaddfds, SAJ_FD *delfd,
                                 size_t *numdelfds) {
    if (__builtin_expect(ctx == NULL, 0)) goto whole;
    const struct saj_mirror *mirror = mirror_of(ctx);
    uintptr_t before = read_begin(mirror);
    if (__builtin_expect(before & (SAJ_MIRROR_BUSY | SAJ_MIRROR_UNMIRRORED), 0)) goto whole;
    size_t added = SAJ_MIRROR_COUNT(before, SAJ_MIRROR_ADDED_SHIFT);
    size_t removed = SAJ_MIRROR_COUNT(before, SAJ_MIRROR_DELETED_SHIFT);
    copy_fds(mirror->added_fds, added, addfd);
    copy_fds(mirror->deleted_fds, removed, delfd);
    if (!read_valid(mirror, before)) goto whole;
    if (numaddfds != NULL) *numaddfds = added;
    if (numdelfds != NULL) *numdelfds = removed;
    return 1;
whole:
    return _saj_wait_ctx_get_changed_fds_whole(ctx, addfd, numaddfds, delfd, numdelfds);
}

int SAJ_WAIT_CTX_get_callback(SAJ_WAIT_CTX *ctx, SAJ_callback_fn *callback, void **callback_arg) {
    if (__builtin_expect(ctx == NULL, 0)) goto whole;
    const struct saj_mirror *mirror = mirror_of(ctx);
    uintptr_t before = read_begin(mirror);
    if (__builtin_expect(before & SAJ_MIRROR_BUSY, 0)) goto whole;
    uintptr_t function = LOAD(mirror->callback_function);
    uintptr_t argument = LOAD(mirror->callback_argument);
    if (!read_valid(mirror, before)) goto whole;
    // Like OpenSSL: 0 and the outputs untouched when no (C) callback is set.
    if (function == 0) return 0;
    if (callback != NULL) *callback = (SAJ_callback_fn)function;
    if (callback_arg != NULL) *callback_arg = (void *)argument;
    return 1;
whole:
    return _saj_wait_ctx_get_callback_whole(ctx, callback, callback_arg);
}
