import Foundation
import SQLKit

/// Prisma Migrate: `_prisma_migrations`, a row per attempt. Applied: `finished_at` set and
/// `rolled_back_at` not; `finished_at` and `rolled_back_at` both NULL is a failed (interrupted)
/// migration, which Prisma refuses to go past.
struct PrismaHistory: ToolHistory {
    let table = "_prisma_migrations"
    var columns: (has: [String], hasNot: [String]) {
        (["migration_name", "checksum", "finished_at", "rolled_back_at"], [])
    }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        switch engine {
        case .postgres:
            try await db.raw(
                """
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
                """
            ).run()
        case .sqlite:
            try await db.raw(
                """
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
                """
            ).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let rows = try await db.raw(
            """
            SELECT migration_name, checksum,
                   CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END AS finished,
                   CASE WHEN rolled_back_at IS NULL THEN 0 ELSE 1 END AS rolled_back
            FROM _prisma_migrations ORDER BY started_at
            """
        ).all()
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
        let now: SQLQueryString = engine == .postgres ? "now()" : sqliteTimestamp()
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

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        // Prisma has no down migrations; an interrupted one resolved as rolled back is marked so.
        try await db.raw(
            """
            UPDATE _prisma_migrations SET rolled_back_at = CURRENT_TIMESTAMP
            WHERE migration_name = \(bind: migration.toolKey) AND rolled_back_at IS NULL
            """
        ).run()
    }
}
