import Foundation
import Testing

@testable import AppCore

/// sqlx's folders as launchbadge/sqlx's `migrate::source` reads them, `_sqlx_migrations` as sqlx writes
/// and checks it, and the layout it shares with golang-migrate told apart by the database's history.
@Suite("sqlx: its files, its history, and a shared layout", .dropsTestDatabases)
struct SQLxTests {
    static let pairs = [
        "1_a.up.sql": "CREATE TABLE a (id INTEGER);\n", "1_a.down.sql": "DROP TABLE a;\n",
        "2_b.up.sql": "CREATE TABLE b (id INTEGER);\n", "2_b.down.sql": "DROP TABLE b;\n",
    ]

    @Test(
        "a pairs folder is read as the tool whose history the database holds: sqlx's, golang-migrate's; neither or both is invalid, and the check says so",
        arguments: Engine.available)
    func sharedLayout(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.pairs)
        let neither = try await TestDatabase.make(engine)
        try await withFolderMigrator(neither, folder, engine) { (migrator: Migrator) async throws in
            await #expect {
                try await migrator.pending()
            } throws: { error in
                guard case MigrationError.invalid(let invalid) = error else { return false }
                return invalid.reason.contains("golang-migrate's and sqlx's")
                    && invalid.reason.contains("MIGRATIONS_FORMAT")
            }
        }
        let database = try AppDatabase(location: neither.location, logger: quietLogger)
        let report = try await database.withRunning {
            await runStartupChecks(
                CheckContext(
                    config: try AppHarness.config(neither, ["MIGRATION_SECRET": Secrets.migration]), database: database,
                    catalog: folder.catalog(engine)))
        }
        #expect(report.results.contains { $0.id == "migrations.invalid" && $0.message.contains("sqlx") })
        #expect(!report.results.contains { $0.id == "database.unreachable" })
        #expect(try await tableNames(neither).isEmpty, "nothing made")

        for (format, history) in [(MigrationFormat.sqlx, "_sqlx_migrations"), (.golangMigrate, "schema_migrations")] {
            let db = try await TestDatabase.make(engine)
            try await Self.makeHistory(db, format)
            try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
                #expect(try await migrator.migrate() == ["1_a", "2_b"])
            }
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM \(history)") == (format == .sqlx ? 2 : 1))
        }

        let both = try await TestDatabase.make(engine)
        try await Self.makeHistory(both, .sqlx)
        try await Self.makeHistory(both, .golangMigrate)
        try await withFolderMigrator(both, folder, engine) { (migrator: Migrator) async throws in
            await #expect {
                try await migrator.migrate()
            } throws: { error in
                guard case MigrationError.invalid(let invalid) = error else { return false }
                return invalid.reason.contains("holds the histories of golang-migrate and sqlx")
            }
        }
    }

    static func makeHistory(_ db: TestDatabase, _ format: MigrationFormat) async throws {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                try await format.history.create(sql, engine: db.postgres == nil ? .sqlite : .postgres)
            }
        }
    }

    @Test("by the version's number (9 before 00010), -- no-transaction as sqlx reads it, other names ignored")
    func reading() throws {
        let folder = try MigrationsDir([
            "00010_b.sql": "-- no-transaction\nCREATE INDEX i ON a (id);\n",
            "9_a.sql": "CREATE TABLE a (id INTEGER);\n",
            "11_c.sql": "\u{FEFF}-- no-transaction\nSELECT 1;\n",
            "12_d.sql": "SELECT 1; -- no-transaction\n",
            "README.md": "notes", "setup.sql": "SELECT 1;",
        ])
        let catalog = MigrationCatalog.load(folder: folder.path, format: "sqlx", dialect: .sqlite)
        #expect(catalog.invalid == nil, "\(String(describing: catalog.invalid))")
        #expect(catalog.migrations.map(\.id) == ["9_a", "00010_b", "11_c", "12_d"])
        // sqlx tests the file's first characters as written: a byte order mark before the marker hides it.
        #expect(catalog.migrations.map(\.transactional) == [true, false, true, true])
        #expect(catalog.migrations.map(\.toolKey) == ["9", "10", "11", "12"])
    }

    @Test(
        "_sqlx_migrations: success false is interrupted until resolved (the row replaced), a checksum not the file's is drift, rollback deletes the row",
        arguments: Engine.available)
    func history(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let folder = try MigrationsDir(Self.pairs)
        let yes = engine == .postgres ? "TRUE" : "1"
        try await withFolderMigrator(db, folder, engine, format: "sqlx") { (migrator: Migrator) async throws in
            #expect(try await migrator.migrate() == ["1_a", "2_b"])
            #expect(try await migrator.rollback(steps: 1) == ["2_b"])
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM _sqlx_migrations") == 1)
            // An older sqlx wrote its row before the script, success false, and stopped there.
            try await TestSQL.run(
                db,
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (2, 'b', \(engine == .postgres ? "FALSE, decode('00', 'hex')" : "0, X'00'"), -1)"
            )
            await #expect(throws: MigrationError.interrupted(migration: "2_b")) { try await migrator.migrate() }
            try await TestSQL.run(db, "CREATE TABLE b (id INTEGER)")
            try await migrator.resolve("2_b", applied: true)
            #expect(try await count(db, "SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success = \(yes)") == 2)
            #expect(try await migrator.pending().isEmpty)
            // A checksum in sqlx's table that is not the file's: sqlx refuses to go on (VersionMismatch).
            try await TestSQL.run(
                db,
                "UPDATE _sqlx_migrations SET checksum = \(engine == .postgres ? "decode('00', 'hex')" : "X'00'") WHERE version = 1"
            )
            await #expect(throws: MigrationError.drift(migration: "1_a")) { try await migrator.pending() }
        }
    }
}
