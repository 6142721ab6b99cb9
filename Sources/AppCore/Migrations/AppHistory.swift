import Foundation
import Logging
import SQLKit

/// A history row's state, as `app_migrations.state` stores it.
public enum HistoryState: String, Sendable, Codable {
    case applied
    /// A migration outside a transaction is running, or was interrupted.
    case running
    /// Applied by the folder's own tool, and taken over from its history (the checksum is the file's).
    case adopted

    /// A stored value; a state this version does not know reads as applied, as before states existed.
    init(stored: String?) {
        self = stored.flatMap(HistoryState.init(rawValue:)) ?? .applied
    }
}

/// A row of the history table.
public struct AppliedMigration: Sendable, Equatable, Codable {
    public var id: String
    public var checksum: String
    public var appliedAt: String
    public var executionMs: Int64
    public var state: HistoryState

    public init(id: String, checksum: String, appliedAt: String, executionMs: Int64, state: HistoryState) {
        self.id = id
        self.checksum = checksum
        self.appliedAt = appliedAt
        self.executionMs = executionMs
        self.state = state
    }

    var isRunning: Bool { state == .running }
}

/// Every statement on the server's own history table, `app_migrations`, for both engines: the
/// migrator asks it and writes no SQL about that table itself. The folder's tool's table has its own
/// owner (`ToolHistory`).
struct AppHistory: Sendable {
    /// A name none of the migration tools it reads folders of uses.
    static let table = "app_migrations"
    /// Where earlier versions of this server kept the same history; carried over on the first run.
    static let legacyTable = "schema_migrations"

    let engine: any DatabaseEngine

    /// What a runner saw of the table: its row count, greatest id (in code point order, as Swift
    /// compares strings and both engines' binary collations do) and running rows. Rows are only
    /// appended or change state, so a table whose fingerprint still matches holds the rows it was taken
    /// from. Checked by the long way (`unchanged`), the PL/pgSQL checks and the SQLite call alike, from
    /// the one SELECT `columns` writes.
    struct Fingerprint: Equatable {
        var count: Int
        var last: String?
        var running: Int

        init(count: Int, last: String?, running: Int) {
            self.count = count
            self.last = last
            self.running = running
        }

        init(_ rows: [AppliedMigration]) {
            self.init(count: rows.count, last: rows.map(\.id).max(), running: rows.filter(\.isRunning).count)
        }

        /// `row` appended.
        mutating func append(_ row: AppliedMigration) {
            count += 1
            last = max(last ?? row.id, row.id)
            if row.isRunning { running += 1 }
        }

        /// The query of the table's fingerprint as it is: one row of `n`, `last_id` and `running`
        /// (`INTO` a PL/pgSQL record when `into` is given).
        static func query(_ engine: SQLEngine, into: String? = nil) -> String {
            let id = engine == .postgres ? "id COLLATE \"C\"" : "id"
            let running = "COALESCE(SUM(CASE WHEN state = '\(HistoryState.running.rawValue)' THEN 1 ELSE 0 END), 0)"
            return
                "SELECT COUNT(*) AS n, MAX(\(id)) AS last_id, \(running) AS running\(into.map { " INTO \($0)" } ?? "") FROM \(AppHistory.table)"
        }
    }

    // MARK: Reading

    func exists(_ db: any SQLDatabase) async throws -> Bool {
        try await engine.tableExists(db, Self.table)
    }

    /// The rows, by id; `table` is the legacy one before it is carried over.
    func rows(_ db: any SQLDatabase, table: String = AppHistory.table) async throws -> [AppliedMigration] {
        // `*`, so a table made before the state column existed reads as all applied.
        let rows: [any SQLRow]
        do {
            rows = try await db.raw("SELECT * FROM \(unsafeRaw: table) ORDER BY id").all()
            guard let first = rows.first else { return [] }
            _ = try first.decode(column: "checksum", as: String.self)
        } catch let error where !engine.isConnectionLost(error) && !(error is CancellationError) {
            // No `id` to order by, or no `checksum`: a table of the same name that another tool owns.
            throw MigrationError.foreignHistory(table: table)
        }
        return try rows.map { row in
            AppliedMigration(
                id: try row.decode(column: "id", as: String.self),
                checksum: try row.decode(column: "checksum", as: String.self),
                appliedAt: try row.decode(column: "applied_at", as: String.self),
                executionMs: try row.decode(column: "execution_ms", as: Int64.self),
                state: HistoryState(stored: try? row.decode(column: "state", as: String.self))
            )
        }
    }

