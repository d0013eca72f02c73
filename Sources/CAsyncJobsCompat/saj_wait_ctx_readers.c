// SPDX-License-Identifier: Apache-2.0
// The wait-context readers of <asyncjobs/saj_async.h> (OpenSSL's ASYNC_WAIT_CTX_get_fd,
// get_all_fds, get_changed_fds and get_callback), in C: an engine calls them once or twice per
// operation, and OpenSSL's take a few loads. Each reads the context's mirror (the copy of its
// first descriptors and of its C callback that every writer publishes under the context's lock,
// Sources/AsyncJobs/Runtime/WaitContextMirror.swift) with the sequence lock the Swift readers
// use, without crossing into Swift; the policy stays in Swift. When the mirror cannot answer (a
// NULL argument, entries that are not mirrored, a publish under way) or its layout is not the
// one described here, the call goes to the whole Swift version (Sources/AsyncJobsCompat/
// WaitContexts.swift), which retries the mirror and then takes the lock.
//
// Layout: `struct saj_mirror` must match WaitContext.Mirror. It is not assumed: the first call
// asks Swift for the mirror's offset in the object, passing this struct's offsets and constants;
// Swift compares them with the ones it measured and returns 0 if any differs, and then every
// call takes the whole version (correct, only slower).
//
// Memory order: as the Swift readers (WaitContext.Mirror.read): the sequence is loaded with
// acquire, the slots relaxed, then an acquire fence and the sequence again; a result is used
// only if the sequence was even and did not change. Every slot index read is below a count that
// is at most SAJ_MIRROR_CAPACITY.
#include <stddef.h>
#include <stdint.h>

#include "asyncjobs/saj_async.h"

#define SAJ_MIRROR_CAPACITY 4
#define SAJ_MIRROR_KIND_SHIFT 32
#define SAJ_MIRROR_KIND_WORD 1
#define SAJ_MIRROR_ADDED ((uintptr_t)1 << 40)
#define SAJ_MIRROR_DELETED ((uintptr_t)1 << 41)
#define SAJ_MIRROR_KIND_MASK ((uintptr_t)0xFF << SAJ_MIRROR_KIND_SHIFT)

// WaitContext.Mirror, from its sequence word on (every field a word, as Swift's Atomic<UInt>).
struct saj_mirror {
    uintptr_t sequence;
    intptr_t count;
    uintptr_t keys[SAJ_MIRROR_CAPACITY];
    uintptr_t words[SAJ_MIRROR_CAPACITY];
    // fd (bits 0-31) | key kind (32-39) | added (40) | deleted (41) | data kind (42-43).
    uintptr_t metas[SAJ_MIRROR_CAPACITY];
    uintptr_t callback_function;
    uintptr_t callback_argument;
};

// Swift's halves (AsyncJobsCompat, WaitContexts.swift).
intptr_t _saj_wait_mirror_base(const intptr_t *expected, intptr_t count);
int _saj_wait_ctx_get_fd_whole(SAJ_WAIT_CTX *ctx, const void *key, SAJ_FD *fd, void **custom_data);
int _saj_wait_ctx_get_all_fds_whole(SAJ_WAIT_CTX *ctx, SAJ_FD *fd, size_t *numfds);
int _saj_wait_ctx_get_changed_fds_whole(SAJ_WAIT_CTX *ctx, SAJ_FD *addfd, size_t *numaddfds, SAJ_FD *delfd,
                                        size_t *numdelfds);
int _saj_wait_ctx_get_callback_whole(SAJ_WAIT_CTX *ctx, SAJ_callback_fn *callback, void **callback_arg);

// The mirror's offset in a WaitContext: -1 not asked yet, 0 unknown layout (whole versions only).
static intptr_t mirror_base = -1;

__attribute__((noinline)) static intptr_t ask_mirror_base(void) {
    const intptr_t expected[] = {
        offsetof(struct saj_mirror, count),
        offsetof(struct saj_mirror, keys),
        offsetof(struct saj_mirror, words),
        offsetof(struct saj_mirror, metas),
        offsetof(struct saj_mirror, callback_function),
        offsetof(struct saj_mirror, callback_argument),
        SAJ_MIRROR_CAPACITY,
        SAJ_MIRROR_KIND_SHIFT,
        SAJ_MIRROR_KIND_WORD,
        (intptr_t)SAJ_MIRROR_ADDED,
        (intptr_t)SAJ_MIRROR_DELETED,
    };
    intptr_t base = _saj_wait_mirror_base(expected, (intptr_t)(sizeof expected / sizeof expected[0]));
    // Every thread that asks gets the same answer: a race only asks twice.
    __atomic_store_n(&mirror_base, base, __ATOMIC_RELAXED);
    return base;
}

