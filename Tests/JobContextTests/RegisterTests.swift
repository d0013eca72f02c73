// SPDX-License-Identifier: Apache-2.0
// What a switch must preserve: the callee-saved registers and stack pointer (checked by an
// assembly probe on both sides of the switch), and the floating-point control state, which
// stays with its context (x86_64: MXCSR control bits and the x87 control word).
import JobContextTestSupport
import Testing
import _CJobContext

private struct RegisterState {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var contextMask: UInt64 = 0
    var contextRounds = 0
}

/// Loads its own register patterns, switches back to the test, and records what changed when the
/// test switches in again; forever.
private func registerContext(_ data: UnsafeMutableRawPointer?) {
    let state = data!.assumingMemoryBound(to: RegisterState.self)
    let slots = state.pointee.slots
    var round: UInt64 = 0
    while true {
        var received: UnsafeMutableRawPointer?
        let mask = ajt_swap_checking_registers(
            slots + 1, slots[0]!, tag(0xc0de_0000 + Int(round)), 0x5a5a_0000_0000_0000 &+ round &* 0x1000, &received)
        state.pointee.contextMask |= mask
        state.pointee.contextRounds += 1
        round += 1
    }
}

@Suite struct RegisterTests {
    @Test(arguments: [1, 8])
    func calleeSavedRegistersAndStackPointerSurviveASwitch(rounds: Int) {
        let stack = TestStack(usableBytes: 32 << 10)
        let slots = ContextSlots(count: 2)
        let state = UnsafeMutablePointer<RegisterState>.allocate(capacity: 1)
        state.initialize(to: RegisterState(slots: slots.slots))
        defer {
            state.deinitialize(count: 1)
            state.deallocate()
        }
        slots.slots[1] = _ajctx_make(stack.top, registerContext)
        var testMask: UInt64 = 0
        var wrongValues = 0
        for round in 0..<rounds {
            var received: UnsafeMutableRawPointer?
            // Round 0 starts the context (data = its state); later rounds land in its probe.
            testMask |= ajt_swap_checking_registers(
                slots.slots, slots.slots[1]!, round == 0 ? UnsafeMutableRawPointer(state) : nil,
                0xa5a5_0000_0000_0000 &+ UInt64(round) &* 0x1000, &received)
            if value(of: received) != 0xc0de_0000 + round { wrongValues += 1 }
        }
        // Bit i of a mask is register i of the probe's list (x86_64: rbx rbp r12-r15 rsp).
        #expect(testMask == 0)
        #expect(state.pointee.contextMask == 0)
        #expect(state.pointee.contextRounds == rounds - 1)
        #expect(wrongValues == 0)
        withExtendedLifetime((stack, slots)) {}
    }
}

#if arch(x86_64)
// MXCSR rounding control is bits 13-14; the x87 control word's is bits 10-11.
private let mxcsrRoundingMask: UInt32 = 0x6000
private let mxcsrRoundUp: UInt32 = 0x4000
private let mxcsrRoundTowardZero: UInt32 = 0x6000
private let mxcsrControlBits: UInt32 = 0xffc0
private let x87RoundingMask: UInt16 = 0x0c00
private let x87RoundUp: UInt16 = 0x0800
private let x87RoundTowardZero: UInt16 = 0x0c00

private struct FloatingPointState {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var seenMXCSR: [UInt32] = []
    var seenControlWord: [UInt16] = []

    mutating func record() {
        seenMXCSR.append(ajt_get_mxcsr())
        seenControlWord.append(ajt_get_x87_control_word())
    }
}

/// Records what it inherited, rounds toward zero in MXCSR only, then in the x87 control word
/// too, recording what it finds after each resume.
private func floatingPointContext(_ data: UnsafeMutableRawPointer?) {
    let state = data!.assumingMemoryBound(to: FloatingPointState.self)
    let slots = state.pointee.slots
    state.pointee.record()
    ajt_set_mxcsr((ajt_get_mxcsr() & ~mxcsrRoundingMask) | mxcsrRoundTowardZero)
    _ = _ajctx_swap(slots + 1, slots[0]!, nil)
    state.pointee.record()
    ajt_set_x87_control_word((ajt_get_x87_control_word() & ~x87RoundingMask) | x87RoundTowardZero)
    _ = _ajctx_swap(slots + 1, slots[0]!, nil)
    state.pointee.record()
    while true { _ = _ajctx_swap(slots + 1, slots[0]!, nil) }
}

@Suite(.serialized) struct FloatingPointControlTests {
    @Test func roundingModesStayWithTheirContexts() throws {
        let savedMXCSR = ajt_get_mxcsr()
        let savedControlWord = ajt_get_x87_control_word()
        defer {
            ajt_set_mxcsr(savedMXCSR)
            ajt_set_x87_control_word(savedControlWord)
        }
        let stack = TestStack(usableBytes: 32 << 10)
        let slots = ContextSlots(count: 2)
        let state = UnsafeMutablePointer<FloatingPointState>.allocate(capacity: 1)
        state.initialize(to: FloatingPointState(slots: slots.slots))
        defer {
            state.deinitialize(count: 1)
            state.deallocate()
        }
        let testMXCSR = (savedMXCSR & ~mxcsrRoundingMask) | mxcsrRoundUp
        let testControlWord = (savedControlWord & ~x87RoundingMask) | x87RoundUp
        ajt_set_mxcsr(testMXCSR)
        ajt_set_x87_control_word(testControlWord)
        slots.slots[1] = _ajctx_make(stack.top, floatingPointContext)

        // The context switched its MXCSR to round toward zero: not ours.
        _ = _ajctx_swap(slots.slots, slots.slots[1]!, UnsafeMutableRawPointer(state))
        #expect(ajt_get_mxcsr() & mxcsrControlBits == testMXCSR & mxcsrControlBits)
        #expect(ajt_get_x87_control_word() == testControlWord)
        // Now its x87 control word too: still not ours.
        _ = _ajctx_swap(slots.slots, slots.slots[1]!, nil)
        #expect(ajt_get_mxcsr() & mxcsrControlBits == testMXCSR & mxcsrControlBits)
        #expect(ajt_get_x87_control_word() == testControlWord)
        _ = _ajctx_swap(slots.slots, slots.slots[1]!, nil)

        let seenMXCSR = state.pointee.seenMXCSR
        let seenControlWord = state.pointee.seenControlWord
        try #require(seenMXCSR.count == 3 && seenControlWord.count == 3)
        // A new context starts with its creator's control state.
        #expect(seenMXCSR[0] & mxcsrRoundingMask == mxcsrRoundUp)
        #expect(seenControlWord[0] & x87RoundingMask == x87RoundUp)
        // After each resume it finds its own again.
        #expect(seenMXCSR[1] & mxcsrRoundingMask == mxcsrRoundTowardZero)
        #expect(seenControlWord[1] & x87RoundingMask == x87RoundUp)
        #expect(seenMXCSR[2] & mxcsrRoundingMask == mxcsrRoundTowardZero)
        #expect(seenControlWord[2] & x87RoundingMask == x87RoundTowardZero)
        withExtendedLifetime((stack, slots)) {}
    }
}
#endif
