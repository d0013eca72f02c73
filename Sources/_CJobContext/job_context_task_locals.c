// SPDX-License-Identifier: Apache-2.0
// Swift task-local values per job (docs/job-local-state.md, "Task-local values").
//
// The Swift concurrency runtime keeps task-local bindings in one of two places: in the current
// task (a per-thread word, "the current task"), whose bindings are allocated with the task's
// stack-ordered allocator; or, on a thread without a task, in a per-thread "fallback" storage
// allocated with malloc (a per-thread word pointing at a structure whose first word is the head
// of the chain). Both words are per thread, so without this file every job of a thread would
// share its resumer's bindings, and a job pausing inside `withValue` would leave its binding in
// the resumer's chain (or, in a task, out of order in the task's allocator).
//
// What the switch does with them:
// - Inside a job there is never a current task: the out-of-line switch into a job stores the
//   resumer's two words in the thread state, sets the current task to none and installs the
//   job's own fallback storage (NULL when it has no bindings); the switch out stores the job's
//   storage back in `_ajctx_job.task_locals` and restores the resumer's words. So the job's
//   bindings are always malloc'd, never in a task's allocator, and only the job sees them.
// - The switch that starts a body (`reusable`: the frame is at a body boundary) where bindings
//   are visible (or in a task) copies the most recent binding of each key the starter sees into
//   the job's new storage, with the runtime's own `swift_task_localValuePush` (a copy of each
//   value: the job may outlive the starter's scope, as an unstructured task may). A body that
//   starts on a thread with neither takes the inline switch and starts with none.
// - When a body ends, the switch out pops the job's remaining bindings (the copies) with
//   `swift_task_localValuePop`, which destroys their values and frees the storage.
// - The inline switches run only when there is nothing to do: both words are 0 on the way in
//   (and the job has no bindings: such a job carries the switch's tag bit, see job_context.c),
//   and the fallback word is 0 on the way out.
//
// Finding the two words. Neither is exported. Their addresses are read once per process from
// the code of two exported runtime functions, as job_context.c does for the exclusivity access
// set: `swift_task_getCurrent` (`lea tls_index(%rip),%rdi; call __tls_get_addr; mov d32(%rax),
// %rax`: the current task at d32 in the runtime's TLS block) and `swift_task_localValueGet`
// (after its call to `swift_task_getCurrent`, the task's chain head at a displacement of the
// task; on the no-task branch, the same TLS lookup and the fallback word at its displacement).
// The result is then checked by behaviour: a binding pushed through the runtime on a thread
// without a task must appear in the fallback word found, with its key, type and value, and
// disappear when popped; the task's chain head is checked the same way the first time a job
// starts in a task. If any byte or any check differs (another runtime, another architecture),
// the words stay unknown, every job shares its thread's task-local values as before, and
// `_ajctx_task_locals_isolated()` says 0. ASYNCJOBS_JOB_TASK_LOCALS=0 turns it off on purpose.
//
// The chain's items (the runtime's TaskLocal::Item): a `next` word whose low 3 bits are flags,
// the key, the value's type metadata, then the value at the type's alignment. Bit 2 marks an
// item without a value (a link to a parent task's chain); bits 1 and 2 together a stop marker
// past which a lookup finds nothing. The walk below reads exactly what `swift_task_localValueGet`
// reads, so a job sees what its starter saw.
#include "job_context_task_locals.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Clang only (as SwiftPM builds it): the Swift calling convention and the `$`-named metadata
// symbol need it; a GCC build (the switch benchmark) gets the fallback at the end.
#if defined(__x86_64__) && defined(__clang__)
// The runtime's entry points (libswift_Concurrency, libswiftCore). Weak, so that pure C users of
// this target (the context tests) link without the Swift runtime; this file then does nothing.
// Declared with the Swift calling convention (for these pointer arguments it passes them as C
// does).
#define AJCTX_SWIFTCALL __attribute__((swiftcall))
extern void *swift_task_getCurrent(void) AJCTX_SWIFTCALL __attribute__((weak));
extern void *swift_task_localValueGet(const void *key) AJCTX_SWIFTCALL __attribute__((weak));
extern void swift_task_localValuePush(const void *key, void *value, const void *type) AJCTX_SWIFTCALL
    __attribute__((weak));
