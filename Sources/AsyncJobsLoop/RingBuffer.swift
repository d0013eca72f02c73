// SPDX-License-Identifier: Apache-2.0
// A growable FIFO for the loop's queues, worker queues and the accelerator's slots: amortized
// O(1) at both ends, and no allocation once it has grown to its working size (the standard
// library has no deque, and the core library takes no dependency for one). Inlinable: the
// accelerator (AsyncJobsTesting) uses it from another module, where an unspecialized generic
// would look up its metadata at every call. (`@usableFromInline` on the type as well: without it
// the 6.3 compiler does not give other modules the bodies of a `package` type's inlinable members
// when the module has more than one file.)

/// A first-in first-out queue in a circular buffer.
@usableFromInline package struct RingBuffer<Element> {
    @usableFromInline var storage: [Element?] = []
    @usableFromInline var head = 0
    @usableFromInline var storedCount = 0
    /// How many elements are queued.
    @inlinable package var count: Int { storedCount }

    @inlinable package init() {}

    @inlinable package var isEmpty: Bool { count == 0 }

    /// Adds `element` at the back.
    @inlinable package mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        storedCount += 1
    }

    /// Adds `element` at the front.
    @inlinable package mutating func prepend(_ element: Element) {
        if count == storage.count { grow() }
        head = (head + storage.count - 1) % storage.count
        storage[head] = element
        storedCount += 1
    }

    /// Removes and returns the front element, or nil if empty.
    @inlinable package mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) % storage.count
        storedCount -= 1
        return element
    }

    /// The front element, or nil if empty.
    @inlinable package var first: Element? {
        count > 0 ? storage[head] : nil
    }

    @usableFromInline mutating func grow() {
        let newCapacity = max(16, storage.count * 2)
        var newStorage = [Element?](repeating: nil, count: newCapacity)
        for index in 0..<count { newStorage[index] = storage[(head + index) % storage.count] }
        storage = newStorage
        head = 0
    }
}
