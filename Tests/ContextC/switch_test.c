// SPDX-License-Identifier: Apache-2.0
// Pure-C test of the switch layer (no Swift runtime): built natively against the x86_64
// assembly, cross-built for aarch64 and run under qemu-user, and built against the ucontext
// fallback (-DAJCTX_USE_UCONTEXT). scripts/tiers/10-context-c.sh drives all three.
//
// Checks: ping-pong order among three contexts and the value carried by each switch; 16-byte
// stack alignment at a context's first instruction; every callee-saved register and the stack
// pointer preserved across a switch; floating-point control state kept per context; a switch
// 100 frames deep; the trampoline trapping when an entry returns; the job-level
// prepare/resume/suspend/exit cycle on a reused stack. Exits 0 when everything passed.
#include "job_context.h"
#include "job_context_test_support.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
static int checks;

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        checks++;                                                                                                     \
        if (!(cond)) {                                                                                                \
            failures++;                                                                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                             \
            fputc('\n', stderr);                                                                                      \
        }                                                                                                             \
    } while (0)

// ---- Stacks: [guard page | usable bytes], like JobStack ----

struct test_stack {
    unsigned char *base;
    size_t usable;
    size_t page;
};

static struct test_stack stack_new(size_t usable) {
    struct test_stack s;
    s.page = (size_t)sysconf(_SC_PAGESIZE);
    s.usable = (usable + s.page - 1) & ~(s.page - 1);
    void *p = mmap(NULL, s.usable + s.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    if (mprotect(p, s.page, PROT_NONE) != 0) {
        perror("mprotect");
        exit(2);
    }
    s.base = p;
    return s;
}

static unsigned char *stack_low(const struct test_stack *s) { return s->base + s->page; }
static unsigned char *stack_top(const struct test_stack *s) { return s->base + s->page + s->usable; }
static void stack_free(struct test_stack *s) { munmap(s->base, s->usable + s->page); }

// ---- Three-context ping-pong: order and carried values ----

static void *main_sp, *a_sp, *b_sp;
static char order[32];
static size_t order_len;
static int tags[8];

static void note(char c) {
    if (order_len + 1 < sizeof order) order[order_len++] = c;
}

static void ping_a(void *data) {
    CHECK(data == &tags[0], "A's first argument is the first switch's data");
    note('1');
    void *got = _ajctx_swap(&a_sp, b_sp, &tags[1]);
    CHECK(got == &tags[3], "A resumed by main with tag 3");
    note('4');
    got = _ajctx_swap(&a_sp, b_sp, &tags[4]);
    CHECK(got == &tags[5], "A resumed by B with tag 5");
    note('6');
    _ajctx_swap(&a_sp, main_sp, &tags[6]);
    CHECK(0, "A resumed after its last switch");
}

static void ping_b(void *data) {
    CHECK(data == &tags[1], "B's first argument is A's data");
    note('2');
    void *got = _ajctx_swap(&b_sp, main_sp, &tags[2]);
    CHECK(got == &tags[4], "B resumed by A with tag 4");
    note('5');
    _ajctx_swap(&b_sp, a_sp, &tags[5]);
    CHECK(0, "B resumed after its last switch");
}

static void test_ping_pong(void) {
    struct test_stack sa = stack_new(64 * 1024), sb = stack_new(64 * 1024);
    a_sp = _ajctx_make(stack_top(&sa), ping_a);
    b_sp = _ajctx_make(stack_top(&sb), ping_b);
    order_len = 0;
    void *got = _ajctx_swap(&main_sp, a_sp, &tags[0]);
    CHECK(got == &tags[2], "main resumed by B with tag 2");
    note('3');
    got = _ajctx_swap(&main_sp, a_sp, &tags[3]);
    CHECK(got == &tags[6], "main resumed by A with tag 6");
    note('7');
    order[order_len] = 0;
    CHECK(strcmp(order, "1234567") == 0, "order was %s", order);
    stack_free(&sa);
    stack_free(&sb);
}

// ---- Values carried by many switches ----

static void *counter_sp;

static void counter_entry(void *data) {
    uintptr_t value = (uintptr_t)data;
    for (;;) value = (uintptr_t)_ajctx_swap(&counter_sp, main_sp, (void *)(value * 2)) ;
}

static void test_values_round_trip(void) {
    struct test_stack s = stack_new(16 * 1024);
    counter_sp = _ajctx_make(stack_top(&s), counter_entry);
    int bad = 0;
    for (uintptr_t i = 1; i <= 1000; i++) {
        uintptr_t got = (uintptr_t)_ajctx_swap(&main_sp, counter_sp, (void *)i);
        if (got != i * 2) bad++;
    }
    CHECK(bad == 0, "%d of 1000 values came back wrong", bad);
    stack_free(&s);
}

// ---- Alignment at a context's first instruction ----

static void *align_sp;

static void align_continuation(void *data, uintptr_t entry_sp) {
    (void)data;
    for (;;) _ajctx_swap(&align_sp, main_sp, (void *)entry_sp);
}

static void test_entry_alignment(void) {
    struct test_stack s = stack_new(16 * 1024);
    ajt_set_entry_continuation(align_continuation);
    static const size_t offsets[] = {0, 1, 7, 8, 9, 15, 24, 100};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        unsigned char *top = stack_top(&s) - offsets[i];
        align_sp = _ajctx_make(top, ajt_recording_entry);
        uintptr_t sp = (uintptr_t)_ajctx_swap(&main_sp, align_sp, NULL);
        CHECK(sp % 16 == ajt_expected_entry_alignment(), "top-%zu: entry sp %% 16 = %lu, want %lu", offsets[i],
              (unsigned long)(sp % 16), (unsigned long)ajt_expected_entry_alignment());
        CHECK(sp <= (uintptr_t)top && sp > (uintptr_t)stack_low(&s), "top-%zu: entry sp %p is on the stack below %p",
              offsets[i], (void *)sp, (void *)top);
    }
    stack_free(&s);
}

