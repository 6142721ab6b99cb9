import AppServer
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import AppCore

/// One way a folder is invalid; nothing of it (not even `0_valid.sql`) may be applied.
struct InvalidFolderCase: CustomTestStringConvertible, Sendable {
    var name: String
    var files: [String: [UInt8]]
    /// Point at a folder that does not exist.
    var missing = false
    /// The file the answers name (nil: the folder's path).
    var file: String?
    var line: Int?
    var reason: String
    var testDescription: String { name }
}

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

let invalidFolderCases: [InvalidFolderCase] = [
    .init(
        name: "a .sql file whose name has no version", files: ["create_widgets.sql": text("SELECT 1;")],
        file: "create_widgets.sql", reason: "must start with a version"),
    .init(
        name: "two files with one version",
        files: ["5_a.sql": text("-- migrate:up\nSELECT 1;"), "005_b.sql": text("-- migrate:up\nSELECT 2;")],
        file: "5_a.sql", reason: "version 5 is also used by 005_b.sql"),
    .init(name: "a folder that cannot be read", files: [:], missing: true, reason: "cannot be read"),
    .init(
        name: "a string left open", files: ["1_a.sql": text("-- migrate:up\nSELECT 1;\nSELECT 'open;\n")],
        file: "1_a.sql", line: 3, reason: "a string is not closed"),
    .init(
        name: "a comment left open", files: ["1_a.sql": text("-- migrate:up\n/* open\n-- migrate:down\n")],
        file: "1_a.sql", line: 2, reason: "a /* comment is not closed"),
    .init(
        name: "a quoted identifier left open", files: ["1_a.sql": text("-- migrate:up\nSELECT \"open\n")],
        file: "1_a.sql", line: 2, reason: "a quoted identifier is not closed"),
    .init(
        name: "an unknown marker option", files: ["1_a.sql": text("-- migrate:up transaction:nope\nSELECT 1;\n")],
        file: "1_a.sql", line: 1, reason: "unknown option"),
    .init(
        name: "SQL before -- migrate:up", files: ["1_a.sql": text("SELECT 1;\n-- migrate:up\nSELECT 2;\n")],
        file: "1_a.sql", line: 1, reason: "belongs to no section"),
    .init(
        name: "a file without -- migrate:up beside dbmate's",
        files: ["1_a.sql": text("CREATE TABLE a (id INTEGER);\n")],
        file: "1_a.sql", reason: "no -- migrate:up line"),
    .init(
        name: "another tool's marker in a dbmate file",
        files: ["1_a.sql": text("-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- +goose Down\nDROP TABLE a;\n")],
        file: "1_a.sql", line: 3, reason: "is goose's marker"),
    .init(
        name: "a file that is not UTF-8", files: ["1_a.sql": [0x53, 0x45, 0xFF, 0xFE, 0x3B]],
        file: "1_a.sql", reason: "not UTF-8"),
]

@Suite("migrations folder: invalid folders, the command line, interrupted runs", .dropsTestDatabases)
struct FolderCommandTests {
    static func folder(_ c: InvalidFolderCase) throws -> (MigrationsDir, String) {
        let dir = try MigrationsDir()
        var files = c.files
        files["0_valid.sql"] = text("-- migrate:up\nCREATE TABLE valid_one (id INTEGER);")
        for (name, bytes) in files { try writeFile(dir.dir.url.appendingPathComponent(name).path, Data(bytes)) }
        return (dir, c.missing ? dir.path + "/no-such-folder" : dir.path)
    }

