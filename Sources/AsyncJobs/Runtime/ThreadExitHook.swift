// SPDX-License-Identifier: Apache-2.0
// The end of a thread's pool when the thread exits without cleaning it up: a pthread key whose
// destructor receives the pool's handle.
import Glibc

/// `pthread_key_*`: runs a destructor with the thread's pool when a thread exits.
enum ThreadExitHook {
    /// The key whose destructor frees a thread's pool; created once per process.
    nonisolated(unsafe) private static var key: pthread_key_t = 0
    private static let created: Bool = {
        let result = unsafe pthread_key_create(&key) { pointer in
            guard let pointer = unsafe pointer else { return }
            JobPool.threadExited(unsafe PoolHandle.from(pointer))
        }
        precondition(result == 0, "pthread_key_create failed: \(result) (the process is out of thread keys)")
        return true
    }()

    /// Arranges for `JobPool.threadExited` when this thread exits.
    static func register(_ pointer: UnsafeMutableRawPointer) {
        _ = created
        _ = unsafe pthread_setspecific(key, pointer)
    }

    /// Cancels the arrangement (the pool was cleaned up explicitly).
    static func unregister() {
        _ = created
        _ = unsafe pthread_setspecific(key, nil)
    }
}
