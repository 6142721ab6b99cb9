import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("migrator", .dropsTestDatabases)
struct MigratorTests {
    static let broken = Migration(
        id: "0005_create_widgets",
        statements: [
            "CREATE TABLE widgets (id TEXT PRIMARY KEY)",
            "INSERT INTO no_such_table (id) VALUES ('x')",
        ])
    static let fixed = Migration(
        id: "0005_create_widgets",
        statements: [
            "CREATE TABLE widgets (id TEXT PRIMARY KEY)"
        ])
    static let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

    @Test(
        "a failing migration leaves neither its table nor its history row; the fixed one applies next",
        arguments: Engine.available)
    func atomicity(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        let logs = LogCapture()
        let brokenApp = try buildApplication(
            config: config, logger: logs.logger(), migrations: Migration.all + [Self.broken])
        try await brokenApp.sweptTest(.router) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                #expect(response.status == .internalServerError)
                #expect(response.json["success"] as? Bool == false)
                #expect(response.json["error"] as? String == "Migration failed")
                #expect(response.json["migration"] as? String == "0005_create_widgets")
            }
        }
        #expect(try await !tableNames(db).contains("widgets"))
        #expect(try await historyIDs(db) == Migration.all.map(\.id))
        #expect(
            logs.lines.contains {
                $0.level == .error && $0.text.contains("0005_create_widgets") && $0.text.contains("no_such_table")
            },
            "the cause goes to the log")

        let fixedApp = try buildApplication(
            config: config, logger: quietLogger, migrations: Migration.all + [Self.fixed])
        try await fixedApp.sweptTest(.router) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [String] == ["0005_create_widgets"])
            }
        }
        #expect(try await tableNames(db).contains("widgets"))
    }

    @Test("an edited applied migration stops everything with 409 and names it", arguments: Engine.available)
    func drift(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(.router) {
            client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) {
                #expect($0.status == .ok)
            }
        }
        var edited = Migration.all
        edited[1] = Migration(
            id: edited[1].id, statements: edited[1].statements + ["CREATE INDEX accounts_type ON accounts (type)"])
        try await buildApplication(config: config, logger: quietLogger, migrations: edited + [Self.fixed]).sweptTest(
            .router
        ) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                #expect(response.status == .conflict)
                #expect(response.json["error"] as? String == "Migration history does not match")
                #expect(response.json["migration"] as? String == "0002_create_accounts")
            }
        }
        #expect(try await !tableNames(db).contains("widgets"), "nothing runs on a drifted history")
    }

    @Test("status reports history rows that the code does not know", arguments: Engine.available)
    func unknownRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            _ = try await Migrator(
                database: database, migrations: Migration.all + [Self.fixed], lockTimeout: .seconds(5),
                logger: quietLogger
            ).migrate()
            let status = try await Migrator(
                database: database, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger
            ).status()
            #expect(status.unknown == ["0005_create_widgets"])
            #expect(status.pending == [])
            #expect(status.applied.count == Migration.all.count + 1)
        }
    }

    @Test(
        "the history's start read ahead: a status tells what was read then; a run that finds work reads again under the lock, so nothing applies twice; a read that failed is the run's failure",
        arguments: Engine.available)
    func historyAhead(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        @Sendable func migrator(_ migrations: [Migration], ahead: Task<HistoryStart, any Error>?) -> Migrator {
            var migrator = Migrator(
                database: database, migrations: migrations, lockTimeout: .seconds(5), logger: quietLogger)
            migrator.historyAhead = ahead
            return migrator
        }
        try await database.withRunning {
            // Read on an empty database; then another runner applies everything.
            let early = Task { try await HistoryStart.read(database) }
            _ = try await early.value
            #expect(try await migrator(Migration.all, ahead: nil).migrate() == Migration.all.map(\.id))
            #expect(try await migrator(Migration.all, ahead: early).status().pending == Migration.all.map(\.id))
            #expect(try await migrator(Migration.all, ahead: early).migrate() == [], "read again under the lock")
            // Read with everything applied; a migration added since is applied.
            let fresh = Task { try await HistoryStart.read(database) }
            #expect(try await migrator(Migration.all + [Self.fixed], ahead: fresh).migrate() == [Self.fixed.id])
        }
        #expect(try await historyIDs(db) == Migration.all.map(\.id) + [Self.fixed.id])

        // The server's table name held by a table of another layout: the read ahead fails, and so does the run.
        let other = try await TestDatabase.make(engine)
        try await TestSQL.run(other, "CREATE TABLE app_migrations (x INTEGER)")
        let otherDatabase = try AppDatabase(location: other.location, logger: quietLogger)
        let failure = try await otherDatabase.withRunning {
            var run = Migrator(
                database: otherDatabase, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger)
            run.historyAhead = Task { try await HistoryStart.read(otherDatabase) }
            do {
                _ = try await run.migrate()
                return nil as (any Error)?
            } catch {
                return error
            }
        }
        guard case MigrationError.foreignHistory(let table, _)? = failure as? MigrationError else {
            Issue.record("\(String(describing: failure))")
            return
        }
        #expect(table == "app_migrations")

        // Liquibase's table beside that one, under a dbmate folder: the read refuses Liquibase's first,
        // read ahead or not (the rows that could not be read ahead are raised where they are read).
        try await TestSQL.run(other, "CREATE TABLE databasechangelog (id TEXT)")
        let folder = try MigrationsDir(["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n"])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: engine == .sqlite ? .sqlite : .postgres)
        var refusals: [String] = []
        for ahead in [false, true] {
            // A database of its own each time: PostgreSQL's pool runs once per instance.
            let fresh = try AppDatabase(location: other.location, logger: quietLogger)
            let refusal = try await fresh.withRunning {
                var run = Migrator(database: fresh, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger)
                if ahead { run.historyAhead = Task { try await HistoryStart.read(fresh) } }
                do {
                    _ = try await run.migrate()
                    return "applied"
                } catch {
                    return "\(error)"
                }
            }
            refusals.append(refusal)
        }
        #expect(refusals[0] == refusals[1], "\(refusals)")
        #expect(refusals[0].contains("databasechangelog"), "\(refusals)")
    }

    @Test(
        "the history's start read ahead holds the tool's table's columns, and the read without the lock takes them from it rather than ask",
        arguments: Engine.available)
    func columnsAhead(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n"])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: engine == .sqlite ? .sqlite : .postgres)
        let setup = try AppDatabase(location: db.location, logger: quietLogger)
        try await setup.withRunning {
            _ = try await Migrator(database: setup, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger)
                .migrate()
        }
        /// A no-op run on a database of its own (PostgreSQL's pool runs once per instance), its history's
        /// start read ahead first when `ahead`, or replaced by `given`; its outcome, the start, and the
        /// queries the run itself logged.
        func run(ahead: Bool, given: HistoryStart? = nil) async throws -> (String, HistoryStart?, [String]) {
            let logs = LogCapture()
            let database = try AppDatabase(location: db.location, logger: logs.logger())
            return try await database.withRunning {
                var run = Migrator(database: database, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger)
                var start: HistoryStart?
                if ahead {
                    start = try await HistoryStart.read(database)
                    run.historyAhead = Task { [start] in given ?? start! }
                }
                let before = logs.lines.count
                let outcome: String
                do {
                    outcome = "applied \(try await run.migrate())"
                } catch {
                    outcome = "\(error)"
                }
                return (outcome, start, logs.lines.dropFirst(before).map(\.text))
            }
        }
        let (asking, _, askingLines) = try await run(ahead: false)
        let (reading, start, readingLines) = try await run(ahead: true)
        #expect(asking == "applied []" && reading == "applied []", "\(asking) / \(reading)")
        // dbmate's table, laid out as dbmate lays it out; the server's own table is not asked about.
        #expect(start?.columns == ["schema_migrations": ["version"]])
        if engine == .sqlite {
            // The queries SQLite ran, from its query log: the column question only where nothing was read ahead.
            #expect(askingLines.contains { $0.contains("pragma_table_info") })
            #expect(readingLines.contains { $0.contains("schema_migrations") }, "the run's queries are logged")
            #expect(!readingLines.contains { $0.contains("pragma_table_info") })
        }
        // Columns read ahead that show golang-migrate's layout (as if it had taken the table over a
        // moment before) are what the read goes by: it refuses the database as golang-migrate's.
        let read = try #require(start)
        let golang = HistoryStart(
            names: read.names, columns: ["schema_migrations": ["version", "dirty"]], rows: read.rows)
        let (refused, _, _) = try await run(ahead: true, given: golang)
        #expect(refused.contains("golang-migrate"), "\(refused)")
    }

    @Test("a runner that can't get the lock within MIGRATION_LOCK_TIMEOUT answers 409", arguments: Engine.available)
    func lockTimeout(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let holder = try AppDatabase(location: db.location, logger: quietLogger)
        let config = try AppHarness.config(
            db, ["MIGRATION_SECRET": Secrets.migration, "MIGRATION_LOCK_TIMEOUT": "0.3"])
        try await holder.withRunning {
            try await holder.withConnection { sql in
                // Another runner holds the lock for the whole request: the engine's own runner lock.
                try #require(try await holder.engine.beginLocked(sql, deadline: .now + .seconds(5), heldRunLock: false))
                let started = ContinuousClock.now
                try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(
                    .router
                ) { client in
                    try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                        #expect(response.status == .conflict)
                        #expect(response.json["error"] as? String == "Migration already in progress")
                    }
                }
                #expect(ContinuousClock.now - started >= .milliseconds(300), "it waited for the lock first")
                try await sql.raw("ROLLBACK").run()
            }
        }
        #expect(try await historyIDs(db) == nil)
    }

    @Test("many runners at once apply each migration exactly once", arguments: Engine.available)
    func concurrentRunners(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let many =
            Migration.all
            + (5...30).map {
                Migration(
                    id: String(format: "%04d_create_t%d", $0, $0), statements: ["CREATE TABLE t\($0) (id INTEGER)"])
            }
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let results = try await database.withRunning {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await Migrator(
                            database: database, migrations: many, lockTimeout: .seconds(120), logger: quietLogger
                        ).migrate()
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
        }
        #expect(results.flatMap { $0 }.sorted() == many.map(\.id), "every migration applied by exactly one runner")
        #expect(try await historyIDs(db) == many.map(\.id))
    }
}