// The mirror of `ctx`, or NULL when `ctx` is NULL or the layout is not known (yet) to be this
// file's. Calls nothing: every way out of a reader that the mirror cannot serve is a tail call
// (`*_slowly`), so that the usual path saves no register.
static inline const struct saj_mirror *mirror_of(SAJ_WAIT_CTX *ctx) {
    if (__builtin_expect(ctx == NULL, 0)) return NULL;
    intptr_t base = __atomic_load_n(&mirror_base, __ATOMIC_RELAXED);
    if (__builtin_expect(base <= 0, 0)) return NULL;
    return (const struct saj_mirror *)((const char *)ctx + base);
}

// Asks for the layout the first time (the call that asks is served by the whole version).
static inline void learn_layout(void) {
    if (__atomic_load_n(&mirror_base, __ATOMIC_RELAXED) < 0) ask_mirror_base();
}

__attribute__((noinline, cold)) static int get_fd_slowly(SAJ_WAIT_CTX *ctx, const void *key, SAJ_FD *fd,
                                                         void **custom_data) {
    learn_layout();
    return _saj_wait_ctx_get_fd_whole(ctx, key, fd, custom_data);
}

__attribute__((noinline, cold)) static int get_all_fds_slowly(SAJ_WAIT_CTX *ctx, SAJ_FD *fd, size_t *numfds) {
    learn_layout();
    return _saj_wait_ctx_get_all_fds_whole(ctx, fd, numfds);
}

__attribute__((noinline, cold)) static int get_changed_fds_slowly(SAJ_WAIT_CTX *ctx, SAJ_FD *addfd,
                                                                  size_t *numaddfds, SAJ_FD *delfd,
                                                                  size_t *numdelfds) {
    learn_layout();
    return _saj_wait_ctx_get_changed_fds_whole(ctx, addfd, numaddfds, delfd, numdelfds);
}

__attribute__((noinline, cold)) static int get_callback_slowly(SAJ_WAIT_CTX *ctx, SAJ_callback_fn *callback,
                                                               void **callback_arg) {
    learn_layout();
    return _saj_wait_ctx_get_callback_whole(ctx, callback, callback_arg);
}

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

// The sequence word at the start of a read; odd (unusable) while a publish is under way.
static inline uintptr_t read_begin(const struct saj_mirror *mirror) {
    return __atomic_load_n(&mirror->sequence, __ATOMIC_ACQUIRE);
}

// Whether nothing was published since `before` (an even sequence word).
static inline int read_valid(const struct saj_mirror *mirror, uintptr_t before) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return LOAD(mirror->sequence) == before;
}

// The number of mirrored entries, or a value above SAJ_MIRROR_CAPACITY when they are not
// mirrored (count -1) or a publish is under way.
static inline uintptr_t mirrored_count(const struct saj_mirror *mirror, uintptr_t before) {
    uintptr_t count = (uintptr_t)LOAD(mirror->count);
    return (before & 1) ? SAJ_MIRROR_CAPACITY + 1 : count;
}

// Whether a meta word is of a live entry under a one-word (C) key: its kind is the word kind and
// its deleted bit clear, tested on the word's upper half with small constants (the empty asm
// keeps the compiler from folding the test back into two 64-bit constants, which would be held
// in callee-saved registers across the loop and cost the call their saving and restoring).
static inline int live_word_entry(uintptr_t meta) {
    uint32_t upper = (uint32_t)(meta >> SAJ_MIRROR_KIND_SHIFT);
    __asm__("" : "+r"(upper));
    return (upper & ((SAJ_MIRROR_DELETED >> SAJ_MIRROR_KIND_SHIFT) | 0xFF)) == SAJ_MIRROR_KIND_WORD;
}

