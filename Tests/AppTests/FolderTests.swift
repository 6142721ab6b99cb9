import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

@Suite("migrations from a folder", .dropsTestDatabases)
struct FolderTests {
    static let three = [
        "1_create_widgets.sql":
            "-- migrate:up\nCREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT);\nCREATE INDEX widgets_name ON widgets (name);\n\n-- migrate:down\nDROP TABLE widgets;\n",
        "2_seed_widgets.sql":
            "-- migrate:up\nINSERT INTO widgets (id, name) VALUES (1, 'a;b');\nINSERT INTO widgets (id, name) VALUES (2, 'it''s');\n-- migrate:down\nDELETE FROM widgets;\n",
        "3_create_gadgets.sql": "-- migrate:up\nCREATE TABLE gadgets (id INTEGER);\nINSERT INTO gadgets VALUES (7)\n",
    ]

    @Test(
        "a folder applies in its tool's order on both engines (dbmate's: the file names as text; ToolOrderTests has the names where that and the numbers disagree), each statement run, each file once",
        arguments: Engine.available)
    func appliesInOrder(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.three)
        let db = try await TestDatabase.make(engine)
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                #expect(
                    response.json["pending"] as? [String] == [
                        "1_create_widgets", "2_seed_widgets", "3_create_gadgets",
                    ])
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .ok)
                #expect(
                    response.json["applied"] as? [String] == [
                        "1_create_widgets", "2_seed_widgets", "3_create_gadgets",
                    ])
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.json["applied"] as? [String] == [])
            }
        }
        #expect(try await historyIDs(db) == ["1_create_widgets", "2_seed_widgets", "3_create_gadgets"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM widgets WHERE name IN ('a;b', 'it''s')") == 2)
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM gadgets") == 1)
    }

    /// `three` applied to a fresh SQLite database.
    static func appliedThree() async throws -> (MigrationsDir, TestDatabase) {
        let folder = try MigrationsDir(Self.three)
        let db = try await TestDatabase.make(.sqlite)
        try await withFolderApp(db, folder, .sqlite) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) {
                #expect($0.status == .ok)
            }
        }
        return (folder, db)
    }

    @Test(
        "a run on SQLite leaves the file in write-ahead-log mode, and no journal, log or log index beside it once the server stops"
    )
    func noJournalLeft() async throws {
        let (_, db) = try await Self.appliedThree()
        guard case .sqlite(let path) = db.location else {
            Issue.record("expected SQLite")
            return
        }
        #expect(FileManager.default.fileExists(atPath: path))
        for suffix in ["-journal", "-wal", "-shm"] {
            #expect(!FileManager.default.fileExists(atPath: path + suffix), "\(suffix)")
        }
        #expect(try await journalMode(db) == "wal")
    }

    @Test(
        "a failing statement in file 3 leaves files 1 and 2 applied and nothing of 3; the fixed file applies next",
        arguments: Engine.available)
    func failingThirdFile(_ engine: Engine) async throws {
        var files = Self.three
        files["3_create_gadgets.sql"] =
            "-- migrate:up\nCREATE TABLE gadgets (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(engine)
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .internalServerError)
                #expect(response.json["migration"] as? String == "3_create_gadgets")
            }
        }
        #expect(try await historyIDs(db) == ["1_create_widgets", "2_seed_widgets"])
        #expect(try await !tableNames(db).contains("gadgets"))
        try folder.write("3_create_gadgets.sql", Self.three["3_create_gadgets.sql"]!)
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [String] == ["3_create_gadgets"])
            }
        }
    }

    /// The checksums already in histories must not move: each is SHA-256 of the section with a leading
    /// BOM dropped, CRLF read as LF, and trailing blank space cut (the values from Python's hashlib).
    @Test(
        "a section's checksum is SHA-256 of its text with a leading BOM dropped, CRLF read as LF, trailing blank space cut",
        arguments: [
            (
                "\u{FEFF}CREATE TABLE t (a int);\r\n\r\n  \t",
                "291a0f6d454589b4c8571acec911dc477d44327957e3b24cb804d2286eacca3a"
            ),
            ("a\r\rb\r\n", "69f870e16afd8caccf83614f4ee2e366057a3974500903dcaa853c6e171b77c3"),
            ("SELECT 'é ✓';\r\nSELECT 2;\n\n", "0f9e49cfef259781ba49f1bf1e8abffcabbbc11e585970e82eb2e550b8e8a159"),
            ("x\r", "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"),
        ])
    func checksumValues(_ text: String, _ sha256: String) {
        #expect(Migration.checksum(ofSection: text) == sha256)
    }

    @Test("a checkout with CRLF line endings and a BOM is not drift; an edited up section is")
    func checksums() async throws {
        let (folder, db) = try await Self.appliedThree()
        let original = Self.three["1_create_widgets.sql"]!
        try folder.write("1_create_widgets.sql", "\u{FEFF}" + original.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(
            folder.catalog(.sqlite).migrations[0].checksum
                == Migration.checksum(
                    ofSection:
                        "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT);\nCREATE INDEX widgets_name ON widgets (name);\n"
                ))
        try await withFolderApp(db, folder, .sqlite) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) {
                #expect($0.status == .ok)
            }
        }
        try folder.write(
            "1_create_widgets.sql",
            original.replacingOccurrences(of: "DROP TABLE widgets;", with: "DROP TABLE IF EXISTS widgets;"))
        try await withFolderApp(db, folder, .sqlite) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) {
                #expect($0.status == .ok, "the down section is not checksummed")
            }
        }
        try folder.write(
            "1_create_widgets.sql", original.replacingOccurrences(of: "name TEXT", with: "name TEXT NOT NULL"))
        try await withFolderApp(db, folder, .sqlite) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .conflict)
                #expect(response.json["migration"] as? String == "1_create_widgets")
            }
        }
    }

    @Test("the built-in set keeps its ids and checksums, so a database that has them sees no drift")
    func builtInChecksums() {
        #expect(
            Migration.all.map(\.id) == [
                "0001_create_users", "0002_create_accounts", "0003_create_sessions", "0004_create_verification_tokens",
            ])
        #expect(Migration.all.map(\.checksum) == Self.builtInChecksums)
        #expect(MigrationCatalog.load(folder: nil, dialect: .sqlite).migrations.map(\.id) == Migration.all.map(\.id))
    }

    static let builtInChecksums = [
        "30c9f99e47ac1e031c92bbbb6e298ad5559a4a223562aeae7e7f4ab00b43f9cf",
        "8a5cb2919e9ecc874a71cb08996282148bb67e4686f4a39c9d4086e90d462a6a",
        "e82e1b9956b95df1ed990260f372815797156a6b36efb0a6127707954872a560",
        "bca53e5655d28bc4bf2c6ba26a2be9c2e567d4d9b27d14d0368e55b79052194b",
    ]

    @Test(
        "the history of earlier versions (schema_migrations, before and after the state column) moves to app_migrations: nothing re-applied, no drift",
        arguments: Engine.available, [false, true])
    func legacyHistoryTable(_ engine: Engine, withState: Bool) async throws {
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let first = Migration.all[0]
        try await database.withRunning {
            try await database.withConnection { sql in
                let state = withState ? ", state TEXT NOT NULL DEFAULT 'applied'" : ""
                try await sql.raw(
                    "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL\(unsafeRaw: state))"
                ).run()
                try await sql.raw(
                    "INSERT INTO schema_migrations (id, checksum, applied_at, execution_ms) VALUES (\(bind: first.id), \(bind: first.checksum), '2026-01-01T00:00:00.000Z', 3)"
                ).run()
                for statement in first.statements { try await sql.raw("\(unsafeRaw: statement)").run() }
            }
            let migrator = Migrator(
                database: database, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger)
            // Read where it is before the first run, changing nothing.
            #expect(try await migrator.status().pending == Array(Migration.all.dropFirst().map(\.id)))
            #expect(try await migrator.migrate() == Array(Migration.all.dropFirst().map(\.id)))
            let applied = try await migrator.status().applied
            #expect(applied.allSatisfy { $0.state == .applied })
            #expect(
                applied.first
                    == AppliedMigration(
                        id: first.id, checksum: first.checksum, appliedAt: "2026-01-01T00:00:00.000Z", executionMs: 3,
                        state: .applied))
        }
        let tables = try await tableNames(db)
        #expect(tables.contains("app_migrations"))
        #expect(!tables.contains("schema_migrations"))
    }

    @Test(
        "a pending file older than the newest applied one is applied, and the check names it",
        arguments: Engine.available)
    func outOfOrder(_ engine: Engine) async throws {
        let folder = try MigrationsDir([
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);",
            "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);",
        ])
        let db = try await TestDatabase.make(engine)
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) {
                #expect($0.status == .ok)
            }
        }
        try folder.write("2_b.sql", "-- migrate:up\nCREATE TABLE b (id INTEGER);")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let config = try AppHarness.config(db, [:])
        let report = try await database.withRunning {
            await runStartupChecks(
                CheckContext(
                    config: config, database: database, catalog: folder.catalog(engine),
                    databaseTimeout: ChecksTests.loaded), checks: StartupCheck.all.filter { $0.name == "database" })
        }
        let warning = try #require(report.results.first { $0.id == "migrations.out-of-order" })
        #expect(warning.level == .warning)
        #expect(warning.message.contains("2_b"))
        try await withFolderApp(db, folder, engine) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.json["applied"] as? [String] == ["2_b"])
            }
        }
    }

    @Test("GET /api/migrate says which migrations run outside a transaction")
    func statusShowsTransactional() async throws {
        let folder = try MigrationsDir([
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);",
            "2_vacuum.sql": "-- migrate:up transaction:false\nVACUUM;\n",
        ])
        let db = try await TestDatabase.make(.sqlite)
        try await withFolderApp(db, folder, .sqlite) { client in
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                let entries = response.json["migrations"] as? [[String: Any]] ?? []
                #expect(entries.map { $0["id"] as? String } == ["1_a", "2_vacuum"])
                #expect(entries.map { $0["transactional"] as? Bool } == [true, false])
                #expect(entries.map { $0["state"] as? String } == ["pending", "pending"])
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: authHeader) { response in
                #expect(response.status == .ok)
                #expect(response.json["applied"] as? [String] == ["1_a", "2_vacuum"])
            }
        }
    }

    @Test(
        "many runners at once, with migrations outside a transaction among them: each applied exactly once",
        arguments: Engine.available)
    func concurrentWithNonTransactional(_ engine: Engine) async throws {
        var files: [String: String] = [:]
        for i in 1...12 {
            let body = "CREATE TABLE t\(i) (id INTEGER);\nINSERT INTO t\(i) VALUES (\(i));"
            files["\(i)_t\(i).sql"] =
                i % 4 == 0 ? "-- migrate:up transaction:false\n\(body)\n" : "-- migrate:up\n\(body)"
        }
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let catalog = folder.catalog(engine)
        let logs = LogCapture()
        let debugLogger = logs.logger(level: .info)
        let results: [[String]]
        do {
            results = try await database.withRunning {
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            let runner = try AppDatabase(location: db.location, logger: quietLogger)
                            return try await runner.withRunning {
                                try await Migrator(
                                    database: runner, catalog: catalog, lockTimeout: .seconds(120), logger: debugLogger
                                ).migrate()
                            }
                        }
                    }
                    return try await group.reduce(into: [[String]]()) { $0.append($1) }
                }
            }
        } catch {
            Issue.record("a runner failed: \(error)\n\(logs.text)")
            return
        }
        #expect(
            results.flatMap { $0 }.sorted() == catalog.migrations.map(\.id).sorted(),
            "every migration applied by exactly one runner")
        #expect(!logs.lines.contains { $0.level >= .error }, "\(logs.text)")
        for i in 1...12 {
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM t\(i)") == 1)
        }
    }
}
