import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import AppCore

/// A folder runs only in a format it positively fits. The case that made this rule: a goose folder
/// (gophish's, `-- +goose Up` / `-- +goose Down`, numbered `.sql` names) was read as dbmate's
/// ("numbered files without markers are dbmate's, all up"), and its first file ran its Down section's
/// `DROP TABLE`s right after its Up, on a database goose had already migrated. The server now reads
/// goose's folders as goose does, and never as another tool's.
@Suite("never guess a folder's tool", .dropsTestDatabases)
struct NeverGuessTests {
    /// Three migrations in the shape of gophish's `db/db_sqlite3/migrations`.
    static let gooseFolder = [
        "20160118194630_init.sql": """
        -- +goose Up
        -- SQL in section 'Up' is executed when this migration is applied
        CREATE TABLE IF NOT EXISTS users (id integer primary key, username varchar(255) NOT NULL UNIQUE, hash varchar(255));
        CREATE TABLE IF NOT EXISTS campaigns (id integer primary key, user_id bigint, name varchar(255) NOT NULL);
        CREATE TABLE IF NOT EXISTS events (id integer primary key, campaign_id bigint, email varchar(255));

        -- +goose Down
        -- SQL section 'Down' is executed when this migration is rolled back
        DROP TABLE users;
        DROP TABLE campaigns;
        DROP TABLE events;

        """,
        "20160131153104_0.1.2_add_event_details.sql": """
        -- +goose Up
        ALTER TABLE events ADD COLUMN details TEXT;

        -- +goose Down

        """,
        "20160211211220_0.1.2_add_ignore_cert_errors.sql": """
        -- +goose Up
        ALTER TABLE campaigns ADD COLUMN ignore_cert_errors BOOLEAN;

        -- +goose Down

        """,
    ]

    /// The database as goose leaves it after its first version, with a user in it.
    static func gooseDatabase(_ engine: Engine) async throws -> TestDatabase {
        let db = try await TestDatabase.make(engine)
        let history =
            switch engine {
            case .sqlite:
                "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))"
            case .postgres:
                "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id))"
            }
        try await TestSQL.run(db, history)
        try await TestSQL.run(
            db, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, \(engine == .sqlite ? "1" : "true"))")
        let up = try #require(gooseFolder["20160118194630_init.sql"]?.components(separatedBy: "-- +goose Down").first)
        for statement in up.components(separatedBy: ";\n") where statement.contains("CREATE") {
            try await TestSQL.run(
                db, statement.components(separatedBy: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n"))
        }
        try await TestSQL.run(
            db,
            "INSERT INTO goose_db_version (version_id, is_applied) VALUES (20160118194630, \(engine == .sqlite ? "1" : "true"))"
        )
        try await TestSQL.run(db, "INSERT INTO users (id, username, hash) VALUES (1, 'admin', 'x')")
        return db
    }

    @Test(
        "a goose folder on a database goose migrated: read as goose's, its first version adopted and the rest applied; every row kept. Named as dbmate's it is refused naming file and line, nothing run",
        arguments: Engine.available)
    func gooseFolderIsGoosesAndAdopted(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.gooseFolder)
        let db = try await Self.gooseDatabase(engine)
        let tablesBefore = try await tableNames(db)
        #expect(tablesBefore.isSuperset(of: ["users", "campaigns", "events", "goose_db_version"]))
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]

        // Named as dbmate's, the folder is never run: the first file's goose marker is refused.
        let named = try await AppBinary.run(
            ["migrate"], environment: env.merging(["MIGRATIONS_FORMAT": "dbmate"]) { $1 }, directory: folder.dir.url)
        #expect(named.status == 2, "\(named.err)")
        #expect(
            named.err.contains("20160118194630_init.sql:1") && named.err.contains("\"-- +goose Up\" is goose's marker"),
            "\(named.err)")
        #expect(try await tableNames(db) == tablesBefore, "nothing made or dropped")

        let later = ["20160131153104_0.1.2_add_event_details", "20160211211220_0.1.2_add_ignore_cert_errors"]
        let dryRun = try await AppBinary.run(["migrate", "--dry-run"], environment: env, directory: folder.dir.url)
        #expect(dryRun.status == 0, "\(dryRun.err)")
        #expect(dryRun.out.contains("Would apply \(later[0])") && dryRun.out.contains("Would apply \(later[1])"))
        #expect(!dryRun.out.contains("20160118194630_init"), "\(dryRun.out)")
        let migrate = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(migrate.status == 0, "\(migrate.err)")
        #expect(migrate.out.contains("Applied 2 migrations"), "\(migrate.out)")
        #expect(!migrate.out.contains("Applied 20160118194630_init"), "\(migrate.out)")
        let check = try await AppBinary.run(["check"], environment: env, directory: folder.dir.url)
        #expect(!check.out.contains("migrations.invalid") && !check.out.contains("foreign-history"), "\(check.out)")

