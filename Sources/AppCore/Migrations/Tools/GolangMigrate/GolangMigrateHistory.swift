import Foundation
import SQLKit

/// golang-migrate: `schema_migrations(version, dirty)` holding one row, the latest version; every
/// version up to it counts as applied. Written as golang-migrate does: the table emptied, one row inserted.
struct GolangMigrateHistory: ToolHistory {
    let table = "schema_migrations"
    var columns: (has: [String], hasNot: [String]) { (["version", "dirty"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version bigint not null primary key, dirty boolean not null)"
            ).run()
        case .sqlite:
            try await db.raw("CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (version uint64,dirty bool)").run()
            try await db.raw("CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON \(unsafeRaw: table) (version)").run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        guard
            let row = try await db.raw(
                "SELECT version, CASE WHEN dirty THEN 1 ELSE 0 END AS dirty FROM \(unsafeRaw: table) LIMIT 1"
            ).first()
        else {
            return ToolLedger(applied: [])
        }
        let version = try row.decode(column: "version", as: Int64.self)
        let dirty = try row.decode(column: "dirty", as: Int.self) != 0
        let applied = migrations.filter { (Int64($0.toolKey) ?? .max) <= version }
        var interrupted: String?
        if dirty {
            interrupted = migrations.first(where: { $0.toolKey == String(version) })?.id ?? "version \(version)"
        }
        return ToolLedger(
            applied: Set(applied.map(\.id)).subtracting(interrupted.map { [$0] } ?? []), interrupted: interrupted)
    }

    func recordStarted(_ migration: Migration, _ db: any SQLDatabase) async throws {
        try await setVersion(migration.toolKey, dirty: true, db)
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        setVersion(migration.toolKey, dirty: false)
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
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
        return [
            "DELETE FROM \(unsafeRaw: table)",
            "INSERT INTO \(unsafeRaw: table) (version, dirty) VALUES (\(bind: number), \(bind: dirty))",
        ]
    }
}
