import Foundation
import SQLKit

/// Drizzle: `__drizzle_migrations(id, hash, created_at)`, in the schema `drizzle` on PostgreSQL.
/// Applied: every migration whose `when` is not after the newest row's `created_at`.
struct DrizzleHistory: ToolHistory {
    let table = "__drizzle_migrations"
    /// In the schema `drizzle` on PostgreSQL, which `columnExists` does not look in: the read decides.
    var columns: (has: [String], hasNot: [String]) { ([], []) }

    var postgresSchema: String? { "drizzle" }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw("CREATE SCHEMA IF NOT EXISTS \"drizzle\"").run()
            try await db.raw(
                """
                CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (
                    id SERIAL PRIMARY KEY,
                    hash text NOT NULL,
                    created_at bigint
                )
                """
            ).run()
        case .sqlite:
            try await db.raw(
                """
                CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
                    id SERIAL PRIMARY KEY,
                    hash text NOT NULL,
                    created_at numeric
                )
                """
            ).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let newest = try await db.raw(
            "SELECT created_at FROM \(unsafeRaw: qualified(engine)) ORDER BY created_at DESC LIMIT 1"
        ).first()
            .flatMap { try $0.decode(column: "created_at", as: Int64?.self) }
        guard let newest else { return ToolLedger(applied: []) }
        return ToolLedger(applied: Set(migrations.filter { (Int64($0.toolKey) ?? .max) <= newest }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        [
            """
            INSERT INTO \(unsafeRaw: qualified(engine)) ("hash", "created_at")
            VALUES (\(bind: migration.toolChecksums.first ?? ""), \(bind: Int64(migration.toolKey) ?? 0))
            """
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw(
            "DELETE FROM \(unsafeRaw: qualified(engine)) WHERE created_at = \(bind: Int64(migration.toolKey) ?? 0)"
        ).run()
    }
}
