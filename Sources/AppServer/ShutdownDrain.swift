import AppCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The drain before a shutdown. On SIGTERM the server stops taking migration calls (503, and
/// `/healthz` 503 so a load balancer stops sending traffic), lets the runs in progress finish, then
/// lets the server shut down as usual.
public final class ShutdownDrain: Sendable {
    private struct State {
        var draining = false
        var inFlight = 0
        var idle: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Runs `body` as a migration run in progress, or returns nil without running it once draining.
    func run<T: Sendable>(_ body: () async -> T) async -> T? {
        guard enter() else { return nil }
        defer { leave() }
        return await body()
    }

    /// Counts a run that outlives its request (an asynchronous run); `leave()` when it ends.
    func enter() -> Bool {
        state.withLock { state in
            guard !state.draining else { return false }
            state.inFlight += 1
            return true
        }
    }

    func leave() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            guard state.inFlight == 0 else { return [] }
            defer { state.idle = [] }
            return state.idle
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Stops admitting runs; returns the number still in progress.
    @discardableResult
    public func begin() -> Int {
        state.withLock { state in
            state.draining = true
            return state.inFlight
        }
    }

    /// Waits until no run is in progress, or `limit` passes; true when idle.
    public func waitIdle(limit: Duration) async -> Bool {
        let idle = Task {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.inFlight == 0 { return true }
                    state.idle.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
        do {
            return try await abandoning(
                Task {
                    await idle.value
                    return true
                }
            ) {
                try await Task.sleep(for: limit)
                throw CancellationError()
            }
        } catch {
            return false
        }
    }
}

/// Waits for SIGTERM, drains (at most `timeout`), then returns, which shuts the server down
/// gracefully. When the timeout passes with a run still going, the process ends there: the database
/// rolls back the run's open transaction, so nothing of that migration remains.
public struct DrainOnSIGTERM: Service, CustomStringConvertible {
    let drain: ShutdownDrain
    let timeout: Duration
    let logger: Logger
    public var description: String { "DrainOnSIGTERM" }

    public init(drain: ShutdownDrain, timeout: Duration, logger: Logger) {
        self.drain = drain
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        let (signals, source) = signalDeliveries(SIGTERM)
        defer { source.cancel() }
        let terminated = await cancelWhenGracefulShutdown { () async -> Bool in
            for await _ in signals { return true }
            return false
        }
        guard terminated else { return }
        let running = drain.begin()
        logger.info(
            "SIGTERM: new migration calls get 503; waiting for the runs in progress",
            metadata: ["running": "\(running)", "timeout": "\(timeout)"])
        if await drain.waitIdle(limit: timeout) {
            logger.info("drained; shutting down")
            return
        }
        logger.error(
            "SHUTDOWN_TIMEOUT passed with a migration still running; the process ends and the database rolls back its transaction",
            metadata: ["timeout": "\(timeout)"])
        exit(0)
    }
}

/// Each delivery of `signo` as an element of a stream, instead of the signal's default action (which
/// stays disabled). Cancel the source when done.
func signalDeliveries(_ signo: Int32) -> (AsyncStream<Void>, any DispatchSourceSignal) {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    signal(signo, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
    source.setEventHandler { continuation.yield() }
    source.resume()
    return (stream, source)
}
