import Foundation
import SQLKit

/// yoyo (schema version 2, yoyo-migrations 6 and later): `_yoyo_migration(migration_hash, migration_id,
/// applied_at_utc)`, a row per applied migration keyed by the SHA-256 of its id; `_yoyo_log`, a row per
/// apply and rollback with who and where; `_yoyo_version`, the schema version (2). Made as yoyo's
/// internal migrations leave them; times in UTC without a zone, as yoyo writes them.
struct YoyoHistory: ToolHistory {
    let table = "_yoyo_migration"
    var columns: (has: [String], hasNot: [String]) { (["migration_hash", "migration_id", "applied_at_utc"], []) }

    func create(_ db: any SQLDatabase, engine: SQLEngine) async throws {
        for statement: SQLQueryString in [
            """
            CREATE TABLE IF NOT EXISTS _yoyo_migration (
                migration_hash VARCHAR(64), migration_id VARCHAR(255), applied_at_utc TIMESTAMP,
                PRIMARY KEY (migration_hash)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS _yoyo_log (
                id VARCHAR(36), migration_hash VARCHAR(64), migration_id VARCHAR(255), operation VARCHAR(10),
                username VARCHAR(255), hostname VARCHAR(255), comment VARCHAR(255), created_at_utc TIMESTAMP,
                PRIMARY KEY (id)
            )
            """,
            "CREATE TABLE IF NOT EXISTS _yoyo_version (version INT NOT NULL PRIMARY KEY, installed_at_utc TIMESTAMP)",
            """
            INSERT INTO _yoyo_version (version, installed_at_utc)
            SELECT 2, \(now(engine, separator: " ")) WHERE NOT EXISTS (SELECT 1 FROM _yoyo_version WHERE version = 2)
            """,
        ] {
            try await db.raw(statement).run()
        }
    }

    func read(_ db: any SQLDatabase, migrations: [Migration], engine: SQLEngine) async throws -> ToolLedger {
        let hashes = Set(
            try await db.raw("SELECT migration_hash FROM _yoyo_migration").all().map {
                try $0.decode(column: "migration_hash", as: String.self)
            })
        return ToolLedger(applied: Set(migrations.filter { hashes.contains($0.toolKey) }.map(\.id)))
    }

    func appliedStatements(_ migration: Migration, executionMs: SQLQueryString, engine: SQLEngine) -> [SQLQueryString] {
        [
            log(migration, "apply", engine),
            """
            INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)
            VALUES (\(bind: migration.toolKey), \(bind: migration.id), \(now(engine)))
            """,
        ]
    }

    func recordRolledBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, engine: SQLEngine)
        async throws
    {
        try await db.raw(log(migration, "rollback", engine)).run()
        try await db.raw("DELETE FROM _yoyo_migration WHERE migration_hash = \(bind: migration.toolKey)").run()
    }

    /// A `_yoyo_log` row as yoyo writes one: a new id, the process's user and host, the time.
    private func log(_ migration: Migration, _ operation: String, _ engine: SQLEngine) -> SQLQueryString {
        """
        INSERT INTO _yoyo_log (id, migration_hash, migration_id, operation, username, hostname, created_at_utc)
        VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: migration.toolKey), \(bind: migration.id),
            \(bind: operation), \(bind: Self.user), \(bind: ProcessInfo.processInfo.hostName), \(now(engine)))
        """
    }

    /// The current time in UTC, without a zone: PostgreSQL's own; on SQLite as yoyo writes it there
    /// (`2026-12-06T01:50:00.123000`; its schema version's time with a space, as Python writes a `datetime`).
    private func now(_ engine: SQLEngine, separator: String = "T") -> SQLQueryString {
        switch engine {
        case .postgres: "(now() AT TIME ZONE 'UTC')"
        case .sqlite: "strftime('%Y-%m-%d\(unsafeRaw: separator)%H:%M:%f000', 'now')"
        }
    }

    /// The user the server runs as, as yoyo's `getpass.getuser()` names it.
    static let user: String = {
        if let name = ProcessInfo.processInfo.environment["LOGNAME"] ?? ProcessInfo.processInfo.environment["USER"] {
            return name
        }
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "" }
        return String(cString: name)
    }()
}
