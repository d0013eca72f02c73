// SPDX-License-Identifier: Apache-2.0
// Resource exhaustion gives a clean error, never a crash: memory mappings refused (mmap failing),
// descriptors exhausted. Each runs in a child process (exit test), since it lowers the process's
// limits.
import AsyncJobs
import Foundation
import Testing

@Suite("Resource exhaustion")
struct ExhaustionTests {
    // Sanitizers reserve terabytes of shadow memory: they cannot run under a small RLIMIT_AS.
    @Test(.disabled(if: isSanitized, "sanitizers need more address space than the limit allows"))
    func refusedMappingsMakeStartThrowAndTheProcessGoesOn() async {
        await #expect(processExitsWith: .success) {
            runSynchronously {
                // Use up the address-space limit: no new stack can be mapped.
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_AS.rawValue), &limit)
                let current = Soak_virtualBytes()
                limit.rlim_cur = rlim_t(current + 1 << 20)
                guard setrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 else { exit(2) }
                var sawError = false
                do {
                    try JobPool.configure(initialSize: 64, stackSize: 1 << 20)
                } catch let error as AsyncJobError {
                    sawError = error.code == .stackAllocationFailed
                } catch {}
                guard sawError else { exit(3) }
                do {
                    for _ in 0..<64 {
                        guard case .paused(let job) = try AsyncJob.start({ AsyncJob.pause() }) else { exit(4) }
                        _ = consume job
                    }
                    exit(5)
                } catch let error as AsyncJobError {
                    guard error.code == .stackAllocationFailed else { exit(6) }
                } catch {
                    exit(7)
                }
            }
        }
    }

    @Test func exhaustedDescriptorsMakeTheWaitDescriptorThrow() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            runSynchronously {
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                // Fill the table: everything up to the limit is open.
                limit.rlim_cur = 64
                guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { exit(2) }
                var opened: [Int32] = []
                // Other threads of the test process may close a descriptor at any time, freeing
                // a slot: fill the table again and retry until the job meets a full table.
                var sawError = false
                for _ in 0..<20 where !sawError {
                    while true {
                        let fd = open("/dev/null", O_RDONLY)
                        if fd < 0 { break }
                        opened.append(fd)
                    }
                    let ending = drive(try! AsyncJob.start { () -> Bool in
                        do {
                            _ = try AsyncJob.current!.waitFD()
                            return false
                        } catch let error as AsyncJobError {
                            FileHandle.standardError.write("wait descriptor: \(error)\n".data(using: .utf8)!)
                            return error.code == .waitDescriptorUnavailable && error.underlying == .tooManyOpenFiles
                        } catch {
                            return false
                        }
                    })
                    sawError = ending.value == true
                    // A job that got a descriptor keeps it with its pooled record: start afresh.
                    JobPool.cleanUp()
                }
                guard sawError else { exit(3) }
                // Once descriptors are free again, it works.
                for fd in opened { close(fd) }
                let again = drive(try! AsyncJob.start { (try? AsyncJob.current!.waitFD()) != nil })
                guard again.value == true else { exit(4) }
            }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("wait descriptor: AsyncJobError(wait file descriptor unavailable"))
    }
}

/// The process's current virtual memory size in bytes (/proc/self/statm, first field).
func Soak_virtualBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
        let pages = Int(text.split(separator: " ").first ?? "")
    else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Whether this process runs under AddressSanitizer or ThreadSanitizer.
let isSanitized = isAddressSanitized || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
