import Logging
import Synchronization

/// Counts, per migration, the tries a run's lock policy has stopped, and pauses before the next one.
final class LockRetries: Sendable {
    let policy: LockPolicy
    let logger: Logger
    private let tries = Mutex<[String: Int]>([:])

    init(policy: LockPolicy, logger: Logger) {
        self.policy = policy
        self.logger = logger
    }

    /// A statement of `id` was stopped by the lock wait: logs it with `blocker`, then pauses for the
    /// next try (1 s, 2 s, 4 s …), or throws `.blockedByLock` when the retries are used up.
    func stopped(_ id: String, blocker: LockBlocker?) async throws {
        let attempt = tries.withLock { tries in
            tries[id, default: 0] += 1
            return tries[id]!
        }
        var metadata: Logger.Metadata = [
            "migration": "\(id)", "try": "\(attempt)", "of": "\(policy.retries + 1)",
            "lockWaitMs": "\(policy.lockWait?.milliseconds ?? 0)",
        ]
        if let blocker {
            metadata["blockerPid"] = "\(blocker.pid)"
            metadata["blockerQuery"] = "\(blocker.query)"
            metadata["blockerRunningMs"] = "\(blocker.runningMs)"
        }
        guard attempt <= policy.retries else {
            logger.error("migration blocked by a lock on every try; giving up", metadata: metadata)
            throw MigrationError.blockedByLock(migration: id, blocker: blocker)
        }
        let pause = policy.pause(before: attempt)
        metadata["retryInMs"] = "\(pause.milliseconds)"
        logger.warning("migration stopped waiting for a lock; rolled back, trying again", metadata: metadata)
        try await Task.sleep(for: pause)
    }
}

/// While a migration runs, looks every quarter second (from half the lock wait on) for the session its
/// run's connection waits for, so that a statement stopped by `lock_timeout` is reported with who held
/// the lock (`pg_blocking_pids` answers only while the wait lasts).
final class LockWatch: Sendable {
    private final class Seen: Sendable {
        let blocker = Mutex<LockBlocker?>(nil)
    }
    private let seen = Seen()
    private let task: Task<Void, Never>

    init(_ engine: any DatabaseEngine, session: Int, policy: LockPolicy) {
        let first = (policy.lockWait ?? .seconds(1)) / 2
        task = Task { [seen] in
            guard (try? await Task.sleep(for: first)) != nil else { return }
            while !Task.isCancelled {
                if let blocker = await engine.blocker(of: session) { seen.blocker.withLock { $0 = blocker } }
                guard (try? await Task.sleep(for: .milliseconds(250))) != nil else { return }
            }
        }
    }

    /// The last session seen blocking, if any.
    var latest: LockBlocker? { seen.blocker.withLock { $0 } }

    /// Stops watching; returns the last session seen blocking.
    @discardableResult
    func stop() -> LockBlocker? {
        task.cancel()
        return latest
    }
}