extern void swift_task_localValuePop(void) AJCTX_SWIFTCALL __attribute__((weak));
extern void *__tls_get_addr(void *index) __attribute__((weak));
// `Int`'s type metadata, for the self-check's binding.
extern const char ajctx_int_metadata[] __asm__("$sSiN") __attribute__((weak));

// A word that is always 0: where the thread state points when the runtime's words are unknown
// (the inline switches then always find "nothing to do").
static uintptr_t ajctx_zero_word;

#define TL_STATUS_MASK ((uintptr_t)7)
#define TL_NO_VALUE ((uintptr_t)4)
#define TL_STOP ((uintptr_t)6)

typedef struct tl_item {
    uintptr_t next;
    const void *key;
    const void *type;
} tl_item;

// Value witness table entries used here (Swift ABI: the table is the word before the metadata).
typedef void *(*tl_copy_fn)(void *dest, void *src, const void *type) AJCTX_SWIFTCALL;
typedef struct tl_vwt {
    void *initialize_buffer_with_copy_of_buffer;
    void *destroy;
    tl_copy_fn initialize_with_copy;
    void *assign_with_copy;
    void *initialize_with_take;
    void *assign_with_take;
    void *get_enum_tag_single_payload;
    void *store_enum_tag_single_payload;
    size_t size;
    size_t stride;
    uint32_t flags;
    uint32_t extra_inhabitant_count;
} tl_vwt;

static inline const tl_vwt *tl_witnesses(const void *type) { return ((const tl_vwt *const *)type)[-1]; }

static inline void *tl_value(const tl_item *item) {
    uintptr_t mask = tl_witnesses(item->type)->flags & 0xFF;
    return (char *)item + ((sizeof(tl_item) + mask) & ~mask);
}

// ---- Finding the words ----

// Process-wide: what the code says (-1: failed or off, 0: not read yet, 1: read and checked).
static int tl_layout_state;
static void *tl_index;          // the runtime's tls_index for __tls_get_addr
static int32_t tl_task_offset;  // the current task's word in the runtime's TLS block
static int32_t tl_fallback_offset;
static int32_t tl_task_head_offset;  // the chain head in a task
static int tl_task_head_checked;     // 0 not yet, 1 checked, -1 wrong (never copy from a task); atomic

// Per thread: this file's record of the thread's words (NULL: not looked up yet).
static _Thread_local uintptr_t *tl_thread_fallback __attribute__((tls_model("initial-exec")));
static _Thread_local uintptr_t *tl_thread_task __attribute__((tls_model("initial-exec")));

static int32_t read_i32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int read_layout(void) {
    const char *setting = getenv("ASYNCJOBS_JOB_TASK_LOCALS");
    if (setting != NULL && strcmp(setting, "0") == 0) return -1;
    if (!swift_task_getCurrent || !swift_task_localValueGet || !swift_task_localValuePush ||
        !swift_task_localValuePop || !__tls_get_addr || !ajctx_int_metadata)
        return -1;
    // swift_task_getCurrent: push %rbp; mov %rsp,%rbp; lea idx(%rip),%rdi; call __tls_get_addr;
    // mov d32(%rax),%rax; pop %rbp; ret
    static const unsigned char get_prologue[] = {0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x3d};
    static const unsigned char get_read[] = {0x48, 0x8b, 0x80};
    const unsigned char *get = (const unsigned char *)swift_task_getCurrent;
    if (memcmp(get, get_prologue, sizeof get_prologue) != 0 || get[11] != 0xe8 ||
        memcmp(get + 16, get_read, sizeof get_read) != 0 || get[23] != 0x5d || get[24] != 0xc3)
        return -1;
    void *index = (void *)(get + 11 + read_i32(get + 7));
    int32_t task_offset = read_i32(get + 19);
    // swift_task_localValueGet: push %rbp; mov %rsp,%rbp; push %rbx; push %rax; mov %rdi,%rbx;
    // call swift_task_getCurrent; test %rax,%rax; je no_task; mov d32(%rax),%rcx (the head) ...
    // no_task: lea idx(%rip),%rdi; call __tls_get_addr; mov d32(%rax),%rax (the fallback word)
    static const unsigned char value_prologue[] = {0x55, 0x48, 0x89, 0xe5, 0x53, 0x50, 0x48, 0x89, 0xfb, 0xe8};
    static const unsigned char value_test[] = {0x48, 0x85, 0xc0, 0x74};
    static const unsigned char value_head[] = {0x48, 0x8b, 0x88};
    static const unsigned char no_task_lea[] = {0x48, 0x8d, 0x3d};
    const unsigned char *value = (const unsigned char *)swift_task_localValueGet;
    if (memcmp(value, value_prologue, sizeof value_prologue) != 0 || value + 14 + read_i32(value + 10) != get ||
        memcmp(value + 14, value_test, sizeof value_test) != 0 || memcmp(value + 19, value_head, sizeof value_head) != 0)
        return -1;
    int32_t head_offset = read_i32(value + 22);
    const unsigned char *no_task = value + 19 + (int8_t)value[18];
    if (memcmp(no_task, no_task_lea, sizeof no_task_lea) != 0 || (void *)(no_task + 7 + read_i32(no_task + 3)) != index ||
        no_task[7] != 0xe8 || memcmp(no_task + 12, get_read, sizeof get_read) != 0)
        return -1;
    int32_t fallback_offset = read_i32(no_task + 15);
    if (task_offset == fallback_offset || task_offset < 0 || fallback_offset < 0 || head_offset <= 0) return -1;
    tl_index = index;
    tl_task_offset = task_offset;
    tl_fallback_offset = fallback_offset;
    tl_task_head_offset = head_offset;
    return 1;
}