// ---- Callee-saved registers and the stack pointer ----

static void *regs_sp;
static uint64_t regs_context_mask;
static int regs_context_rounds;

static void regs_entry(void *data) {
    (void)data;
    for (uint64_t round = 0;; round++) {
        void *received = NULL;
        uint64_t mask = ajt_swap_checking_registers(&regs_sp, main_sp, (void *)(uintptr_t)(0xc0de0000 + round),
                                                    0x5a5a000000000000ull + round * 0x1000, &received);
        regs_context_mask |= mask;
        regs_context_rounds++;
    }
}

static void test_callee_saved_registers(void) {
    struct test_stack s = stack_new(16 * 1024);
    regs_sp = _ajctx_make(stack_top(&s), regs_entry);
    regs_context_mask = 0;
    regs_context_rounds = 0;
    uint64_t main_mask = 0;
    int bad_values = 0;
    // The first switch starts the context; each later one lands in its probe.
    for (uint64_t round = 0; round < 8; round++) {
        void *received = NULL;
        main_mask |= ajt_swap_checking_registers(&main_sp, regs_sp, NULL, 0xa5a5000000000000ull + round * 0x1000,
                                                 &received);
        if (received != (void *)(uintptr_t)(0xc0de0000 + round)) bad_values++;
    }
    CHECK(main_mask == 0, "registers changed across the switch on the main side: mask %#llx",
          (unsigned long long)main_mask);
    CHECK(regs_context_rounds == 7, "context probe rounds %d", regs_context_rounds);
    CHECK(regs_context_mask == 0, "registers changed across the switch in the context: mask %#llx",
          (unsigned long long)regs_context_mask);
    CHECK(bad_values == 0, "%d values wrong", bad_values);
    printf("  checked %d callee-saved registers (incl. sp) per switch\n", ajt_checked_register_count());
    stack_free(&s);
}

