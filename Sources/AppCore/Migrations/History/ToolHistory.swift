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
    /// True when the table exists (in the tool's schema).
    func exists(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool
    /// Columns the tool's table has, and columns it has not (dbmate's and golang-migrate's tables share a name).
    var columns: (has: [String], hasNot: [String]) { get }
    /// Creates the table as the tool does.
    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws
    /// Reads the table. `migrations` is the folder, in order.
    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger
    /// Before a migration outside a transaction starts (golang-migrate marks its version dirty).
    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws
    /// Once the migration is rolled back; `previous` is the newest migration still applied.
    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws
    /// Fills a table just created from the server's own history: `applied`, in order.
    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws
    /// What the tool writes once the migration is applied, as statements with bound values, so that
    /// they can go in the migration's own call (`WholeMigration`). `executionMs` is an SQL
    /// expression: a bound value, or the database's own measurement.
    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString]
}

extension ToolHistory {
    func exists(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool {
        try await engine.tableExists(db, table)
    }

    /// True when the existing table is laid out as the tool lays it out.
    func isToolsTable(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool {
        for column in columns.has where try await !engine.columnExists(db, table: table, column: column) { return false }
        for column in columns.hasNot where try await engine.columnExists(db, table: table, column: column) { return false }
        return true
    }

    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws {}

    /// Once the migration is applied, in `executionMs`: `appliedStatements`, one by one.
    func recordApplied(_ migration: Migration, executionMs: Int64, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        for statement in appliedStatements(migration, executionMs: "\(bind: executionMs)", engine: engine) { try await db.raw(statement).run() }
    }

    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws {
        for migration in applied { try await recordApplied(migration, executionMs: 0, db, engine: engine) }
    }
}

/// The current time as Go's and Rust's SQLite drivers write it (`2026-11-29 12:30:00.123+00:00`), which
/// sql-migrate and Prisma read back.
func sqliteTimestamp() -> String {
    RFC3339.string().replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00:00")
}

extension MigrationFormat {
    /// The tool's history table for this format.
    var history: any ToolHistory {
        switch self {
        case .golangMigrate: GolangMigrateHistory()
        case .sqlMigrate: SQLMigrateHistory()
        case .prisma: PrismaHistory()
        case .flyway: FlywayHistory()
        case .drizzle: DrizzleHistory()
        case .dbmate: DbmateHistory()
        }
    }
}

/// dbmate: `schema_migrations(version varchar primary key)` (`varchar(128)` on SQLite), a row per applied version.
struct DbmateHistory: ToolHistory {
    let table = "schema_migrations"
    var columns: (has: [String], hasNot: [String]) { (["version"], ["dirty", "checksum"]) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres: try await db.raw("create table if not exists \(unsafeRaw: table) (version varchar primary key)").run()
        case .sqlite: try await db.raw("create table if not exists \"\(unsafeRaw: table)\" (version varchar(128) primary key)").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let versions = Set(try await db.raw("select version from \(unsafeRaw: table)").all().map { try $0.decode(column: "version", as: String.self) })
        return ToolLedger(applied: Set(migrations.filter { versions.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        ["insert into \(unsafeRaw: table) (version) values (\(bind: migration.toolKey))"]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await db.raw("delete from \(unsafeRaw: table) where version = \(bind: migration.toolKey)").run()
    }
}

/// golang-migrate: `schema_migrations(version, dirty)` holding one row, the latest version; every
/// version up to it counts as applied. Written as golang-migrate does: the table emptied, one row inserted.
struct GolangMigrateHistory: ToolHistory {
    let table = "schema_migrations"
    var columns: (has: [String], hasNot: [String]) { (["version", "dirty"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version bigint not null primary key, dirty boolean not null)").run()
        case .sqlite:
            try await db.raw("CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version uint64,dirty bool)").run()
            try await db.raw("CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON \(unsafeRaw: table) (version)").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        guard let row = try await db.raw("SELECT version, CASE WHEN dirty THEN 1 ELSE 0 END AS dirty FROM \(unsafeRaw: table) LIMIT 1").first() else {
            return ToolLedger(applied: [])
        }
        let version = try row.decode(column: "version", as: Int64.self)
        let dirty = try row.decode(column: "dirty", as: Int.self) != 0
        let applied = migrations.filter { (Int64($0.toolKey) ?? .max) <= version }
        var interrupted: String?
        if dirty { interrupted = migrations.first(where: { $0.toolKey == String(version) })?.id ?? "version \(version)" }
        return ToolLedger(applied: Set(applied.map(\.id)).subtracting(interrupted.map { [$0] } ?? []), interrupted: interrupted)
    }

    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws {
        try await setVersion(migration.toolKey, dirty: true, db)
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        setVersion(migration.toolKey, dirty: false)
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await setVersion(previous?.toolKey, dirty: false, db)
    }

    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws {
        if let last = applied.last { try await recordApplied(last, executionMs: 0, db, engine: engine) }
    }

    private func setVersion(_ version: String?, dirty: Bool, _ db: any SQLDatabase) async throws {
        for statement in setVersion(version, dirty: dirty) { try await db.raw(statement).run() }
    }

    private func setVersion(_ version: String?, dirty: Bool) -> [SQLQueryString] {
        guard let version, let number = Int64(version) else { return ["DELETE FROM \(unsafeRaw: table)"] }
        return ["DELETE FROM \(unsafeRaw: table)", "INSERT INTO \(unsafeRaw: table) (version, dirty) VALUES (\(bind: number), \(bind: dirty))"]
    }
}

/// sql-migrate: `gorp_migrations(id, applied_at)`, a row per applied file name.
struct SQLMigrateHistory: ToolHistory {
    let table = "gorp_migrations"
    var columns: (has: [String], hasNot: [String]) { (["id", "applied_at"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        let time = engine == .postgres ? "timestamp with time zone" : "datetime"
        try await db.raw("""
            create table if not exists "\(unsafeRaw: table)" ("id" varchar(255) not null primary key, "applied_at" \(unsafeRaw: time))
            """).run()
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let ids = Set(try await db.raw("SELECT id FROM \(unsafeRaw: table)").all().map { try $0.decode(column: "id", as: String.self) })
        return ToolLedger(applied: Set(migrations.filter { ids.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        switch engine {
        case .postgres: ["INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), now())"]
        case .sqlite: ["INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), \(bind: sqliteTimestamp()))"]
        }
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE id = \(bind: migration.toolKey)").run()
    }
}

/// Prisma Migrate: `_prisma_migrations`, a row per attempt. Applied: `finished_at` set and
/// `rolled_back_at` not; `finished_at` and `rolled_back_at` both NULL is a failed (interrupted)
/// migration, which Prisma refuses to go past.
struct PrismaHistory: ToolHistory {
    let table = "_prisma_migrations"
    var columns: (has: [String], hasNot: [String]) { (["migration_name", "checksum", "finished_at", "rolled_back_at"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("""
                CREATE TABLE _prisma_migrations (
                    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
                    checksum                VARCHAR(64) NOT NULL,
                    finished_at             TIMESTAMPTZ,
                    migration_name          VARCHAR(255) NOT NULL,
                    logs                    TEXT,
                    rolled_back_at          TIMESTAMPTZ,
                    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
                    applied_steps_count     INTEGER NOT NULL DEFAULT 0
                )
                """).run()
        case .sqlite:
            try await db.raw("""
                CREATE TABLE "_prisma_migrations" (
                    "id"                    TEXT PRIMARY KEY NOT NULL,
                    "checksum"              TEXT NOT NULL,
                    "finished_at"           DATETIME,
                    "migration_name"        TEXT NOT NULL,
                    "logs"                  TEXT,
                    "rolled_back_at"        DATETIME,
                    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
                    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
                )
                """).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let rows = try await db.raw("""
            SELECT migration_name, checksum,
                   CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END AS finished,
                   CASE WHEN rolled_back_at IS NULL THEN 0 ELSE 1 END AS rolled_back
            FROM _prisma_migrations ORDER BY started_at
            """).all()
        var ledger = ToolLedger(applied: [])
        let byName = Dictionary(migrations.map { ($0.toolKey, $0) }, uniquingKeysWith: { first, _ in first })
        for row in rows {
            let name = try row.decode(column: "migration_name", as: String.self)
            let checksum = try row.decode(column: "checksum", as: String.self)
            let finished = try row.decode(column: "finished", as: Int.self) == 1
            let rolledBack = try row.decode(column: "rolled_back", as: Int.self) == 1
            guard !rolledBack else { continue }
            guard finished else {
                ledger.interrupted = ledger.interrupted ?? byName[name]?.id ?? name
                continue
            }
            guard let migration = byName[name] else { continue }
            ledger.applied.insert(migration.id)
            if ledger.drifted == nil, !Self.matches(checksum, migration) { ledger.drifted = migration.id }
        }
        return ledger
    }

    /// Prisma's rule: the file, or it with the other line ending; an unpadded checksum of an early version.
    static func matches(_ stored: String, _ migration: Migration) -> Bool {
        migration.toolChecksums.contains { stored == (stored.count == 64 ? $0 : PrismaFormat.unpadded($0)) }
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        // A failed attempt of the same migration is closed as rolled back, as `prisma migrate resolve --rolled-back` does.
        let now: SQLQueryString = engine == .postgres ? "now()" : "\(bind: sqliteTimestamp())"
        return [
            """
            UPDATE _prisma_migrations SET rolled_back_at = \(now)
            WHERE migration_name = \(bind: migration.toolKey) AND finished_at IS NULL AND rolled_back_at IS NULL
            """,
            """
            INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
            VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: migration.toolChecksums.first ?? ""), \(now),
                    \(bind: migration.toolKey), NULL, NULL, \(now), 1)
            """,
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        // Prisma has no down migrations; an interrupted one resolved as rolled back is marked so.
        try await db.raw("""
            UPDATE _prisma_migrations SET rolled_back_at = CURRENT_TIMESTAMP
            WHERE migration_name = \(bind: migration.toolKey) AND rolled_back_at IS NULL
            """).run()
    }
}

/// Flyway: `flyway_schema_history`, a row per applied migration, ranked. Applied: a successful `SQL`
/// row (or any version up to a `BASELINE` row's); a row with `success` false is a failed migration,
/// which Flyway refuses to go past.
struct FlywayHistory: ToolHistory {
    let table = "flyway_schema_history"
    var columns: (has: [String], hasNot: [String]) { (["installed_rank", "version", "type", "checksum", "success"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("""
                CREATE TABLE "flyway_schema_history" (
                    "installed_rank" INT NOT NULL,
                    "version" VARCHAR(50),
                    "description" VARCHAR(200) NOT NULL,
                    "type" VARCHAR(20) NOT NULL,
                    "script" VARCHAR(1000) NOT NULL,
                    "checksum" INTEGER,
                    "installed_by" VARCHAR(100) NOT NULL,
                    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
                    "execution_time" INTEGER NOT NULL,
                    "success" BOOLEAN NOT NULL
                )
                """).run()
            try await db.raw("ALTER TABLE \"flyway_schema_history\" ADD CONSTRAINT \"flyway_schema_history_pk\" PRIMARY KEY (\"installed_rank\")").run()
            try await db.raw("CREATE INDEX \"flyway_schema_history_s_idx\" ON \"flyway_schema_history\" (\"success\")").run()
        case .sqlite:
            try await db.raw("""
                CREATE TABLE "flyway_schema_history" (
                    "installed_rank" INT NOT NULL PRIMARY KEY,
                    "version" VARCHAR(50),
                    "description" VARCHAR(200) NOT NULL,
                    "type" VARCHAR(20) NOT NULL,
                    "script" VARCHAR(1000) NOT NULL,
                    "checksum" INT,
                    "installed_by" VARCHAR(100) NOT NULL,
                    "installed_on" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),
                    "execution_time" INT NOT NULL,
                    "success" BOOLEAN NOT NULL
                )
                """).run()
            try await db.raw("CREATE INDEX \"flyway_schema_history_s_idx\" ON \"flyway_schema_history\" (\"success\")").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let rows = try await db.raw("""
            SELECT version, type, checksum, CASE WHEN success THEN 1 ELSE 0 END AS ok
            FROM flyway_schema_history ORDER BY installed_rank
            """).all()
        var applied: [[String]: Int32?] = [:]
        var baseline: [String]?
        var failed: [String]?
        for row in rows {
            guard let version = try row.decode(column: "version", as: String?.self), let parts = FlywayFormat.parts(of: version) else { continue }
            let type = try row.decode(column: "type", as: String.self)
            let ok = try row.decode(column: "ok", as: Int.self) == 1
            switch type {
            case "BASELINE":
                baseline = parts
            case "UNDO_SQL", "UNDO_JDBC", "UNDO_SCRIPT":
                if ok { applied[parts] = nil }
            case "DELETE":
                applied[parts] = nil
            default:
                if ok { applied[parts] = try row.decode(column: "checksum", as: Int32?.self) } else { failed = parts }
            }
        }
        var ledger = ToolLedger(applied: [])
        for migration in migrations {
            let parts = migration.orderKey
            if let checksum = applied[parts] {
                ledger.applied.insert(migration.id)
                if ledger.drifted == nil, let checksum, !migration.toolChecksums.contains(String(checksum)) { ledger.drifted = migration.id }
            } else if let baseline, !Migration.orderLess(baseline, parts) {
                ledger.applied.insert(migration.id)
            }
            if let failed, failed == parts { ledger.interrupted = migration.id }
        }
        if let failed, ledger.interrupted == nil { ledger.interrupted = "version \(failed.joined(separator: "."))" }
        return ledger
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        let user: SQLQueryString = engine == .postgres ? "current_user" : "''"
        let name = FlywayFormat.parseName(migration.id + ".sql")
        return [
            "DELETE FROM flyway_schema_history WHERE version = \(bind: migration.toolKey) AND NOT success",
            // `execution_time` is an INT: a run past 24 days is written as the largest one.
            """
            INSERT INTO flyway_schema_history
                (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
            SELECT COALESCE(MAX(installed_rank), 0) + 1, \(bind: migration.toolKey), \(bind: name?.description ?? migration.id), 'SQL',
                   \(bind: migration.id + ".sql"), \(bind: Int32(migration.toolChecksums.first ?? "") ?? 0), \(user),
                   CAST(CASE WHEN \(executionMs) > 2147483647 THEN 2147483647 ELSE \(executionMs) END AS INT), \(bind: true)
            FROM flyway_schema_history
            """,
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        // Flyway Community has no down migrations; an interrupted one resolved as rolled back loses
        // its failed row, as `flyway repair` does.
        try await db.raw("DELETE FROM flyway_schema_history WHERE version = \(bind: migration.toolKey)").run()
    }
}

/// Drizzle: `__drizzle_migrations(id, hash, created_at)`, in the schema `drizzle` on PostgreSQL.
/// Applied: every migration whose `when` is not after the newest row's `created_at`.
struct DrizzleHistory: ToolHistory {
    let table = "__drizzle_migrations"
    /// In the schema `drizzle` on PostgreSQL, which `columnExists` does not look in: the read decides.
    var columns: (has: [String], hasNot: [String]) { ([], []) }

    func qualified(_ engine: SQLEngine) -> String { engine == .postgres ? "drizzle.__drizzle_migrations" : table }

    func exists(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> Bool {
        guard engine.kind == .postgres else { return try await engine.tableExists(db, table) }
        return try await db.raw("""
            SELECT 1 AS found FROM information_schema.tables WHERE table_schema = 'drizzle' AND table_name = \(bind: table)
            """).first() != nil
    }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("CREATE SCHEMA IF NOT EXISTS \"drizzle\"").run()
            try await db.raw("""
                CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (
                    id SERIAL PRIMARY KEY,
                    hash text NOT NULL,
                    created_at bigint
                )
                """).run()
        case .sqlite:
            try await db.raw("""
                CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
                    id SERIAL PRIMARY KEY,
                    hash text NOT NULL,
                    created_at numeric
                )
                """).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let newest = try await db.raw("SELECT created_at FROM \(unsafeRaw: qualified(engine)) ORDER BY created_at DESC LIMIT 1").first()
            .flatMap { try $0.decode(column: "created_at", as: Int64?.self) }
        guard let newest else { return ToolLedger(applied: []) }
        return ToolLedger(applied: Set(migrations.filter { (Int64($0.toolKey) ?? .max) <= newest }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        ["""
        INSERT INTO \(unsafeRaw: qualified(engine)) ("hash", "created_at")
        VALUES (\(bind: migration.toolChecksums.first ?? ""), \(bind: Int64(migration.toolKey) ?? 0))
        """]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await db.raw("DELETE FROM \(unsafeRaw: qualified(engine)) WHERE created_at = \(bind: Int64(migration.toolKey) ?? 0)").run()
    }
}
