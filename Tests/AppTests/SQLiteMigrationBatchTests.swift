import AppSQLiteShim
import Foundation
import Logging
import NIOCore
import SQLKit
import SQLiteKit
import Synchronization
import Testing

@testable import AppCore

/// On SQLite, the transactional migrations after a run's first are applied in one call of
/// `app_migrate_batch` (Sources/AppSQLiteShim). Which way a migration went is read from the migration
/// itself: SQLite's `sqlite_stmt` table lists the connection's running statements, and inside the
/// call that includes the call's own SELECT.
@Suite("SQLite: migrations applied in one call", .dropsTestDatabases)
struct SQLiteMigrationBatchTests {
    /// 1 when the statement runs inside `app_migrate_batch`, 0 when it was sent on its own.
    static let inCall = "(SELECT COUNT(*) FROM sqlite_stmt WHERE busy AND sql LIKE 'SELECT app_migrate_batch(%')"

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

    static func migrate(
        _ db: TestDatabase, _ folder: MigrationsDir, logger: Logger = quietLogger,
        onProgress: (@Sendable (MigrationProgress) -> Void)? = nil
    ) async throws -> [String] {
        let database = try AppDatabase(location: db.location, logger: logger)
        var migrator = Migrator(
            database: database, catalog: folder.catalog(.sqlite), lockTimeout: .seconds(10), logger: logger)
        migrator.onProgress = onProgress
        let configured = migrator
        return try await database.withRunning { try await configured.migrate() }
    }

    /// A table for the server's history, as a run makes it.
    static func historyTable(_ db: TestDatabase) async throws {
        try await TestSQL.run(
            db,
            "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')"
        )
    }