// ---- Floating-point control state per context ----

static void *fp_sp;

#if defined(__x86_64__)
// MXCSR RC is bits 13-14, x87 control word RC bits 10-11.
#define MXCSR_RC_MASK 0x6000u
#define MXCSR_RC_UP 0x4000u
#define MXCSR_RC_ZERO 0x6000u
#define X87_RC_MASK 0x0c00u
#define X87_RC_UP 0x0800u
#define X87_RC_ZERO 0x0c00u
static uint32_t fp_seen_mxcsr[4];
static uint16_t fp_seen_cw[4];

static void fp_entry(void *data) {
    (void)data;
    // Inherited from the creator at _ajctx_make time.
    fp_seen_mxcsr[0] = ajt_get_mxcsr();
    fp_seen_cw[0] = ajt_get_x87_control_word();
    // Change only MXCSR, switch out and back.
    ajt_set_mxcsr((ajt_get_mxcsr() & ~MXCSR_RC_MASK) | MXCSR_RC_ZERO);
    _ajctx_swap(&fp_sp, main_sp, NULL);
    fp_seen_mxcsr[1] = ajt_get_mxcsr();
    fp_seen_cw[1] = ajt_get_x87_control_word();
    // Now change only the x87 control word.
    ajt_set_x87_control_word((uint16_t)((ajt_get_x87_control_word() & ~X87_RC_MASK) | X87_RC_ZERO));
    _ajctx_swap(&fp_sp, main_sp, NULL);
    fp_seen_mxcsr[2] = ajt_get_mxcsr();
    fp_seen_cw[2] = ajt_get_x87_control_word();
    for (;;) _ajctx_swap(&fp_sp, main_sp, NULL);
}

static void test_fp_control_per_context(void) {
    struct test_stack s = stack_new(16 * 1024);
    uint32_t saved_mxcsr = ajt_get_mxcsr();
    uint16_t saved_cw = ajt_get_x87_control_word();
    uint32_t main_mxcsr = (saved_mxcsr & ~MXCSR_RC_MASK) | MXCSR_RC_UP;
    uint16_t main_cw = (uint16_t)((saved_cw & ~X87_RC_MASK) | X87_RC_UP);
    ajt_set_mxcsr(main_mxcsr);
    ajt_set_x87_control_word(main_cw);
    fp_sp = _ajctx_make(stack_top(&s), fp_entry);
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK((ajt_get_mxcsr() & 0xffc0) == (main_mxcsr & 0xffc0), "context's MXCSR leaked to main: %#x",
          ajt_get_mxcsr());
    CHECK(ajt_get_x87_control_word() == main_cw, "x87 CW changed in main: %#x", ajt_get_x87_control_word());
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK((ajt_get_mxcsr() & 0xffc0) == (main_mxcsr & 0xffc0), "MXCSR changed in main: %#x", ajt_get_mxcsr());
    CHECK(ajt_get_x87_control_word() == main_cw, "context's x87 CW leaked to main: %#x",
          ajt_get_x87_control_word());
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK((fp_seen_mxcsr[0] & MXCSR_RC_MASK) == MXCSR_RC_UP, "new context inherits the creator's MXCSR: %#x",
          fp_seen_mxcsr[0]);
    CHECK((fp_seen_cw[0] & X87_RC_MASK) == X87_RC_UP, "new context inherits the creator's x87 CW: %#x",
          fp_seen_cw[0]);
    CHECK((fp_seen_mxcsr[1] & MXCSR_RC_MASK) == MXCSR_RC_ZERO, "context finds its own MXCSR again: %#x",
          fp_seen_mxcsr[1]);
    CHECK((fp_seen_cw[1] & X87_RC_MASK) == X87_RC_UP, "context's x87 CW unchanged: %#x", fp_seen_cw[1]);
    CHECK((fp_seen_mxcsr[2] & MXCSR_RC_MASK) == MXCSR_RC_ZERO, "context's MXCSR kept: %#x", fp_seen_mxcsr[2]);
    CHECK((fp_seen_cw[2] & X87_RC_MASK) == X87_RC_ZERO, "context finds its own x87 CW again: %#x", fp_seen_cw[2]);
    ajt_set_mxcsr(saved_mxcsr);
    ajt_set_x87_control_word(saved_cw);
    stack_free(&s);
}
#elif defined(__aarch64__)
// FPCR RMode is bits 22-23 (01 toward +inf, 11 toward zero); FZ is bit 24.
#define FPCR_RMODE_MASK (3ull << 22)
#define FPCR_RP (1ull << 22)
#define FPCR_RZ (3ull << 22)
#define FPCR_FZ (1ull << 24)
static uint64_t fp_seen_fpcr[3];

