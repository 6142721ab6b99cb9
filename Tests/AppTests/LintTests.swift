import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AppCore

/// The linter on a live PostgreSQL: pending migrations only, each finding about lock time or a rewrite
/// rated by the table's size in the catalog, and where it shows (`app migrate lint`, `--dry-run`,
/// `GET /api/migrate`, `MIGRATION_LINT=error` refusing a POST).
@Suite("the migration linter", .dropsTestDatabases, .enabled(if: Tool.postgres && PostgresParser.available))
struct LintTests {
    static let auth: HTTPFields = [.authorization: "Bearer \(Secrets.migration)"]

    /// `big` has 20 000 rows and `small` 10, both analysed, so the catalog knows their sizes.
    static func database() async throws -> TestDatabase {
        let db = try await TestDatabase.make(.postgres)
        for statement in [
            "CREATE TABLE big (id integer, a integer)", "INSERT INTO big SELECT g, g FROM generate_series(1, 20000) g",
            "CREATE TABLE small (id integer, a integer)", "INSERT INTO small SELECT g, g FROM generate_series(1, 10) g",
            "ANALYZE big", "ANALYZE small",
        ] {
            try await TestSQL.run(db, statement)
        }
        return db
    }

    static let migration = """
        -- migrate:up
        CREATE INDEX big_a ON big (a);
        CREATE INDEX small_a ON small (a);

        ALTER TABLE small DROP COLUMN a;
        -- squawk-ignore ban-drop-table
        DROP TABLE big;
        CREATE TABLE fresh (id integer);
        CREATE INDEX fresh_id ON fresh (id);
        CREATE INDEX later_id ON later (id);
        """

    static func folder() throws -> TempDir {
        let dir = try TempDir()
        try FileManager.default.createDirectory(
            at: dir.url.appendingPathComponent("migrations"), withIntermediateDirectories: true)
        try dir.write("migrations/20260101000000_risky.sql", Self.migration)
        return dir
    }

    static func environment(_ db: TestDatabase, _ more: [String: String] = [:]) -> [String: String] {
        ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": "migrations"].merging(more) { $1 }
    }

