import NIOCore
import NIOPosix
import Synchronization

/// Runs `body` beside `watchdog` and returns `body`'s result. When the watchdog throws first, its error
/// wins and `body` is cancelled; when it returns without throwing, `body` is simply awaited.
/// The one structured-concurrency helper behind every time limit and background run in the app.
/// The watchdog starts first, at once, on the caller's thread (when the caller is not on an actor),
/// and runs there up to its first wait: whatever it sets up before that is in place before `body`
/// starts (`AppDatabase.withRunning`: the pool runs before `body` asks it for a connection).
public func race<T: Sendable>(
    _ body: @Sendable @escaping () async throws -> T,
    watchdog: @Sendable @escaping () async throws -> Void
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addImmediateTask {
            try await watchdog()
            return nil
        }
        group.addTask { try await body() }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
        }
        throw CancellationError()
    }
}

/// Waits for `work`, unless `watchdog` throws first: then its error is thrown at once and `work` is
/// cancelled but not waited for (it ends on its own). For a wait a library may not end promptly when
/// cancelled, such as a connection pool's lease: the caller's answer must not depend on it. A watchdog
/// that returns without throwing leaves the caller waiting for `work`; cancelling the caller cancels `work`.
public func abandoning<T: Sendable>(
    _ work: Task<T, any Error>, watchdog: @Sendable @escaping () async throws -> Void
) async throws -> T {
    let outcome = Outcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.wait(continuation)
            let dog = Task {
                do {
                    try await watchdog()
                } catch {
                    // Cancelled: the work ended first and its result is the answer.
                    if Task.isCancelled { return }
                    // The answer is taken first, so that the work's end (which the cancel hastens) cannot
                    // answer instead; the work is cancelled before the caller resumes with the error.
                    guard let answer = outcome.claim() else { return }
                    work.cancel()
                    answer(.failure(error))
                }
            }
            Task {
                let result = await work.result
                outcome.finish(result)
                dog.cancel()
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// The first result given to it goes to the one waiting continuation; later ones are dropped.
private final class Outcome<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, done: Bool)>((nil, false))

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func finish(_ result: Result<T, any Error>) {
        claim()?(result)
    }

    /// Takes the answer's place, for a caller with something to do before it answers: what answers the
    /// waiting continuation, or nil when an answer was given (or its place taken) already.
    func claim() -> (@Sendable (Result<T, any Error>) -> Void)? {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        return { result in continuation?.resume(with: result) }
    }
}

/// Returns once the task is cancelled (at once when it already is), holding no timer: for work that
/// waits only to be stopped. A `Task.sleep` there set up a timer, and its first use in a process made
/// the runtime look up the executor's conformances (about 0.1 ms) on the caller's thread: a one-shot
/// command's pool runs first on that thread (`AppDatabase.withRunning`), before the command's work.
public func untilCancelled() async {
    let waiter = CancellationWaiter()
    await withTaskCancellationHandler {
        await withCheckedContinuation { waiter.wait($0) }
    } onCancel: {
        waiter.cancel()
    }
}

/// The continuation `untilCancelled` waits on, resumed by the cancellation, whichever of the two comes first.
private final class CancellationWaiter: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, cancelled: Bool)>((nil, false))

    func wait(_ continuation: CheckedContinuation<Void, Never>) {
        let resumeNow = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.continuation = continuation
            return false
        }
        if resumeNow { continuation.resume() }
    }

    func cancel() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.cancelled = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}

/// Raised when a database operation ran past its time limit: how long, and what it waited for.
public struct DatabaseTimeout: Error, CustomStringConvertible {
    public var limit: Duration
    public var what: String

    public var description: String { "no \(what) from the database within \(DatabaseConnectError.seconds(limit))" }
}

/// Runs `body`, or throws `DatabaseTimeout` once `limit` has passed, without waiting any longer for
/// `body` (it is cancelled and ends on its own): a query on a connection that will never answer cannot
/// hold the caller. For reads only: work given up on this way is not waited for.
public func withTimeout<T: Sendable>(
    _ limit: Duration, waitingFor what: String = "answer", _ body: @Sendable @escaping () async throws -> T
) async throws -> T {
    try await abandoning(Task { try await body() }) {
        try await cancellableSleep(for: limit)
        throw DatabaseTimeout(limit: limit, what: what)
    }
}

/// Sleeps for `duration`, or throws `CancellationError` as soon as the task is cancelled, and then
/// leaves nothing behind. `Task.sleep`'s timer stays registered until its deadline even once the sleep
/// is cancelled: a 30 s time limit per request kept every request's timer (about 1 KB) for 30 s, and
/// RSS grew by some 90 MB under 3 000 authorised calls a second. An event loop's scheduled task is
/// removed when cancelled.
public func cancellableSleep(for duration: Duration) async throws {
    let loop = MultiThreadedEventLoopGroup.singleton.any()
    let scheduled = loop.scheduleTask(in: .nanoseconds(Int64(duration.milliseconds) * 1_000_000)) {}
    do {
        try await withTaskCancellationHandler {
            try await scheduled.futureResult.get()
        } onCancel: {
            scheduled.cancel()
        }
    } catch {
        throw CancellationError()
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
