// SPDX-License-Identifier: Apache-2.0
// Switches for the project's own tests; not API. Compiled into debug builds only
// (Package.swift defines ASYNCJOBS_TEST_HOOKS there): the shipped library has none.
#if ASYNCJOBS_TEST_HOOKS
import _CJobContext

/// Test-only controls of the switch layer.
package enum ContextTestHooks {
    /// Turns the per-job swap of Swift's exclusivity access sets off or on (on by default).
    /// Off, a job that pauses inside an open access leaves it in the resumer's set.
    package static func setAccessSetSwapping(_ enabled: Bool) {
        _ajctx_set_access_set_swapping(enabled ? 1 : 0)
    }

    /// Turns the inline access-set swap off (every switch calls the runtime's functions) or
    /// allows it again; the calling thread searches for its head again at its next switch.
    package static func setAccessSetInline(_ enabled: Bool) {
        _ajctx_set_access_set_inline(enabled ? 1 : 0)
    }

    /// Whether this build has ASan or TSan, whose switches never swap access sets inline.
    package static var isSanitizedBuild: Bool {
        _ajctx_sanitized_build() != 0
    }

    /// Whether the calling thread's switches swap access sets inline (after its first switch).
    package static var accessSetSwapIsInline: Bool {
        _ajctx_access_set_inline() != 0
    }

    /// The two words of Swift's access-set state that a paused job saved (without the switch's
    /// tag bit, which marks a job with hooks or task-local bindings and is not part of the set).
    package static func savedAccessSet(of job: JobReference) -> [UInt] {
        let machine = unsafe job.slot.machine
        return unsafe [UInt(machine.pointee.access_set.0) & ~1, UInt(machine.pointee.access_set.1)]
    }

    /// The name of the switch implementation in this build.
    package static var implementation: String {
        unsafe String(cString: _ajctx_implementation())
    }
}
#endif