static void fp_entry(void *data) {
    (void)data;
    fp_seen_fpcr[0] = ajt_get_fpcr();
    ajt_set_fpcr((ajt_get_fpcr() & ~FPCR_RMODE_MASK) | FPCR_RZ | FPCR_FZ);
    _ajctx_swap(&fp_sp, main_sp, NULL);
    fp_seen_fpcr[1] = ajt_get_fpcr();
    _ajctx_swap(&fp_sp, main_sp, NULL);
    fp_seen_fpcr[2] = ajt_get_fpcr();
    for (;;) _ajctx_swap(&fp_sp, main_sp, NULL);
}

static void test_fp_control_per_context(void) {
    struct test_stack s = stack_new(16 * 1024);
    uint64_t saved = ajt_get_fpcr();
    uint64_t mine = (saved & ~(FPCR_RMODE_MASK | FPCR_FZ)) | FPCR_RP;
    ajt_set_fpcr(mine);
    fp_sp = _ajctx_make(stack_top(&s), fp_entry);
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK(ajt_get_fpcr() == mine, "context's FPCR leaked to main: %#llx", (unsigned long long)ajt_get_fpcr());
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK(ajt_get_fpcr() == mine, "FPCR changed in main: %#llx", (unsigned long long)ajt_get_fpcr());
    _ajctx_swap(&main_sp, fp_sp, NULL);
    CHECK(fp_seen_fpcr[0] == mine, "new context inherits the creator's FPCR: %#llx",
          (unsigned long long)fp_seen_fpcr[0]);
    CHECK((fp_seen_fpcr[1] & (FPCR_RMODE_MASK | FPCR_FZ)) == (FPCR_RZ | FPCR_FZ),
          "context finds its own FPCR again: %#llx", (unsigned long long)fp_seen_fpcr[1]);
    CHECK(fp_seen_fpcr[2] == fp_seen_fpcr[1], "context's FPCR kept: %#llx", (unsigned long long)fp_seen_fpcr[2]);
    ajt_set_fpcr(saved);
    stack_free(&s);
}
#endif

// ---- A switch 100 frames deep ----

static void *deep_sp;
static int deep_max;

__attribute__((noinline)) static uint64_t descend(int depth) {
    volatile uint64_t frame[4] = {depth * 3u, depth * 5u, depth * 7u, ~(uint64_t)depth};
    if (depth > deep_max) deep_max = depth;
    uint64_t below = 0;
    if (depth == 100) {
        _ajctx_swap(&deep_sp, main_sp, (void *)(uintptr_t)depth);
    } else {
        below = descend(depth + 1);
    }
    int intact = frame[0] == depth * 3u && frame[1] == depth * 5u && frame[2] == depth * 7u &&
                 frame[3] == ~(uint64_t)depth;
    return below + (intact ? 1 : 0);
}

static void deep_entry(void *data) {
    (void)data;
    uint64_t intact = descend(1);
    for (;;) _ajctx_swap(&deep_sp, main_sp, (void *)(uintptr_t)(1000 + intact));
}

