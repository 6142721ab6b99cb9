import Foundation
import Logging
import SQLKit

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
/// The lock is the engine's (`DatabaseEngine.beginLocked`): a transaction-level advisory lock on
/// PostgreSQL, the write lock on SQLite. After the lock is held the history is read again, so a
/// migration another instance applied meanwhile is skipped.
public struct Migrator: Sendable {
    public static let historyTable = "schema_migrations"

    let database: AppDatabase
    let migrations: [Migration]
    let lockTimeout: Duration
    let logger: Logger

    public init(database: AppDatabase, migrations: [Migration], lockTimeout: Duration, logger: Logger) {
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
        guard try await database.engine.beginLocked(db, deadline: deadline) else { throw MigrationError.lockTimeout }
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
            let row = try await apply(migration, db)
            known = history + [row]
            logger.info("migration applied", metadata: ["migration": "\(migration.id)", "executionMs": "\(row.executionMs)"])
            return migration.id
        } catch {
            try? await db.raw("ROLLBACK").run()
            throw error
        }
    }

    /// The migration's statements, its history row and the COMMIT, inside the open transaction.
    /// A failure of any of them is the migration's failure (500 with its id), unless the connection
    /// itself is gone: then the database is unavailable and the error goes up as it is.
    private func apply(_ migration: Migration, _ db: any SQLDatabase) async throws -> AppliedMigration {
        let started = ContinuousClock.now
        do {
            for statement in migration.statements {
                try await db.raw("\(unsafeRaw: statement)").run()
            }
            let row = AppliedMigration(
                id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(),
                executionMs: (ContinuousClock.now - started).milliseconds
            )
            try await db.raw("""
                INSERT INTO \(unsafeRaw: Self.historyTable) (id, checksum, applied_at, execution_ms)
                VALUES (\(bind: row.id), \(bind: row.checksum), \(bind: row.appliedAt), \(bind: row.executionMs))
                """).run()
            try await db.raw("COMMIT").run()
            return row
        } catch {
            if database.engine.isConnectionLost(error) { throw error }
            logger.error("migration failed", metadata: [
                "migration": "\(migration.id)", "cause": "\(AppDatabase.describe(error))",
            ])
            throw MigrationError.failed(migration: migration.id)
        }
    }

    /// How long one `BEGIN IMMEDIATE` attempt may block a thread-pool thread in SQLite's busy handler.
    static let sqliteBusyPoll = Duration.milliseconds(10)

    /// The history, or none when the table does not exist yet; creates nothing.
    private func readHistory(_ db: any SQLDatabase) async throws -> [AppliedMigration] {
        try await database.engine.tableExists(db, Self.historyTable) ? selectHistory(db) : []
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
}
