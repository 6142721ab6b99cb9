import Foundation
import Logging
import NIOSSL
import PostgresKit
import SQLiteKit
import Synchronization

/// The two engines the app runs on. SQL that differs between them branches on this.
public enum SQLEngine: String, Sendable {
    case sqlite, postgres
}

/// Raised when a database operation ran past its time limit.
public struct DatabaseTimeout: Error, CustomStringConvertible {
    public var description: String { "the database did not answer in time" }
}

/// The app's database: an SQLite file (one connection per unit of work) or a pooled PostgreSQL client.
/// Everything above this type talks SQLKit, so the migrator and the health check have one code path.
public final class AppDatabase: Sendable {
    public let engine: SQLEngine
    public let location: DatabaseLocation
    private let sqlitePath: String?
    private let postgres: PostgresClient?
    private let logger: Logger

    public init(location: DatabaseLocation, logger: Logger) throws {
        self.location = location
        self.logger = logger
        switch location {
        case .sqlite(let path):
            self.engine = .sqlite
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            self.sqlitePath = url.path
            self.postgres = nil
        case .postgres(let pg):
            self.engine = .postgres
            self.sqlitePath = nil
            var config = PostgresClient.Configuration(
                host: pg.host, port: pg.port, username: pg.username, password: pg.password?.value,
                database: pg.database, tls: Self.tls(for: pg.sslMode)
            )
            config.options.connectTimeout = .seconds(5)
            config.options.maximumConnections = 10
            var background = logger
            background.logLevel = max(logger.logLevel, .warning)
            self.postgres = PostgresClient(configuration: config, backgroundLogger: background)
        }
    }

    private static func tls(for mode: PostgresLocation.SSLMode) -> PostgresClient.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable:
            return .disable
        case .allow, .prefer:
            tls.certificateVerification = .none
            return .prefer(tls)
        case .require:
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return .require(tls)
        case .verifyFull:
            return .require(tls)
        }
    }

    /// Runs the connection pool until the task is cancelled. SQLite needs no background work.
    /// Call it (or `withRunning`) once per instance: PostgreSQL's pool cannot be restarted.
    public func run() async {
        if let postgres {
            await postgres.run()
        } else {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
        }
    }

    /// Runs `body` while the pool runs, for one-shot commands.
    public func withRunning<T: Sendable>(_ body: @Sendable @escaping () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.run()
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

    /// Lends one connection, as an SQLKit database, for the duration of `body`.
    /// `busyTimeout` is how long SQLite waits for another writer before failing with "busy".
    public func withConnection<T: Sendable>(
        busyTimeout: Duration = .seconds(5),
        _ body: @Sendable @escaping (any SQLDatabase) async throws -> T
    ) async throws -> T {
        if let postgres {
            return try await withLeaseTimeout(Self.leaseTimeout) { leased in
                try await postgres.withConnection { connection in
                    leased()
                    return try await body(connection.sql(queryLogLevel: .trace))
                }
            }
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: sqlitePath!), logger: logger)
        // Closed in a task of its own, so a cancelled caller (a timed-out ping) still closes it.
        let close = { await Task { try? await connection.close() }.value }
        do {
            let db = connection.sql(queryLogLevel: .trace)
            try await db.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyTimeout.milliseconds))").run()
            try await db.raw("PRAGMA foreign_keys = ON").run()
            let result = try await body(db)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    /// How long a caller waits for a PostgreSQL connection before giving up. The pool keeps retrying
    /// an unreachable server in the background; without this bound a request would wait forever.
    public static let leaseTimeout = Duration.seconds(10)

    /// True when the database answers `SELECT 1` within `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        do {
            return try await withTimeout(timeout) {
                try await self.withConnection(busyTimeout: timeout) { db in
                    try await db.raw("SELECT 1 AS ok").first() != nil
                }
            }
        } catch {
            return false
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

private final class LeaseFlag: Sendable {
    let value = Mutex(false)
}

/// Runs `body`, which must call `leased()` once it holds its connection; throws `DatabaseTimeout` when
/// that has not happened within `limit`. Work after the lease is never cut short.
func withLeaseTimeout<T: Sendable>(
    _ limit: Duration,
    _ body: @Sendable @escaping (_ leased: @Sendable () -> Void) async throws -> T
) async throws -> T {
    let leased = LeaseFlag()
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body { leased.value.withLock { $0 = true } } }
        group.addTask {
            try await Task.sleep(for: limit)
            if leased.value.withLock({ $0 }) { return nil }
            throw DatabaseTimeout()
        }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
        }
        throw CancellationError()
    }
}

/// Runs `body`, or throws `DatabaseTimeout` once `limit` has passed.
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @Sendable @escaping () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DatabaseTimeout()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
