// SPDX-License-Identifier: Apache-2.0
// How many processors this process may run on: the CPUs of its affinity mask
// (sched_getaffinity(2)), which taskset, cpusets and containers narrow, falling back to the
// online processors when the mask cannot be read.
import Glibc
import _CSystemShims

/// The processors available to the calling thread.
package enum ProcessorCount {
    /// CPUs in the calling thread's affinity mask (at least 1); the online processors if the
    /// mask cannot be read.
    package static var available: Int {
        let count = aj_affinity_cpu_count()
        if count > 0 { return Int(count) }
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}
