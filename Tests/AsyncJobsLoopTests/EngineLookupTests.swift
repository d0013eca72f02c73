// SPDX-License-Identifier: Apache-2.0
// An engine's lookup of its eventfd in a wait context is remembered between operations; any
// change to the context's descriptors must make it look again.
@testable import AsyncJobs
@testable import AsyncJobsLoop
@testable import AsyncJobsTesting
import SystemPackage
import Testing

@Suite struct EngineLookupTests {
    private final class Engine: Sendable {}

    private func box(_ target: NotificationTarget?) -> EngineWaitFD? {
        if case .waitFD(let box) = target { return box }
        return nil
    }

    @Test func aRememberedLookupNeverOutlivesTheDescriptorItFound() throws {
        let engine = Engine()
        let other = Engine()
        let key = WaitContext.Key(ObjectIdentifier(engine))
        let context = WaitContext()
        #expect(context.engineTarget(forKey: key) == nil)

        let first = EngineWaitFD(fd: FileDescriptor(rawValue: 1000))
        context.setWaitFD(first.fd, forKey: key, customData: first)
        #expect(box(context.engineTarget(forKey: key)) === first)
        #expect(box(context.engineTarget(forKey: key)) === first)  // remembered
        // Another engine's key finds nothing, though a lookup is remembered.
        #expect(context.engineTarget(forKey: WaitContext.Key(ObjectIdentifier(other))) == nil)

        // A newer entry under the same key is the one found.
        let second = EngineWaitFD(fd: FileDescriptor(rawValue: 1001))
        context.setWaitFD(second.fd, forKey: key, customData: second)
        #expect(box(context.engineTarget(forKey: key)) === second)

        // Clearing it uncovers the older one; clearing that leaves nothing.
        #expect(context.clearWaitFD(forKey: key))
        #expect(box(context.engineTarget(forKey: key)) === first)
        #expect(context.clearWaitFD(forKey: key))
        #expect(context.engineTarget(forKey: key) == nil)

        // Custom data that is not the engine's box is not taken for one.
        context.setWaitFD(FileDescriptor(rawValue: 1002), forKey: key, customData: "not a box")
        #expect(context.engineTarget(forKey: key) == nil)
        context.runCleanups()
        #expect(context.engineTarget(forKey: key) == nil)
    }

    @Test func aCallbackStillWinsOverARememberedDescriptor() {
        let engine = Engine()
        let key = WaitContext.Key(ObjectIdentifier(engine))
        let context = WaitContext()
        let found = EngineWaitFD(fd: FileDescriptor(rawValue: 1000))
        context.setWaitFD(found.fd, forKey: key, customData: found)
        #expect(box(context.engineTarget(forKey: key)) === found)
        context.callback = {}
        guard case .callback = context.engineTarget(forKey: key) else {
            Issue.record("expected the callback")
            return
        }
        context.callback = nil
        #expect(box(context.engineTarget(forKey: key)) === found)
        context.runCleanups()
    }
}
