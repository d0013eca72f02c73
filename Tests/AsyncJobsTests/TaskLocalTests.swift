// SPDX-License-Identifier: Apache-2.0
// Swift task-local values per job (docs/job-local-state.md, "Task-local values"): a job starts
// with its starter's values, its own bindings never leak to its resumer or to other jobs, and it
// sees exactly its own after every resume; on a plain thread, inside a task, and inside a task
// whose parent bound values. Swift Testing runs test bodies inside tasks: the plain-thread cases
// run on a thread of their own.
import AsyncJobs
import Dispatch
import Foundation
import Synchronization
import Testing

private enum Values {
    @TaskLocal static var name: String?
    @TaskLocal static var other: Int = 0
    @TaskLocal static var marker: BoundMarker?
}

/// Sets its flag when released (task-local values are Sendable).
private final class BoundMarker: Sendable {
    let flag: ReleaseFlag
    init(_ flag: ReleaseFlag) { self.flag = flag }
    deinit { flag.set() }
}

/// Runs `body` on a new thread (no current task) and returns its result.
private func onPlainThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
    Thread.runAndJoin(body)
}

/// Two jobs that each bind a name and pause inside the binding, interleaved; what each saw at
/// each step, and what the code that drives them saw between the steps.
private struct Interleaving: Sendable, Equatable {
    var c: [String?] = []
    var d: [String?] = []
    var driver: [String?] = []
}

private func interleaveTwoJobs() -> Interleaving {
    var seen = Interleaving()
    withFreshPool {
        func job(_ name: String) -> JobOutcome<[String?], Never> {
            try! AsyncJob.start { () -> [String?] in
                var seen = [Values.name]
                Values.$name.withValue(name) {
                    seen.append(Values.name)
                    _ = AsyncJob.pause()
                    seen.append(Values.name)
                    _ = AsyncJob.pause()
                    seen.append(Values.name)
                }
                seen.append(Values.name)
                return seen
            }
        }
        guard case .paused(let c) = job("C") else { preconditionFailure("C did not pause") }
        seen.driver.append(Values.name)
        guard case .paused(let d) = job("D") else { preconditionFailure("D did not pause") }
        seen.driver.append(Values.name)
        guard case .paused(let c2) = c.resume() else { preconditionFailure("C did not pause again") }
        seen.driver.append(Values.name)
        guard case .paused(let d2) = d.resume() else { preconditionFailure("D did not pause again") }
        seen.driver.append(Values.name)
        guard case .finished(let cSeen) = c2.resume(), case .finished(let dSeen) = d2.resume() else {
            preconditionFailure("the jobs did not finish")
        }
        seen.driver.append(Values.name)
        seen.c = cSeen
        seen.d = dSeen
    }
    return seen
}

/// A job started inside the starter's binding, paused, and resumed after the binding's scope
/// ended and another binding of the same key was made: what it saw at each step.
private func startInsideABindingAndResumeOutsideIt() -> [String?] {
    withFreshPool {
        let paused = Values.$name.withValue("outer") { () -> PausedBox<[String?], Never> in
            guard case .paused(let job) = try! AsyncJob.start({ () -> [String?] in
                var seen = [Values.name]
                _ = AsyncJob.pause()
                seen.append(Values.name)
                Values.$name.withValue("inner") {
                    _ = AsyncJob.pause()
                    seen.append(Values.name)
                }
                seen.append(Values.name)
                return seen
            }) else { preconditionFailure("the job did not pause") }
            return PausedBox(job)
        }
        // The starter's scope has ended: the job keeps its copy.
        return Values.$name.withValue("resumer") { () -> [String?] in
            if paused.resume() != nil { preconditionFailure("the job did not pause inside its own binding") }
            precondition(Values.name == "resumer", "the job's binding leaked to its resumer")
            guard let outcome = paused.resume(), case .finished(let seen) = consume outcome else {
                preconditionFailure("the job did not finish")
            }
            precondition(Values.name == "resumer", "the job's end changed its resumer's binding")
            return seen
        }
    }
}

/// The key bound to a value whose release is observable: the job keeps its copy alive while it
/// is paused and releases it when it ends. Returns (released before the job ended, released after).
private func inheritedValueLivesAsLongAsTheJob() -> (Bool, Bool) {
    withFreshPool {
        let flag = ReleaseFlag()
        let paused = Values.$marker.withValue(BoundMarker(flag)) { () -> PausedBox<Bool, Never> in
            guard case .paused(let job) = try! AsyncJob.start({ () -> Bool in
                _ = AsyncJob.pause()
                return Values.marker != nil
            }) else { preconditionFailure("the job did not pause") }
            return PausedBox(job)
        }
        let releasedWhilePaused = flag.isSet
        guard let outcome = paused.resume(), case .finished(let stillThere) = consume outcome else {
            preconditionFailure("the job did not finish")
        }
        precondition(stillThere, "the job lost its copy of the starter's value")
        return (releasedWhilePaused, flag.isSet)
    }
}

