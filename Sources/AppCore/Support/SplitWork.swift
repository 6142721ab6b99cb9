import Dispatch
import Synchronization

/// Work on `count` independent items, shared between the calling thread and one more of Dispatch's,
/// each taking the next item as it ends one: on two cores, reading a folder of many files ends
/// sooner while the other core has time (a one-shot command's database opens there meanwhile).
/// The caller never waits for a helper that has not begun: if no thread takes the help by the time the
/// caller runs out of items, the caller has done them all, and the help, once it runs, does nothing.
enum SplitWork {
    /// `work(index)` for each index of `0..<count`, in index order, each run exactly once. `startHelp`
    /// starts the help on another thread (Dispatch's, unless a test gives its own).
    static func results<T: Sendable>(
        count: Int,
        startHelp: (@escaping @Sendable () -> Void) -> Void = { DispatchQueue.global().async(execute: $0) },
        _ work: @escaping @Sendable (Int) -> T
    ) -> [T] {
        guard count > 1 else { return (0..<count).map(work) }
        let shared = Shared<T>(count: count, work: work)
        startHelp { shared.help() }
        return shared.finish()
    }

    private enum Help {
        case waiting, running, finished, refused
    }

    private final class Shared<T: Sendable>: @unchecked Sendable {
        // Each slot is written by the one thread that took its index, and read by the caller only once
        // the helper is known to have ended or never to begin (the lock, or the semaphore, orders them).
        private let slots: UnsafeMutableBufferPointer<T?>
        private let next = Atomic<Int>(0)
        private let helper = Mutex(Help.waiting)
        private let helpEnded = DispatchSemaphore(value: 0)
        private let work: @Sendable (Int) -> T

        init(count: Int, work: @escaping @Sendable (Int) -> T) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil)
            self.work = work
        }

        deinit {
            slots.deinitialize()
            slots.deallocate()
        }

        private func takeItems() {
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < slots.count else { return }
                slots[index] = work(index)
            }
        }

        func help() {
            let begins = helper.withLock { state -> Bool in
                guard state == .waiting else { return false }
                state = .running
                return true
            }
            guard begins else { return }
            takeItems()
            helper.withLock { $0 = .finished }
            helpEnded.signal()
        }

        func finish() -> [T] {
            takeItems()
            let helperRuns = helper.withLock { state -> Bool in
                switch state {
                case .waiting:
                    state = .refused
                    return false
                case .running: return true
                case .finished, .refused: return false
                }
            }
            if helperRuns { helpEnded.wait() }
            return slots.map { $0! }
        }
    }
}
