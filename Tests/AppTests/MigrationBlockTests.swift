@testable import AppCore
import Foundation
import SQLKit
import Testing

/// On PostgreSQL, each transactional migration after a run's first is sent as one `DO` block. Which
/// way a migration went is read from the migration itself: `current_query()` is the block's text
/// inside it, and the statement's own text on the long way.
@Suite("PostgreSQL: a migration sent as one statement", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct MigrationBlockTests {
    /// A migration's text as the server reads it back, whatever PostgreSQL's string settings.
    static let tricky = #"it's \ $app_migrate$ ; -- not a comment /* nor this */ "quoted" é ✓"#

    static let files = [
        "1_probe.sql": "CREATE TABLE probe (label TEXT PRIMARY KEY, query TEXT, value TEXT);\nINSERT INTO probe VALUES ('1', current_query(), NULL);\n",
        "2_tricky.sql": """
            INSERT INTO probe VALUES ('2', current_query(), E'it''s \\\\ $app_migrate$ ; -- not a comment /* nor this */ "quoted" é ✓');
            CREATE FUNCTION semi() RETURNS text AS $$ SELECT 'x;y'::text $$ LANGUAGE sql;
            DO $app_migrate$ BEGIN INSERT INTO probe VALUES ('2-do', current_query(), semi()); END $app_migrate$;

            """,
        "3_plain.sql": "INSERT INTO probe VALUES ('3', current_query(), NULL);\n",
    ]

    /// label → (how the statement reached the server, the value it wrote).
    static func probe(_ db: TestDatabase) async throws -> [String: (query: String, value: String?)] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                var rows: [String: (query: String, value: String?)] = [:]
                for row in try await sql.raw("SELECT label, query, value FROM probe").all() {
                    rows[try row.decode(column: "label", as: String.self)] =
                        (try row.decode(column: "query", as: String.self), try row.decode(column: "value", as: String?.self))
                }
                return rows
            }
        }
    }

    static func migrate(_ db: TestDatabase, _ folder: MigrationsDir) async throws -> [String] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let migrator = Migrator(database: database, catalog: folder.catalog(.postgres), lockTimeout: .seconds(10), logger: quietLogger)
        return try await database.withRunning { try await migrator.migrate() }
    }

    @Test("the first migration goes statement by statement, later ones as one DO block whose text reaches the server exactly as written, whatever standard_conforming_strings says",
          arguments: ["on", "off"])
    func laterOnesAsBlock(_ standardConformingStrings: String) async throws {
        let folder = try MigrationsDir(Self.files)
        let db = try await TestDatabase.make(.postgres)
        let name = db.url.split(separator: "/").last!.split(separator: "?").first!
        try await TestDatabase.adminSQL("ALTER DATABASE \(name) SET standard_conforming_strings = \(standardConformingStrings)")
        #expect(try await Self.migrate(db, folder) == ["1_probe", "2_tricky", "3_plain"])

        let probe = try await Self.probe(db)
        #expect(probe["1"]?.query.hasPrefix("INSERT INTO probe") == true, "the run's first migration goes the long way")
        // The migration holds the block's usual tag, so the block took another.
        #expect(probe["2"]?.query.hasPrefix("DO $app_migrate_1$") == true, "\(probe["2"]?.query.prefix(40) ?? "no row")")
        #expect(probe["2"]?.value == Self.tricky)
        #expect(probe["2-do"]?.value == "x;y", "a DO block and a dollar-quoted body inside the migration run as written")
        #expect(probe["3"]?.query.hasPrefix("DO $app_migrate$") == true)
        #expect(try await historyIDs(db) == ["1_probe", "2_tricky", "3_plain"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations WHERE version IN ('1', '2', '3')") == 3, "dbmate's history written in the block too")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations WHERE execution_ms >= 0 AND state = 'applied'") == 3)
    }

    enum Unusable: String, CaseIterable, CustomStringConvertible {
        case plpgsqlRevoked, repeatableRead, serializable
        var description: String { rawValue }
    }

    @Test("where a block cannot be used (PL/pgSQL revoked from the role, REPEATABLE READ or SERIALIZABLE by default), every migration goes the long way and the folder applies the same",
          arguments: Unusable.allCases)
    func longWayWhenUnusable(_ unusable: Unusable) async throws {
        // Without the migration's own DO block, which a role without PL/pgSQL could not run either.
        var files = Self.files
        files["2_tricky.sql"] = files["2_tricky.sql"]!.replacingOccurrences(
            of: "DO $app_migrate$ BEGIN INSERT INTO probe VALUES ('2-do', current_query(), semi()); END $app_migrate$;",
            with: "INSERT INTO probe VALUES ('2-do', current_query(), semi());"
        )
        let folder = try MigrationsDir(files)
        let admin = try await TestDatabase.make(.postgres)
        let name = String(admin.url.split(separator: "/").last!.split(separator: "?").first!)
        var db = admin
        switch unusable {
        case .plpgsqlRevoked:
            // A role of its own, which owns the schema: superusers are never refused a language.
            let role = "r_" + name
            try await TestDatabase.adminSQL("CREATE ROLE \(role) LOGIN")
            try await TestSQL.run(admin, "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC")
            try await TestSQL.run(admin, "ALTER SCHEMA public OWNER TO \(role)")
            var components = URLComponents(string: admin.url)!
            components.user = role
            components.password = nil
            db = TestDatabase(location: try DatabaseLocation(url: components.string!), url: components.string!, dir: admin.dir)
        case .repeatableRead:
            try await TestDatabase.adminSQL("ALTER DATABASE \(name) SET default_transaction_isolation = 'repeatable read'")
        case .serializable:
            try await TestDatabase.adminSQL("ALTER DATABASE \(name) SET default_transaction_isolation = 'serializable'")
        }
        #expect(try await Self.migrate(db, folder) == ["1_probe", "2_tricky", "3_plain"])
        let probe = try await Self.probe(db)
        for label in ["1", "2", "3"] {
            #expect(probe[label]?.query.hasPrefix("INSERT INTO probe") == true, "\(label): \(probe[label]?.query.prefix(40) ?? "no row")")
        }
        #expect(probe["2"]?.value == Self.tricky)
        #expect(probe["2-do"]?.value == "x;y")
        #expect(try await historyIDs(db) == ["1_probe", "2_tricky", "3_plain"])
        if unusable == .plpgsqlRevoked {
            let role = "r_" + name
            try await TestSQL.run(admin, "DROP OWNED BY \(role)")
            try await TestDatabase.adminSQL("DROP ROLE \(role)")
        }
    }

    @Test("a block that finds the history changed or the lock taken runs nothing; once neither holds, it applies the migration with its row")
    func declinedBlockRunsNothing() async throws {
        let folder = try MigrationsDir(Self.files)
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let migration = try #require(folder.catalog(.postgres).migrations.first { $0.id == "3_plain" })
        try await TestSQL.run(db, "CREATE TABLE probe (label TEXT PRIMARY KEY, query TEXT, value TEXT)")
        try await TestSQL.run(db, "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')")
        try await database.withRunning {
            try await database.withConnection { sql in
                let render = { @Sendable (count: Int) -> String in
                    PostgresMigrationBlock.render(WholeMigration(
                        migration: migration, expected: .init(count: count, last: nil, running: 0), appliedAt: "2026-11-30T00:00:00.000Z",
                        toolStatements: { _ in [] }
                    ), db: sql)!
                }
                let expectingOne = render(1), expectingNone = render(0)
                // The history has no rows: a block expecting one declines.
                let changed = await #expect(throws: (any Error).self) { try await sql.raw("\(unsafeRaw: expectingOne)").run() }
                #expect(changed.map(PostgresMigrationBlock.declined) == true, "\(String(describing: changed))")
                // Another session holds the runner's lock.
                let other = try AppDatabase(location: db.location, logger: quietLogger)
                try await other.withRunning {
                    try await other.withConnection { holder in
                        try await holder.raw("SELECT pg_advisory_lock(\(bind: migrationLockKey))").run()
                        let busy = await #expect(throws: (any Error).self) { try await sql.raw("\(unsafeRaw: expectingNone)").run() }
                        #expect(busy.map(PostgresMigrationBlock.declined) == true, "\(String(describing: busy))")
                        try await holder.raw("SELECT pg_advisory_unlock(\(bind: migrationLockKey))").run()
                    }
                }
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM probe") == 0)
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 0)
                // Once nothing is in the way, the same block applies it with its row.
                try await sql.raw("\(unsafeRaw: expectingNone)").run()
            }
        }
        #expect(try await historyIDs(db) == ["3_plain"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM probe WHERE label = '3'") == 1)
    }
}
