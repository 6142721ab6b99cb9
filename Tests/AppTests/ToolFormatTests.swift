@testable import AppCore
import Foundation
import SQLKit
import Testing

/// Runs `body` with a migrator for `folder` on `db` (the format recognised, or `format`).
func withFolderMigrator(
    _ db: TestDatabase, _ folder: MigrationsDir, _ engine: Engine, format: String? = nil,
    _ body: @Sendable @escaping (Migrator) async throws -> Void
) async throws {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        let catalog = MigrationCatalog.load(folder: folder.path, format: format, dialect: engine.dialect)
        if let invalid = catalog.invalid { throw invalid }
        try await body(Migrator(database: database, catalog: catalog, lockTimeout: .seconds(5), logger: quietLogger))
    }
}

/// The first column of every row of `query`, as text, in the order the query gives.
func texts(_ db: TestDatabase, _ query: String) async throws -> [String] {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    return try await database.withRunning {
        try await database.withConnection { sql in
            try await sql.raw("\(unsafeRaw: query)").all().map { try $0.decode(column: "v", as: String.self) }
        }
    }
}

extension Engine {
    var dialect: SQLEngine { self == .sqlite ? .sqlite : .postgres }
}

@Suite("folders of other tools: recognising and reading them")
struct ToolFormatReadingTests {
    static let dbmateFile = "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n"
    static let sqlMigrateFile = "-- +migrate Up\nCREATE TABLE a (id INTEGER);\n-- +migrate Down\nDROP TABLE a;\n"
    static let gooseFile = "-- +goose Up\nCREATE TABLE a (id INTEGER);\n-- +goose Down\nDROP TABLE a;\n"

    struct Case: Sendable, CustomTestStringConvertible {
        var files: [String: String]
        var setting: String? = nil
        /// The format's name, or "invalid: <part of the reason>".
        var expected: String
        var testDescription: String { "\(files.keys.sorted()) \(setting ?? "") → \(expected)" }
    }

