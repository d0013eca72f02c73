// SPDX-License-Identifier: Apache-2.0
// The report of a stack overflow caught by a canary (a guard-page hit is reported by the switch
// layer's SIGSEGV handler, job_context_overflow.c).
import Glibc

/// Reports a job that overran its stack, then aborts: the job's frames and whatever lay below
/// them can no longer be trusted.
enum StackOverflowReport {
    static func canaryOverwritten(_ slot: JobSlot) -> Never {
        let address = unsafe String(describing: slot.address)
        let message = "swift-async-jobs: stack overflow in job \(address): it overran its "
            + "\(slot.usableStackBytes)-byte stack (stack canary overwritten). Give the pool larger stacks: "
            + "JobPool.configure(stackSize:) in Swift, SAJ_set_stack_size() in C.\n"
        StandardError.write(message)
        abort()
    }
}
