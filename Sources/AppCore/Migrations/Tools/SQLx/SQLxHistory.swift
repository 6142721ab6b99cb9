import Foundation
import SQLKit

/// sqlx: `_sqlx_migrations(version, description, installed_on, success, checksum, execution_time)`, a
/// row per applied version with the SHA-384 of its file and the time it took in nanoseconds. A row with
/// `success` false (left by an older sqlx that wrote the row before the script) is an interrupted
/// migration, as sqlx reports it ("dirty"); a checksum that differs from the file's is drift, as sqlx
/// refuses it. Rollback deletes the row, as `sqlx migrate revert` does.
struct SQLxHistory: ToolHistory {
    let table = "_sqlx_migrations"
    var columns: (has: [String], hasNot: [String]) {
        (["version", "description", "installed_on", "success", "checksum", "execution_time"], [])
    }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        // sqlx's own DDL (sqlx-postgres and sqlx-sqlite `ensure_migrations_table`).
        let (time, bytes) =
            engine == .postgres
            ? ("TIMESTAMPTZ NOT NULL DEFAULT now()", "BYTEA") : ("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "BLOB")
        try await db.raw(
            """
            CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on \(unsafeRaw: time),
                success BOOLEAN NOT NULL,
                checksum \(unsafeRaw: bytes) NOT NULL,
                execution_time BIGINT NOT NULL
            )
            """
        ).run()
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let hex = engine == .postgres ? "encode(checksum, 'hex')" : "lower(hex(checksum))"
        let rows = try await db.raw(
            """
            SELECT version, \(unsafeRaw: hex) AS checksum, CASE WHEN success THEN 1 ELSE 0 END AS success
            FROM \(unsafeRaw: table) ORDER BY version
            """
        ).all()
        let byVersion = Dictionary(migrations.map { ($0.toolKey, $0) }, uniquingKeysWith: { first, _ in first })
        var ledger = ToolLedger(applied: [])
        for row in rows {
            let version = String(try row.decode(column: "version", as: Int64.self))
            let migration = byVersion[version]
            guard try row.decode(column: "success", as: Int.self) != 0 else {
                if ledger.interrupted == nil { ledger.interrupted = migration?.id ?? "version \(version)" }
                continue
            }
            guard let migration else { continue }
            ledger.applied.insert(migration.id)
            let checksum = try row.decode(column: "checksum", as: String.self)
            if ledger.drifted == nil, !migration.toolChecksums.contains(checksum) { ledger.drifted = migration.id }
        }
        return ledger
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        let version = Int64(migration.toolKey) ?? 0
        // Hex digits only, computed here: written as a literal of the engine's byte type.
        let hex = migration.toolChecksums.first ?? ""
        let bytes = engine == .postgres ? "decode('\(hex)', 'hex')" : "X'\(hex)'"
        return [
            // A row left with `success` false is replaced (resolved as applied).
            "DELETE FROM \(unsafeRaw: table) WHERE version = \(bind: version)",
            """
            INSERT INTO \(unsafeRaw: table) (version, description, success, checksum, execution_time)
            VALUES (\(bind: version), \(bind: SQLxFormat.description(ofID: migration.id)), \(unsafeRaw: engine == .postgres ? "TRUE" : "1"), \(unsafeRaw: bytes), (\(executionMs)) * 1000000)
            """,
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE version = \(bind: Int64(migration.toolKey) ?? -1)")
            .run()
    }
}
