import Foundation
import Testing

@testable import AppCore

/// Diesel's folders as diesel-rs/diesel's `diesel_migrations` reads them.
@Suite("Diesel: its folders and its history", .dropsTestDatabases)
struct DieselTests {
    static func load(_ files: [String: String]) throws -> MigrationCatalog {
        let folder = try MigrationsDir()
        for (name, text) in files {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(name).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try folder.write(name, text)
        }
        return MigrationCatalog.load(folder: folder.path, dialect: .sqlite)
    }

    @Test(
        "metadata.toml as Diesel reads it: none or not TOML runs in a transaction, run_in_transaction = false or a file without the key outside"
    )
    func transactions() throws {
        let catalog = try Self.load([
            "1_none/up.sql": "SELECT 1;",
            "2_off/up.sql": "SELECT 1;", "2_off/metadata.toml": "# no transaction\nrun_in_transaction = false # here\n",
            "3_on/up.sql": "SELECT 1;", "3_on/metadata.toml": "run_in_transaction = true\n",
            "4_empty/up.sql": "SELECT 1;", "4_empty/metadata.toml": "",
            "5_broken/up.sql": "SELECT 1;", "5_broken/metadata.toml": "run_in_transaction = maybe\n",
        ])
        #expect(catalog.format == .diesel)
        #expect(catalog.migrations.map(\.transactional) == [true, false, true, false, true])
        #expect(catalog.migrations.map(\.downTransactional) == [true, false, true, false, true])
    }

    @Test("versions without -, compared as text; files, empty and hidden folders ignored; down.sql optional")
    func reading() throws {
        let catalog = try Self.load([
            "2026-01-02-000000_b/up.sql": "CREATE TABLE b (id INTEGER);",
            "2026-01-02-000000_b/down.sql": "DROP TABLE b;",
            "9_a/up.sql": "CREATE TABLE a (id INTEGER);",
            "README.md": "notes", ".git/up.sql": "SELECT 1;",
        ])
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.migrations.map(\.id) == ["2026-01-02-000000_b", "9_a"])
        #expect(catalog.migrations.map(\.toolKey) == ["20260102000000", "9"])
        #expect(catalog.migrations.map { $0.down != nil } == [true, false])
    }

    @Test(
        "what Diesel refuses is invalid, naming the folder: no up.sql, an empty up.sql, a version used twice",
        arguments: [
            (["1_a/up.sql": "SELECT 1;", "2_b/notes.txt": "x"], "2_b: a migration folder without up.sql"),
            (["1_a/up.sql": ""], "1_a/up.sql: the file is empty"),
            (["1_a/up.sql": "SELECT 1;", "1_b/up.sql": "SELECT 1;"], "1_b: version 1 is also used by 1_a"),
            (["1-1_a/up.sql": "SELECT 1;", "11_b/up.sql": "SELECT 1;"], "version 11 is also used by"),
        ])
    func refusals(_ files: [String: String], _ expected: String) throws {
        let invalid = try #require(try Self.load(files).invalid)
        #expect(invalid.description.contains(expected), "\(invalid)")
    }

    @Test("__diesel_schema_migrations: a row per version, deleted by rollback", arguments: Engine.available)
    func history(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir()
        for (name, text) in [
            ("2026-01-01-000000_a/up.sql", "CREATE TABLE a (id INTEGER);"),
            ("2026-01-01-000000_a/down.sql", "DROP TABLE a;"),
            ("2026-01-02-000000_b/up.sql", "CREATE TABLE b (id INTEGER);"),
            ("2026-01-02-000000_b/down.sql", "DROP TABLE b;"),
        ] {
            try FileManager.default.createDirectory(
                at: folder.dir.url.appendingPathComponent(name).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try folder.write(name, text)
        }
        let rows = "SELECT version AS v FROM __diesel_schema_migrations ORDER BY version"
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["2026-01-01-000000_a", "2026-01-02-000000_b"])
            #expect(try await texts(db, rows) == ["20260101000000", "20260102000000"])
            #expect(try await migrator.rollback(steps: 1) == ["2026-01-02-000000_b"])
            #expect(try await texts(db, rows) == ["20260101000000"])
        }
    }
}