    @Test(
        "an invalid folder: the check names file, line and reason; the endpoint answers 500; app migrate exits 2; nothing applied",
        arguments: invalidFolderCases)
    func invalidFolder(_ c: InvalidFolderCase) async throws {
        let (dir, path) = try Self.folder(c)
        let expectedFile = c.file ?? path
        let catalog = MigrationCatalog.load(folder: path, dialect: .sqlite)
        let invalid = try #require(catalog.invalid)
        #expect(invalid.file == expectedFile && invalid.line == c.line)
        #expect(invalid.reason.contains(c.reason) || "\(invalid)".contains(c.reason))

        let report = await runStartupChecks(
            CheckContext(config: try AppConfig(variables: [:]), database: nil, catalog: catalog),
            checks: StartupCheck.all.filter { $0.name == "migrations" })
        let result = try #require(report.results.first)
        #expect(result.id == "migrations.invalid" && result.level == .error)
        #expect(
            result.message.contains(expectedFile + (c.line.map { ":\($0)" } ?? "")) && result.message.contains(c.reason)
        )

        let db = try await TestDatabase.make(.sqlite)
        let logs = LogCapture()
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: logs.logger(), catalog: catalog).sweptTest(.router) {
            client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .internalServerError)
                #expect(
                    NSDictionary(dictionary: response.json) == [
                        "success": false, "error": "Migrations invalid", "migration": expectedFile,
                    ])
            }
        }
        #expect(logs.lines.contains { $0.level == .error && $0.text.contains(c.reason) }, "the reason goes to the log")
        #expect(try await historyIDs(db) == nil)
        #expect(try await !tableNames(db).contains("valid_one"))

        let cli = try await AppBinary.run(
            ["migrate", "--migrations-dir", path], environment: ["DATABASE_URL": db.url, "APP_ENV": "test"],
            directory: dir.dir.url)
        #expect(cli.status == 2, "an invalid folder exits 2")
        #expect(cli.err.split(separator: "\n").count == 1, "one line: \(cli.err)")
        #expect(cli.err.hasPrefix("error: migrations invalid: \(expectedFile)") && cli.err.contains(c.reason))
        #expect(try await !tableNames(db).contains("valid_one"))

        let check = try await AppBinary.run(
            ["check", "--migrations-dir", path],
            environment: ["DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration], directory: dir.dir.url)
        #expect(check.status == 1)
        #expect(check.out.contains("ERROR migrations.invalid"))
    }

    @Test(
        "app migrate rollback: refuses without a down section, changing nothing; then rolls back newest first",
        arguments: Engine.available)
    func rollback(_ engine: Engine) async throws {
        let folder = try MigrationsDir(FolderTests.three)  // 3_create_gadgets has no down section
        let db = try await TestDatabase.make(engine)
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        #expect(try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url).status == 0)

        let refused = try await AppBinary.run(
            ["migrate", "rollback", "--steps", "2"], environment: env, directory: folder.dir.url)
        #expect(refused.status == 1)
        #expect(refused.err.contains("3_create_gadgets has no -- migrate:down section"))
        #expect(try await historyIDs(db)?.count == 3, "nothing rolled back")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM widgets") == 2)

        try folder.write(
            "3_create_gadgets.sql",
            FolderTests.three["3_create_gadgets.sql"]! + "-- migrate:down\nDROP TABLE gadgets;\n")
        let done = try await AppBinary.run(
            ["migrate", "rollback", "--steps", "2"], environment: env, directory: folder.dir.url)
        #expect(done.status == 0, "\(done.err)")
        #expect(
            maskTimes(done.out)
                == "Rolled back 3_create_gadgets\nRolled back 2_seed_widgets\nRolled back 2 migrations in <t>.\n")
        #expect(try await historyIDs(db) == ["1_create_widgets"])
        #expect(try await !tableNames(db).contains("gadgets"))
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM widgets") == 0)

        let again = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(
            maskTimes(again.out)
                == "Applying 2_seed_widgets\nApplied 2_seed_widgets in <t>\nApplying 3_create_gadgets\nApplied 3_create_gadgets in <t>\nApplied 2 migrations in <t>.\n",
            "adding the down section was not drift")
    }

    @Test("app migrate new writes a timestamped file with both markers; without a folder it says so")
    func new() async throws {
        let dir = try TempDir()
        let folder = dir.url.appendingPathComponent("db/migrations").path
        let made = try await AppBinary.run(
            ["migrate", "new", "create_widgets", "--migrations-dir", folder], directory: dir.url)
        #expect(made.status == 0)
        let path = made.out.trimmingCharacters(in: .newlines)
        #expect(
            URL(fileURLWithPath: path).lastPathComponent.range(
                of: #"^\d{14}_create_widgets\.sql$"#, options: .regularExpression) != nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "-- migrate:up\n\n\n-- migrate:down\n\n")
        let catalog = MigrationCatalog.load(folder: folder, dialect: .sqlite)
        #expect(catalog.invalid == nil && catalog.migrations.count == 1 && catalog.migrations[0].down == [])

        let none = try await AppBinary.run(["migrate", "new", "x"], directory: dir.url)
        #expect(none.status == 1)
        #expect(none.err == "error: no migrations folder: set MIGRATIONS_DIR or pass --migrations-dir\n")
    }

    @Test(
        "a failing migration outside a transaction: 500, then 409 interrupted; resolve --rolled-back makes it pending again",
        arguments: Engine.available)
    func nonTransactionalFailure(_ engine: Engine) async throws {
        let folder = try MigrationsDir([
            "1_x.sql": "-- migrate:up transaction:false\nCREATE TABLE x (id INTEGER);\nINSERT INTO nope VALUES (1);\n"
        ])
        let db = try await TestDatabase.make(engine)
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .internalServerError)
                #expect(response.json["migration"] as? String == "1_x")
            }
            for method in [HTTPRequest.Method.post, .get] where method == .post {
                try await client.execute(uri: "/api/migrate", method: method, headers: authHeader) { response in
                    #expect(response.status == .conflict)
                    #expect(
                        NSDictionary(dictionary: response.json) == [
                            "success": false, "error": "Migration interrupted", "migration": "1_x",
                        ])
                }
            }
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                #expect(response.json["interrupted"] as? [String] == ["1_x"])
            }
        }
        #expect(try await tableNames(db).contains("x"), "a statement outside a transaction is not rolled back")
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        let notYet = try await AppBinary.run(
            ["migrate", "resolve", "1_y", "--applied"], environment: env, directory: folder.dir.url)
        #expect(notYet.status == 1 && notYet.err.contains("1_y is not marked interrupted"))
        let check = try await AppBinary.run(
            ["check"], environment: env.merging(["MIGRATION_SECRET": Secrets.migration]) { $1 },
            directory: folder.dir.url)
        #expect(check.out.contains("ERROR migrations.interrupted") && check.out.contains("app migrate resolve 1_x"))

        // Undo by hand, then resolve; the fixed file applies.
        try await TestSQL.run(db, "DROP TABLE x")
        let resolved = try await AppBinary.run(
            ["migrate", "resolve", "1_x", "--rolled-back"], environment: env, directory: folder.dir.url)
        #expect(resolved.status == 0, "\(resolved.err)")
        #expect(resolved.out == "Resolved 1_x as rolled back.\n")
        #expect(try await historyIDs(db) == [])
        try folder.write("1_x.sql", "-- migrate:up transaction:false\nCREATE TABLE x (id INTEGER);\n")
        let applied = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(
            maskTimes(applied.out)
                == "Applying 1_x (outside a transaction)\nApplied 1_x in <t>\nApplied 1 migration in <t>.\n")
    }

    @Test("CREATE INDEX CONCURRENTLY runs in a transaction:false file, and its down too", .enabled(if: Tool.postgres))
    func createIndexConcurrently() async throws {
        let folder = try MigrationsDir([
            "1_t.sql": "-- migrate:up\nCREATE TABLE t (id INTEGER, name TEXT);",
            "2_index.sql":
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_name ON t (name);\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY t_name;\n",
        ])
        let db = try await TestDatabase.make(.postgres)
        try await withFolderApp(db, folder, .postgres) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [String] == ["1_t", "2_index"])
            }
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 't_name'") == 1)
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        #expect(
            maskTimes(
                try await AppBinary.run(["migrate", "rollback"], environment: env, directory: folder.dir.url).out)
                == "Rolled back 2_index\nRolled back 1 migration in <t>.\n")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 't_name'") == 0)
    }

    static let gateKey = 515_151

    @Test(
        "app serve killed inside a migration outside a transaction: 409 interrupted, resolve, then 200",
        .enabled(if: Tool.postgres))
    func killedOutsideTransaction() async throws {
        let folder = try MigrationsDir([
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);",
            "2_slow.sql":
                "-- migrate:up transaction:false\nCREATE TABLE slow (id INTEGER);\nSELECT pg_advisory_xact_lock(\(Self.gateKey));\n",
            "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);",
        ])
        let db = try await TestDatabase.make(.postgres)
        let env = [
            "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "APP_ENV": "test",
            "MIGRATIONS_DIR": folder.path, "MIGRATION_LOCK_TIMEOUT": "2",
        ]
        let first = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        // 2_slow waits at the test's gate until the server is killed; then its backend goes on, finds
        // its client gone and ends, which releases the run lock.
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            let call = Task { try? await post(first.baseURL) }
            try await waitForLockWaiter(sql, Self.gateKey)
            #expect(
                try await count(
                    db, "SELECT COUNT(*) AS n FROM app_migrations WHERE id = '2_slow' AND state = 'running'") == 1)
            kill(first.process.processIdentifier, SIGKILL)
            _ = await call.value
            await first.stop()
            try await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.gateKey)))").run()
        }
        try await waitUntil("the run lock is released") {
            try await count(
                db,
                "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ) == 0
        }
        let second = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        let (status, body) = try await post(second.baseURL)
        #expect(status == 409)
        #expect(body.contains(#""error":"Migration interrupted""#) && body.contains(#""migration":"2_slow""#))
        let resolved = try await AppBinary.run(
            ["migrate", "resolve", "2_slow", "--applied"], environment: env, directory: folder.dir.url)
        #expect(resolved.status == 0, "\(resolved.err)")
        #expect(resolved.out == "Resolved 2_slow as applied.\n")
        let (after, afterBody) = try await post(second.baseURL)
        #expect(after == 200)
        #expect(afterBody.contains(#""applied":["3_c"]"#))
        await second.stop()
    }

    @Test("three app serve processes on one PostgreSQL with a folder: each migration once", .enabled(if: Tool.postgres))
    func threeInstancesWithFolder() async throws {
        var files: [String: String] = [:]
        for i in 1...9 {
            let body = "CREATE TABLE w\(i) (id INTEGER);\nINSERT INTO w\(i) VALUES (\(i));"
            files["\(i)_w\(i).sql"] =
                i % 3 == 0 ? "-- migrate:up transaction:false\n\(body)\n" : "-- migrate:up\n\(body)"
        }
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(.postgres)
        let env = ["DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "APP_ENV": "test"]
        var servers: [ServerProcess] = []
        for _ in 0..<3 {
            servers.append(
                try await ServerProcess.start(
                    environment: env, directory: folder.dir.url, arguments: ["--migrations-dir", folder.path]))
        }
        let urls = servers.map(\.baseURL)
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<60 { group.addTask { try await post(urls[i % 3]) } }
            return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }
        }
        for server in servers { await server.stop() }
        let errors = servers.flatMap { $0.output.split(separator: "\n").filter { $0.contains(" error ") } }
        #expect(
            answers.allSatisfy { $0.0 == 200 },
            "got \(Set(answers.map(\.0))): \(Set(answers.filter { $0.0 != 200 }.map(\.1))); servers said: \(errors)")
        let applied = answers.flatMap { answer -> [String] in
            (try? JSONSerialization.jsonObject(with: Data(answer.1.utf8)) as? [String: Any])?["applied"] as? [String]
                ?? []
        }
        #expect(applied.sorted() == files.keys.map { String($0.dropLast(4)) }.sorted())
        for i in 1...9 { #expect(try await count(db, "SELECT COUNT(*) AS n FROM w\(i)") == 1) }
    }
}
