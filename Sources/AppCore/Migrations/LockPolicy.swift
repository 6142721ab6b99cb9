/// How a migration on PostgreSQL waits for the locks its statements take (`MIGRATION_LOCK_WAIT`,
/// `MIGRATION_STATEMENT_TIMEOUT`, `MIGRATION_LOCK_RETRIES`; docs/safety.md).
///
/// A statement that needs a lock another transaction holds waits at most `lockWait` (`lock_timeout`);
/// while it waits, every query on that table queues behind it, so the wait is kept short and the
/// migration is tried again later instead. Each setting is `SET LOCAL` in the migration's own
/// transaction, so none is left on a pooled connection. SQLite's busy timeout bounds its waits already.
public struct LockPolicy: Sendable, Equatable {
    /// `lock_timeout` for a migration's statements; nil: no bound (PostgreSQL's default).
    public var lockWait: Duration?
    /// `statement_timeout` for a migration's statements; nil: no bound.
    public var statementTimeout: Duration?
    /// How many times a migration stopped by `lock_timeout` is tried again before the call gives up.
    public var retries: Int
    /// The pause before the first retry; each next one doubles, up to `maximumPause`.
    public var firstPause: Duration

    public static let defaultLockWait = Duration.seconds(5)
    public static let defaultRetries = 5
    public static let maximumPause = Duration.seconds(30)

    public init(
        lockWait: Duration? = LockPolicy.defaultLockWait, statementTimeout: Duration? = nil,
        retries: Int = LockPolicy.defaultRetries, firstPause: Duration = .seconds(1)
    ) {
        self.lockWait = lockWait
        self.statementTimeout = statementTimeout
        self.retries = retries
        self.firstPause = firstPause
    }

    /// No bound at all: PostgreSQL's own defaults (a statement waits for its lock as long as it takes).
    public static let off = LockPolicy(lockWait: nil, statementTimeout: nil, retries: 0)

    /// The pause before retry number `attempt` (1 for the first): 1 s, 2 s, 4 s … up to `maximumPause`.
    func pause(before attempt: Int) -> Duration {
        var pause = firstPause
        for _ in 1..<max(attempt, 1) { pause = min(pause * 2, Self.maximumPause) }
        return min(pause, Self.maximumPause)
    }

    /// The `SET LOCAL` statements for a migration's transaction on PostgreSQL (none when both are off).
    var settings: [String] {
        var settings: [String] = []
        if let lockWait { settings.append("SET LOCAL lock_timeout = '\(lockWait.milliseconds)ms'") }
        if let statementTimeout {
            settings.append("SET LOCAL statement_timeout = '\(statementTimeout.milliseconds)ms'")
        }
        return settings
    }
}

/// The session a migration's statement waited for: its process id, the first 200 characters of its
/// current (or last) query, and how long its transaction has run.
public struct LockBlocker: Sendable, Equatable {
    public var pid: Int
    public var query: String
    public var runningMs: Int64

    public init(pid: Int, query: String, runningMs: Int64) {
        self.pid = pid
        self.query = query
        self.runningMs = runningMs
    }
}