// A key for the self-checks: the runtime compares keys by address only.
static const uintptr_t tl_probe_key;

// Pushes a binding of `Int` 0x5a17 with the probe key through the runtime (which must put it in
// the fallback word when there is no current task, in the task otherwise), checks that `*head_word`
// (the fallback storage's first word, or the task's head) now names it, pops it and checks that
// `*word` is back to what it was. Returns 1 if all holds.
static int probe_binding(uintptr_t *word, int through_storage) {
    uintptr_t before = *word;
    intptr_t value = 0x5a17;
    swift_task_localValuePush(&tl_probe_key, &value, ajctx_int_metadata);
    int ok = 0;
    uintptr_t after = *word;
    if (after != 0) {
        uintptr_t head = through_storage ? *(uintptr_t *)after : after;
        const tl_item *item = (const tl_item *)(head & ~TL_STATUS_MASK);
        ok = item != NULL && (item->next & TL_NO_VALUE) == 0 && item->key == (const void *)&tl_probe_key &&
             item->type == (const void *)ajctx_int_metadata && *(intptr_t *)tl_value(item) == 0x5a17 &&
             swift_task_localValueGet(&tl_probe_key) == tl_value(item);
    }
    swift_task_localValuePop();
    return ok && *word == before;
}

// Looks the calling thread's words up (and the process's layout, the first time). Returns 1 if
// they are known: `tl_thread_fallback` and `tl_thread_task` then point at them.
// Once per process (on the first thread that needs the words): reads the code, then checks the
// words found by behaviour on the calling thread, with no current task for its duration.
static void find_layout(void) {
    int state = read_layout();
    if (state == 1) {
        char *block = __tls_get_addr(tl_index);
        uintptr_t *fallback = (uintptr_t *)(block + tl_fallback_offset);
        uintptr_t *current = (uintptr_t *)(block + tl_task_offset);
        uintptr_t task = *current;
        *current = 0;
        int ok = swift_task_getCurrent() == NULL && probe_binding(fallback, 1);
        *current = task;
        if (!(ok && swift_task_getCurrent() == (void *)task)) state = -1;
    }
    __atomic_store_n(&tl_layout_state, state, __ATOMIC_RELEASE);
}

static pthread_once_t tl_layout_once = PTHREAD_ONCE_INIT;

// Looks the calling thread's words up (and the process's layout, the first time). Returns 1 if
// they are known: `tl_thread_fallback` and `tl_thread_task` then point at them.
static int thread_words(void) {
    if (__builtin_expect(tl_thread_fallback != NULL, 1)) return tl_thread_fallback != &ajctx_zero_word;
    pthread_once(&tl_layout_once, find_layout);
    if (__atomic_load_n(&tl_layout_state, __ATOMIC_ACQUIRE) != 1) {
        tl_thread_fallback = &ajctx_zero_word;
        tl_thread_task = &ajctx_zero_word;
        return 0;
    }
    char *block = __tls_get_addr(tl_index);
    tl_thread_fallback = (uintptr_t *)(block + tl_fallback_offset);
    tl_thread_task = (uintptr_t *)(block + tl_task_offset);
    return 1;
}

