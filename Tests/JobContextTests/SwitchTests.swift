// SPDX-License-Identifier: Apache-2.0
// The bare switch (`_ajctx_make` / `_ajctx_swap`): order, carried values, entry alignment, depth.
// Every context entry is a global function (a C function pointer cannot capture); its state
// arrives as the data of the first switch into it, and lives in raw memory.
import Glibc
import JobContextTestSupport
import Testing
import _CJobContext

// MARK: - Three-context ping-pong

/// Shared by main, A and B. Slots: 0 main, 1 A, 2 B.
private struct PingPongState {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var order: [Int] = []
    var received: [Int] = []
}

private func pingA(_ data: UnsafeMutableRawPointer?) {
    let state = data!.assumingMemoryBound(to: PingPongState.self)
    let slots = state.pointee.slots
    state.pointee.order.append(1)
    // B's first switch carries the state, like A's did.
    var got = _ajctx_swap(slots + 1, slots[2]!, data)
    state.pointee.received.append(value(of: got))
    state.pointee.order.append(4)
    got = _ajctx_swap(slots + 1, slots[2]!, tag(4))
    state.pointee.received.append(value(of: got))
    state.pointee.order.append(6)
    _ = _ajctx_swap(slots + 1, slots[0]!, tag(6))
    preconditionFailure("A resumed after its last switch")
}

private func pingB(_ data: UnsafeMutableRawPointer?) {
    let state = data!.assumingMemoryBound(to: PingPongState.self)
    let slots = state.pointee.slots
    state.pointee.order.append(2)
    let got = _ajctx_swap(slots + 2, slots[0]!, tag(2))
    state.pointee.received.append(value(of: got))
    state.pointee.order.append(5)
    _ = _ajctx_swap(slots + 2, slots[1]!, tag(5))
    preconditionFailure("B resumed after its last switch")
}

// MARK: - Values

private func doubler(_ data: UnsafeMutableRawPointer?) {
    let slots = data!.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    var incoming = _ajctx_swap(slots + 1, slots[0]!, nil)
    while true {
        incoming = _ajctx_swap(slots + 1, slots[0]!, tag(value(of: incoming) &* 2))
    }
}

// MARK: - Alignment

private func alignmentContinuation(_ data: UnsafeMutableRawPointer?, _ entryStackPointer: UInt) {
    let slots = data!.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    _ = _ajctx_swap(slots + 1, slots[0]!, UnsafeMutableRawPointer(bitPattern: entryStackPointer))
    preconditionFailure("alignment probe resumed")
}

// MARK: - Depth

private struct DeepState {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var deepest = 0
}

/// Keeps `frame` in memory: the compiler must assume it is read and written here.
@inline(never) private func touch(_ frame: UnsafeMutableRawPointer) { _ = frame.load(as: UInt8.self) }

/// Recurses to depth 100, switches out there, and after the resume returns how many of the
/// 100 frames still hold exactly what they stored before the switch.
@inline(never) private func descend(_ depth: Int, _ state: UnsafeMutablePointer<DeepState>) -> Int {
    var frame = (depth, depth &* 3, depth &* 5, ~depth)
    withUnsafeMutableBytes(of: &frame) { touch($0.baseAddress!) }
    state.pointee.deepest = max(state.pointee.deepest, depth)
    var intactBelow = 0
    if depth == 100 {
        _ = _ajctx_swap(state.pointee.slots + 1, state.pointee.slots[0]!, tag(depth))
    } else {
        intactBelow = descend(depth + 1, state)
    }
    let intact = frame == (depth, depth &* 3, depth &* 5, ~depth)
    return intactBelow + (intact ? 1 : 0)
}

private func deepEntry(_ data: UnsafeMutableRawPointer?) {
    let state = data!.assumingMemoryBound(to: DeepState.self)
    let intact = descend(1, state)
    while true { _ = _ajctx_swap(state.pointee.slots + 1, state.pointee.slots[0]!, tag(1000 + intact)) }
}

