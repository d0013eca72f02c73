// SPDX-License-Identifier: Apache-2.0
// Whether the calling thread is a job loop that watches engine descriptors edge-triggered, kept
// in thread-local storage (a C `__thread` variable: Swift cannot declare one).
import _CSystemShims

/// Set by a loop in fd mode on its own thread while one of its jobs runs (a segment between
/// start or resume and the next pause or end); read by engines when they give a wait context its
/// eventfd (in the job, so on that thread).
package enum EdgeWatcherFlag {
    /// Whether the calling thread's loop watches engine eventfds with `EPOLLET`.
    package static var isSet: Bool { aj_thread_edge_watcher() != 0 }

    /// Sets or clears the calling thread's flag.
    package static func set(_ value: Bool) { aj_thread_set_edge_watcher(value ? 1 : 0) }
}
