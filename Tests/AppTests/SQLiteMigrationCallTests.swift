@testable import AppCore
import Foundation
import Logging
import SQLKit
import SQLiteKit
import Testing

/// On SQLite, each transactional migration after a run's first is applied in one call of
/// `app_migrate_whole` (Sources/AppSQLiteShim). Which way a migration went is read from the migration
/// itself: SQLite's `sqlite_stmt` table lists the connection's running statements, and inside the
/// call that includes the call's own SELECT.
@Suite("SQLite: a migration applied in one call", .dropsTestDatabases)
struct SQLiteMigrationCallTests {
    /// 1 when the statement runs inside `app_migrate_whole`, 0 when it was sent on its own.
    static let inCall = "(SELECT COUNT(*) FROM sqlite_stmt WHERE busy AND sql LIKE 'SELECT app_migrate_whole(%')"

    static let files = [
        "1_probe.sql": "-- migrate:up\nCREATE TABLE probe (label TEXT PRIMARY KEY, in_call INTEGER, value TEXT);\nINSERT INTO probe VALUES ('1', \(inCall), NULL);\n",
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

    static func migrate(_ db: TestDatabase, _ folder: MigrationsDir, logger: Logger = quietLogger) async throws -> [String] {
        let database = try AppDatabase(location: db.location, logger: logger)
        let migrator = Migrator(database: database, catalog: folder.catalog(.sqlite), lockTimeout: .seconds(10), logger: logger)
        return try await database.withRunning { try await migrator.migrate() }
    }

    static func probe(_ db: TestDatabase) async throws -> [String: (inCall: Int, value: String?)] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                var rows: [String: (inCall: Int, value: String?)] = [:]
                for row in try await sql.raw("SELECT label, in_call, value FROM probe").all() {
                    rows[try row.decode(column: "label", as: String.self)] =
                        (try row.decode(column: "in_call", as: Int.self), try row.decode(column: "value", as: String?.self))
                }
                return rows
            }
        }
    }

    @Test("the first migration goes statement by statement, later ones in one call, as written (a trigger body with ;, DROP TABLE), with both histories")
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
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations WHERE version IN ('1', '2', '3')") == 3, "dbmate's history written in the call too")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations WHERE execution_ms >= 0 AND state = 'applied'") == 3)
    }

    @Test("a statement failing inside the call, or a deferred foreign key failing at its COMMIT, rolls the migration back whole with its rows and names the cause")
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
        await #expect(throws: MigrationError.failed(migration: "2_tricky")) { try await Self.migrate(db, folder, logger: log.logger(level: .error)) }
        #expect(log.text.contains("FOREIGN KEY constraint failed"), "\(log.text)")
        #expect(try await historyIDs(db) == ["1_probe"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations") == 1)
        #expect(try await !tableNames(db).contains("parent"), "nothing of the migration remains")

        // A failing statement after one that worked. The run's first pending migration goes the long
        // way, so the failing one comes second.
        try folder.remove("2_tricky.sql")
        try folder.remove("3_plain.sql")
        try folder.write("15_first.sql", "-- migrate:up\nCREATE TABLE first (id INTEGER);\n")
        try folder.write("20_tricky.sql", "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n")
        let second = LogCapture()
        await #expect(throws: MigrationError.failed(migration: "20_tricky")) { try await Self.migrate(db, folder, logger: second.logger(level: .error)) }
        #expect(second.text.contains("no such table: nowhere"), "\(second.text)")
        #expect(try await historyIDs(db) == ["15_first", "1_probe"])
        #expect(try await !tableNames(db).contains("parent"))
        // No transaction was left open: the fixed file applies.
        try folder.write("20_tricky.sql", "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\n")
        #expect(try await Self.migrate(db, folder) == ["20_tricky"])
    }

    @Test("the call declines, changing nothing, when the history changed, another writer holds the lock, or the run lock is held; then it applies")
    func declines() async throws {
        let folder = try MigrationsDir(["3_plain.sql": "-- migrate:up\nCREATE TABLE plain (id INTEGER);\n"])
        let migration = try #require(folder.catalog(.sqlite).migrations.first)
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let path) = db.location else { Issue.record("expected SQLite"); return }
        try await TestSQL.run(db, "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let whole = { @Sendable (count: Int) in
            WholeMigration(
                migration: migration, expected: .init(count: count, last: nil, running: 0), appliedAt: "2026-11-30T00:00:00.000Z",
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
        try await TestSQL.run(db, "CREATE TRIGGER sneaky AFTER INSERT ON t BEGIN SELECT app_migrate_whole('SELECT 1', x'00', 0); END")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                let fromTrigger = await #expect(throws: (any Error).self) { try await sql.raw("INSERT INTO t VALUES (1)").run() }
                #expect("\(String(describing: fromTrigger))".contains("unsafe use of app_migrate_whole"), "\(String(describing: fromTrigger))")
                try await sql.raw("BEGIN").run()
                let inTransaction = await #expect(throws: (any Error).self) {
                    try await sql.raw("SELECT app_migrate_whole('SELECT 1', x'', 0)").run()
                }
                #expect("\(String(describing: inTransaction))".contains("a transaction is already open"), "\(String(describing: inTransaction))")
                try await sql.raw("ROLLBACK").run()
            }
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM t") == 0)
    }
}

