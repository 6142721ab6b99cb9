import Foundation
import SQLKit

/// What a migration tool's own history table says about a folder's migrations.
struct ToolLedger: Sendable, Equatable {
    /// The ids of the migrations the tool counts as applied.
    var applied: Set<String>
    /// A migration the tool marks as started and not finished (golang-migrate's `dirty`): its id, or
    /// `version N` when the folder has no such migration.
    var interrupted: String?
    /// An applied migration whose checksum in the tool's table no longer matches its file.
    var drifted: String?
}

/// A migration tool's history table, kept beside the server's own (`app_migrations`) so that the tool's
/// command line tells the truth and can take over at any time. Every write happens in the same
/// transaction as the server's row, and writes exactly what the tool itself writes.
protocol ToolHistory: Sendable {
    var table: String { get }
    /// The table with its schema when the tool keeps it in a schema of its own (Supabase's), so that
    /// tables of one name in different schemas are told apart.
    var qualifiedTable: String { get }
    /// The schema the tool keeps its table in on PostgreSQL (Drizzle's `drizzle`, Supabase's and
    /// Atlas's own), or nil for the connection's schema.
    var postgresSchema: String? { get }
    /// True for a tool whose folders run on PostgreSQL only (Supabase): its table never exists on SQLite.
    var postgresOnly: Bool { get }
    /// True when the table exists (in the tool's schema).
    func exists(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool
    /// The same from `names`, the tables already read (`MigrationTools.tableNames`: the connection's
    /// schema's, and `schema.table` for the tools' own schemas).
    func exists(in names: Set<String>, _ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool
    /// Columns the tool's table has, and columns it has not (dbmate's and golang-migrate's tables share a name).
    var columns: (has: [String], hasNot: [String]) { get }
    /// Creates the table as the tool does.
    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws
    /// Reads the table. `migrations` is the folder, in order.
    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger
    /// Before a migration outside a transaction starts (golang-migrate marks its version dirty).
    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws
    /// Once the migration is rolled back; `previous` is the newest migration still applied.
    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    /// Fills a table just created from the server's own history: `applied`, in order.
    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws
    /// What the tool writes once the migration is applied, as statements with bound values, so that
    /// they can go in the migration's own call (`WholeMigration`). `executionMs` is an SQL
    /// expression: a bound value, or the database's own measurement.
    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString]
}

extension ToolHistory {
    var postgresOnly: Bool { false }
    var qualifiedTable: String { table }
    var postgresSchema: String? { nil }

    /// The table as the engine's queries name it: with its schema where the tool keeps one on PostgreSQL.
    func qualified(_ engine: SQLEngine) -> String {
        guard engine == .postgres, let schema = postgresSchema else { return table }
        return "\(schema).\(table)"
    }

    func exists(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool {
        if postgresOnly, engine.kind != .postgres { return false }
        guard engine.kind == .postgres, let schema = postgresSchema else {
            return try await engine.tableExists(db, table)
        }
        return try await db.raw(
            "SELECT 1 AS found FROM \(unsafeRaw: PostgresCatalog.tables) AND n.nspname = \(unsafeRaw: sqlStringLiteral(schema)) AND c.relname = \(unsafeRaw: sqlStringLiteral(table))"
        ).first() != nil
    }

    func exists(in names: Set<String>, _ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool {
        // Never on SQLite for a PostgreSQL-only tool (Supabase's `schema_migrations` there is dbmate's).
        if postgresOnly, engine.kind != .postgres { return false }
        return names.contains(qualified(engine.kind))
    }

    /// True when the database holds this tool's table, laid out as the tool lays it out; `names` are
    /// the tables `MigrationTools.tableNames` read.
    /// `known`: as `isToolsTable`'s.
    func isPresent(
        in names: Set<String>, _ db: any SQLDatabase, engine: any DatabaseEngine,
        columns known: [String: Set<String>] = [:]
    ) async throws -> Bool {
        guard try await exists(in: names, db, engine: engine) else { return false }
        return try await isToolsTable(db, engine: engine, columns: known)
    }

    /// True when the existing table is laid out as the tool lays it out. `known`: columns of the
    /// connection's schema's tables read already (`HistoryStart`), by table; the table's own are asked
    /// when it is not among them.
    func isToolsTable(_ db: any SQLDatabase, engine: any DatabaseEngine, columns known: [String: Set<String>] = [:])
        async throws -> Bool
    {
        let present: Set<String>
        if let read = known[table] {
            present = read
        } else {
            present = try await engine.columnNames(db, table: table)
        }
        return present.isSuperset(of: columns.has) && present.isDisjoint(with: columns.hasNot)
    }

    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws {}

    /// Once the migration is applied, in `executionMs`: `appliedStatements`, one by one.
    func recordApplied(_ migration: Migration, executionMs: Int64, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        for statement in appliedStatements(migration, executionMs: "\(bind: executionMs)", engine: engine) {
            try await db.raw(statement).run()
        }
    }

    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws {
        for migration in applied { try await recordApplied(migration, executionMs: 0, db, engine: engine) }
    }
}

/// The current time as Go's and Rust's SQLite drivers write it (`2026-11-29 12:30:00.123+00:00`), which
/// sql-migrate and Prisma read back: SQLite's clock, read as the statement runs, so that each of the
/// migrations one call applies (`SQLiteMigrationBatch`) has its own time.
func sqliteTimestamp() -> SQLQueryString {
    "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')"
}

/// The current time as the server's history writes it (`2026-11-29T12:30:00.123Z`, as `RFC3339`),
/// from SQLite's clock as the statement runs.
func sqliteRFC3339() -> SQLQueryString {
    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
}
