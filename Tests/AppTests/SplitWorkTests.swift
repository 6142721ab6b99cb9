import Foundation
import Synchronization
import Testing

@testable import AppCore

/// Work shared between the caller and a second thread: every item done once, the answers in order,
/// and the caller never held by help that has not begun.
@Suite("work split between two threads")
struct SplitWorkTests {
    /// Counts each index's runs and who ran it.
    final class Runs: Sendable {
        let byIndex = Mutex<[Int: Int]>([:])
        let threads = Mutex<Set<String>>([])
        func record(_ index: Int) {
            byIndex.withLock { $0[index, default: 0] += 1 }
            threads.withLock { _ = $0.insert("\(pthread_self())") }
        }
    }

    @Test("each index runs exactly once and the answers come in index order (a race: many rounds, many sizes)")
    func everyItemOnce() {
        for count in [0, 1, 2, 3, 16, 200] {
            for _ in 0..<(count < 16 ? 5 : 300) {
                let runs = Runs()
                let answers = SplitWork.results(count: count) { index in
                    runs.record(index)
                    return index * 3
                }
                #expect(answers == (0..<count).map { $0 * 3 })
                #expect(runs.byIndex.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<count).map { ($0, 1) }))
            }
        }
    }

    @Test("help that begins only after the caller ran out of items does nothing, and the caller did not wait for it")
    func lateHelpDoesNothing() {
        let late = Mutex<(@Sendable () -> Void)?>(nil)
        let runs = Runs()
        let startLater: (@escaping @Sendable () -> Void) -> Void = { help in late.withLock { $0 = help } }
        let answers = SplitWork.results(count: 50, startHelp: startLater) { index in
            runs.record(index)
            return index
        }
        #expect(answers == Array(0..<50))
        let help = late.withLock { $0 }
        #expect(help != nil)
        help?()  // begins now: every item is taken, and the caller has its answers
        #expect(runs.byIndex.withLock { $0 }.values.allSatisfy { $0 == 1 })
        #expect(runs.byIndex.withLock { $0.count } == 50)
    }

    /// True the first time it is asked of `flag`.
    static func firstTime(_ flag: borrowing Mutex<Bool>) -> Bool {
        flag.withLock { waited in
            defer { waited = true }
            return !waited
        }
    }

    @Test("help on a thread of its own takes items beside the caller, and the caller waits for the one it is on")
    func helpBeside() {
        let runs = Runs()
        let caller = pthread_self()
        let helperTook = DispatchSemaphore(value: 0)
        let callerTook = DispatchSemaphore(value: 0)
        let callerWaited = Mutex(false)
        let helperWaited = Mutex(false)
        let startOnThread: (@escaping @Sendable () -> Void) -> Void = { help in Thread { help() }.start() }
        // Each side's first item says so, then waits for the other's first, so that both take some: on a
        // loaded machine a helper that waited for nothing could take every item before the caller took one.
        let answers = SplitWork.results(count: 40, startHelp: startOnThread) { index in
            if pthread_equal(pthread_self(), caller) != 0 {
                if Self.firstTime(callerWaited) {
                    callerTook.signal()
                    #expect(helperTook.wait(timeout: .now() + 60) == .success)
                }
            } else if Self.firstTime(helperWaited) {
                helperTook.signal()
                #expect(callerTook.wait(timeout: .now() + 60) == .success)
            }
            runs.record(index)
            return "item \(index)"
        }
        #expect(answers == (0..<40).map { "item \($0)" })
        #expect(runs.byIndex.withLock { $0 }.values.allSatisfy { $0 == 1 })
        #expect(runs.byIndex.withLock { $0.count } == 40)
        #expect(runs.threads.withLock { $0.count } == 2, "both threads took items")
    }
}
