import Foundation
import Logging
import PostgresKit
import SQLiteKit

/// Why a migration call did not apply everything.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    /// A migration's SQL failed; it and its history row were rolled back.
    case failed(migration: String)
    /// Another runner held the lock for longer than `MIGRATION_LOCK_TIMEOUT`.
    case lockTimeout
    /// An applied migration's checksum no longer matches the code.
    case drift(migration: String)

    public var description: String {
        switch self {
        case .failed(let id): "migration \(id) failed and was rolled back"
        case .lockTimeout: "another migration runner held the lock past MIGRATION_LOCK_TIMEOUT"
        case .drift(let id): "applied migration \(id) no longer matches its checksum"
        }
    }
}

/// A row of the history table.
public struct AppliedMigration: Sendable, Equatable, Codable {
    public var id: String
    public var checksum: String
    public var appliedAt: String
    public var executionMs: Int64
}

/// What `status` reports.
public struct MigrationStatus: Sendable, Equatable, Codable {
    public var applied: [AppliedMigration]
    public var pending: [String]
    /// History rows with no migration in the code (applied by a newer build, or removed).
    public var unknown: [String]
}

/// Applies migrations one transaction each, one runner at a time across every instance.
///
/// The lock: PostgreSQL takes a transaction-level advisory lock (released at COMMIT, so it works
/// behind a transaction-mode pooler); SQLite takes the write lock with `BEGIN IMMEDIATE`. After the
/// lock is held the history is read again, so a migration another instance applied meanwhile is skipped.
public struct Migrator: Sendable {
    public static let historyTable = "schema_migrations"
    /// The advisory lock key: "migrate1" as a 64-bit integer.
    static let advisoryLockKey: Int64 = 0x6D69_6772_6174_6531

    let database: AppDatabase
    let migrations: [Migration]
    let lockTimeout: Duration
    let logger: Logger

