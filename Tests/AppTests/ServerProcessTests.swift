import AppCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@Suite("app serve and the command line", .dropsTestDatabases)
struct ServerProcessTests {
    @Test(
        "the server starts with no setup on SQLite under ./data/, logs the checks' warnings, and shuts down on SIGTERM")
    func startsOnDefaultSQLite() async throws {
        let dir = try TempDir()
        let server = try await ServerProcess.start(environment: [:], directory: dir.url)
        let (status, body) = try await get("\(server.baseURL)/healthz")
        #expect(status == 200)
        #expect(body == #"{"status":"ok"}"#)
        #expect(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("data/app.sqlite").path))
        #expect(await server.stop() == 0, "graceful shutdown exits 0")
        // Development: the missing migration secret is a warning, naming the check id.
        #expect(server.output.contains("warning") && server.output.contains("migration-secret.missing"))
        #expect(!server.output.contains("error "), "development logs issues as warnings only")
    }

    @Test("/healthz follows the database", arguments: Engine.available)
    func healthFollowsDatabase(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let dir = try TempDir()
        let server = try await ServerProcess.start(
            environment: ["DATABASE_URL": db.url, "APP_ENV": "test"], directory: dir.url)
        defer { Task { await server.stop() } }
        #expect(try await get("\(server.baseURL)/healthz").0 == 200)
        switch engine {
        case .sqlite:
            // The server may be opening its held connection meanwhile, making the log beside the file
            // as the folder is emptied: tried again until the folder is gone.
            try await waitUntil("the database's folder is removed", timeout: .seconds(10)) {
                try? FileManager.default.removeItem(at: db.dir.url)
                return !FileManager.default.fileExists(atPath: db.dir.url.path)
            }
        case .postgres:
            let pg = try #require(db.postgres)
            try await TestDatabase.adminSQL("DROP DATABASE \(pg.database) WITH (FORCE)")
        }
        let (status, body) = try await get("\(server.baseURL)/healthz")
        #expect(status == 503)
        #expect(body == #"{"status":"unavailable"}"#)
        #expect(try await get("\(server.baseURL)/livez").0 == 200, "liveness does not depend on the database")
        await server.stop()
    }