    static let cases: [Case] = [
        Case(files: [:], expected: "none"),
        Case(files: ["README.md": "notes"], expected: "none"),
        Case(files: ["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);"], expected: "dbmate"),
        Case(files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], expected: "invalid: the folder fits none of the formats"),
        Case(files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], setting: "dbmate", expected: "invalid: 1_a.sql: no -- migrate:up line"),
        Case(files: ["1_a.sql": gooseFile], expected: "invalid: 1_a.sql:1: the folder is goose's (\"-- +goose Up\")"),
        Case(files: ["1_a.sql": gooseFile], setting: "dbmate", expected: "invalid: 1_a.sql:1: \"-- +goose Up\" is goose's marker, but the folder is read as dbmate's"),
        Case(files: ["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n--+goose Down\nDROP TABLE a;\n"],
             expected: "invalid: 1_a.sql:3: \"--+goose Down\" is goose's marker"),
        Case(files: ["1_a.up.sql": "-- depends: 0000_init\nCREATE TABLE a (id INTEGER);"], expected: "invalid: 1_a.up.sql:1: \"-- depends: 0000_init\" is yoyo's marker"),
        Case(files: ["V1__a.sql": "SELECT 1;\n  --liquibase formatted sql\n"], expected: "invalid: V1__a.sql:2: \"--liquibase formatted sql\" is Liquibase's marker"),
        Case(files: ["1_a.sql": "-- migrate:up\n-- atlas:txmode none\nCREATE TABLE a (id INTEGER);"], expected: "invalid: 1_a.sql:2: \"-- atlas:txmode none\" is Atlas's marker"),
        Case(files: ["1_a.sql": sqlMigrateFile + "-- migrate:down\n"], setting: "sql-migrate", expected: "invalid: 1_a.sql:5: \"-- migrate:down\" is dbmate's marker"),
        Case(files: ["1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER); -- +goose is mentioned here, not a marker\n"], expected: "dbmate"),
        Case(files: ["notes.sql": "CREATE TABLE a (id INTEGER);"], expected: "invalid: the folder fits none of the formats"),
        Case(files: ["notes.sql": "CREATE TABLE a (id INTEGER);", "2_b.sql": "-- migrate:up\nSELECT 1;"], expected: "invalid: notes.sql: the name must start with a version"),
        Case(files: ["20260101000000_a.sql": dbmateFile], expected: "dbmate"),
        Case(files: ["1_a.up.sql": "CREATE TABLE a (id INTEGER);", "1_a.down.sql": "DROP TABLE a;"], expected: "golang-migrate"),
        Case(files: ["1_a.sql": sqlMigrateFile], expected: "sql-migrate"),
        Case(files: ["V1__init.sql": "CREATE TABLE a (id INTEGER);"], expected: "flyway"),
        Case(files: ["migration_lock.toml": "provider = \"sqlite\"\n"], expected: "prisma"),
        Case(files: ["meta/_journal.json": "{\"entries\":[]}"], expected: "drizzle"),
        Case(files: ["1_a.sql": dbmateFile, "2_b.sql": sqlMigrateFile], expected: "invalid: the folder fits dbmate and sql-migrate; set MIGRATIONS_FORMAT"),
        Case(files: ["1_a.sql": dbmateFile, "2_b.sql": sqlMigrateFile], setting: "sql-migrate",
             expected: "invalid: 1_a.sql:1: \"-- migrate:up\" is dbmate's marker, but the folder is read as sql-migrate's"),
        Case(files: ["1_a.sql": "CREATE TABLE a (id INTEGER);"], setting: "Golang-Migrate ",
             expected: "invalid: 1_a.sql: the name must be <version>_<title>.up.sql or .down.sql"),
        Case(files: ["1_a.sql": dbmateFile], setting: "liquibase", expected: "invalid: MIGRATIONS_FORMAT \"liquibase\" is none of dbmate, golang-migrate"),
        Case(files: ["1_a.down.sql": "DROP TABLE a;"], expected: "invalid: a down file without an up file of version 1"),
        Case(files: ["meta/_journal.json": "{\"entries\":[{\"idx\":0,\"when\":1,\"tag\":\"0000_x\"}]}"], expected: "invalid: 0000_x.sql is listed but missing"),
        Case(files: ["meta/_journal.json": "[]"], expected: "invalid: meta/_journal.json: not a Drizzle journal"),
        Case(files: ["migration_lock.toml": "", "20240101_init/notes.txt": ""], expected: "invalid: 20240101_init: a migration folder without migration.sql"),
        Case(files: ["V1__a.sql": "SELECT 1;", "V1.0__b.sql": "SELECT 2;"], expected: "invalid: V1__a.sql: version 1 is also used by V1.0__b.sql"),
        Case(files: ["1_a.up.sql": "SELECT 1;", "01_b.up.sql": "SELECT 2;"], expected: "invalid: version 1 is also used by"),
        Case(files: ["init.sql": sqlMigrateFile], expected: "invalid: init.sql: the name must start with a number"),
        Case(files: ["1_a.sql": "-- +migrate Up\n-- +migrate StatementBegin\nSELECT 1;\n"], expected: "invalid: 1_a.sql:2: -- +migrate StatementBegin is not closed"),
    ]

    @Test("the format is recognised from the folder, or named by MIGRATIONS_FORMAT; a folder that fits two is invalid", arguments: cases)
    func recognises(_ item: Case) throws {
        let folder = try MigrationsDir()
        for (name, text) in item.files {
            let url = folder.dir.url.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try folder.write(name, text)
        }
        let catalog = MigrationCatalog.load(folder: folder.path, format: item.setting, dialect: .sqlite)
        if let invalid = catalog.invalid {
            #expect(item.expected.hasPrefix("invalid: "))
            #expect("\(invalid)".contains(item.expected.dropFirst("invalid: ".count)), "\(invalid)")
            #expect(catalog.migrations.isEmpty)
        } else {
            #expect(catalog.format?.rawValue ?? "none" == item.expected)
        }
    }

    @Test("golang-migrate: a file that is one BEGIN … COMMIT block runs in the server's transaction without them; control elsewhere runs as written, outside one")
    func golangTransactions() throws {
        let folder = try MigrationsDir([
            "1_wrapped.up.sql": "BEGIN;\nCREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);\nCOMMIT;\n",
            "1_wrapped.down.sql": "-- undo\nDROP TABLE b;\nDROP TABLE a;\n",
            "2_plain.up.sql": "CREATE TABLE c (id INTEGER);\n",
            "3_own.up.sql": "CREATE TABLE d (id INTEGER);\nBEGIN TRANSACTION;\nINSERT INTO d VALUES (1);\nEND;\n",
            "0004_rollback_to.up.sql": "BEGIN;\nSAVEPOINT s;\nROLLBACK TO s;\nCOMMIT;\n",
        ])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: .postgres)
        #expect(catalog.format == .golangMigrate)
        let byID = Dictionary(uniqueKeysWithValues: catalog.migrations.map { ($0.id, $0) })
        #expect(catalog.migrations.map(\.id) == ["1_wrapped", "2_plain", "3_own", "0004_rollback_to"])
        #expect(byID["1_wrapped"]?.statements == ["CREATE TABLE a (id INTEGER)", "CREATE TABLE b (id INTEGER)"])
        #expect(byID["1_wrapped"]?.transactional == true)
        #expect(byID["1_wrapped"]?.down == ["DROP TABLE b", "DROP TABLE a"])
        #expect(byID["2_plain"]?.down == nil)
        #expect(byID["2_plain"]?.transactional == true)
        #expect(byID["3_own"]?.transactional == false)
        #expect(byID["3_own"]?.statements.count == 4)
        #expect(byID["0004_rollback_to"]?.statements == ["SAVEPOINT s", "ROLLBACK TO s"])
        #expect(byID["0004_rollback_to"]?.toolKey == "4")
        #expect(byID["1_wrapped"]?.toolKey == "1")
    }

    @Test("sql-migrate: a StatementBegin block is one statement as written; notransaction; text before the first section is not run")
    func sqlMigrateSections() throws {
        let function = "CREATE FUNCTION f() RETURNS integer AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;"
        let folder = try MigrationsDir([
            "20260101-first.sql": "-- a header sql-migrate ignores\nSELECT 'not run';\n-- +migrate Up\nCREATE TABLE a (id INTEGER);\n-- +migrate StatementBegin\n\(function)\n-- +migrate StatementEnd\nINSERT INTO a VALUES (1);\n\n-- +migrate Down\nDROP FUNCTION f();\nDROP TABLE a;\n",
            "20260102-second.sql": "-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        ])
        let catalog = MigrationCatalog.load(folder: folder.path, dialect: .postgres)
        #expect(catalog.format == .sqlMigrate)
        let first = try #require(catalog.migrations.first)
        #expect(first.id == "20260101-first")
        #expect(first.toolKey == "20260101-first.sql")
        #expect(first.statements == ["CREATE TABLE a (id INTEGER)", function, "INSERT INTO a VALUES (1)"])
        #expect(first.down == ["DROP FUNCTION f()", "DROP TABLE a"])
        #expect(first.transactional)
        let second = try #require(catalog.migrations.last)
        #expect(!second.transactional)
        #expect(second.down == nil)
    }

    @Test("app migrate new writes a migration in the folder's format", arguments: [
        ("dbmate", ["T_x.sql"]), ("golang-migrate", ["T_x.down.sql", "T_x.up.sql"]), ("sql-migrate", ["T-x.sql"]),
        ("prisma", ["T_x/migration.sql"]), ("flyway", ["VT__x.sql"]),
    ])
    func newFiles(_ format: String, _ names: [String]) throws {
        let files = try #require(MigrationFormat(setting: format)?.newFiles(stamp: "T", slug: "x"))
        #expect(files.map(\.name).sorted() == names)
        // What `new` writes is itself a valid, empty migration of that format.
        let folder = try MigrationsDir()
        for file in files {
            let name = file.name.replacingOccurrences(of: "T", with: "1")
            try FileManager.default.createDirectory(at: folder.dir.url.appendingPathComponent(name).deletingLastPathComponent(), withIntermediateDirectories: true)
            try folder.write(name, file.text)
        }
        let catalog = MigrationCatalog.load(folder: folder.path, format: format, dialect: .sqlite)
        #expect(catalog.invalid == nil)
        #expect(catalog.format?.rawValue == format)
        #expect(catalog.migrations.count == 1)
        #expect(MigrationFormat.drizzle.newFiles(stamp: "T", slug: "x") == nil)
    }
}

@Suite("folders of other tools: their history tables kept true", .dropsTestDatabases)
struct ToolHistoryTests {
    static let dbmateFolder = [
        "001_create_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n",
        "20260102000000_create_b.sql": "-- migrate:up\nCREATE TABLE b (id INTEGER);\n-- migrate:down\nDROP TABLE b;\n",
    ]

    @Test("dbmate: a row per version as written in the file name, with the server's row, and removed by rollback", arguments: Engine.available)
    func dbmateRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["001_create_a", "20260102000000_create_b"])
            #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001", "20260102000000"])
            #expect(try await texts(db, "SELECT id AS v FROM app_migrations ORDER BY id") == ["001_create_a", "20260102000000_create_b"])
            #expect(try await migrator.rollback(steps: 1) == ["20260102000000_create_b"])
            #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001"])
            #expect(try await texts(db, "SELECT id AS v FROM app_migrations ORDER BY id") == ["001_create_a"])
        }
    }

    @Test("a database dbmate migrated is adopted: nothing re-run, the rest applied, the adopted row marked so", arguments: Engine.available)
    func adoption(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        // As dbmate leaves it after applying the first file.
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (version) VALUES ('001')")
        try await TestSQL.run(db, "CREATE TABLE a (id INTEGER)")
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == ["20260102000000_create_b"])
            #expect(try await migrator.migrate() == ["20260102000000_create_b"])
            let applied = try await migrator.status().applied
            #expect(applied.map(\.id) == ["001_create_a", "20260102000000_create_b"])
            #expect(applied.map(\.state) == [.adopted, .applied])
        }
        #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001", "20260102000000"])
    }

    @Test("a migration the tool rolled back (its row gone, the server's still there) is pending again, and its stale row replaced", arguments: Engine.available)
    func toolRolledBack(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            _ = try await migrator.migrate()
            // What `dbmate rollback` does: the down section and its row, nothing of ours.
            try await TestSQL.run(db, "DROP TABLE b")
            try await TestSQL.run(db, "DELETE FROM schema_migrations WHERE version = '20260102000000'")
            #expect(try await migrator.status().pending == ["20260102000000_create_b"])
            #expect(try await migrator.migrate() == ["20260102000000_create_b"])
            #expect(try await migrator.status().applied.map(\.state) == [.applied, .applied])
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 2)
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM b") == 0)
    }

    @Test("the history of an earlier version beside a dbmate folder: carried over, and dbmate's table written from it", arguments: Engine.available)
    func upgradeBackfills(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        let first = try #require(folder.catalog(engine).migrations.first)
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (id, checksum, applied_at, execution_ms) VALUES ('001_create_a', '\(first.checksum)', '2026-01-01T00:00:00.000Z', 4)")
        try await TestSQL.run(db, "CREATE TABLE a (id INTEGER)")
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == ["20260102000000_create_b"])
            #expect(try await migrator.migrate() == ["20260102000000_create_b"])
            #expect(try await migrator.status().applied.first?.appliedAt == "2026-01-01T00:00:00.000Z")
        }
        #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001", "20260102000000"])
    }

    @Test("with nothing pending, a run still brings the histories up to date: the legacy table carried over, dbmate's written, rows adopted", arguments: Engine.available)
    func nothingPendingStillReconciles(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        let migrations = folder.catalog(engine).migrations
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL)")
        for migration in migrations {
            try await TestSQL.run(db, "INSERT INTO schema_migrations VALUES ('\(migration.id)', '\(migration.checksum)', '2026-01-01T00:00:00.000Z', 1)")
        }
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
        }
        #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001", "20260102000000"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 2)

        // dbmate applied everything on another database: adopted by a run with nothing to apply.
        let other = try await TestDatabase.make(engine)
        try await TestSQL.run(other, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        try await TestSQL.run(other, "INSERT INTO schema_migrations (version) VALUES ('001'), ('20260102000000')")
        try await withFolderMigrator(other, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
        }
        #expect(try await texts(other, "SELECT state AS v FROM app_migrations ORDER BY id") == ["adopted", "adopted"])
    }

    @Test("golang-migrate's schema_migrations under a dbmate folder is another tool's table: refused, not altered", arguments: Engine.available)
    func wrongToolsTable(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (version, dirty) VALUES (1, \(engine == .postgres ? "false" : "0"))")
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            await #expect(throws: MigrationError.foreignHistory(table: "schema_migrations")) { try await migrator.migrate() }
        }
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations") == 1)
        #expect(try await !tableNames(db).contains("a"))
    }

    static let golangFolder = [
        "1_create_a.up.sql": "BEGIN;\nCREATE TABLE a (id INTEGER);\nCOMMIT;\n",
        "1_create_a.down.sql": "DROP TABLE a;\n",
        "2_create_b.up.sql": "CREATE TABLE b (id INTEGER);\n",
        "2_create_b.down.sql": "DROP TABLE b;\n",
        "3_create_c.up.sql": "CREATE TABLE c (id INTEGER);\n",
        "3_create_c.down.sql": "DROP TABLE c;\n",
    ]

    @Test("golang-migrate: one row, the latest version, clean; rollback sets the previous version, and the last rollback empties it", arguments: Engine.available)
    func golangRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.golangFolder)
        let state = "SELECT CAST(version AS TEXT) || ':' || CAST(CASE WHEN dirty THEN 1 ELSE 0 END AS TEXT) AS v FROM schema_migrations"
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["1_create_a", "2_create_b", "3_create_c"])
            #expect(try await texts(db, state) == ["3:0"])
            #expect(try await migrator.rollback(steps: 2) == ["3_create_c", "2_create_b"])
            #expect(try await texts(db, state) == ["1:0"])
            #expect(try await migrator.rollback(steps: 1) == ["1_create_a"])
            #expect(try await texts(db, state) == [])
            #expect(try await migrator.migrate() == ["1_create_a", "2_create_b", "3_create_c"])
        }
    }

    @Test("golang-migrate: a database at version 2 is adopted up to 2; a dirty version is 409 interrupted until resolved", arguments: Engine.available)
    func golangAdoptionAndDirty(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.golangFolder)
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (version, dirty) VALUES (2, \(engine == .postgres ? "true" : "1"))")
        try await TestSQL.run(db, "CREATE TABLE a (id INTEGER)")
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().interrupted == ["2_create_b"])
            await #expect(throws: MigrationError.interrupted(migration: "2_create_b")) { try await migrator.migrate() }
            // Undone by hand (nothing of 2 was left): golang-migrate's `force 1`.
            try await migrator.resolve("2_create_b", applied: false)
            #expect(try await texts(db, "SELECT CAST(version AS TEXT) AS v FROM schema_migrations") == ["1"])
            #expect(try await migrator.migrate() == ["2_create_b", "3_create_c"])
            #expect(try await migrator.status().applied.map(\.state) == [.adopted, .applied, .applied])
        }
    }

    @Test("sql-migrate: a row per file name in gorp_migrations, with its time; rollback removes it", arguments: Engine.available)
    func sqlMigrateRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir([
            "1_a.sql": "-- +migrate Up\nCREATE TABLE a (id INTEGER);\n-- +migrate Down\nDROP TABLE a;\n",
            "2_b.sql": "-- +migrate Up\nCREATE TABLE b (id INTEGER);\n-- +migrate Down\nDROP TABLE b;\n",
        ])
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["1_a", "2_b"])
            #expect(try await texts(db, "SELECT id AS v FROM gorp_migrations ORDER BY id") == ["1_a.sql", "2_b.sql"])
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM gorp_migrations WHERE applied_at IS NOT NULL") == 2)
            #expect(try await migrator.rollback(steps: 1) == ["2_b"])
            #expect(try await texts(db, "SELECT id AS v FROM gorp_migrations ORDER BY id") == ["1_a.sql"])
        }
    }
}
