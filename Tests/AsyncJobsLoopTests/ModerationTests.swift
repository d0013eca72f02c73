// SPDX-License-Identifier: Apache-2.0
// The accelerator's adaptive completion moderation, as a rule: shorter while the consumer keeps
// up, longest while it falls behind, always within its bounds.
@testable import AsyncJobs
@testable import AsyncJobsLoop
@testable import AsyncJobsTesting
import Testing

@Suite struct ModerationTests {
    @Test func startsAtTheLongestInterval() {
        let moderation = Moderation(longest: 100_000)
        #expect(moderation.interval == 100_000)
        #expect(moderation.shortest == 12_500)
    }

    @Test func halvesWhileTheConsumerKeepsUpDownToTheShortest() {
        var moderation = Moderation(longest: 100_000)
        var seen: [UInt64] = []
        for _ in 0..<5 {
            moderation.learn(consumerCaughtUp: true)
            seen.append(moderation.interval)
        }
        #expect(seen == [50_000, 25_000, 12_500, 12_500, 12_500])
    }

    @Test func doublesWhenTheConsumerFallsBehindUpToTheLongest() {
        var moderation = Moderation(longest: 100_000)
        for _ in 0..<3 { moderation.learn(consumerCaughtUp: true) }
        var seen: [UInt64] = []
        for _ in 0..<4 {
            moderation.learn(consumerCaughtUp: false)
            seen.append(moderation.interval)
        }
        #expect(seen == [25_000, 50_000, 100_000, 100_000])
    }

    @Test func aDeviceTooFastToModerateHasNoInterval() {
        var moderation = Moderation(longest: 0)
        moderation.learn(consumerCaughtUp: true)
        #expect(moderation.interval == 0)
        moderation.learn(consumerCaughtUp: false)
        #expect(moderation.interval == 0)
    }
}