        #expect(try await count(db, "SELECT COUNT(*) AS n FROM users") == 1, "the user goose's database held is kept")
        #expect(
            try await texts(db, "SELECT CAST(version_id AS TEXT) AS v FROM goose_db_version ORDER BY id") == [
                "0", "20160118194630", "20160131153104", "20160211211220",
            ])
        #expect(try await historyIDs(db) == ["20160118194630_init"] + later)
    }

    @Test(
        "numbered files without any tool's markers are no tool's: invalid, nothing run, even as dbmate's (dbmate refuses them too)"
    )
    func plainNumberedFiles() async throws {
        let folder = try MigrationsDir(["1_a.sql": "CREATE TABLE a (id INTEGER);\n", "2_b.sql": "DROP TABLE keep;\n"])
        let db = try await TestDatabase.make(.sqlite)
        try await TestSQL.run(db, "CREATE TABLE keep (id INTEGER)")
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        let recognised = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(recognised.status == 2)
        // sqlx lays out its folders so, but the database holds no sqlx history: nothing tells.
        #expect(
            recognised.err.contains("laid out as sqlx's folders are") && recognised.err.contains("MIGRATIONS_FORMAT"),
            "\(recognised.err)")
        let named = try await AppBinary.run(
            ["migrate"], environment: env.merging(["MIGRATIONS_FORMAT": "dbmate"]) { $1 }, directory: folder.dir.url)
        #expect(named.status == 2)
        #expect(named.err.contains("1_a.sql: no -- migrate:up line"), "\(named.err)")
        #expect(try await tableNames(db) == ["keep"])
    }

    /// The gophish tables, as a dbmate folder: what a team that moved from goose would point the server at.
    static let dbmateFolder = [
        "20160118194630_init.sql":
            "-- migrate:up\nCREATE TABLE IF NOT EXISTS users (id integer primary key, username varchar(255));\n-- migrate:down\nDROP TABLE users;\n",
        "20160131153104_add_event_details.sql":
            "-- migrate:up\nCREATE TABLE IF NOT EXISTS events (id integer primary key, details TEXT);\n",
    ]

    @Test(
        "a database goose keeps, under a dbmate folder: refused before anything runs (409 naming goose, the check names it, app migrate exits 3); nothing made, nothing dropped",
        arguments: Engine.available)
    func anotherToolsDatabaseIsRefused(_ engine: Engine) async throws {
        let folder = try MigrationsDir(Self.dbmateFolder)
        let db = try await Self.gooseDatabase(engine)
        let tablesBefore = try await tableNames(db)

        let logs = LogCapture()
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: logs.logger(), catalog: folder.catalog(engine)).sweptTest(
            .router
        ) { client in
            for method in [HTTPRequest.Method.post, .get] {
                try await client.execute(uri: "/api/migrate", method: method, headers: authHeader) { response in
                    #expect(response.status == .conflict)
                    #expect(
                        NSDictionary(dictionary: response.json)
                            == [
                                "success": false, "error": "Migration history belongs to another tool", "tool": "goose",
                            ])
                }
            }
        }

        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        let migrate = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(migrate.status == 3, "\(migrate.err)")
        #expect(migrate.err.contains("goose") && migrate.err.contains("goose_db_version"), "\(migrate.err)")
        let check = try await AppBinary.run(["check"], environment: env, directory: folder.dir.url)
        #expect(check.status == 1)
        #expect(check.out.contains("migrations.foreign-history") && check.out.contains("goose"), "\(check.out)")

        #expect(try await tableNames(db) == tablesBefore, "no history table made, no table dropped")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM users") == 1)
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM goose_db_version") == 2)
    }

    @Test(
        "each tool the server reads: its history under another tool's folder is refused, naming it (Drizzle's in its own schema on PostgreSQL)",
        arguments: Engine.available, MigrationTools.all.map { $0.format.rawValue })
    func everyToolsHistoryIsNamed(_ engine: Engine, _ name: String) async throws {
        let format = try #require(MigrationFormat(rawValue: name))
        // Supabase's history lives on PostgreSQL only.
        guard engine == .postgres || !format.history.postgresOnly else { return }
        // A folder of another tool the server reads: dbmate's, or sql-migrate's for a dbmate history.
        let folderFormat: MigrationFormat = format == .dbmate ? .sqlMigrate : .dbmate
        let files = try #require(folderFormat.newFiles(stamp: "20260101000000", slug: "x"))
        let folder = try MigrationsDir(Dictionary(uniqueKeysWithValues: files))
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in try await format.history.create(sql, engine: engine.dialect) }
        }
        try await withFolderMigrator(db, folder, engine) { (migrator: Migrator) async throws in
            await #expect(throws: MigrationError.foreignHistory(table: format.history.qualifiedTable, tool: name)) {
                try await migrator.migrate()
            }
        }
        #expect(try await historyIDs(db) == nil, "app_migrations not made")
    }
}