/// A job paused inside its own binding of a tracked value, then cancelled (its handle dropped):
/// whether the value was released.
private func cancelledJobReleasesItsBinding() -> Bool {
    withFreshPool {
        let flag = ReleaseFlag()
        do {
            guard case .paused(let job) = try! AsyncJob.start({ () -> Int in
                Values.$marker.withValue(BoundMarker(flag)) {
                    _ = AsyncJob.pause()
                    _ = AsyncJob.pause()
                }
                return 0
            }) else { preconditionFailure("the job did not pause") }
            precondition(!flag.isSet, "released while the job holds it")
            _ = consume job
        }
        return flag.isSet
    }
}

@Suite("Task-local values per job")
struct TaskLocalTests {
    @Test func isolationIsActiveOnThisToolchain() {
        // The pinned toolchain (Swift 6.3.1, x86_64): job_context_task_locals.c finds the
        // runtime's task-local words. If this fails after a toolchain change, jobs share their
        // thread's task-local values again: check `read_layout` against the new runtime.
        #expect(AsyncJob.isolatesTaskLocalValues)
        #expect(onPlainThread { AsyncJob.isolatesTaskLocalValues })
    }

    @Test func interleavedJobsOnAPlainThreadEachSeeTheirOwn() {
        let seen = onPlainThread { interleaveTwoJobs() }
        #expect(seen.c == [nil, "C", "C", "C", nil])
        #expect(seen.d == [nil, "D", "D", "D", nil])
        #expect(seen.driver == [nil, nil, nil, nil, nil])
    }

    @Test func interleavedJobsInsideATaskEachSeeTheirOwn() {
        // The test body runs in a task: the jobs' bindings must not go to its allocator.
        let seen = interleaveTwoJobs()
        #expect(seen.c == [nil, "C", "C", "C", nil])
        #expect(seen.d == [nil, "D", "D", "D", nil])
        #expect(seen.driver == [nil, nil, nil, nil, nil])
    }

    @Test func interleavedJobsInsideABoundTaskSeeTheTasksValueAndTheirOwn() {
        let seen = Values.$name.withValue("task") { interleaveTwoJobs() }
        #expect(seen.c == ["task", "C", "C", "C", "task"])
        #expect(seen.d == ["task", "D", "D", "D", "task"])
        #expect(seen.driver == ["task", "task", "task", "task", "task"])
    }

    @Test func aJobKeepsItsStartersValueAfterTheStartersScopeEnds() {
        let expected: [String?] = ["outer", "outer", "inner", "outer"]
        #expect(onPlainThread { startInsideABindingAndResumeOutsideIt() } == expected)
        #expect(startInsideABindingAndResumeOutsideIt() == expected)
    }

    @Test func anInheritedValueIsReleasedWhenTheJobEnds() {
        let onThread = onPlainThread { inheritedValueLivesAsLongAsTheJob() }
        #expect(onThread.0 == false, "released while the job still holds its copy")
        #expect(onThread.1 == true, "not released when the job ended")
        let inTask = inheritedValueLivesAsLongAsTheJob()
        #expect(inTask.0 == false)
        #expect(inTask.1 == true)
    }

    @Test func aCancelledJobReleasesItsBindings() {
        #expect(onPlainThread { cancelledJobReleasesItsBinding() })
        #expect(cancelledJobReleasesItsBinding())
    }

    @Test func onlyTheMostRecentBindingOfEachKeyIsInherited() {
        let seen = Values.$name.withValue("first") {
            Values.$other.withValue(7) {
                Values.$name.withValue("second") {
                    withFreshPool {
                        drive(try! AsyncJob.start { () -> [String] in
                            _ = AsyncJob.pause()
                            return [Values.name ?? "nil", String(Values.other)]
                        }).value
                    }
                }
            }
        }
        #expect(seen == ["second", "7"])
    }

    @Test func aJobStartedInAChildTaskSeesItsParentsValues() async {
        // `async let` makes a child task whose chain links to its parent's bindings.
        let seen = await Values.$name.withValue("parent") { () async -> String? in
            async let child: String? = Values.$other.withValue(3) {
                withFreshPool {
                    drive(try! AsyncJob.start { () -> String? in
                        _ = AsyncJob.pause()
                        return "\(Values.name ?? "nil") \(Values.other)"
                    }).value ?? nil
                }
            }
            return await child
        }
        #expect(seen == "parent 3")
    }

    @Test func aTaskKeepsItsAllocationOrderWhileAJobIsPausedInsideABinding() {
        // The job binds and pauses; the task then allocates from its stack-ordered allocator
        // (a binding of its own), resumes the job, which pops its binding, and only then
        // releases its own. With the job's binding in the task's allocator this order would be
        // violated. (A paused job is resumed by the thread that started it, which an await may
        // change: the steps stay synchronous.)
        let seen = Values.$name.withValue("task") { () -> [String?] in
            withFreshPool {
                guard case .paused(let job) = try! AsyncJob.start({ () -> String? in
                    Values.$name.withValue("job") { _ = AsyncJob.pause() }
                    return Values.name
                }) else { return [] }
                let during = Values.$other.withValue(9) { Values.name }
                guard case .finished(let after) = job.resume() else { return [] }
                return [during, after, Values.name]
            }
        }
        #expect(seen == ["task", "task", "task"])
    }