static void test_switch_deep(void) {
    struct test_stack s = stack_new(64 * 1024);
    deep_sp = _ajctx_make(stack_top(&s), deep_entry);
    void *got = _ajctx_swap(&main_sp, deep_sp, NULL);
    CHECK(got == (void *)(uintptr_t)100 && deep_max == 100, "paused at depth %lu", (unsigned long)(uintptr_t)got);
    got = _ajctx_swap(&main_sp, deep_sp, NULL);
    CHECK(got == (void *)(uintptr_t)1100, "frames intact after resume: %lu of 100",
          (unsigned long)(uintptr_t)got - 1000);
    stack_free(&s);
}

// ---- The trampoline traps when an entry returns ----

static void returning_entry(void *data) { (void)data; }

static void test_entry_return_traps(void) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct test_stack s = stack_new(16 * 1024);
        void *sp = _ajctx_make(stack_top(&s), returning_entry);
        _ajctx_swap(&main_sp, sp, NULL);
        _exit(0); // Reached only if the trampoline returned to us somehow.
    }
    int status = 0;
    waitpid(pid, &status, 0);
    // The trampoline's own trap: ud2 (SIGILL) on x86_64, brk (SIGTRAP) on aarch64; the ucontext
    // fallback calls abort() (SIGABRT). Any other signal means the return went somewhere else.
    int expected = !_ajctx_uses_assembly() ? SIGABRT
#if defined(__x86_64__)
                                           : SIGILL;
#else
                                           : SIGTRAP;
#endif
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == expected, "child status %#x, want signal %d", status,
          expected);
    if (WIFSIGNALED(status)) printf("  returning entry killed by signal %d (%s)\n", WTERMSIG(status),
                                    strsignal(WTERMSIG(status)));
}

// ---- Job level: prepare, resume, suspend, exit, and reuse of the stack ----

static char job_log[64];
static size_t job_log_len;

static void job_note(char c) {
    if (job_log_len + 1 < sizeof job_log) job_log[job_log_len++] = c;
}

static void job_body(_ajctx_job *job) {
    job_note('a');
    _ajctx_suspend(job);
    job_note('b');
    _ajctx_suspend(job);
    job_note('c');
    _ajctx_exit(job);
}

static void test_job_cycle(void) {
    struct test_stack s = stack_new(64 * 1024);
    _ajctx_job *job = calloc(1, sizeof *job);
    job->stack_low = stack_low(&s);
    job->stack_size = s.usable;
    job->entry = job_body;
    job->wake_fd = -1;
    for (int run = 0; run < 3; run++) {
        job_log_len = 0;
        _ajctx_prepare(job);
        for (int i = 0; i < 3; i++) {
            _ajctx_resume(job);
            job_note((char)('0' + i));
        }
        job_log[job_log_len] = 0;
        CHECK(strcmp(job_log, "a0b1c2") == 0, "run %d: job log %s", run, job_log);
    }
    _ajctx_release(job);
    free(job);
    stack_free(&s);
}

int main(void) {
    printf("switch_test: implementation %s (assembly: %d)\n", _ajctx_implementation(), _ajctx_uses_assembly());
    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"threeContextsPingPongInOrder", test_ping_pong},
        {"eachSwitchCarriesItsValue", test_values_round_trip},
        {"entryStackIsAbiAlignedForAnyTop", test_entry_alignment},
        {"calleeSavedRegistersSurviveASwitch", test_callee_saved_registers},
        {"floatingPointControlStaysWithItsContext", test_fp_control_per_context},
        {"switchHundredFramesDeepResumesIntact", test_switch_deep},
        {"returningEntryTraps", test_entry_return_traps},
        {"jobCycleRunsAgainOnAReusedStack", test_job_cycle},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        tests[i].run();
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    printf("switch_test: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