    /// A fresh SQLite file with the server's history table, and a migration for each of `names`, each
    /// making a table (`1_a` makes `a`, …; `extra` adds statements to one by its name).
    static func fresh(_ names: [String], extra: [String: String] = [:]) async throws -> (
        migrations: [Migration], db: TestDatabase, path: String, database: AppDatabase
    ) {
        var files: [String: String] = [:]
        for name in names {
            let table = name.split(separator: "_").last ?? ""
            files["\(name).sql"] = "-- migrate:up\nCREATE TABLE \(table) (id INTEGER);\n" + (extra[name] ?? "")
        }
        let migrations = try MigrationsDir(files).catalog(.sqlite).migrations
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let path) = db.location else { throw NotSQLite() }
        try await historyTable(db)
        return (migrations, db, path, try AppDatabase(location: db.location, logger: quietLogger))
    }

    /// Runs `script` in Python's sqlite3 on the file at `path`, with `c` its connection: another
    /// connection than the server's, in another process. Its output, trimmed.
    static func otherConnection(_ path: String, _ script: String) -> String {
        let output = try? runProcessBlocking([
            "python3", "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); " + script, path,
        ])
        return String(decoding: output?.stdout ?? Data(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The error `query` fails with, as text (an issue is recorded when it does not fail).
    static func refusal(_ sql: any SQLDatabase, _ query: SQLQueryString) async -> String {
        let error = await #expect(throws: (any Error).self) { try await sql.raw(query).run() }
        return String(describing: error)
    }

    /// `migrations` as one batch, each expecting the history its predecessors leave.
    static func batch(_ migrations: [Migration], after rows: Int = 0) -> [WholeMigration] {
        migrations.indices.map { index in
            WholeMigration(
                migration: migrations[index],
                expected: .init(
                    count: rows + index, last: index == 0 ? nil : migrations[index - 1].id, running: 0),
                toolStatements: { _ in [] })
        }
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
        try await Self.historyTable(db)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let apply = { @Sendable (count: Int, sql: any SQLDatabase) async throws -> Int in
            let whole = WholeMigration(
                migration: migration, expected: .init(count: count, last: nil, running: 0), toolStatements: { _ in [] })
            return try await database.engine.applyWhole([whole], sql) { _, _ in }
        }
        try await database.withRunning {
            try await database.withConnection(busyTimeout: .milliseconds(10)) { sql in
                // The history has no rows: a call expecting one declines.
                #expect(try await apply(1, sql) == 0)
                // Another connection holds SQLite's write lock.
                let other = try AppDatabase(location: db.location, logger: quietLogger)
                try await other.withRunning {
                    try await other.withConnection { holder in
                        try await holder.raw("BEGIN IMMEDIATE").run()
                        #expect(try await apply(0, sql) == 0)
                        try await holder.raw("ROLLBACK").run()
                    }
                }
                // Another runner holds the run lock (a migration outside a transaction).
                let fd = open(path + "-migrate.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
                #expect(flock(fd, LOCK_EX) == 0)
                #expect(try await apply(0, sql) == 0)
                flock(fd, LOCK_UN)
                close(fd)
                #expect(try await tableNames(db).contains("plain") == false)
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 0)
                // Nothing in the way: the same call applies it with its row.
                #expect(try await apply(0, sql) == 1)
            }
        }
        #expect(try await historyIDs(db) == ["3_plain"])
        #expect(try await tableNames(db).contains("plain"))
    }

    @Test(
        "the function cannot be reached from a trigger a database file brings, nor with a number the server did not register, nor inside an open transaction"
    )
    func notFromTriggersOrTransactions() async throws {
        let db = try await TestDatabase.make(.sqlite)
        try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
        try await TestSQL.run(
            db, "CREATE TRIGGER sneaky AFTER INSERT ON t BEGIN SELECT app_migrate_batch(1, x''); END")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let token = Int64.random(in: 1...Int64.max)
        try await database.withRunning {
            try await database.withConnection { sql in
                let fromTrigger = await Self.refusal(sql, "INSERT INTO t VALUES (1)")
                #expect(fromTrigger.contains("unsafe use of app_migrate_batch"), "\(fromTrigger)")
                // A migration's own SQL cannot name a run: the server registers a number just before its
                // call, and forgets it after.
                let call: SQLQueryString = "SELECT app_migrate_batch(\(bind: token), x'')"
                let unknown = await Self.refusal(sql, call)
                #expect(unknown.contains("not a run of this server"), "\(unknown)")
                #expect(app_sqlite_shim_register_run(token, { _, _, _ in }, nil) == 0)
                defer { app_sqlite_shim_unregister_run(token) }
                #expect(app_sqlite_shim_register_run(token, { _, _, _ in }, nil) == -1, "a number is one run's")
                try await sql.raw("BEGIN").run()
                let inTransaction = await Self.refusal(sql, call)
                #expect(inTransaction.contains("a transaction is already open"), "\(inTransaction)")
                try await sql.raw("ROLLBACK").run()
                // Registered, outside a transaction, a malformed batch is refused before anything runs.
                let malformed = await Self.refusal(
                    sql, "SELECT app_migrate_batch(\(bind: token), x'0100000001000000')")
                #expect(malformed.contains("malformed arguments"), "\(malformed)")
            }
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM t") == 0)
    }

    @Test(
        "several migrations go to SQLite as one statement, each reported as it commits: its row is visible to another connection before the next one begins"
    )
    func severalInOneCall() async throws {
        let (migrations, db, path, database) = try await Self.fresh(
            ["1_a", "2_b", "3_c"], extra: ["2_b": "INSERT INTO b VALUES (1);\n"])
        let reports = Mutex<[String]>([])
        let applied = try await database.withRunning {
            try await database.withConnection { sql in
                let counting = CountingDatabase(sql)
                let applied = try await database.engine.applyWhole(Self.batch(migrations), counting) { index, ms in
                    // On SQLite's thread, inside the call: what another connection sees now.
                    let rows = Self.otherConnection(
                        path,
                        "print(c.execute('SELECT group_concat(id) FROM (SELECT id FROM app_migrations ORDER BY id)').fetchone()[0])"
                    )
                    reports.withLock { $0.append("\(index) \(migrations[index].id) ms>=0:\(ms >= 0) seen:\(rows)") }
                }
                #expect(counting.sent == 1, "one statement for all three")
                return applied
            }
        }
        #expect(applied == 3)
        #expect(
            reports.withLock { $0 } == [
                "0 1_a ms>=0:true seen:1_a", "1 2_b ms>=0:true seen:1_a,2_b", "2 3_c ms>=0:true seen:1_a,2_b,3_c",
            ])
        #expect(try await tableNames(db).isSuperset(of: ["a", "b", "c"]))
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM b") == 1)
    }

    @Test(
        "another runner's commit between two migrations of a call is seen: the next one's history check runs, fails, and the call stops, keeping the ones before it"
    )
    func stopsWhenAnotherWriterCommits() async throws {
        let (migrations, db, path, database) = try await Self.fresh(["1_a", "2_b", "3_c"])
        let reported = Mutex<[Int]>([])
        let applied = try await database.withRunning {
            try await database.withConnection { sql in
                try await database.engine.applyWhole(Self.batch(migrations), sql) { index, _ in
                    reported.withLock { $0.append(index) }
                    guard index == 0 else { return }
                    // Between the call's first COMMIT and its next BEGIN: another runner's row lands.
                    _ = Self.otherConnection(
                        path,
                        "c.execute(\"INSERT INTO app_migrations VALUES ('0_other', 'x', 'now', 0, 'applied')\"); c.commit()"
                    )
                }
            }
        }
        #expect(applied == 1, "2_b expected one row before it and found two")
        #expect(reported.withLock { $0 } == [0])
        #expect(try await historyIDs(db) == ["0_other", "1_a"])
        #expect(try await tableNames(db).contains("b") == false)
    }

    @Test(
        "another runner's commit that lands the moment a migration of the call commits, before the call reads anything more, is seen: the next one's check runs and the call stops, rather than applying what the other runner applied"
    )
    func anotherCommitRightAfterACommit() async throws {
        let (migrations, db, path, _) = try await Self.fresh(["1_a", "2_b", "3_c"])
        let landed = Mutex<[String]>([])
        // Inside the call's first COMMIT, once the write lock is released (SQLite's WAL hook): another
        // runner applies 2_b, as a runner of another process would, and nothing of the call runs between.
        let seam = try AfterCommitSeam(path: path) {
            guard landed.withLock({ $0.isEmpty }) else { return }
            let ids = Self.otherConnection(
                path,
                """
                ids = [r[0] for r in c.execute('SELECT id FROM app_migrations ORDER BY id')]
                if ids == ['1_a']:
                    c.execute('CREATE TABLE b (id INTEGER)')
                    c.execute("INSERT INTO app_migrations VALUES ('2_b', 'x', 'now', 0, 'applied')")
                    c.commit()
                print(','.join(ids))
                """)
            landed.withLock { $0.append(ids) }
        }
        let applied: Int
        do {
            defer { seam.stop() }
            // Its connections open after the seam is set, so each has the handler.
            let database = try AppDatabase(location: db.location, logger: quietLogger)
            applied = try await database.withRunning {
                try await database.withConnection { sql in
                    try await database.engine.applyWhole(Self.batch(migrations), sql) { _, _ in }
                }
            }
        }
        #expect(landed.withLock { $0 } == ["1_a"], "the other runner's commit landed right after 1_a's")
        #expect(applied == 1, "2_b's check found another runner's row, not the history this call left")
        #expect(try await historyIDs(db) == ["1_a", "2_b"])
        #expect(try await tableNames(db).contains("c") == false)
    }

    @Test("with no other writer, the history check runs for a call's first migration only, and the rest apply")
    func checkedOnceWithoutOtherWriters() async throws {
        let (migrations, db, _, database) = try await Self.fresh(["1_a", "2_b"])
        let applied = try await database.withRunning {
            try await database.withConnection { sql in
                var batch = Self.batch(migrations)
                // A check that would fail if it ran: nobody else wrote, so the call knows the history is
                // the one it left, and does not run it.
                batch[1].expected.count = 5
                return try await database.engine.applyWhole(batch, sql) { _, _ in }
            }
        }
        #expect(applied == 2)
        #expect(try await historyIDs(db) == ["1_a", "2_b"])
    }

    @Test(
        "a run reports each migration as it starts and as it commits, in order; a failure in the middle of a call keeps the ones before it and names the one that failed"
    )
    func progressAndFailureInACall() async throws {
        var files = [
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n",
            "2_b.sql": "-- migrate:up\nCREATE TABLE b (id INTEGER);\n",
            "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);\n",
            "4_bad.sql": "-- migrate:up\nCREATE TABLE d (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
            "5_e.sql": "-- migrate:up\nCREATE TABLE e (id INTEGER);\n",
        ]
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(.sqlite)
        let events = Mutex<[String]>([])
        let record = { @Sendable (progress: MigrationProgress) in
            switch progress {
            case .started(let id, _): events.withLock { $0.append("started \(id)") }
            case .applied(let id, _): events.withLock { $0.append("applied \(id)") }
            }
        }
        let log = LogCapture()
        await #expect(throws: MigrationError.failed(migration: "4_bad")) {
            try await Self.migrate(db, folder, logger: log.logger(level: .error), onProgress: record)
        }
        #expect(log.text.contains("no such table: nowhere"), "\(log.text)")
        #expect(
            events.withLock { $0 } == [
                "started 1_a", "applied 1_a", "started 2_b", "applied 2_b", "started 3_c", "applied 3_c",
                "started 4_bad",
            ])
        #expect(try await historyIDs(db) == ["1_a", "2_b", "3_c"])
        #expect(try await tableNames(db).contains("d") == false)

        // Fixed, the run takes it from there, the rest in one call.
        files["4_bad.sql"] = "-- migrate:up\nCREATE TABLE d (id INTEGER);\n"
        try folder.write("4_bad.sql", files["4_bad.sql"]!)
        events.withLock { $0.removeAll() }
        #expect(try await Self.migrate(db, folder, onProgress: record) == ["4_bad", "5_e"])
        #expect(events.withLock { $0 } == ["started 4_bad", "applied 4_bad", "started 5_e", "applied 5_e"])
    }
}

/// The database as it is, counting the statements sent to it.
final class CountingDatabase: SQLDatabase, Sendable {
    let base: any SQLDatabase
    private let count = Mutex(0)
    var sent: Int { count.withLock { $0 } }

    init(_ base: any SQLDatabase) { self.base = base }

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<
        Void
    > {
        count.withLock { $0 += 1 }
        return base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        count.withLock { $0 += 1 }
        try await base.execute(sql: query, onRow)
    }
}
