import Foundation
import SQLKit

/// What a migration tool's own history table says about a folder's migrations.
struct ToolLedger: Sendable, Equatable {
    /// The ids of the migrations the tool counts as applied.
    var applied: Set<String>
    /// A migration the tool marks as started and not finished (golang-migrate's `dirty`): its id, or
    /// `version N` when the folder has no such migration.
    var interrupted: String?
}

/// A migration tool's history table, kept beside the server's own (`app_migrations`) so that the tool's
/// command line tells the truth and can take over at any time. Every write happens in the same
/// transaction as the server's row, and writes exactly what the tool itself writes.
protocol ToolHistory: Sendable {
    var table: String { get }
    /// Creates the table as the tool does.
    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws
    /// Reads the table. `migrations` is the folder, in order.
    func read(_ db: any SQLDatabase, migrations: [Migration]) async throws -> ToolLedger
    /// Before a migration outside a transaction starts (golang-migrate marks its version dirty).
    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws
    /// Once the migration is applied.
    func recordApplied(_ migration: Migration, _ db: any SQLDatabase, engine: SQLEngine) async throws
    /// Once the migration is rolled back; `previous` is the newest migration still applied.
    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase) async throws
    /// Fills a table just created from the server's own history: `applied`, in order.
    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws
}

extension ToolHistory {
    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws {}

    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws {
        for migration in applied { try await recordApplied(migration, db, engine: engine) }
    }
}

extension MigrationFormat {
    /// The tool's history table for this format.
    var history: any ToolHistory {
        switch self {
        case .golangMigrate: GolangMigrateHistory()
        case .sqlMigrate: SQLMigrateHistory()
        default: DbmateHistory()
        }
    }
}

/// dbmate: `schema_migrations(version varchar primary key)` (`varchar(128)` on SQLite), a row per applied version.
struct DbmateHistory: ToolHistory {
    let table = "schema_migrations"

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres: try await db.raw("create table if not exists \(unsafeRaw: table) (version varchar primary key)").run()
        case .sqlite: try await db.raw("create table if not exists \"\(unsafeRaw: table)\" (version varchar(128) primary key)").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration]) async throws -> ToolLedger {
        let versions = Set(try await db.raw("select version from \(unsafeRaw: table)").all().map { try $0.decode(column: "version", as: String.self) })
        return ToolLedger(applied: Set(migrations.filter { versions.contains($0.toolKey) }.map(\.id)))
    }

    func recordApplied(_ migration: Migration, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await db.raw("insert into \(unsafeRaw: table) (version) values (\(bind: migration.toolKey))").run()
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase) async throws {
        try await db.raw("delete from \(unsafeRaw: table) where version = \(bind: migration.toolKey)").run()
    }
}

/// golang-migrate: `schema_migrations(version, dirty)` holding one row, the latest version; every
/// version up to it counts as applied. Written as golang-migrate does: the table emptied, one row inserted.
struct GolangMigrateHistory: ToolHistory {
    let table = "schema_migrations"

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version bigint not null primary key, dirty boolean not null)").run()
        case .sqlite:
            try await db.raw("CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version uint64,dirty bool)").run()
            try await db.raw("CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON \(unsafeRaw: table) (version)").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration]) async throws -> ToolLedger {
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

    func recordApplied(_ migration: Migration, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        try await setVersion(migration.toolKey, dirty: false, db)
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase) async throws {
        try await setVersion(previous?.toolKey, dirty: false, db)
    }

    func backfill(_ applied: [Migration], _ db: any SQLDatabase, engine: SQLEngine) async throws {
        if let last = applied.last { try await recordApplied(last, db, engine: engine) }
    }

    private func setVersion(_ version: String?, dirty: Bool, _ db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM \(unsafeRaw: table)").run()
        guard let version, let number = Int64(version) else { return }
        try await db.raw("INSERT INTO \(unsafeRaw: table) (version, dirty) VALUES (\(bind: number), \(bind: dirty))").run()
    }
}

/// sql-migrate: `gorp_migrations(id, applied_at)`, a row per applied file name.
struct SQLMigrateHistory: ToolHistory {
    let table = "gorp_migrations"

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        let time = engine == .postgres ? "timestamp with time zone" : "datetime"
        try await db.raw("""
            create table if not exists "\(unsafeRaw: table)" ("id" varchar(255) not null primary key, "applied_at" \(unsafeRaw: time))
            """).run()
    }

    func read(_ db: any SQLDatabase, migrations: [Migration]) async throws -> ToolLedger {
        let ids = Set(try await db.raw("SELECT id FROM \(unsafeRaw: table)").all().map { try $0.decode(column: "id", as: String.self) })
        return ToolLedger(applied: Set(migrations.filter { ids.contains($0.toolKey) }.map(\.id)))
    }

    func recordApplied(_ migration: Migration, _ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), now())").run()
        case .sqlite:
            // The text Go's SQLite driver writes for a time, which sql-migrate reads back.
            let now = RFC3339.string().replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00:00")
            try await db.raw("INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), \(bind: now))").run()
        }
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE id = \(bind: migration.toolKey)").run()
    }
}