    public init(database: AppDatabase, migrations: [Migration] = Migration.all, lockTimeout: Duration, logger: Logger) {
        self.database = database
        self.migrations = migrations
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    // MARK: Reading

    public func status() async throws -> MigrationStatus {
        let history = try await database.withConnection { db in try await readHistory(db) }
        let known = Set(migrations.map(\.id))
        let applied = Set(history.map(\.id))
        return MigrationStatus(
            applied: history,
            pending: migrations.map(\.id).filter { !applied.contains($0) },
            unknown: history.map(\.id).filter { !known.contains($0) }
        )
    }

    /// What `migrate()` would apply now, changing nothing. Throws `.drift` where `migrate()` would.
    public func pending() async throws -> [String] {
        let history = try await database.withConnection { db in try await readHistory(db) }
        return try pending(given: history).map(\.id)
    }

    private func pending(given history: [AppliedMigration]) throws -> [Migration] {
        let byID = Dictionary(history.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for migration in migrations {
            if let row = byID[migration.id], row.checksum != migration.checksum {
                throw MigrationError.drift(migration: migration.id)
            }
        }
        return migrations.filter { byID[$0.id] == nil }
    }

    // MARK: Applying

    /// Applies every pending migration and returns the ids this call applied, in order.
    public func migrate() async throws -> [String] {
        // Fast path without the lock: a committed history with nothing pending needs no writer.
        if try await pending().isEmpty { return [] }

        let deadline = ContinuousClock.now + lockTimeout
        // One connection for the whole run; still one transaction (and one lock) per migration.
        return try await database.withConnection(busyTimeout: Self.sqliteBusyPoll) { db in
            var applied: [String] = []
            var known: [AppliedMigration]? = nil
            while let next = try await applyNext(db, deadline: deadline, known: &known) {
                applied.append(next)
            }
            return applied
        }
    }

    /// One transaction: lock, re-read the history, apply the first pending migration and its row.
    /// Returns nil when nothing is pending. `known` carries the history this call last saw: history
    /// rows are only ever appended, so when the count and the last id still match it, the rows are not
    /// fetched and decoded again (which would make a long run quadratic).
    private func applyNext(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, known: inout [AppliedMigration]?) async throws -> String? {
        try await lock(db, deadline: deadline)
        do {
            let history: [AppliedMigration]
            if let cached = known, try await historyUnchanged(db, since: cached) {
                history = cached
            } else {
                if known == nil { try await createHistoryTable(db) }
                history = try await selectHistory(db)
            }
            known = history
            guard let migration = try pending(given: history).first else {
                try await db.raw("COMMIT").run()
                return nil
            }
            let started = ContinuousClock.now
            do {
                for statement in migration.statements {
                    try await db.raw("\(unsafeRaw: statement)").run()
                }
            } catch {
                logger.error("migration failed", metadata: [
                    "migration": "\(migration.id)", "cause": "\(Self.describe(error))",
                ])
                throw MigrationError.failed(migration: migration.id)
            }
            let elapsed = (ContinuousClock.now - started).milliseconds
            let row = AppliedMigration(id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: elapsed)
            try await db.raw("""
                INSERT INTO \(unsafeRaw: Self.historyTable) (id, checksum, applied_at, execution_ms)
                VALUES (\(bind: row.id), \(bind: row.checksum), \(bind: row.appliedAt), \(bind: row.executionMs))
                """).run()
            try await db.raw("COMMIT").run()
            known = history + [row]
            logger.info("migration applied", metadata: ["migration": "\(migration.id)", "executionMs": "\(elapsed)"])
            return migration.id
        } catch {
            try? await db.raw("ROLLBACK").run()
            throw error
        }
    }

    /// How long one `BEGIN IMMEDIATE` attempt may block a thread-pool thread in SQLite's busy handler.
    static let sqliteBusyPoll = Duration.milliseconds(10)

    /// Opens the transaction and takes the runner lock, waiting until `deadline` at most.
    private func lock(_ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws {
        switch database.engine {
        case .sqlite:
            // Poll with short busy waits and async sleeps in between, so waiting runners never hold
            // SQLite's thread pool (and with it every other request) for the whole lock wait.
            while true {
                do {
                    try await db.raw("BEGIN IMMEDIATE").run()
                    return
                } catch let error as SQLiteError where Self.isBusy(error) {
                    guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 5...25)))
                }
            }
        case .postgres:
            // A transaction-level advisory lock, so it is released at COMMIT and works behind a
            // transaction-mode pooler; polled with pg_try_, so the wait is bounded by the deadline.
            while true {
                try await db.raw("BEGIN").run()
                do {
                    let row = try await db.raw("SELECT pg_try_advisory_xact_lock(\(bind: Self.advisoryLockKey)) AS locked").first()
                    if try row?.decode(column: "locked", as: Bool.self) == true { return }
                    try await db.raw("ROLLBACK").run()
                } catch {
                    try? await db.raw("ROLLBACK").run()
                    throw error
                }
                guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout }
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
            }
        }
    }

    private static func isBusy(_ error: SQLiteError) -> Bool {
        [.busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked].contains(error.reason)
    }

    /// The history, or none when the table does not exist yet; creates nothing.
    private func readHistory(_ db: any SQLDatabase) async throws -> [AppliedMigration] {
        try await historyTableExists(db) ? selectHistory(db) : []
    }

    /// True when the table still holds exactly `cached`'s rows, judged by count and greatest id.
    private func historyUnchanged(_ db: any SQLDatabase, since cached: [AppliedMigration]) async throws -> Bool {
        guard let row = try await db.raw("""
            SELECT COUNT(*) AS n, MAX(id) AS last FROM \(unsafeRaw: Self.historyTable)
            """).first() else { return false }
        let count = try row.decode(column: "n", as: Int.self)
        let last = try row.decode(column: "last", as: String?.self)
        return count == cached.count && last == cached.map(\.id).max()
    }

    private func createHistoryTable(_ db: any SQLDatabase) async throws {
        try await db.raw("""
            CREATE TABLE IF NOT EXISTS \(unsafeRaw: Self.historyTable) (
                id TEXT PRIMARY KEY,
                checksum TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                execution_ms BIGINT NOT NULL
            )
            """).run()
    }

    private func selectHistory(_ db: any SQLDatabase) async throws -> [AppliedMigration] {
        let rows = try await db.raw("""
            SELECT id, checksum, applied_at, execution_ms FROM \(unsafeRaw: Self.historyTable) ORDER BY id
            """).all()
        return try rows.map { row in
            AppliedMigration(
                id: try row.decode(column: "id", as: String.self),
                checksum: try row.decode(column: "checksum", as: String.self),
                appliedAt: try row.decode(column: "applied_at", as: String.self),
                executionMs: try row.decode(column: "execution_ms", as: Int64.self)
            )
        }
    }

    private func historyTableExists(_ db: any SQLDatabase) async throws -> Bool {
        switch database.engine {
        case .sqlite:
            try await db.raw("""
                SELECT name FROM sqlite_master WHERE type = 'table' AND name = \(bind: Self.historyTable)
                """).first() != nil
        case .postgres:
            try await db.raw("""
                SELECT table_name FROM information_schema.tables
                WHERE table_schema = current_schema() AND table_name = \(bind: Self.historyTable)
                """).first() != nil
        }
    }

    /// A log-safe account of a database error: the server's message, never connection parameters.
    public static func describe(_ error: any Error) -> String {
        if let pg = error as? PSQLError {
            let state = pg.serverInfo?[.sqlState] ?? "?"
            let message = pg.serverInfo?[.message] ?? "\(pg.code)"
            return "PostgreSQL \(state): \(message)"
        }
        if let lite = error as? SQLiteError {
            return "SQLite: \(lite.message)"
        }
        return String(describing: type(of: error))
    }
}