    @Test("app serve on PostgreSQL answers the migrate contract end to end", .enabled(if: Tool.postgres))
    func servesOnPostgres() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try TempDir()
        let server = try await ServerProcess.start(
            environment: [
                "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            ], directory: dir.url)
        #expect(try await get("\(server.baseURL)/healthz").0 == 200)
        #expect(try await get("\(server.baseURL)/api/migrate", method: .POST).0 == 401)
        let (status, body) = try await get(
            "\(server.baseURL)/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")], method: .POST)
        #expect(status == 200)
        #expect(body.contains(#""message":"Migrations applied""#))
        await server.stop()
        #expect(!server.output.contains(Secrets.migration) && !server.output.contains(Secrets.session))
    }

    @Test(
        "three app serve processes on one PostgreSQL, 100 concurrent POSTs: each migration once, schema complete",
        .enabled(if: Tool.postgres))
    func threeInstances() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try TempDir()
        let env = [
            "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            "APP_ENV": "test",
        ]
        var servers: [ServerProcess] = []
        for _ in 0..<3 { servers.append(try await ServerProcess.start(environment: env, directory: dir.url)) }
        let urls = servers.map(\.baseURL)
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<100 {
                group.addTask {
                    try await get(
                        "\(urls[i % 3])/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")],
                        method: .POST)
                }
            }
            return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }
        }
        for server in servers { await server.stop() }
        #expect(answers.count == 100)
        // Every call waits for the lock (30 s) rather than giving up: each answers 200, and the ids the
        // calls report applying add up to every migration, each reported by exactly one call.
        #expect(answers.allSatisfy { $0.0 == 200 }, "got \(Set(answers.map(\.0)))")
        let applied = answers.flatMap { answer -> [String] in
            let json = try? JSONSerialization.jsonObject(with: Data(answer.1.utf8)) as? [String: Any]
            return json?["applied"] as? [String] ?? []
        }
        #expect(applied.sorted() == Migration.all.map(\.id), "each migration applied by exactly one call")
        #expect(try await historyIDs(db) == Migration.all.map(\.id), "each migration exactly once in the history")
        #expect(try await tableNames(db).isSuperset(of: ["users", "accounts", "sessions", "verification_tokens"]))
        let logs = servers.map(\.output).joined()
        #expect(!logs.contains(Secrets.migration))
    }

    @Test("app secret prints 64 lowercase hex characters and a newline, and two runs differ")
    func secret() async throws {
        let a = try await AppBinary.run(["secret"])
        let b = try await AppBinary.run(["secret"])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.out.range(of: #"^[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
        #expect(b.out.range(of: #"^[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
        #expect(a.out != b.out)
        #expect(a.err.isEmpty)
    }

    @Test("a malformed DATABASE_URL stops startup with a message naming the variable, not the password")
    func malformedURLAtStartup() async throws {
        let dir = try TempDir()
        let result = try await AppBinary.run(
            ["serve", "--port", "0"], environment: ["DATABASE_URL": "postgres://u:hunter2pass@/db"], directory: dir.url)
        #expect(result.status != 0)
        #expect(result.err.contains("DATABASE_URL"))
        #expect(!(result.out + result.err).contains("hunter2pass"))
    }

    @Test("app migrate, --status and --dry-run run the same migrator", arguments: Engine.available)
    func migrateCommand(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let dir = try TempDir()
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test"]
        let dry = try await AppBinary.run(["migrate", "--dry-run"], environment: env, directory: dir.url)
        #expect(dry.status == 0)
        #expect(dry.out.contains("Would apply 0001_create_users\n") && dry.out.hasSuffix("4 migrations to apply.\n"))
        #expect(try await historyIDs(db) == nil)
        let applied = try await AppBinary.run(["migrate"], environment: env, directory: dir.url)
        #expect(applied.status == 0)
        #expect(applied.out.contains("Applied 0004_create_verification_tokens in "))
        let status = try await AppBinary.run(["migrate", "--status"], environment: env, directory: dir.url)
        #expect(status.out.components(separatedBy: "\napplied  ").count == Migration.all.count + 1)
        #expect(status.out.hasSuffix("\nApplied: 4  Pending: 0\n"))
        #expect(try await historyIDs(db) == Migration.all.map(\.id))
    }

    @Test("a database that cannot be set up: app migrate and app check name the path and the cause on one line")
    func brokenDatabaseCommands() async throws {
        let dir = try TempDir()
        let env = ["DATABASE_URL": "sqlite:///proc/no-such-dir/app.sqlite", "APP_ENV": "test"]
        let migrate = try await AppBinary.run(["migrate"], environment: env, directory: dir.url)
        #expect(migrate.status == 1)
        #expect(migrate.out.isEmpty)
        let lines = migrate.err.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(migrate.err)")
        #expect(
            migrate.err.hasPrefix(
                "error: database unavailable: SQLite file /proc/no-such-dir/app.sqlite: its folder /proc/no-such-dir cannot be created"
            ))

        let check = try await AppBinary.run(
            ["check"],
            environment: env.merging(["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]) {
                $1
            }, directory: dir.url)
        #expect(check.status == 1)
        #expect(
            check.out.contains(
                "ERROR database.unreachable: The database named by DATABASE_URL cannot be used: SQLite file /proc/no-such-dir/app.sqlite"
            ))
    }

    @Test("app migrate on an unreachable PostgreSQL fails on one line without the password")
    func migrateUnreachablePostgres() async throws {
        let dir = try TempDir()
        let url = "postgres://u:hunter2pass@127.0.0.1:\(try refusedPort())/d?sslmode=disable"
        let result = try await AppBinary.run(
            ["migrate"], environment: ["DATABASE_URL": url, "APP_ENV": "test"], directory: dir.url)
        #expect(result.status == 1)
        #expect(result.err.hasPrefix("error: database unavailable: "))
        #expect(result.err.split(separator: "\n").count == 1)
        #expect(!(result.out + result.err).contains("hunter2pass"))
    }

    /// On PostgreSQL the pool's first connection opens while the folder is read (`connectAhead`). An
    /// invalid folder is still the one thing reported, whatever that connection does, and the command
    /// does not wait for it: the refused one is retried for `DATABASE_POOL_TIMEOUT`, 30 s here.
    @Test(
        "app migrate on PostgreSQL with an invalid folder reports the folder alone, reachable server or not",
        .enabled(if: Tool.postgres))
    func invalidFolderOnPostgres() async throws {
        let bad = try MigrationsDir(["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INT);\n-- migrate:up\n"])
        let reachable = try await TestDatabase.make(.postgres)
        let refused = "postgres://u:hunter2pass@127.0.0.1:\(try refusedPort())/d?sslmode=disable"
        for url in [reachable.url, refused] {
            let started = ContinuousClock.now
            let result = try await AppBinary.run(
                ["migrate"],
                environment: ["DATABASE_URL": url, "MIGRATIONS_DIR": bad.path, "DATABASE_POOL_TIMEOUT": "30"],
                directory: bad.dir.url)
            #expect(result.status == 2)
            #expect(result.err == "error: migrations invalid: 1_a.sql:3: a second -- migrate:up\n")
            #expect(result.out.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(15), "the refused connection's retries are not waited for")
        }
        #expect(try await tableNames(reachable).isEmpty, "nothing made on the reachable server")
    }
}
