import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import AppCore

/// The wait behind every PostgreSQL lease: giving up never waits for the work given up on.
@Suite("abandoning a wait")
struct AbandoningTests {
    /// A gate the test opens by hand; waiting on it ignores cancellation, as a lost pool cancel would.
    final class Gate: Sendable {
        private let waiters = Mutex<(open: Bool, list: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { continuation in
                let resumeNow = waiters.withLock { state -> Bool in
                    if state.open { return true }
                    state.list.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        func open() {
            for continuation in waiters.withLock({ state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.list = [] }
                return state.list
            }) {
                continuation.resume()
            }
        }
    }

    struct GaveUp: Error {}

    @Test(
        "cancellableSleep: a sleep ends after its time; a cancelled one throws CancellationError without waiting it out"
    )
    func cancellableSleeps() async throws {
        let started = ContinuousClock.now
        try await cancellableSleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))

        let sleeper = Task { try await cancellableSleep(for: .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        // A time limit that is not reached: the answer is the work's, and the call returns at once.
        #expect(try await withTimeout(.seconds(3600)) { 42 } == 42)
    }

    @Test("untilCancelled returns once its task is cancelled, and at once when it already is (a race: many rounds)")
    func untilCancelledReturns() async throws {
        let returned = Mutex(false)
        let waiter = Task {
            await untilCancelled()
            returned.withLock { $0 = true }
        }
        for _ in 0..<100 { await Task.yield() }
        #expect(!returned.withLock { $0 }, "it waits while its task runs on")
        waiter.cancel()
        try await withTimeout(.seconds(10)) { await waiter.value }
        #expect(returned.withLock { $0 })

        // Cancelled before it begins to wait, or while it does: each order the two can meet in.
        for _ in 0..<2000 {
            let task = Task { await untilCancelled() }
            task.cancel()
            try await withTimeout(.seconds(10)) { await task.value }
        }
        let early = Task { () -> Bool in
            withUnsafeCurrentTask { $0?.cancel() }
            await untilCancelled()
            return Task.isCancelled
        }
        #expect(try await withTimeout(.seconds(10)) { await early.value })
    }

    @Test("a watchdog that throws answers at once, though the work ignores its cancellation")
    func givesUp() async throws {
        let gate = Gate()
        let finished = Mutex(false)
        let work = Task { () async throws -> Int in
            await gate.wait()
            finished.withLock { $0 = true }
            return 1
        }
        // The gate opens only after the call returns: had it waited for the work, it never would.
        await #expect(throws: GaveUp.self) {
            try await abandoning(work) {
                try await Task.sleep(for: .milliseconds(50))
                throw GaveUp()
            }
        }
        #expect(work.isCancelled && !finished.withLock { $0 }, "the work was cancelled and is still going")
        gate.open()
        #expect(try await work.value == 1)
    }

    @Test("work that ends first is the answer, however soon its watchdog wakes (a race: many rounds)")
    func workFirst() async throws {
        for round in 0..<2000 {
            let work = Task { () async throws -> Int in round }
            let value = try await abandoning(work) {
                try await Task.sleep(for: .seconds(30))
                throw GaveUp()
            }
            #expect(value == round)
        }
    }

    @Test("a watchdog that returns leaves the caller waiting for the work's own result")
    func waits() async throws {
        let gate = Gate()
        let work = Task { () async throws -> Int in
            await gate.wait()
            return 7
        }
        let opener = Task {
            try await Task.sleep(for: .milliseconds(100))
            gate.open()
        }
        let value = try await abandoning(work) {}
        #expect(value == 7)
        _ = try await opener.value
    }
}
