import Foundation
import SQLKit

/// Flyway: `flyway_schema_history`, a row per applied migration, ranked. Applied: a successful `SQL`
/// row (or any version up to a `BASELINE` row's); a row with `success` false is a failed migration,
/// which Flyway refuses to go past.
struct FlywayHistory: ToolHistory {
    let table = "flyway_schema_history"
    var columns: (has: [String], hasNot: [String]) {
        (["installed_rank", "version", "type", "checksum", "success"], [])
    }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw(
                """
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
                """
            ).run()
            try await db.raw(
                "ALTER TABLE \"flyway_schema_history\" ADD CONSTRAINT \"flyway_schema_history_pk\" PRIMARY KEY (\"installed_rank\")"
            ).run()
            try await db.raw("CREATE INDEX \"flyway_schema_history_s_idx\" ON \"flyway_schema_history\" (\"success\")")
                .run()
        case .sqlite:
            try await db.raw(
                """
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
                """
            ).run()
            try await db.raw("CREATE INDEX \"flyway_schema_history_s_idx\" ON \"flyway_schema_history\" (\"success\")")
                .run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let rows = try await db.raw(
            """
            SELECT version, type, checksum, CASE WHEN success THEN 1 ELSE 0 END AS ok
            FROM flyway_schema_history ORDER BY installed_rank
            """
        ).all()
        // Read as 64-bit: Flyway's checksums are 32-bit, but SQLite keeps any integer in the column,
        // and SQLiteNIO stops the process on one out of the type's range. Such a row is drift.
        var applied: [[String]: Int64?] = [:]
        var baseline: [String]?
        var failed: [String]?
        for row in rows {
            guard let version = try row.decode(column: "version", as: String?.self),
                let parts = FlywayFormat.parts(of: version)
            else { continue }
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
                if ok { applied[parts] = try row.decode(column: "checksum", as: Int64?.self) } else { failed = parts }
            }
        }
        var ledger = ToolLedger(applied: [])
        for migration in migrations {
            let parts = migration.orderKey
            if let checksum = applied[parts] {
                ledger.applied.insert(migration.id)
                if ledger.drifted == nil, let checksum, !migration.toolChecksums.contains(String(checksum)) {
                    ledger.drifted = migration.id
                }
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

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        // Flyway Community has no down migrations; an interrupted one resolved as rolled back loses
        // its failed row, as `flyway repair` does.
        try await db.raw("DELETE FROM flyway_schema_history WHERE version = \(bind: migration.toolKey)").run()
    }
}
