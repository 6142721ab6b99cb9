import Foundation
import Logging
import SQLKit
import SQLiteKit
import Testing

@testable import AppCore

@Suite("SQLite: a process killed inside a migration sent whole", .dropsTestDatabases)
struct SQLiteKilledTests {
    /// Long enough (seconds of CPU) that the test sees the migration under way and kills the process
    /// inside the call; the kill comes as soon as it is seen.
    static let slow = """
        -- migrate:up
        CREATE TABLE slow (id INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT COUNT(*) FROM c;

        """

    @Test(
        "app serve SIGKILLed inside app_migrate_batch: nothing of that migration remains, the file passes integrity_check, and the next server applies the rest"
    )
    func killedInsideTheCall() async throws {
        let folder = try MigrationsDir([
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n", "2_slow.sql": Self.slow,
            "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);\n",
        ])
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let path) = db.location else {
            Issue.record("expected SQLite")
            return
        }
        let env = [
            "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            "APP_ENV": "test", "MIGRATIONS_DIR": folder.path,
        ]
        let first = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        let call = Task { try? await post(first.baseURL) }
        // 1_a committed and a write transaction open (another writer is refused): 2_slow is inside the
        // call, the run's second migration.
        try await waitUntil("2_slow is under way", timeout: .seconds(30)) {
            guard try await historyIDs(db) == ["1_a"] else { return false }
            return try await writerHoldsTheLock(db)
        }
        kill(first.process.processIdentifier, SIGKILL)
        _ = await call.value
        await first.stop()
        // What the killed server left: a write-ahead log the next connection recovers from.
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))

        #expect(try await historyIDs(db) == ["1_a"])
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations") == 1, "dbmate's history holds 1 only")
        #expect(try await tableNames(db).intersection(["a", "slow", "c"]) == ["a"], "nothing of 2_slow")
        let integrity = try await AppDatabase(location: db.location, logger: quietLogger).withConnection { sql in
            try await sql.raw("PRAGMA integrity_check").first()!.decode(column: "integrity_check", as: String.self)
        }
        #expect(integrity == "ok")

        // Never applied, so it may change without drift: the next server applies it and the rest.
        try folder.write("2_slow.sql", "-- migrate:up\nCREATE TABLE slow (id INTEGER);\n")
        let second = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        let (status, body) = try await post(second.baseURL)
        await second.stop()
        #expect(status == 200)
        #expect(body.contains(#""applied":["2_slow","3_c"]"#), "\(body)")
        #expect(try await tableNames(db).intersection(["a", "slow", "c"]) == ["a", "slow", "c"])
    }
}

/// True when another connection holds the file's write lock: `BEGIN IMMEDIATE` is refused at once.
func writerHoldsTheLock(_ db: TestDatabase) async throws -> Bool {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withConnection(busyTimeout: .zero) { sql in
        do {
            try await sql.raw("BEGIN IMMEDIATE").run()
        } catch let error as SQLiteError where error.reason == .busy {
            return true
        }
        try await sql.raw("ROLLBACK").run()
        return false
    }
}
