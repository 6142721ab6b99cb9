import Foundation
import SQLKit

/// Supabase: `supabase_migrations.schema_migrations(version, statements, name)`, a row per applied
/// version with the file's statements as the CLI split them and the name after the version; made as
/// the CLI makes it (the schema, the table, then its two later columns). Rollback deletes the row.
struct SupabaseHistory: ToolHistory {
    let table = "schema_migrations"
    var postgresSchema: String? { "supabase_migrations" }
    var qualifiedTable: String { qualified(.postgres) }
    var postgresOnly: Bool { true }
    /// In the schema `supabase_migrations`, which `columnExists` does not look in: the read decides.
    var columns: (has: [String], hasNot: [String]) { ([], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        // The CLI's own statements (pkg/migration/history.go CreateMigrationTable).
        for statement: SQLQueryString in [
            "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
            "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
            "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
            "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
        ] {
            try await db.raw(statement).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let versions = Set(
            try await db.raw("SELECT version FROM \(unsafeRaw: qualified(engine))").all().map {
                try $0.decode(column: "version", as: String.self)
            })
        return ToolLedger(applied: Set(migrations.filter { versions.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        let name = migration.id.firstIndex(of: "_").map { String(migration.id[migration.id.index(after: $0)...]) } ?? ""
        return [
            """
            INSERT INTO \(unsafeRaw: qualified(engine)) (version, name, statements)
            VALUES (\(bind: migration.toolKey), \(bind: name), \(bind: migration.toolStatements))
            """
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("DELETE FROM \(unsafeRaw: qualified(engine)) WHERE version = \(bind: migration.toolKey)").run()
    }
}
