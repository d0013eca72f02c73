// SPDX-License-Identifier: Apache-2.0
// A growable FIFO for the loop's queues, worker queues and the accelerator's slots: amortized
// O(1) at both ends, and no allocation once it has grown to its working size (the standard
// library has no deque, and the core library takes no dependency for one).

/// A first-in first-out queue in a circular buffer.
package struct RingBuffer<Element> {
    private var storage: [Element?] = []
    private var head = 0
    /// How many elements are queued.
    package private(set) var count = 0

    package init() {}

    package var isEmpty: Bool { count == 0 }

    /// Adds `element` at the back.
    package mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    /// Adds `element` at the front.
    package mutating func prepend(_ element: Element) {
        if count == storage.count { grow() }
        head = (head + storage.count - 1) % storage.count
        storage[head] = element
        count += 1
    }

    /// Removes and returns the front element, or nil if empty.
    package mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// The front element, or nil if empty.
    package var first: Element? {
        count > 0 ? storage[head] : nil
    }

    private mutating func grow() {
        let newCapacity = max(16, storage.count * 2)
        var newStorage = [Element?](repeating: nil, count: newCapacity)
        for index in 0..<count { newStorage[index] = storage[(head + index) % storage.count] }
        storage = newStorage
        head = 0
    }
}