    /// True when the table still holds exactly `rows`, by their fingerprint.
    func unchanged(_ db: any SQLDatabase, since rows: [AppliedMigration]) async throws -> Bool {
        guard let row = try await db.raw("\(unsafeRaw: Fingerprint.query(engine.kind))").first() else { return false }
        let now = Fingerprint(
            count: try row.decode(column: "n", as: Int.self),
            last: try row.decode(column: "last_id", as: String?.self),
            running: try row.decode(column: "running", as: Int.self)
        )
        return now == Fingerprint(rows)
    }

    /// True when `schema_migrations` is this server's history as earlier versions wrote it (its
    /// `checksum` and `execution_ms` columns), not dbmate's or golang-migrate's table of that name.
    func hasLegacy(_ db: any SQLDatabase) async throws -> Bool {
        try await engine.columnNames(db, table: Self.legacyTable).isSuperset(of: ["checksum", "execution_ms"])
    }

    // MARK: Writing (inside the caller's locked transaction)

    /// Creates the table (carrying the legacy one over), or adds the `state` column to a table made by
    /// an earlier version. Never alters a table of the same name that another tool owns.
    func create(_ db: any SQLDatabase, logger: Logger) async throws {
        if try await !exists(db), try await hasLegacy(db) {
            try await carryOverLegacy(db, logger: logger)
        } else {
            try await createIfMissing(db)
        }
        let columns = try await engine.columnNames(db, table: Self.table)
        if !columns.contains("checksum") {
            throw MigrationError.foreignHistory(table: Self.table)
        }
        if !columns.contains("state") {
            try await db.raw("ALTER TABLE \(unsafeRaw: Self.table) ADD COLUMN state TEXT NOT NULL DEFAULT 'applied'")
                .run()
        }
    }

    private func createIfMissing(_ db: any SQLDatabase) async throws {
        try await db.raw(
            """
            CREATE TABLE IF NOT EXISTS \(unsafeRaw: Self.table) (
                id TEXT PRIMARY KEY,
                checksum TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                execution_ms BIGINT NOT NULL,
                state TEXT NOT NULL DEFAULT 'applied'
            )
            """
        ).run()
    }

    /// Moves the legacy history into `app_migrations` and drops the legacy table, freeing its name for
    /// dbmate or golang-migrate. Runs inside the caller's locked transaction, so it happens once.
    private func carryOverLegacy(_ db: any SQLDatabase, logger: Logger) async throws {
        let hasState = try await engine.columnExists(db, table: Self.legacyTable, column: "state")
        try await createIfMissing(db)
        try await db.raw(
            """
            INSERT INTO \(unsafeRaw: Self.table) (id, checksum, applied_at, execution_ms, state)
            SELECT id, checksum, applied_at, execution_ms, \(unsafeRaw: hasState ? "state" : "'applied'")
            FROM \(unsafeRaw: Self.legacyTable)
            """
        ).run()
        try await db.raw("DROP TABLE \(unsafeRaw: Self.legacyTable)").run()
        logger.notice("history carried over", metadata: ["from": "\(Self.legacyTable)", "to": "\(Self.table)"])
    }

    func insert(_ row: AppliedMigration, _ db: any SQLDatabase) async throws {
        try await db.raw(
            Self.insertStatement(row, executionMs: "\(bind: row.executionMs)", appliedAt: "\(bind: row.appliedAt)")
        ).run()
    }

    /// The row's INSERT; `executionMs` and `appliedAt` are SQL expressions (bound values, or the
    /// database's own measurement and clock when the migration goes whole), which stand in for
    /// `row.executionMs` and `row.appliedAt`.
    static func insertStatement(_ row: AppliedMigration, executionMs: SQLQueryString, appliedAt: SQLQueryString)
        -> SQLQueryString
    {
        """
        INSERT INTO \(unsafeRaw: table) (id, checksum, applied_at, execution_ms, state)
        VALUES (\(bind: row.id), \(bind: row.checksum), \(appliedAt), \(executionMs), \(bind: row.state.rawValue))
        """
    }

    /// A running row marked applied: with its run time once its migration finished, or as it is when a
    /// person says it was finished by hand (`resolve --applied`).
    func markApplied(_ id: String, executionMs: Int64? = nil, _ db: any SQLDatabase) async throws {
        if let executionMs {
            try await db.raw(
                """
                UPDATE \(unsafeRaw: Self.table) SET state = \(bind: HistoryState.applied.rawValue),
                execution_ms = \(bind: executionMs), applied_at = \(bind: RFC3339.string())
                WHERE id = \(bind: id)
                """
            ).run()
        } else {
            try await db.raw(
                "UPDATE \(unsafeRaw: Self.table) SET state = \(bind: HistoryState.applied.rawValue) WHERE id = \(bind: id)"
            ).run()
        }
    }

    func delete(_ id: String, _ db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM \(unsafeRaw: Self.table) WHERE id = \(bind: id)").run()
    }
}
