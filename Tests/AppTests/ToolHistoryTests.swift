import Foundation
import SQLKit
import Testing

@testable import AppCore

@Suite("folders of other tools: their history tables kept true", .dropsTestDatabases)
struct ToolHistoryTests {
    static let dbmateFolder = [
        "001_create_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n",
        "20260102000000_create_b.sql": "-- migrate:up\nCREATE TABLE b (id INTEGER);\n-- migrate:down\nDROP TABLE b;\n",
    ]

    @Test(
        "dbmate: a row per version as written in the file name, with the server's row, and removed by rollback",
        arguments: Engine.available)
    func dbmateRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["001_create_a", "20260102000000_create_b"])
            #expect(
                try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == [
                    "001", "20260102000000",
                ])
            #expect(
                try await texts(db, "SELECT id AS v FROM app_migrations ORDER BY id") == [
                    "001_create_a", "20260102000000_create_b",
                ])
            #expect(try await migrator.rollback(steps: 1) == ["20260102000000_create_b"])
            #expect(try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == ["001"])
            #expect(try await texts(db, "SELECT id AS v FROM app_migrations ORDER BY id") == ["001_create_a"])
        }
    }

    @Test(
        "a database dbmate migrated is adopted: nothing re-run, the rest applied, the adopted row marked so",
        arguments: Engine.available)
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
        #expect(
            try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == [
                "001", "20260102000000",
            ])
    }

    @Test(
        "a migration the tool rolled back (its row gone, the server's still there) is pending again, and its stale row replaced",
        arguments: Engine.available)
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

    @Test(
        "the history of an earlier version beside a dbmate folder: carried over, and dbmate's table written from it",
        arguments: Engine.available)
    func upgradeBackfills(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        let first = try #require(folder.catalog(engine).migrations.first)
        try await TestSQL.run(
            db,
            "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')"
        )
        try await TestSQL.run(
            db,
            "INSERT INTO schema_migrations (id, checksum, applied_at, execution_ms) VALUES ('001_create_a', '\(first.checksum)', '2026-01-01T00:00:00.000Z', 4)"
        )
        try await TestSQL.run(db, "CREATE TABLE a (id INTEGER)")
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.status().pending == ["20260102000000_create_b"])
            #expect(try await migrator.migrate() == ["20260102000000_create_b"])
            #expect(try await migrator.status().applied.first?.appliedAt == "2026-01-01T00:00:00.000Z")
        }
        #expect(
            try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == [
                "001", "20260102000000",
            ])
    }

    @Test(
        "with nothing pending, a run still brings the histories up to date: the legacy table carried over, dbmate's written, rows adopted",
        arguments: Engine.available)
    func nothingPendingStillReconciles(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.dbmateFolder)
        let migrations = folder.catalog(engine).migrations
        try await TestSQL.run(
            db,
            "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL)"
        )
        for migration in migrations {
            try await TestSQL.run(
                db,
                "INSERT INTO schema_migrations VALUES ('\(migration.id)', '\(migration.checksum)', '2026-01-01T00:00:00.000Z', 1)"
            )
        }
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == [])
        }
        #expect(
            try await texts(db, "SELECT version AS v FROM schema_migrations ORDER BY version") == [
                "001", "20260102000000",
            ])
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

    @Test(
        "golang-migrate's schema_migrations under a dbmate folder is another tool's table: refused, not altered",
        arguments: Engine.available)
    func wrongToolsTable(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        try await TestSQL.run(
            db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        try await TestSQL.run(
            db, "INSERT INTO schema_migrations (version, dirty) VALUES (1, \(engine == .postgres ? "false" : "0"))")
        let folder = try MigrationsDir(Self.dbmateFolder)
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            await #expect(throws: MigrationError.foreignHistory(table: "schema_migrations", tool: "golang-migrate")) {
                try await migrator.migrate()
            }
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

    @Test(
        "golang-migrate: one row, the latest version, clean; rollback sets the previous version, and the last rollback empties it",
        arguments: Engine.available)
    func golangRows(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.golangFolder)
        let state =
            "SELECT CAST(version AS TEXT) || ':' || CAST(CASE WHEN dirty THEN 1 ELSE 0 END AS TEXT) AS v FROM schema_migrations"
        try await withFolderMigrator(db, folder, engine, format: "golang-migrate") {
            (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["1_create_a", "2_create_b", "3_create_c"])
            #expect(try await texts(db, state) == ["3:0"])
            #expect(try await migrator.rollback(steps: 2) == ["3_create_c", "2_create_b"])
            #expect(try await texts(db, state) == ["1:0"])
            #expect(try await migrator.rollback(steps: 1) == ["1_create_a"])
            #expect(try await texts(db, state) == [])
            #expect(try await migrator.migrate() == ["1_create_a", "2_create_b", "3_create_c"])
        }
    }

    @Test(
        "golang-migrate: a database at version 2 is adopted up to 2; a dirty version is 409 interrupted until resolved",
        arguments: Engine.available)
    func golangAdoptionAndDirty(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.golangFolder)
        try await TestSQL.run(
            db, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        try await TestSQL.run(
            db, "INSERT INTO schema_migrations (version, dirty) VALUES (2, \(engine == .postgres ? "true" : "1"))")
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

    @Test(
        "sql-migrate: a row per file name in gorp_migrations, with its time; rollback removes it",
        arguments: Engine.available)
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
