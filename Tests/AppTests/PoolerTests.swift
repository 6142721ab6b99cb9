import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PostgresKit
import Testing

@testable import AppCore

/// Through PgBouncer in transaction pooling mode (scripts/test starts one in front of the test cluster).
@Suite("behind a transaction pooler", .dropsTestDatabases, .enabled(if: Tool.pgbouncer))
struct PoolerTests {
    /// `db` reached through the pooler (which trusts the cluster's users, so no password).
    static func pooled(_ db: TestDatabase) throws -> String {
        guard
            let bouncer = ProcessInfo.processInfo.environment["TEST_PGBOUNCER_URL"].flatMap(URLComponents.init(string:))
        else {
            throw MissingPostgres()
        }
        var components = URLComponents(string: db.url)!
        components.host = bouncer.host
        components.port = bouncer.port
        components.password = nil
        return components.string!
    }

    /// An authorised POST (the suite-wide `post`): the status, and the answer's `error` and `applied`.
    static func post(_ url: String) async throws -> (status: Int, error: String?, applied: [String]) {
        let (status, body) = try await AppTests.post(url)
        let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
        return (status, json["error"] as? String, json["applied"] as? [String] ?? [])
    }

    static func sessionLocksHeld(_ db: TestDatabase) async throws -> Int {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                try await sql.raw(
                    """
                    SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                    WHERE l.locktype = 'advisory' AND d.datname = current_database()
                    """
                ).first()!.decode(column: "n", as: Int.self)
            }
        }
    }

    @Test(
        "app migrate and --status through the pooler; three instances with concurrent calls apply every migration once")
    func migrateThroughPooler() async throws {
        let db = try await TestDatabase.make(.postgres)
        let url = try Self.pooled(db)
        let dir = try TempDir()
        let migrate = try await AppBinary.run(
            ["migrate"], environment: ["DATABASE_URL": url, "APP_ENV": "test"], directory: dir.url)
        #expect(migrate.status == 0, "\(migrate.err)")
        #expect(migrate.out.contains("Applied \(Migration.all.count) migrations"))
        let status = try await AppBinary.run(
            ["migrate", "--status"], environment: ["DATABASE_URL": url, "APP_ENV": "test"], directory: dir.url)
        #expect(status.status == 0 && status.out.contains("Pending: 0"), "\(status.out)\(status.err)")

        // A second database, migrated only by three servers at once.
        let fresh = try await TestDatabase.make(.postgres)
        let env = [
            "DATABASE_URL": try Self.pooled(fresh), "MIGRATION_SECRET": Secrets.migration,
            "NEXTAUTH_SECRET": Secrets.session, "APP_ENV": "test",
        ]
        var servers: [ServerProcess] = []
        for _ in 0..<3 { servers.append(try await ServerProcess.start(environment: env, directory: dir.url)) }
        let urls = servers.map(\.baseURL)
        let answers = try await withThrowingTaskGroup(of: (status: Int, error: String?, applied: [String]).self) {
            group in
            for i in 0..<30 { group.addTask { try await Self.post(urls[i % 3]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for server in servers { await server.stop() }
        #expect(answers.allSatisfy { $0.status == 200 }, "got \(answers.map(\.status)) \(answers.compactMap(\.error))")
        let applied = answers.flatMap(\.applied)
        #expect(applied.sorted() == Migration.all.map(\.id), "each migration applied by exactly one call")
        #expect(try await historyIDs(fresh) == Migration.all.map(\.id))
        #expect(try await Self.sessionLocksHeld(fresh) == 0)
    }

    @Test(
        "a migration outside a transaction is refused behind the pooler, naming it; nothing applied, no lock left; a direct URL applies it"
    )
    func nonTransactionalRefused() async throws {
        let db = try await TestDatabase.make(.postgres)
        let folder = try MigrationsDir([
            "1_table.sql": "-- migrate:up\nCREATE TABLE t (id INTEGER, name TEXT);\n",
            "2_index.sql": "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_name ON t (name);\n",
        ])
        let dir = try TempDir()
        let pooled = ["DATABASE_URL": try Self.pooled(db), "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]

        let cli = try await AppBinary.run(["migrate"], environment: pooled, directory: dir.url)
        #expect(cli.status == 1)
        #expect(cli.err.contains("error: DATABASE_URL goes through a transaction pooler"), "\(cli.err)")
        #expect(cli.err.contains("reaches PostgreSQL directly"))
        #expect(try await historyIDs(db) == ["1_table"], "the transactional file before it is applied, the other not")

        let server = try await ServerProcess.start(
            environment: pooled.merging(["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]) {
                $1
            },
            directory: dir.url)
        let answer = try await Self.post(server.baseURL)
        await server.stop()
        #expect(answer.status == 500)
        #expect(answer.error == "Migration needs a direct database connection")
        #expect(server.output.contains("transaction pooler"))
        #expect(try await historyIDs(db) == ["1_table"])
        #expect(try await Self.sessionLocksHeld(db) == 0, "no session lock taken, so none left on a pooled backend")

        let direct = try await AppBinary.run(
            ["migrate"], environment: ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path],
            directory: dir.url)
        #expect(direct.status == 0, "\(direct.err)")
        #expect(try await historyIDs(db) == ["1_table", "2_index"])
    }
}
