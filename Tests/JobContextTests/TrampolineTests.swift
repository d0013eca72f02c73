// SPDX-License-Identifier: Apache-2.0
// The entry trampoline never returns: an entry that does return ends the process in a trap
// (ud2 on x86_64, brk on aarch64, abort() in the ucontext fallback), never in a jump to garbage.
import Testing
import _CJobContext

private func entryThatReturns(_ data: UnsafeMutableRawPointer?) {}

@Suite struct TrampolineTests {
    @Test func returningEntryTrapsInTheTrampoline() async {
        await #expect(processExitsWith: .failure) {
            let stack = TestStack(usableBytes: 16 << 10)
            let slots = ContextSlots(count: 1)
            let context = _ajctx_make(stack.top, entryThatReturns)
            _ = _ajctx_swap(slots.slots, context, nil)
            // Only reached if the trampoline came back here somehow: exit "successfully" so that
            // the expectation fails.
            withExtendedLifetime((stack, slots)) {}
        }
    }
}