void _ajctx_task_locals_publish(void) {
    thread_words();
    _ajctx_tls.tl_fallback = tl_thread_fallback;
    _ajctx_tls.tl_task = tl_thread_task;
}

int _ajctx_task_locals_isolated(void) { return thread_words(); }

// ---- Copying the starter's bindings ----

// The chain head the starter sees: its task's if it runs in one, else its fallback storage's.
// 0 if none (or if the task's head could not be checked: the job then starts without them).
static uintptr_t starter_head(uintptr_t fallback, uintptr_t task) {
    if (task != 0) {
        int checked = __atomic_load_n(&tl_task_head_checked, __ATOMIC_RELAXED);
        if (checked == 0) {
            // In the first starter's task (the current task is still the starter's): a binding
            // pushed now must appear at the head offset found. (Two threads may both check the
            // first time: they reach the same answer.)
            checked = probe_binding((uintptr_t *)(task + (uintptr_t)tl_task_head_offset), 0) ? 1 : -1;
            __atomic_store_n(&tl_task_head_checked, checked, __ATOMIC_RELAXED);
        }
        return checked == 1 ? *(uintptr_t *)(task + (uintptr_t)tl_task_head_offset) : 0;
    }
    return fallback != 0 ? *(uintptr_t *)fallback : 0;
}

// Pushes a copy of the most recent binding of each key visible from `head` into the calling
// thread's fallback storage (the job's: no current task, the job's storage installed).
static void copy_bindings(uintptr_t head) {
    const void *seen_inline[32];
    const void **seen = seen_inline;
    size_t seen_count = 0, seen_capacity = 32;
    for (const tl_item *item = (const tl_item *)(head & ~TL_STATUS_MASK); item != NULL;
         item = (const tl_item *)(item->next & ~TL_STATUS_MASK)) {
        uintptr_t flags = item->next & TL_STATUS_MASK;
        if (flags & TL_NO_VALUE) {
            if ((flags & TL_STOP) == TL_STOP) break;
            continue;
        }
        int known = 0;
        for (size_t i = 0; i < seen_count && !known; i++) known = seen[i] == item->key;
        if (known) continue;
        if (seen_count == seen_capacity) {
            const void **grown = malloc(2 * seen_capacity * sizeof *grown);
            if (grown == NULL) abort();
            memcpy(grown, seen, seen_count * sizeof *grown);
            if (seen != seen_inline) free(seen);
            seen = grown;
            seen_capacity *= 2;
        }
        seen[seen_count++] = item->key;
        // A copy of the value (+1), which the push moves into its new item.
        const tl_vwt *witnesses = tl_witnesses(item->type);
        // aligned_alloc wants the size a multiple of the alignment (at least a pointer's here).
        size_t alignment = (witnesses->flags & 0xFF) + 1;
        if (alignment < sizeof(void *)) alignment = sizeof(void *);
        size_t size = witnesses->size > 0 ? witnesses->size : 1;
        void *copy = aligned_alloc(alignment, (size + alignment - 1) & ~(alignment - 1));
        if (copy == NULL) abort();
        witnesses->initialize_with_copy(copy, tl_value(item), item->type);
        swift_task_localValuePush(item->key, copy, item->type);
        free(copy);
    }
    if (seen != seen_inline) free(seen);
}

// ---- The switches ----

int _ajctx_task_locals_enter(_ajctx_job *job) {
    if (!thread_words()) return 0;
    uintptr_t fallback = *tl_thread_fallback, task = *tl_thread_task;
    void *own = job->task_locals;
    if ((fallback | task) == 0 && own == NULL) return 0;
    _ajctx_tls.tl_saved_fallback = fallback;
    _ajctx_tls.tl_saved_task = task;
    job->task_locals = NULL;
    if (job->reusable) {
        // A body starts (its frame is at a body boundary): copies of the starter's bindings.
        // (A body that ended popped its own; one abandoned while paused was discarded.)
        uintptr_t head = starter_head(fallback, task);
        *tl_thread_task = 0;
        *tl_thread_fallback = 0;
        if (head != 0) copy_bindings(head);
    } else {
        *tl_thread_task = 0;
        *tl_thread_fallback = (uintptr_t)own;
    }
    return 1;
}

