import Foundation
import SQLKit

/// Diesel: `__diesel_schema_migrations(version, run_on)`, a row per applied version (the folder name's
/// version, `-` removed); rollback deletes it, as `diesel migration revert` does.
struct DieselHistory: ToolHistory {
    let table = "__diesel_schema_migrations"
    var columns: (has: [String], hasNot: [String]) { (["version", "run_on"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        // Diesel's own DDL (diesel/src/migration/setup_migration_table.sql), the same on both engines.
        try await db.raw(
            """
            CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (
                   version VARCHAR(50) PRIMARY KEY NOT NULL,
                   run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
            )
            """
        ).run()
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let versions = Set(
            try await db.raw("SELECT version FROM \(unsafeRaw: table)").all().map {
                try $0.decode(column: "version", as: String.self)
            })
        return ToolLedger(applied: Set(migrations.filter { versions.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        ["INSERT INTO \(unsafeRaw: table) (version) VALUES (\(bind: migration.toolKey))"]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE version = \(bind: migration.toolKey)").run()
    }
}
