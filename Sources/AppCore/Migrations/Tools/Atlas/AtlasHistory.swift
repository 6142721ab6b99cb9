import Foundation
import SQLKit

/// Atlas: `atlas_schema_revisions` (in the schema `atlas_schema_revisions` on PostgreSQL, as Atlas keeps
/// it when the URL names none), a row per version with its description, type (2: executed; 1: a
/// baseline, every version up to it applied; 4: resolved), statements applied and total, when and
/// how long (ns), the error if any, the file's sum from `atlas.sum`, and the operator. A row with fewer
/// statements applied than its total, or an error, is an interrupted migration, as Atlas stops there.
struct AtlasHistory: ToolHistory {
    let table = "atlas_schema_revisions"
    /// The row Atlas keeps for the table's own identity, not a migration.
    static let identifier = ".atlas_cloud_identifier"
    /// In its own schema on PostgreSQL, which `columnExists` does not look in: the read decides.
    var columns: (has: [String], hasNot: [String]) { ([], []) }

    var postgresSchema: String? { "atlas_schema_revisions" }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        // The table Atlas's revision schema (ent) makes, column for column.
        switch engine {
        case .postgres:
            try await db.raw("CREATE SCHEMA IF NOT EXISTS atlas_schema_revisions").run()
            try await db.raw(
                """
                CREATE TABLE IF NOT EXISTS atlas_schema_revisions.atlas_schema_revisions (
                    "version" character varying NOT NULL, "description" character varying NOT NULL,
                    "type" bigint NOT NULL DEFAULT 2, "applied" bigint NOT NULL DEFAULT 0,
                    "total" bigint NOT NULL DEFAULT 0, "executed_at" timestamptz NOT NULL,
                    "execution_time" bigint NOT NULL, "error" text NULL, "error_stmt" text NULL,
                    "hash" character varying NOT NULL, "partial_hashes" jsonb NULL,
                    "operator_version" character varying NOT NULL, PRIMARY KEY ("version")
                )
                """
            ).run()
        case .sqlite:
            try await db.raw(
                """
                CREATE TABLE IF NOT EXISTS `atlas_schema_revisions` (
                    `version` text NOT NULL, `description` text NOT NULL, `type` integer NOT NULL DEFAULT 2,
                    `applied` integer NOT NULL DEFAULT 0, `total` integer NOT NULL DEFAULT 0,
                    `executed_at` datetime NOT NULL, `execution_time` integer NOT NULL, `error` text NULL,
                    `error_stmt` text NULL, `hash` text NOT NULL, `partial_hashes` json NULL,
                    `operator_version` text NOT NULL, PRIMARY KEY (`version`)
                )
                """
            ).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let rows = try await db.raw(
            """
            SELECT version, type, applied, total, COALESCE(error, '') AS error FROM \(unsafeRaw: qualified(engine))
            WHERE version <> \(bind: Self.identifier) ORDER BY version
            """
        ).all()
        let byVersion = Dictionary(migrations.map { ($0.toolKey, $0) }, uniquingKeysWith: { first, _ in first })
        var ledger = ToolLedger(applied: [])
        for row in rows {
            let version = try row.decode(column: "version", as: String.self)
            let type = try row.decode(column: "type", as: Int.self)
            if type == 1 {
                // A baseline: every version up to it counts as applied, as Atlas starts after it.
                for migration in migrations where migration.toolKey <= version { ledger.applied.insert(migration.id) }
                continue
            }
            let finished =
                try row.decode(column: "applied", as: Int.self) >= row.decode(column: "total", as: Int.self)
                && row.decode(column: "error", as: String.self).isEmpty
            guard finished || type & 4 != 0 else {
                if ledger.interrupted == nil { ledger.interrupted = byVersion[version]?.id ?? "version \(version)" }
                continue
            }
            if let migration = byVersion[version] { ledger.applied.insert(migration.id) }
        }
        return ledger
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        let description =
            migration.id.firstIndex(of: "_").map { String(migration.id[migration.id.index(after: $0)...]) } ?? ""
        let count = Int64(migration.statements.count)
        let now: SQLQueryString = engine == .postgres ? "now()" : sqliteTimestamp()
        return [
            // A row left unfinished is replaced (resolved as applied).
            "DELETE FROM \(unsafeRaw: qualified(engine)) WHERE version = \(bind: migration.toolKey)",
            """
            INSERT INTO \(unsafeRaw: qualified(engine)) (version, description, type, applied, total, executed_at,
                execution_time, error, error_stmt, hash, partial_hashes, operator_version)
            VALUES (\(bind: migration.toolKey), \(bind: description), 2, \(bind: count), \(bind: count), \(now),
                (\(executionMs)) * 1000000, '', '', \(bind: migration.toolChecksums.first ?? ""), 'null',
                \(bind: Self.operator))
            """,
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("DELETE FROM \(unsafeRaw: qualified(engine)) WHERE version = \(bind: migration.toolKey)").run()
    }

    /// What `operator_version` says of who applied the migration (Atlas writes `Atlas CLI v…`).
    static let `operator` = "migrate-server"
}