void _ajctx_task_locals_leave(_ajctx_job *job, int ended) {
    if (!thread_words()) return;
    if (ended) {
        // The body returned: what remains are the copies it started with.
        while (*tl_thread_fallback != 0) swift_task_localValuePop();
    }
    uintptr_t own = *tl_thread_fallback;
    // (Nothing was hidden and the job has no bindings: the words are already the resumer's.)
    if (own == 0 && (_ajctx_tls.tl_saved_fallback | _ajctx_tls.tl_saved_task) == 0) return;
    job->task_locals = (void *)own;
    *tl_thread_fallback = _ajctx_tls.tl_saved_fallback;
    *tl_thread_task = _ajctx_tls.tl_saved_task;
    _ajctx_tls.tl_saved_fallback = 0;
    _ajctx_tls.tl_saved_task = 0;
}

// Destroys the bindings of a storage that is not installed (a job's, a snapshot's): installs
// it on the calling thread with no task for the while and pops until the runtime frees it.
static void pop_detached(void *storage) {
    uintptr_t fallback = *tl_thread_fallback, task = *tl_thread_task;
    *tl_thread_task = 0;
    *tl_thread_fallback = (uintptr_t)storage;
    while (*tl_thread_fallback != 0) swift_task_localValuePop();
    *tl_thread_fallback = fallback;
    *tl_thread_task = task;
}

void _ajctx_discard_task_locals(_ajctx_job *job) {
    void *own = job->task_locals;
    job->task_locals = NULL;
    if (own != NULL && thread_words()) pop_detached(own);
}

// ---- Values carried to a job started elsewhere ----

void *_ajctx_task_locals_capture(void) {
    if (!thread_words()) return NULL;
    uintptr_t fallback = *tl_thread_fallback, task = *tl_thread_task;
    if ((fallback | task) == 0) return NULL;
    uintptr_t head = starter_head(fallback, task);
    if (head == 0) return NULL;
    // Copies pushed into a fresh storage of their own, the calling thread's words set aside
    // for the while.
    *tl_thread_task = 0;
    *tl_thread_fallback = 0;
    copy_bindings(head);
    void *captured = (void *)*tl_thread_fallback;
    *tl_thread_fallback = fallback;
    *tl_thread_task = task;
    return captured;
}

void _ajctx_task_locals_install(void *captured, uintptr_t saved[2]) {
    saved[0] = 0;
    saved[1] = 0;
    if (captured == NULL || !thread_words()) return;
    saved[0] = *tl_thread_fallback;
    saved[1] = *tl_thread_task;
    *tl_thread_task = 0;
    *tl_thread_fallback = (uintptr_t)captured;
}

void _ajctx_task_locals_uninstall(void *captured, const uintptr_t saved[2]) {
    if (captured == NULL || !thread_words()) return;
    *tl_thread_fallback = saved[0];
    *tl_thread_task = saved[1];
}

void _ajctx_task_locals_release(void *captured) {
    if (captured != NULL && thread_words()) pop_detached(captured);
}

#else
// Other architectures and compilers: the runtime's words are not read (the code reading above is
// x86_64 only), so jobs share their thread's task-local values and the switches never touch them.
static uintptr_t ajctx_zero_word;

void _ajctx_task_locals_publish(void) {
    _ajctx_tls.tl_fallback = &ajctx_zero_word;
    _ajctx_tls.tl_task = &ajctx_zero_word;
}

int _ajctx_task_locals_isolated(void) { return 0; }

int _ajctx_task_locals_enter(_ajctx_job *job) {
    (void)job;
    return 0;
}

void _ajctx_task_locals_leave(_ajctx_job *job, int ended) {
    (void)job;
    (void)ended;
}

void _ajctx_discard_task_locals(_ajctx_job *job) { job->task_locals = NULL; }

void *_ajctx_task_locals_capture(void) { return NULL; }

void _ajctx_task_locals_install(void *captured, uintptr_t saved[2]) {
    (void)captured;
    saved[0] = 0;
    saved[1] = 0;
}

void _ajctx_task_locals_uninstall(void *captured, const uintptr_t saved[2]) {
    (void)captured;
    (void)saved;
}

void _ajctx_task_locals_release(void *captured) { (void)captured; }
#endif