    @Test("app migrate lint --format json: rated by each table's size, with the file's lines; ignore comments kept")
    func json() async throws {
        let db = try await Self.database()
        let dir = try Self.folder()
        let result = try await AppBinary.run(
            ["migrate", "lint", "--format", "json"], environment: Self.environment(db), directory: dir.url)
        #expect(result.status == 0, "\(result.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any])
        let findings = try #require(report["findings"] as? [[String: Any]])
        func finding(_ rule: String, _ table: String) -> [String: Any]? {
            findings.first { $0["rule"] as? String == rule && $0["table"] as? String == table }
        }
        let big = try #require(finding("require-concurrent-index-creation", "big"))
        #expect(big["level"] as? String == "warning")
        #expect(big["line"] as? Int == 2)
        #expect(big["migration"] as? String == "20260101000000_risky")
        #expect((big["rows"] as? Int).map { $0 > 15000 && $0 < 25000 } == true, "\(big)")
        let small = try #require(finding("require-concurrent-index-creation", "small"))
        #expect(small["level"] as? String == "info")
        #expect(small["rows"] as? Int == 10)
        // A drop is a warning at any size, and carries no size.
        let drop = try #require(finding("ban-drop-column", "small"))
        #expect(drop["level"] as? String == "warning")
        #expect(drop["line"] as? Int == 5)
        #expect(drop.keys.contains("rows") && drop["rows"] is NSNull)
        // Ignored by the comment above it.
        #expect(finding("ban-drop-table", "big") == nil)
        // A table created in the same migration is not flagged; one that does not exist yet is empty.
        #expect(finding("require-concurrent-index-creation", "fresh") == nil)
        let later = try #require(finding("require-concurrent-index-creation", "later"))
        #expect(later["level"] as? String == "info" && later["rows"] as? Int == 0)
        #expect(
            Set(findings.flatMap { $0.keys }) == ["migration", "line", "rule", "level", "table", "rows", "message"])
    }

    @Test("--strict exits 1 on a warning; text names each finding; after the migration is applied nothing is linted")
    func strictAndPendingOnly() async throws {
        let db = try await Self.database()
        let dir = try Self.folder()
        let text = try await AppBinary.run(["migrate", "lint"], environment: Self.environment(db), directory: dir.url)
        #expect(text.status == 0)
        #expect(
            text.out.contains("warning: 20260101000000_risky:2 require-concurrent-index-creation (big, "), "\(text.out)"
        )
        let strict = try await AppBinary.run(
            ["migrate", "lint", "--strict"], environment: Self.environment(db), directory: dir.url)
        #expect(strict.status == 1)
        let dryRun = try await AppBinary.run(
            ["migrate", "--dry-run"], environment: Self.environment(db), directory: dir.url)
        #expect(
            dryRun.out.contains(
                "Would apply 20260101000000_risky (lint: ban-drop-column, require-concurrent-index-creation)"),
            "\(dryRun.out)")

        let status = try await AppBinary.run(
            ["migrate", "--status"], environment: Self.environment(db), directory: dir.url)
        #expect(
            status.out.contains("Lint: 20260101000000_risky: ban-drop-column, require-concurrent-index-creation"),
            "\(status.out)")

        let check = try await AppBinary.run(
            ["check"],
            environment: Self.environment(
                db, ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]),
            directory: dir.url)
        #expect(
            check.out.contains(
                "WARNING migrations.lint: Pending migration(s) the linter warns about: 20260101000000_risky (ban-drop-column, require-concurrent-index-creation)."
            ), "\(check.out)")

        try await TestSQL.run(db, "CREATE TABLE later (id integer)")
        let applied = try await AppBinary.run(["migrate"], environment: Self.environment(db), directory: dir.url)
        #expect(applied.status == 0, "\(applied.err)")
        let after = try await AppBinary.run(
            ["migrate", "lint", "--strict", "--format", "json"], environment: Self.environment(db), directory: dir.url)
        #expect(after.status == 0)
        #expect(after.out.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"findings":[]}"#)
    }

    @Test("MIGRATION_LINT=error: 422 naming the migration and its rules, nothing applied; GET lists the findings")
    func refused() async throws {
        let db = try await Self.database()
        let dir = try Self.folder()
        let config = try AppHarness.config(
            db,
            [
                "MIGRATION_SECRET": Secrets.migration, "MIGRATION_LINT": "error",
                "MIGRATIONS_DIR": dir.url.appendingPathComponent("migrations").path,
            ])
        let app = try buildApplication(
            config: config, logger: quietLogger,
            catalog: MigrationCatalog.load(folder: config.migrationsDir!, dialect: .postgres))
        try await app.sweptTest(.router) { client in
            try await client.execute(uri: "/api/migrate", method: .get, headers: Self.auth) { response in
                let lint = response.json["lint"] as? [[String: Any]]
                #expect(lint?.contains { $0["rule"] as? String == "ban-drop-column" } == true, "\(response.text)")
            }
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.json["error"] as? String == "Migration refused by lint")
                #expect(response.json["migration"] as? String == "20260101000000_risky")
                #expect(
                    response.json["rules"] as? [String] == ["require-concurrent-index-creation", "ban-drop-column"])
            }
        }
        #expect(try await tableNames(db).contains("big"), "nothing applied")
        #expect(try await historyIDs(db) ?? [] == [])
    }

    @Test("MIGRATION_LINT=warn (the default): each warning is logged, and the migrations are applied")
    func warned() async throws {
        let db = try await Self.database()
        try await TestSQL.run(db, "CREATE TABLE later (id integer)")
        let dir = try Self.folder()
        let logs = LogCapture()
        let config = try AppHarness.config(
            db,
            [
                "MIGRATION_SECRET": Secrets.migration,
                "MIGRATIONS_DIR": dir.url.appendingPathComponent("migrations").path,
            ])
        let app = try buildApplication(
            config: config, logger: logs.logger(),
            catalog: MigrationCatalog.load(folder: config.migrationsDir!, dialect: .postgres))
        try await app.sweptTest(.router) { client in
            try await client.execute(uri: "/api/migrate", method: .post, headers: Self.auth) { response in
                #expect(response.status == .ok)
            }
        }
        #expect(
            logs.lines.contains {
                $0.level == .warning && $0.message == "migration lint" && $0.metadata.contains("rule=ban-drop-column")
            })
        #expect(try await !tableNames(db).contains("big"))
    }

    /// The parser's library is carried in the binary and loaded from memory the first time a migration
    /// is linted (here, by the startup check, which lints what is pending): from an in-memory file, not
    /// from the library on disk. A server that lints nothing (SQLite) never maps it.
    @Test("a server maps PostgreSQL's parser only where it lints, from its own bytes rather than from disk")
    func parserLoadedToLint() async throws {
        let db = try await Self.database()
        try await TestSQL.run(db, "CREATE TABLE later (id integer)")
        let secrets = ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]
        let postgres = try await Self.parserMapped(
            environment: Self.environment(db, secrets), directory: try Self.folder())
        #expect(postgres.status == 200)
        #expect(
            postgres.log.contains("migration lint") && postgres.log.contains("ban-drop-column"), "\(postgres.log)")
        #expect(!postgres.mapped.isEmpty && postgres.mapped.allSatisfy { $0.contains("/memfd:libpg_query.so") })

        let dir = try TempDir()
        try FileManager.default.createDirectory(
            at: dir.url.appendingPathComponent("migrations"), withIntermediateDirectories: true)
        try dir.write("migrations/20260101000000_t.sql", "-- migrate:up\nCREATE TABLE t (id integer);\n")
        let sqlite = try await Self.parserMapped(
            environment: [
                "DATABASE_URL": "sqlite://\(dir.url.path)/app.sqlite", "APP_ENV": "test",
                "MIGRATIONS_DIR": "migrations",
            ].merging(secrets) { $1 },
            directory: dir)
        #expect(sqlite.status == 200)
        #expect(sqlite.mapped == [], "\(sqlite.mapped)")
    }

    /// Where the kernel refuses in-memory files that may be mapped executable (`vm.memfd_noexec = 2`,
    /// Linux 6.3 and later, set in a PID namespace of the test's own), the parser cannot be loaded:
    /// `app migrate lint` fails with the loader's reason, and `app migrate` applies without linting and
    /// says why.
    @Test(
        "the parser refused by the kernel: lint fails with the reason; migrate applies and says nothing was linted",
        .enabled(if: Tool.pidNamespace && FileManager.default.fileExists(atPath: "/proc/sys/vm/memfd_noexec")))
    func parserRefused() async throws {
        let db = try await Self.database()
        try await TestSQL.run(db, "CREATE TABLE later (id integer)")
        let dir = try Self.folder()
        func refusing(_ arguments: [String]) async throws -> ProcessOutput {
            let noExec = "echo 2 > /proc/sys/vm/memfd_noexec && exec \"$0\" \"$@\""
            return try await runProcess(
                ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", noExec, AppBinary.url.path] + arguments,
                environment: AppBinary.baseEnvironment.merging(Self.environment(db)) { $1 }, directory: dir.url)
        }
        let reason = "PostgreSQL's parser could not be loaded (memfd_create: Permission denied)"
        let lint = try await refusing(["migrate", "lint"])
        #expect(lint.status == 1)
        #expect(lint.stderr.contains(reason), "\(lint.stderr)")
        #expect(try await historyIDs(db) ?? [] == [])
        let migrate = try await refusing(["migrate"])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        #expect(migrate.stderr.contains("MIGRATION_LINT is set but nothing was linted: " + reason), "\(migrate.stderr)")
        #expect(try await historyIDs(db) == ["20260101000000_risky"])
    }

    /// Starts `app serve`, posts a migrate call, and reads which of its mappings are libpg_query's.
    static func parserMapped(environment: [String: String], directory: TempDir) async throws -> (
        status: Int, mapped: [String], log: String
    ) {
        let server = try await ServerProcess.start(environment: environment, directory: directory.url)
        let (status, _) = try await get(
            server.baseURL + "/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")], method: .POST)
        let maps = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/maps", encoding: .utf8)
        await server.stop()
        return (status, maps.split(separator: "\n").map(String.init).filter { $0.contains("pg_query") }, server.output)
    }
}
