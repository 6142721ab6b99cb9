import Foundation
import SQLKit
import Testing

@testable import AppCore

/// On PostgreSQL, each transactional migration after a run's first is sent as one statement: a call
/// of the session's migration function, or a `DO` block where there is none. Which way a migration
/// went is read from the migration itself: `current_query()` is the call's or the block's text inside
/// it, and the statement's own text on the long way.
@Suite("PostgreSQL: a migration sent as one statement", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct MigrationBlockTests {
    /// A migration's text as the server reads it back, whatever PostgreSQL's string settings.
    static let tricky = #"it's \ $app_migrate$ ; -- not a comment /* nor this */ "quoted" é ✓"#

    static let files = [
        "1_probe.sql":
            "-- migrate:up\nCREATE TABLE probe (label TEXT PRIMARY KEY, query TEXT, value TEXT);\nINSERT INTO probe VALUES ('1', current_query(), NULL);\n",
        "2_tricky.sql": """
        -- migrate:up
        INSERT INTO probe VALUES ('2', current_query(), E'it''s \\\\ $app_migrate$ ; -- not a comment /* nor this */ "quoted" é ✓');
        CREATE FUNCTION semi() RETURNS text AS $$ SELECT 'x;y'::text $$ LANGUAGE sql;
        DO $app_migrate$ BEGIN INSERT INTO probe VALUES ('2-do', current_query(), semi()); END $app_migrate$;

        """,
        "3_plain.sql": "-- migrate:up\nINSERT INTO probe VALUES ('3', current_query(), NULL);\n",
    ]

    /// label → (how the statement reached the server, the value it wrote).
    static func probe(_ db: TestDatabase) async throws -> [String: (query: String, value: String?)] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                var rows: [String: (query: String, value: String?)] = [:]
                for row in try await sql.raw("SELECT label, query, value FROM probe").all() {
                    rows[try row.decode(column: "label", as: String.self)] =
                        (
                            try row.decode(column: "query", as: String.self),
                            try row.decode(column: "value", as: String?.self)
                        )
                }
                return rows
            }
        }
    }

    static func migrate(_ db: TestDatabase, _ folder: MigrationsDir) async throws -> [String] {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let migrator = Migrator(
            database: database, catalog: folder.catalog(.postgres), lockTimeout: .seconds(10), logger: quietLogger)
        return try await database.withRunning { try await migrator.migrate() }
    }

    /// How a later migration reaches the server: one call of the session's migration function, or,
    /// for a role that may not create temporary objects, one `DO` block.
    enum Path: String, CaseIterable, CustomStringConvertible {
        case function, block
        var description: String { rawValue }
    }

    /// A role of its own that owns the schema (superusers are never refused anything), connected as;
    /// `revoke` runs first, as the admin, in the database.
    static func asOwnRole(_ admin: TestDatabase, revoke: String) async throws -> (
        TestDatabase, cleanUp: @Sendable () async throws -> Void
    ) {
        let name = String(admin.url.split(separator: "/").last!.split(separator: "?").first!)
        let role = "r_" + name
        try await TestDatabase.adminSQL("CREATE ROLE \(role) LOGIN")
        try await TestSQL.run(admin, revoke)
        try await TestSQL.run(admin, "ALTER SCHEMA public OWNER TO \(role)")
        var components = URLComponents(string: admin.url)!
        components.user = role
        components.password = nil
        let db = TestDatabase(
            location: try DatabaseLocation(url: components.string!), url: components.string!, dir: admin.dir)
        return (
            db,
            {
                try await TestSQL.run(admin, "DROP OWNED BY \(role)")
                try await TestDatabase.adminSQL("DROP ROLE \(role)")
            }
        )
    }

    @Test(
        "the first migration goes statement by statement, later ones as one call of the session's function (or one DO block where the role may not create temporary objects), the text reaching the server exactly as written, whatever standard_conforming_strings says",
        arguments: Path.allCases, ["on", "off"])
    func laterOnesWhole(_ path: Path, _ standardConformingStrings: String) async throws {
        let folder = try MigrationsDir(Self.files)
        let admin = try await TestDatabase.make(.postgres)
        let name = admin.url.split(separator: "/").last!.split(separator: "?").first!
        try await TestDatabase.adminSQL(
            "ALTER DATABASE \(name) SET standard_conforming_strings = \(standardConformingStrings)")
        var db = admin
        var cleanUp: (@Sendable () async throws -> Void)?
        if path == .block {
            (db, cleanUp) = try await Self.asOwnRole(admin, revoke: "REVOKE TEMPORARY ON DATABASE \(name) FROM PUBLIC")
        }
        #expect(try await Self.migrate(db, folder) == ["1_probe", "2_tricky", "3_plain"])

        let probe = try await Self.probe(db)
        #expect(probe["1"]?.query.hasPrefix("INSERT INTO probe") == true, "the run's first migration goes the long way")
        switch path {
        case .function:
            for label in ["2", "3"] {
                #expect(
                    probe[label]?.query.hasPrefix("SELECT \(PostgresMigrationFunction.name)(") == true,
                    "\(probe[label]?.query.prefix(60) ?? "no row")")
            }
        case .block:
            // The migration holds the block's usual tag, so the block took another.
            #expect(
                probe["2"]?.query.hasPrefix("DO $app_migrate_1$") == true, "\(probe["2"]?.query.prefix(40) ?? "no row")"
            )
            #expect(
                probe["3"]?.query.hasPrefix("DO $app_migrate$") == true, "\(probe["3"]?.query.prefix(40) ?? "no row")")
        }
        #expect(probe["2"]?.value == Self.tricky)
        #expect(
            probe["2-do"]?.value == "x;y", "a DO block and a dollar-quoted body inside the migration run as written")
        #expect(try await historyIDs(db) == ["1_probe", "2_tricky", "3_plain"])
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM schema_migrations WHERE version IN ('1', '2', '3')") == 3,
            "dbmate's history written in the same call")
        #expect(
            try await count(
                db, "SELECT COUNT(*) AS n FROM app_migrations WHERE execution_ms >= 0 AND state = 'applied'") == 3)
        try await cleanUp?()
    }

    @Test(
        "a session that loses the function (a migration ran DISCARD TEMP, as a pooler's other session would lack it): the next migrations go as DO blocks, all applied once"
    )
    func functionLostMidRun() async throws {
        var files = Self.files
        files["3_plain.sql"] = "-- migrate:up transaction:false\nDISCARD TEMP;\n"
        files["4_after.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('4', current_query(), NULL);\n"
        files["5_next.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('5', current_query(), NULL);\n"
        files["6_last.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('6', current_query(), NULL);\n"
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(.postgres)
        let ids = ["1_probe", "2_tricky", "3_plain", "4_after", "5_next", "6_last"]
        #expect(try await Self.migrate(db, folder) == ids)
        let probe = try await Self.probe(db)
        #expect(
            probe["2"]?.query.hasPrefix("SELECT \(PostgresMigrationFunction.name)(") == true,
            "\(probe["2"]?.query.prefix(60) ?? "no row")")
        // After a migration outside a transaction the next goes the long way, as always; then the
        // function is gone from the session.
        #expect(probe["4"]?.query.hasPrefix("INSERT INTO probe") == true, "\(probe["4"]?.query.prefix(40) ?? "no row")")
        for label in ["5", "6"] {
            #expect(
                probe[label]?.query.hasPrefix("DO $app_migrate$") == true,
                "\(label): \(probe[label]?.query.prefix(40) ?? "no row")")
        }
        #expect(try await historyIDs(db) == ids)
        #expect(
            try await count(db, "SELECT COUNT(*) AS n FROM probe") == 6,
            "each migration ran once: \(probe.keys.sorted())")
    }

    enum Unusable: String, CaseIterable, CustomStringConvertible {
        case plpgsqlRevoked, repeatableRead, serializable
        var description: String { rawValue }
    }

    @Test(
        "where a block cannot be used (PL/pgSQL revoked from the role, REPEATABLE READ or SERIALIZABLE by default), every migration goes the long way and the folder applies the same",
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
        var cleanUp: (@Sendable () async throws -> Void)?
        switch unusable {
        case .plpgsqlRevoked:
            (db, cleanUp) = try await Self.asOwnRole(admin, revoke: "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC")
        case .repeatableRead:
            try await TestDatabase.adminSQL(
                "ALTER DATABASE \(name) SET default_transaction_isolation = 'repeatable read'")
        case .serializable:
            try await TestDatabase.adminSQL("ALTER DATABASE \(name) SET default_transaction_isolation = 'serializable'")
        }
        #expect(try await Self.migrate(db, folder) == ["1_probe", "2_tricky", "3_plain"])
        let probe = try await Self.probe(db)
        for label in ["1", "2", "3"] {
            #expect(
                probe[label]?.query.hasPrefix("INSERT INTO probe") == true,
                "\(label): \(probe[label]?.query.prefix(40) ?? "no row")")
        }
        #expect(probe["2"]?.value == Self.tricky)
        #expect(probe["2-do"]?.value == "x;y")
        #expect(try await historyIDs(db) == ["1_probe", "2_tricky", "3_plain"])
        try await cleanUp?()
    }

    @Test(
        "a migration's own statement failing with 42883 or 3F000 inside the function is that migration's failure, not a missing function: the next run still uses the function",
        arguments: ["SELECT no_such_function_here()", "CREATE TABLE no_such_schema_here.t (id INTEGER)"])
    func ownFailureKeepsTheFunction(_ failing: String) async throws {
        var files = Self.files
        files["3_plain.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('3', current_query(), NULL);\n\(failing);\n"
        let broken = try MigrationsDir(files)
        // Fixed (it was never applied), and one more after it: the run's second goes whole.
        files["3_plain.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('3', current_query(), NULL);\n"
        files["4_after.sql"] = "-- migrate:up\nINSERT INTO probe VALUES ('4', current_query(), NULL);\n"
        let fixed = try MigrationsDir(files)
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            let first = Migrator(
                database: database, catalog: broken.catalog(.postgres), lockTimeout: .seconds(10), logger: quietLogger)
            let error = await #expect(throws: MigrationError.self) { try await first.migrate() }
            guard case .failed(let id)? = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(id == "3_plain")
            let second = Migrator(
                database: database, catalog: fixed.catalog(.postgres), lockTimeout: .seconds(10), logger: quietLogger)
            let applied = try await second.migrate()
            #expect(applied == ["3_plain", "4_after"])
        }
        let probe = try await Self.probe(db)
        #expect(
            probe["4"]?.query.hasPrefix("SELECT \(PostgresMigrationFunction.name)(") == true,
            "\(probe["4"]?.query.prefix(60) ?? "no row")")
    }

    @Test(
        "a block or a function call that finds the history changed or the lock taken runs nothing; once neither holds, it applies the migration with its row",
        arguments: Path.allCases)
    func declinedRunsNothing(_ path: Path) async throws {
        let folder = try MigrationsDir(Self.files)
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let migration = try #require(folder.catalog(.postgres).migrations.first { $0.id == "3_plain" })
        try await TestSQL.run(db, "CREATE TABLE probe (label TEXT PRIMARY KEY, query TEXT, value TEXT)")
        try await TestSQL.run(
            db,
            "CREATE TABLE app_migrations (id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL, state TEXT NOT NULL DEFAULT 'applied')"
        )
        try await database.withRunning {
            try await database.withConnection { sql in
                if path == .function { try await sql.raw("\(unsafeRaw: PostgresMigrationFunction.definition)").run() }
                let apply = { @Sendable (count: Int) async throws in
                    let whole = WholeMigration(
                        migration: migration, expected: .init(count: count, last: nil, running: 0),
                        toolStatements: { _ in [] }
                    )
                    switch path {
                    case .block: try await sql.raw("\(unsafeRaw: PostgresMigrationBlock.render(whole, db: sql)!)").run()
                    case .function: try await sql.raw(PostgresMigrationFunction.call(whole, db: sql)!).run()
                    }
                }
                // The history has no rows: a call expecting one declines.
                let changed = await #expect(throws: (any Error).self) { try await apply(1) }
                #expect(changed.map(PostgresMigrationBlock.declined) == true, "\(String(describing: changed))")
                // Another session holds the runner's lock.
                let other = try AppDatabase(location: db.location, logger: quietLogger)
                try await other.withRunning {
                    try await other.withConnection { holder in
                        try await holder.raw("SELECT pg_advisory_lock(\(bind: migrationLockKey))").run()
                        let busy = await #expect(throws: (any Error).self) { try await apply(0) }
                        #expect(busy.map(PostgresMigrationBlock.declined) == true, "\(String(describing: busy))")
                        try await holder.raw("SELECT pg_advisory_unlock(\(bind: migrationLockKey))").run()
                    }
                }
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM probe") == 0)
                #expect(try await count(db, "SELECT COUNT(*) AS n FROM app_migrations") == 0)
                // Once nothing is in the way, the same call applies it with its row.
                try await apply(0)
            }
        }
        #expect(try await historyIDs(db) == ["3_plain"])
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM probe WHERE label = '3'") == 1)
    }
}
