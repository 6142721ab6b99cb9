import Foundation
import Logging
import SQLKit
import SQLiteKit
import Testing

@testable import AppCore

/// On SQLite, each transactional migration after a run's first is applied in one call of
/// `app_migrate_whole` (Sources/AppSQLiteShim). Which way a migration went is read from the migration
/// itself: SQLite's `sqlite_stmt` table lists the connection's running statements, and inside the
/// call that includes the call's own SELECT.
@Suite("SQLite: a migration applied in one call", .dropsTestDatabases)
struct SQLiteMigrationCallTests {
    /// 1 when the statement runs inside `app_migrate_whole`, 0 when it was sent on its own.
    static let inCall = "(SELECT COUNT(*) FROM sqlite_stmt WHERE busy AND sql LIKE 'SELECT app_migrate_whole(%')"

    static let files = [
        "1_probe.sql":
            "-- migrate:up\nCREATE TABLE probe (label TEXT PRIMARY KEY, in_call INTEGER, value TEXT);\nINSERT INTO probe VALUES ('1', \(inCall), NULL);\n",
        "2_tricky.sql": """
        -- migrate:up
        INSERT INTO probe VALUES ('2', \(inCall), 'it''s ; -- not a comment /* nor this */ "quoted" é ✓');
        CREATE TABLE doomed (id INTEGER);
        CREATE TRIGGER probe_log AFTER INSERT ON probe BEGIN
          UPDATE probe SET value = CASE WHEN NEW.value IS NULL THEN 'x;y' ELSE NEW.value END WHERE label = NEW.label;
        END;

        """,
        "3_plain.sql": "-- migrate:up\nINSERT INTO probe VALUES ('3', \(inCall), NULL);\nDROP TABLE doomed;\n",
    ]

    static func migrate(_ db: TestDatabase, _ folder: MigrationsDir, logger: Logger = quietLogger) async throws
        -> [String]
    {
        let database = try AppDatabase(location: db.location, logger: logger)
        let migrator = Migrator(
            database: database, catalog: folder.catalog(.sqlite), lockTimeout: .seconds(10), logger: logger)
        return try await database.withRunning { try await migrator.migrate() }
    }