    @Test func insideAJobThereIsNoCurrentTask() async {
        let task = Task { () -> [Bool] in
            withUnsafeCurrentTask { $0?.cancel() }
            return withFreshPool {
                drive(try! AsyncJob.start { () -> [Bool] in
                    let noTask = withUnsafeCurrentTask { $0 == nil }
                    _ = AsyncJob.pause()
                    return [noTask, Task.isCancelled]
                }).value ?? []
            } + [Task.isCancelled]
        }
        #expect(await task.value == [true, false, true])
    }

    @Test func aTaskStartedInsideAJobInheritsTheJobsBindings() {
        let seen = onPlainThread {
            withFreshPool {
                drive(try! AsyncJob.start { () -> String? in
                    Values.$name.withValue("job") { () -> String? in
                        let done = DispatchSemaphore(value: 0)
                        let result = Mutex<String?>(nil)
                        Task {
                            result.withLock { $0 = Values.name }
                            done.signal()
                        }
                        done.wait()
                        return result.withLock { $0 }
                    }
                }).value ?? nil
            }
        }
        #expect(seen == "job")
    }

    @Test func bindingsOfAJobPausedWhenItsThreadExitsAreReleased() {
        // One job paused inside its own binding, one holding only the copy it started with: the
        // thread's exit cancels both, and both values go.
        let own = ReleaseFlag()
        let inherited = ReleaseFlag()
        let thread = Thread {
            if case .paused(let job) = try! AsyncJob.start({ () -> Int in
                Values.$marker.withValue(BoundMarker(own)) { _ = AsyncJob.pause() }
                return 0
            }) {
                ThreadExitShelf.keep(PausedBox(job))  // left paused: the thread's exit cancels it
            }
            Values.$marker.withValue(BoundMarker(inherited)) {
                if case .paused(let job) = try! AsyncJob.start({ () -> Int in
                    _ = AsyncJob.pause()
                    return 0
                }) {
                    ThreadExitShelf.keep(PausedBox(job))
                }
            }
        }
        thread.start()
        var waited = 0
        while !(own.isSet && inherited.isSet) && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(own.isSet, "the binding of a job cancelled by its thread's exit was not released")
        #expect(inherited.isSet, "the inherited value of a job cancelled by its thread's exit was not released")
    }

    @Test func aSnapshotCarriesValuesToAJobStartedOnAnotherThread() {
        let released = ReleaseFlag()
        let snapshot = Values.$name.withValue("submitter") {
            Values.$marker.withValue(BoundMarker(released)) { TaskLocalSnapshot.capture() }
        }
        #expect(snapshot != nil)
        #expect(!released.isSet, "the snapshot does not hold its copy")
        // Handed over through a box, so that its last reference is the thread's local (a
        // closure's capture may outlive the thread's work).
        let handOver = Mutex<TaskLocalSnapshot?>(snapshot)
        _ = consume snapshot
        let seen = onPlainThread { () -> [String?] in
            let snapshot = handOver.withLock { $0.take() }
            return withFreshPool {
                let inside = drive(try! snapshot.withInstalled { try AsyncJob.start { () -> String? in
                    _ = AsyncJob.pause()
                    return Values.name
                } }).value ?? nil
                return [inside, Values.name]  // the thread's own values are back
            }
        }
        #expect(seen == ["submitter", nil])
        #expect(released.isSet, "the snapshot's values were not released with it")
        #expect(onPlainThread { TaskLocalSnapshot.capture() == nil }, "a snapshot of nothing")
    }

    @Test func installingASnapshotInsideAJobTraps() async {
        await #expect(processExitsWith: .failure) {
            runSynchronously {
                let snapshot = Values.$name.withValue("x") { TaskLocalSnapshot.capture() }
                _ = drive(try! AsyncJob.start { () -> Int in
                    snapshot.withInstalled { 0 }
                })
            }
        }
    }

    @Test func jobsWithoutBindingsLeaveAThreadsBindingsAlone() {
        let seen = onPlainThread { () -> [String?] in
            withFreshPool {
                var seen: [String?] = []
                guard case .paused(let job) = try! AsyncJob.start({ () -> String? in
                    _ = AsyncJob.pause()
                    return Values.name
                }) else { return [] }
                let plain = PausedBox(job)
                Values.$name.withValue("thread") {
                    // Resumed inside a binding the job did not start with: it must not see it.
                    guard let outcome = plain.resume(), case .finished(let inside) = consume outcome else { return }
                    seen.append(inside)
                    seen.append(Values.name)
                }
                seen.append(Values.name)
                return seen
            }
        }
        #expect(seen == [nil, "thread", nil])
    }
}