int SAJ_WAIT_CTX_get_fd(SAJ_WAIT_CTX *ctx, const void *key, SAJ_FD *fd, void **custom_data) {
    const struct saj_mirror *mirror = mirror_of(ctx);
    if (mirror == NULL) goto whole;
    uintptr_t before = read_begin(mirror);
    if (__builtin_expect(before & 1, 0)) goto whole;
    uintptr_t index = (uintptr_t)LOAD(mirror->count);
    if (__builtin_expect(index > SAJ_MIRROR_CAPACITY, 0)) goto whole;
    // The newest live entry under this C key (a loop, not unrolled: the usual context has one
    // entry, and every unrolled copy would keep more registers live).
    uintptr_t meta = 0;
#pragma clang loop unroll(disable)
    while (index > 0) {
        meta = LOAD(mirror->metas[index - 1]);
        if (live_word_entry(meta) && LOAD(mirror->keys[index - 1]) == (uintptr_t)key) break;
        index--;
    }
    uintptr_t word = index > 0 ? LOAD(mirror->words[index - 1]) : 0;
    if (!read_valid(mirror, before)) goto whole;
    if (index == 0) return 0;
    if (fd != NULL) *fd = (SAJ_FD)(uint32_t)meta;
    if (custom_data != NULL) *custom_data = (void *)word;
    return 1;
whole:
    return get_fd_slowly(ctx, key, fd, custom_data);
}

int SAJ_WAIT_CTX_get_all_fds(SAJ_WAIT_CTX *ctx, SAJ_FD *fd, size_t *numfds) {
    const struct saj_mirror *mirror = numfds ? mirror_of(ctx) : NULL;
    if (mirror == NULL) goto whole;
    uintptr_t before = read_begin(mirror);
    uintptr_t count = mirrored_count(mirror, before);
    if (__builtin_expect(count > SAJ_MIRROR_CAPACITY, 0)) goto whole;
    // Every live descriptor, newest first, straight into the caller's array (sized from an
    // earlier call, as OpenSSL's callers do; a torn copy is written over by the whole version).
    // Two loops, so that neither keeps the other's case in a register.
    size_t found = 0;
    if (fd != NULL) {
#pragma clang loop unroll(disable)
        while (count > 0) {
            count--;
            uintptr_t meta = LOAD(mirror->metas[count]);
            if (meta & SAJ_MIRROR_DELETED) continue;
            fd[found++] = (SAJ_FD)(uint32_t)meta;
        }
    } else {
#pragma clang loop unroll(disable)
        while (count > 0) {
            count--;
            found += !(LOAD(mirror->metas[count]) & SAJ_MIRROR_DELETED);
        }
    }
    if (!read_valid(mirror, before)) goto whole;
    *numfds = found;
    return 1;
whole:
    return get_all_fds_slowly(ctx, fd, numfds);
}

int SAJ_WAIT_CTX_get_changed_fds(SAJ_WAIT_CTX *ctx, SAJ_FD *addfd, size_t *numaddfds, SAJ_FD *delfd,
                                 size_t *numdelfds) {
    const struct saj_mirror *mirror = mirror_of(ctx);
    if (mirror != NULL) {
        uintptr_t before = read_begin(mirror);
        uintptr_t count = mirrored_count(mirror, before);
        if (count <= SAJ_MIRROR_CAPACITY) {
            // Added (and not deleted) and deleted (and not added), newest first; an entry is
            // never both (clearing an added entry removes it).
            size_t added = 0, removed = 0;
#pragma clang loop unroll(disable)
            while (count > 0) {
                count--;
                uintptr_t meta = LOAD(mirror->metas[count]);
                if (meta & SAJ_MIRROR_ADDED) {
                    if (addfd != NULL) addfd[added] = (SAJ_FD)(uint32_t)meta;
                    added++;
                } else if (meta & SAJ_MIRROR_DELETED) {
                    if (delfd != NULL) delfd[removed] = (SAJ_FD)(uint32_t)meta;
                    removed++;
                }
            }
            if (read_valid(mirror, before)) {
                if (numaddfds != NULL) *numaddfds = added;
                if (numdelfds != NULL) *numdelfds = removed;
                return 1;
            }
        }
    }
    return get_changed_fds_slowly(ctx, addfd, numaddfds, delfd, numdelfds);
}

int SAJ_WAIT_CTX_get_callback(SAJ_WAIT_CTX *ctx, SAJ_callback_fn *callback, void **callback_arg) {
    const struct saj_mirror *mirror = mirror_of(ctx);
    if (mirror != NULL) {
        uintptr_t before = read_begin(mirror);
        if (!(before & 1)) {
            uintptr_t function = LOAD(mirror->callback_function);
            uintptr_t argument = LOAD(mirror->callback_argument);
            if (read_valid(mirror, before)) {
                // Like OpenSSL: 0 and the outputs untouched when no (C) callback is set.
                if (function == 0) return 0;
                if (callback != NULL) *callback = (SAJ_callback_fn)function;
                if (callback_arg != NULL) *callback_arg = (void *)argument;
                return 1;
            }
        }
    }
    return get_callback_slowly(ctx, callback, callback_arg);
}