    static func probe(_ db: TestDatabase) async throws -> [String: (inCall: Int, value: String?)] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                var rows: [String: (inCall: Int, value: String?)] = [:]
                for row in try await sql.raw("SELECT label, in_call, value FROM probe").all() {
                    rows[try row.decode(column: "label", as: String.self)] =
                        (
                            try row.decode(column: "in_call", as: Int.self),
                            try row.decode(column: "value", as: String?.self)
                        )
                }
                return rows
            }
        }
    }

    @Test(
        "the first migration goes statement by statement, later ones in one call, as written (a trigger body with ;, DROP TABLE), with both histories"
    )
    func laterOnesInOneCall() async throws {
        let folder = try MigrationsDir(Self.files)
        let db = try await TestDatabase.make(.sqlite)
        #expect(try await Self.migrate(db, folder) == ["1_probe", "2_tricky", "3_plain"])
        let probe = try await Self.probe(db)
        #expect(probe["1"]?.inCall == 0, "the run's first migration goes the long way")
        #expect(probe["2"]?.inCall == 1)
        #expect(probe["2"]?.value == #"it's ; -- not a comment /* nor this */ "quoted" é ✓"#)
        #expect(probe["3"]?.inCall == 1)
        #expect(probe["3"]?.value == "x;y", "the trigger made in migration 2 fired in 3")
        #expect(try await !tableNames(db).contains("doomed"), "DROP TABLE runs inside the call")
        #expect(try await historyIDs(db) == ["1_probe", "2_tricky", "3_plain"])
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations WHERE version IN ('1', '2', '3')") == 3,
            "dbmate's history written in the call too")
        #expect(
            try await count(
                db, "SELECT COUNT(*) AS n FROM app_migrations WHERE execution_ms >= 0 AND state = 'applied'") == 3)
    }

    @Test(
        "a statement failing inside the call, or a deferred foreign key failing at its COMMIT, rolls the migration back whole with its rows and names the cause"
    )
    func failureInsideTheCall() async throws {
        var files = Self.files
        files["2_tricky.sql"] = """
            -- migrate:up
            CREATE TABLE parent (id INTEGER PRIMARY KEY);
            CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
            INSERT INTO child VALUES (42);

            """
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(.sqlite)
        let log = LogCapture()
        await #expect(throws: MigrationError.failed(migration: "2_tricky")) {
            try await Self.migrate(db, folder, logger: log.logger(level: .error))
        }
        #expect(log.text.contains("FOREIGN KEY constraint failed"), "\(log.text)")
        #expect(try await historyIDs(db) == ["1_probe"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations") == 1)
        #expect(try await !tableNames(db).contains("parent"), "nothing of the migration remains")

        // A failing statement after one that worked. The run's first pending migration goes the long
        // way, so the failing one comes second.
        try folder.remove("2_tricky.sql")
        try folder.remove("3_plain.sql")
        try folder.write("15_first.sql", "-- migrate:up\nCREATE TABLE first (id INTEGER);\n")
        try folder.write(
            "20_tricky.sql",
            "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n")
        let second = LogCapture()
        await #expect(throws: MigrationError.failed(migration: "20_tricky")) {
            try await Self.migrate(db, folder, logger: second.logger(level: .error))
        }
        #expect(second.text.contains("no such table: nowhere"), "\(second.text)")
        #expect(try await historyIDs(db) == ["15_first", "1_probe"])
        #expect(try await !tableNames(db).contains("parent"))
        // No transaction was left open: the fixed file applies.
        try folder.write("20_tricky.sql", "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\n")
        #expect(try await Self.migrate(db, folder) == ["20_tricky"])
    }

    @Test(
        "the call declines, changing nothing, when the history changed, another writer holds the lock, or the run lock is held; then it applies"
    )
    func declines() async throws {
        let folder = try MigrationsDir(["3_plain.sql": "-- migrate:up\nCREATE TABLE plain (id INTEGER);\n"])
        let migration = try #require(folder.catalog(.sqlite).migrations.first)
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let path) = db.location else {
            Issue.record("expected SQLite")
            return
        }
        try await TestSQL.run(
            db,
            "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')"
        )
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let whole = { @Sendable (count: Int) in
            WholeMigration(
                migration: migration, expected: .init(count: count, last: nil, running: 0),
                appliedAt: "2026-11-30T00:00:00.000Z",
                toolStatements: { _ in [] }
            )
        }
        try await database.withRunning {
            try await database.withConnection(busyTimeout: .milliseconds(10)) { sql in
                // The history has no rows: a call expecting one declines.
                #expect(try await database.engine.applyWhole(whole(1), sql) == nil)
                // Another connection holds SQLite's write lock.
                let other = try AppDatabase(location: db.location, logger: quietLogger)
                try await other.withRunning {
                    try await other.withConnection { holder in
                        try await holder.raw("BEGIN IMMEDIATE").run()
                        #expect(try await database.engine.applyWhole(whole(0), sql) == nil)
                        try await holder.raw("ROLLBACK").run()
                    }
                }
                // Another runner holds the run lock (a migration outside a transaction).
                let fd = open(path + "-migrate.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
                #expect(flock(fd, LOCK_EX) == 0)
                #expect(try await database.engine.applyWhole(whole(0), sql) == nil)
                flock(fd, LOCK_UN)
                close(fd)
                #expect(try await tableNames(db).contains("plain") == false)
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 0)
                // Nothing in the way: the same call applies it with its row.
                #expect(try await database.engine.applyWhole(whole(0), sql) != nil)
            }
        }
        #expect(try await historyIDs(db) == ["3_plain"])
        #expect(try await tableNames(db).contains("plain"))
    }

    @Test("the function cannot be reached from a trigger a database file brings, nor inside an open transaction")
    func notFromTriggersOrTransactions() async throws {
        let db = try await TestDatabase.make(.sqlite)
        try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
        try await TestSQL.run(
            db, "CREATE TRIGGER sneaky AFTER INSERT ON t BEGIN SELECT app_migrate_whole('SELECT 1', x'00', 0); END")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                let fromTrigger = await #expect(throws: (any Error).self) {
                    try await sql.raw("INSERT INTO t VALUES (1)").run()
                }
                #expect(
                    "\(String(describing: fromTrigger))".contains("unsafe use of app_migrate_whole"),
                    "\(String(describing: fromTrigger))")
                try await sql.raw("BEGIN").run()
                let inTransaction = await #expect(throws: (any Error).self) {
                    try await sql.raw("SELECT app_migrate_whole('SELECT 1', x'', 0)").run()
                }
                #expect(
                    "\(String(describing: inTransaction))".contains("a transaction is already open"),
                    "\(String(describing: inTransaction))")
                try await sql.raw("ROLLBACK").run()
            }
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM t") == 0)
    }
}