// Serialized: the entry probe hands its continuation over through one process-wide slot
// (Tests/JobContextTestSupport/support.c), which parallel tests would race on.
@Suite(.serialized) struct SwitchTests {
    @Test func threeContextsPingPongInOrder() {
        let stackA = TestStack(usableBytes: 64 << 10)
        let stackB = TestStack(usableBytes: 64 << 10)
        let slots = ContextSlots(count: 3)
        let state = UnsafeMutablePointer<PingPongState>.allocate(capacity: 1)
        state.initialize(to: PingPongState(slots: slots.slots))
        defer {
            state.deinitialize(count: 1)
            state.deallocate()
        }
        slots.slots[1] = _ajctx_make(stackA.top, pingA)
        slots.slots[2] = _ajctx_make(stackB.top, pingB)

        var got = _ajctx_swap(slots.slots, slots.slots[1]!, UnsafeMutableRawPointer(state))
        #expect(value(of: got) == 2)
        state.pointee.order.append(3)
        got = _ajctx_swap(slots.slots, slots.slots[1]!, tag(3))
        #expect(value(of: got) == 6)
        state.pointee.order.append(7)

        #expect(state.pointee.order == [1, 2, 3, 4, 5, 6, 7])
        // A got 3 (from main) then 5 (from B); B got 4 (from A).
        #expect(state.pointee.received == [3, 4, 5])
        withExtendedLifetime((stackA, stackB, slots)) {}
    }

    @Test(arguments: [1, 2, 1000])
    func eachSwitchCarriesItsValue(switches: Int) {
        let stack = TestStack(usableBytes: 32 << 10)
        let slots = ContextSlots(count: 2)
        slots.slots[1] = _ajctx_make(stack.top, doubler)
        let ready = _ajctx_swap(slots.slots, slots.slots[1]!, UnsafeMutableRawPointer(slots.slots))
        #expect(ready == nil)
        var wrong = 0
        for sent in 1...switches {
            let answer = _ajctx_swap(slots.slots, slots.slots[1]!, tag(sent))
            if value(of: answer) != sent * 2 { wrong += 1 }
        }
        #expect(wrong == 0)
        withExtendedLifetime((stack, slots)) {}
    }

    @Test(arguments: [0, 1, 7, 8, 9, 15, 24, 100])
    func entryStackIsAbiAlignedForAnyTop(topOffset: Int) {
        ajt_set_entry_continuation(alignmentContinuation)
        let stack = TestStack(usableBytes: 16 << 10)
        let slots = ContextSlots(count: 2)
        let top = stack.top - topOffset
        slots.slots[1] = _ajctx_make(top, ajt_recording_entry)
        let reported = _ajctx_swap(slots.slots, slots.slots[1]!, UnsafeMutableRawPointer(slots.slots))
        let entryStackPointer = UInt(bitPattern: reported)
        #expect(entryStackPointer % 16 == ajt_expected_entry_alignment())
        #expect(entryStackPointer <= UInt(bitPattern: top))
        #expect(entryStackPointer > UInt(bitPattern: stack.low))
        withExtendedLifetime((stack, slots)) {}
    }

    // Not 32 KiB: a debug build's frame of `descend` is over 320 bytes (the closure and its
    // context), and 100 of them overflow into the guard page.
    @Test(arguments: [64 << 10, 256 << 10])
    func switchHundredFramesDeepResumesWithEveryFrameIntact(stackBytes: Int) {
        let stack = TestStack(usableBytes: stackBytes)
        let slots = ContextSlots(count: 2)
        let state = UnsafeMutablePointer<DeepState>.allocate(capacity: 1)
        state.initialize(to: DeepState(slots: slots.slots))
        defer {
            state.deinitialize(count: 1)
            state.deallocate()
        }
        slots.slots[1] = _ajctx_make(stack.top, deepEntry)
        let pausedAt = _ajctx_swap(slots.slots, slots.slots[1]!, UnsafeMutableRawPointer(state))
        #expect(value(of: pausedAt) == 100)
        #expect(state.pointee.deepest == 100)
        let result = _ajctx_swap(slots.slots, slots.slots[1]!, nil)
        #expect(value(of: result) - 1000 == 100)
        withExtendedLifetime((stack, slots)) {}
    }

    @Test func buildUsesTheRequestedSwitchImplementation() {
        let name = String(cString: _ajctx_implementation())
        if let requested = getenv("ASYNCJOBS_UCONTEXT"), String(cString: requested) == "1" {
            #expect(name == "ucontext")
            #expect(_ajctx_uses_assembly() == 0)
        } else {
            #if arch(x86_64)
            #expect(name == "x86_64_sysv_elf")
            #elseif arch(arm64)
            #expect(name == "arm64_aapcs_elf")
            #endif
            #expect(_ajctx_uses_assembly() == 1)
        }
    }
}
