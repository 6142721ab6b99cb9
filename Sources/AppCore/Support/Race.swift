/// Runs `body` beside `watchdog` and returns `body`'s result. When the watchdog throws first, its error
/// wins and `body` is cancelled; when it returns without throwing, `body` is simply awaited.
/// The one structured-concurrency helper behind every time limit and background run in the app.
public func race<T: Sendable>(
    _ body: @Sendable @escaping () async throws -> T,
    watchdog: @Sendable @escaping () async throws -> Void
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await watchdog()
            return nil
        }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
        }
        throw CancellationError()
    }
}

/// Raised when a database operation ran past its time limit.
public struct DatabaseTimeout: Error, CustomStringConvertible {
    public var description: String { "the database did not answer in time" }
}

/// Runs `body`, or throws `DatabaseTimeout` once `limit` has passed.
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @Sendable @escaping () async throws -> T) async throws -> T {
    try await race(body) {
        try await Task.sleep(for: limit)
        throw DatabaseTimeout()
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
