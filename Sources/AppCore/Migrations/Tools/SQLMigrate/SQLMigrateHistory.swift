import Foundation
import SQLKit

/// sql-migrate: `gorp_migrations(id, applied_at)`, a row per applied file name.
struct SQLMigrateHistory: ToolHistory {
    let table = "gorp_migrations"
    var columns: (has: [String], hasNot: [String]) { (["id", "applied_at"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        let time = engine == .postgres ? "timestamp with time zone" : "datetime"
        try await db.raw(
            """
            create table if not exists "\(unsafeRaw: table)" ("id" varchar(255) not null primary key, "applied_at" \(unsafeRaw: time))
            """
        ).run()
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let ids = Set(
            try await db.raw("SELECT id FROM \(unsafeRaw: table)").all().map {
                try $0.decode(column: "id", as: String.self)
            })
        return ToolLedger(applied: Set(migrations.filter { ids.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        switch engine {
        case .postgres: ["INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), now())"]
        case .sqlite:
            [
                "INSERT INTO \(unsafeRaw: table) (id, applied_at) VALUES (\(bind: migration.toolKey), \(sqliteTimestamp()))"
            ]
        }
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE id = \(bind: migration.toolKey)").run()
    }
}