@Suite("SQLite connections", .dropsTestDatabases)
struct SQLiteConnectionTests {
    @Test("every connection enforces foreign keys (set while it opens) and has the busy timeout asked for, not SQLiteNIO's endless wait", arguments: [5000, 10, 30000])
    func settings(_ milliseconds: Int) async throws {
        let db = try await TestDatabase.make(.sqlite)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let (keys, timeout) = try await database.withConnection(busyTimeout: .milliseconds(milliseconds)) { sql in
            (try await sql.raw("PRAGMA foreign_keys").first()!.decode(column: "foreign_keys", as: Int.self),
             try await sql.raw("PRAGMA busy_timeout").first()!.decode(column: "timeout", as: Int.self))
        }
        #expect(keys == 1)
        #expect(timeout == milliseconds)
        try await TestSQL.run(db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        try await TestSQL.run(db, "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
        await #expect(throws: (any Error).self) { try await TestSQL.run(db, "INSERT INTO child VALUES (1)") }
    }
}

extension SQLiteConnectionTests {
    @Test("with a rollback journal, opening a connection while another holds the file's exclusive lock waits the busy timeout asked for, not until the lock goes")
    func openBoundedByBusyTimeout() async throws {
        let db = try await TestDatabase.make(.sqlite)
        // Write-ahead-log mode (the default) never holds a reader this way: `readerGoesOnInWAL` below.
        let holder = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        let other = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        try await holder.withConnection { sql in try await sql.raw("CREATE TABLE t (id INTEGER)").run() }
        #expect(try await journalMode(db) == "delete")
        try await holder.withConnection { lock in
            try await lock.raw("BEGIN EXCLUSIVE").run()
            let started = ContinuousClock.now
            // The lock goes after 20 s at the latest (so that a wait without bound still ends), or as
            // soon as the attempt is over. A wait without bound would then succeed: the attempt must fail.
            let release = Task {
                try? await Task.sleep(for: .seconds(20))
                try? await lock.raw("ROLLBACK").run()
            }
            let error = await #expect(throws: SQLiteError.self) {
                try await other.withConnection(busyTimeout: .milliseconds(100)) { sql in try await sql.raw("SELECT COUNT(*) AS n FROM t").run() }
            }
            #expect(error?.message.contains("locked") == true, "\(String(describing: error))")
            // Far below the 20 s: the suite's load can delay the attempt, never by that much.
            #expect(ContinuousClock.now - started < .seconds(10))
            release.cancel()
            await release.value
        }
    }
}

extension SQLiteConnectionTests {
    @Test("in write-ahead-log mode (the default), a reader goes on at once while a writer holds BEGIN EXCLUSIVE, and sees what was committed")
    func readerGoesOnInWAL() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let holder = try AppDatabase(location: db.location, logger: quietLogger)
        let other = try AppDatabase(location: db.location, logger: quietLogger)
        try await holder.withConnection { sql in
            try await sql.raw("CREATE TABLE t (id INTEGER)").run()
            try await sql.raw("INSERT INTO t VALUES (1)").run()
        }
        #expect(try await journalMode(db) == "wal")
        try await holder.withConnection { lock in
            try await lock.raw("BEGIN EXCLUSIVE").run()
            try await lock.raw("INSERT INTO t VALUES (2)").run()
            let n = try await other.withConnection(busyTimeout: .milliseconds(100)) { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM t").first()!.decode(column: "n", as: Int.self)
            }
            #expect(n == 1, "the committed row only")
            try await lock.raw("ROLLBACK").run()
        }
    }
}

/// The journal mode the file is in, read on a connection of SQLiteNIO's own (which sets none).
func journalMode(_ db: TestDatabase) async throws -> String {
    guard case .sqlite(let path) = db.location else { throw NotSQLite() }
    let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: quietLogger)
    do {
        let mode = try await connection.query("PRAGMA journal_mode").first?.column("journal_mode")?.string
        try await connection.close()
        return mode ?? ""
    } catch {
        try? await connection.close()
        throw error
    }
}

@Suite("SQLite: a process killed inside a migration sent whole", .dropsTestDatabases)
struct SQLiteKilledTests {
    /// Long enough (seconds of CPU) that the test sees the migration under way and kills the process
    /// inside the call; the kill comes as soon as it is seen.
    static let slow = """
        -- migrate:up
        CREATE TABLE slow (id INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT COUNT(*) FROM c;

        """

    @Test("app serve SIGKILLed inside app_migrate_whole: nothing of that migration remains, the file passes integrity_check, and the next server applies the rest")
    func killedInsideTheCall() async throws {
        let folder = try MigrationsDir(["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n", "2_slow.sql": Self.slow, "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);\n"])
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let path) = db.location else { Issue.record("expected SQLite"); return }
        let env = ["DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
                   "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
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
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations") == 1, "dbmate's history holds 1 only")
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

struct NotSQLite: Error {}
