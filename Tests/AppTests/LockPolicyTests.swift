import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Synchronization
import Testing

@testable import AppCore

/// A migration never queues the app's traffic behind its lock for longer than `MIGRATION_LOCK_WAIT`:
/// a long transaction has read table `t`, a migration needs `t` exclusively, and a reader queries `t`
/// every 50 ms. Every step waits on what the test sees in `pg_locks` or the log, never on a sleep.
@Suite("the lock policy on a live PostgreSQL", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct LockPolicyTests {
    static let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]
    static let alter = Migration(id: "0005_add_column", statements: ["ALTER TABLE t ADD COLUMN extra INTEGER"])

    /// Sessions waiting for a lock on `t` now.
    static func waitersOnT(_ sql: any SQLDatabase) async throws -> Int {
        try await sql.raw("SELECT COUNT(*) AS n FROM pg_locks WHERE relation = 't'::regclass AND NOT granted")
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }

    static func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<2400 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("never: \(what)")
        throw CancellationError()
    }

    /// Queries `t` every 50 ms on connections of its own until stopped; keeps the longest query's time.
    final class Reader: Sendable {
        final class Stats: Sendable {
            let longest = Mutex(Duration.zero)
            let done = Mutex(0)
        }
        let stats = Stats()
        private let task: Task<Void, any Error>

        init(_ db: TestDatabase) throws {
            let database = try AppDatabase(location: db.location, logger: quietLogger)
            task = Task { [stats] in
                try await database.withRunning {
                    while !Task.isCancelled {
                        let started = ContinuousClock.now
                        try await database.withConnection { try await $0.raw("SELECT COUNT(*) AS n FROM t").run() }
                        let took = ContinuousClock.now - started
                        stats.longest.withLock { $0 = max($0, took) }
                        stats.done.withLock { $0 += 1 }
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
        }

        var longest: Duration { stats.longest.withLock { $0 } }
        var done: Int { stats.done.withLock { $0 } }

        func stop() async {
            task.cancel()
            _ = await task.result
        }
    }

    static func post(_ client: any TestClientProtocol) -> Task<(HTTPResponse.Status, String), any Error> {
        Task { try await client.execute(uri: "/api/migrate", method: .post, headers: auth) { ($0.status, $0.text) } }
    }

    static func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    /// A server on a fresh database holding `t` (100 rows), with `variables`; the body gets the test
    /// client, the database, the long transaction (it has read `t`; COMMIT it to let the lock go) and
    /// its process id.
    static func run(
        _ variables: [String: String], logs: LogCapture,
        _ body: @Sendable @escaping (any TestClientProtocol, TestDatabase, any SQLDatabase, Int) async throws -> Void
    ) async throws {
        let db = try await TestDatabase.make(.postgres)
        try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
        try await TestSQL.run(db, "INSERT INTO t SELECT generate_series(1, 100)")
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration].merging(variables) { $1 })
        let app = try buildApplication(
            config: config, logger: logs.logger(level: .debug), migrations: Migration.all + [Self.alter])
        try await app.sweptTest(.router) { client in
            let holderDatabase = try AppDatabase(location: db.location, logger: quietLogger)
            try await holderDatabase.withRunning {
                try await holderDatabase.withConnection { holder in
                    let pid = try await holder.raw("SELECT pg_backend_pid() AS pid").first()!
                        .decode(column: "pid", as: Int.self)
                    try await holder.raw("BEGIN").run()
                    try await holder.raw("SELECT COUNT(*) AS n FROM t").run()
                    try await body(client, db, holder, pid)
                    try? await holder.raw("ROLLBACK").run()
                }
            }
        }
    }

    @Test(
        "control: with no lock wait, the ALTER queues behind the long transaction and every read of t queues behind it")
    func control() async throws {
        try await Self.run(["MIGRATION_LOCK_WAIT": "0"], logs: LogCapture()) { client, db, holder, _ in
            let post = Self.post(client)
            try await Self.until("the ALTER waits for t") { try await Self.waitersOnT(holder) == 1 }
            let reader = try Reader(db)
            // The reader's SELECT waits behind the ALTER, which waits behind the long transaction.
            try await Self.until("a read of t is queued behind the ALTER") { try await Self.waitersOnT(holder) >= 2 }
            #expect(reader.done == 0, "no read of t got through while the ALTER waited")
            try await holder.raw("COMMIT").run()
            let (status, _) = try await post.value
            #expect(status == .ok)
            try await Self.until("the reads go on") { reader.done > 0 }
            await reader.stop()
        }
    }

    @Test(
        "with a 2 s lock wait no read of t waits past 3 s: the migration is stopped, logged with its blocker, retried, and applied once the transaction ends"
    )
    func boundedWait() async throws {
        let logs = LogCapture()
        try await Self.run(["MIGRATION_LOCK_WAIT": "2", "MIGRATION_LOCK_RETRIES": "20"], logs: logs) {
            client, db, holder, holderPID in
            let reader = try Reader(db)
            let post = Self.post(client)
            let retried = { logs.lines.filter { $0.message.contains("migration stopped waiting for a lock") } }
            try await Self.until("the migration is stopped and retried twice") { retried().count >= 2 }
            let line = try #require(retried().first)
            #expect(line.level == .warning)
            #expect(line.metadata.contains("migration=0005_add_column"), "\(line.metadata)")
            #expect(line.metadata.contains("blockerPid=\(holderPID)"), "the blocker is named: \(line.metadata)")
            #expect(line.metadata.contains("blockerQuery=SELECT COUNT(*) AS n FROM t"), "\(line.metadata)")
            #expect(try await historyIDs(db)?.contains(Self.alter.id) == false, "nothing applied while held")
            try await holder.raw("COMMIT").run()
            let (status, text) = try await post.value
            #expect(status == .ok, "\(text)")
            #expect((Self.object(text)["applied"] as? [String])?.last == Self.alter.id)
            try await Self.until("reads after the migration") { reader.done > 3 }
            await reader.stop()
            // The lock wait plus a second: the bound the policy promises the app's reads.
            #expect(reader.longest < .seconds(3), "the longest read of t took \(reader.longest)")
        }
    }

    @Test("after the last try: 503 Migration blocked by a lock naming the blocker, nothing applied")
    func givesUp() async throws {
        let logs = LogCapture()
        try await Self.run(["MIGRATION_LOCK_WAIT": "0.5", "MIGRATION_LOCK_RETRIES": "1"], logs: logs) {
            client, db, holder, holderPID in
            let (status, text) = try await Self.post(client).value
            let json = Self.object(text)
            #expect(status == .serviceUnavailable)
            #expect(json["error"] as? String == "Migration blocked by a lock")
            #expect(json["migration"] as? String == Self.alter.id)
            #expect((json["blockedBy"] as? [String: Any])?["pid"] as? Int == holderPID, "\(text)")
            #expect(try await historyIDs(db)?.contains(Self.alter.id) == false)
            #expect(
                try await count(
                    db,
                    "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'extra'"
                ) == 0)
            #expect(logs.lines.contains { $0.level == .error && $0.message.contains("blocked by a lock") })
            // The command line, on the same held table: exit 3, the blocking process named.
            let dir = try TempDir()
            try FileManager.default.createDirectory(
                at: dir.url.appendingPathComponent("migrations"), withIntermediateDirectories: true)
            try dir.write("migrations/1_alter.sql", "-- migrate:up\nALTER TABLE t ADD COLUMN extra INTEGER;\n")
            let migrate = try await AppBinary.run(
                ["migrate"],
                environment: [
                    "DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": "migrations",
                    "MIGRATION_LOCK_WAIT": "0.5", "MIGRATION_LOCK_RETRIES": "0",
                ], directory: dir.url)
            #expect(migrate.status == 3, "\(migrate.err)")
            #expect(
                migrate.err.contains("error: migration 1_alter waited for a table lock past MIGRATION_LOCK_WAIT")
                    && migrate.err.contains("held by PostgreSQL process \(holderPID)"), "\(migrate.err)")
        }
    }

    @Test("outside a transaction: the stopped statement is tried again, the ones before it are done once")
    func outsideTransaction() async throws {
        let outside = Migration(
            id: "0006_outside",
            statements: ["CREATE TABLE before_alter (id INTEGER)", "ALTER TABLE t ADD COLUMN outside INTEGER"],
            down: nil, transactional: false, downTransactional: false, checksum: "outside")
        let logs = LogCapture()
        let db = try await TestDatabase.make(.postgres)
        try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
        let config = try AppHarness.config(
            db, ["MIGRATION_SECRET": Secrets.migration, "MIGRATION_LOCK_WAIT": "0.5", "MIGRATION_LOCK_RETRIES": "20"])
        let app = try buildApplication(
            config: config, logger: logs.logger(level: .debug), migrations: Migration.all + [outside])
        try await app.sweptTest(.router) { client in
            try await holdingAdvisoryLock(db, 1) { holder in
                try await holder.raw("BEGIN").run()
                try await holder.raw("SELECT COUNT(*) AS n FROM t").run()
                let post = Self.post(client)
                try await Self.until("the ALTER is stopped and retried") {
                    logs.lines.contains { $0.message.contains("migration stopped waiting for a lock") }
                }
                #expect(try await tableNames(db).contains("before_alter"), "the statement before it is done")
                try await holder.raw("COMMIT").run()
                let (status, text) = try await post.value
                #expect(status == .ok, "\(text)")
            }
        }
        #expect(try await texts(db, "SELECT state AS v FROM app_migrations WHERE id = '0006_outside'") == ["applied"])
    }

    @Test("MIGRATION_STATEMENT_TIMEOUT stops a statement that runs too long: the migration failed, not retried")
    func statementTimeout() async throws {
        let slow = Migration(id: "0005_slow", statements: ["CREATE TABLE slow (id INTEGER)", "SELECT pg_sleep(30)"])
        let logs = LogCapture()
        let db = try await TestDatabase.make(.postgres)
        let config = try AppHarness.config(
            db, ["MIGRATION_SECRET": Secrets.migration, "MIGRATION_STATEMENT_TIMEOUT": "0.5"])
        let app = try buildApplication(config: config, logger: logs.logger(), migrations: Migration.all + [slow])
        try await app.sweptTest(.router) { client in
            let (status, text) = try await Self.post(client).value
            #expect(status == .internalServerError)
            #expect(Self.object(text)["migration"] as? String == "0005_slow")
        }
        #expect(
            logs.lines.contains { $0.level == .error && $0.text.contains("57014") }, "canceled by statement_timeout")
        #expect(!logs.lines.contains { $0.message.contains("waiting for a lock") })
        #expect(try await !tableNames(db).contains("slow"))
    }

    /// The lock wait alone goes in the one call that applies a migration; with a statement timeout the
    /// migrations go the long way (BEGIN, SET LOCAL, statements, COMMIT).
    @Test(
        "the settings are local to the migration's transaction: a pooled connection keeps PostgreSQL's defaults",
        arguments: [
            LockPolicy(lockWait: .seconds(3)), LockPolicy(lockWait: .seconds(3), statementTimeout: .seconds(60)),
        ])
    func nothingLeftOnTheConnection(_ policy: LockPolicy) async throws {
        let db = try await TestDatabase.make(.postgres)
        // A pool of one: the connection the migrations ran on is the one asked afterwards.
        let database = try AppDatabase(
            location: db.location, postgresPool: PostgresPool(size: 1), logger: quietLogger)
        try await database.withRunning {
            var migrator = Migrator(
                database: database, migrations: Migration.all + [Self.alter], lockTimeout: .seconds(5),
                logger: quietLogger)
            migrator.lockPolicy = policy
            try await TestSQL.run(db, "CREATE TABLE t (id INTEGER)")
            #expect(try await migrator.migrate().count == 5)
            try await database.withConnection { sql in
                let lock = try await sql.raw("SHOW lock_timeout").first()?.decode(
                    column: "lock_timeout", as: String.self)
                let statement = try await sql.raw("SHOW statement_timeout").first()?
                    .decode(column: "statement_timeout", as: String.self)
                #expect(lock == "0" && statement == "0")
            }
        }
    }
}
