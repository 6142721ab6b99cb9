@testable import AppCore
import AppServer
import Foundation
import Testing

/// SIGTERM during a migration (README, "Shutdown"): new calls get 503, the run in
/// progress finishes within SHUTDOWN_TIMEOUT or is rolled back whole, and the process exits 0.
@Suite("shutdown", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct ShutdownTests {
    static func folder(sleep seconds: Int) throws -> TempDir {
        let dir = try TempDir()
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("m"), withIntermediateDirectories: true)
        try dir.write("m/0001_slow.sql", "-- migrate:up\nSELECT pg_sleep(\(seconds));\nCREATE TABLE slow_done (x int);\n")
        return dir
    }

    /// Waits for the process to end; its exit status, or nil after `limit`.
    static func exit(_ server: ServerProcess, within limit: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + limit
        while server.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard !server.process.isRunning else { return nil }
        server.process.waitUntilExit()
        return server.process.terminationStatus
    }

    /// Waits until PostgreSQL shows the migration's sleep running in this test's database (other tests
    /// sleep in theirs at the same time).
    static func waitForSleep(_ db: TestDatabase) async throws {
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            for _ in 0..<200 {
                let sleeping = try await database.withConnection { sql in
                    try await sql.raw("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'").first()?.decode(column: "n", as: Int.self) ?? 0
                }
                if sleeping > 0 { return }
                try await Task.sleep(for: .milliseconds(25))
            }
            Issue.record("the migration never started")
        }
    }

    @Test("SIGTERM mid-migration: new calls and /healthz get 503, the run finishes and answers 200, the process exits 0")
    func drains() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try Self.folder(sleep: 5)
        let server = try await ServerProcess.start(environment: [
            "APP_ENV": "test", "DATABASE_URL": db.url, "MIGRATIONS_DIR": "m", "MIGRATION_SECRET": Secrets.migration,
        ], directory: dir.url)
        let http = ServerProcessTests()
        let auth = [("Authorization", "Bearer \(Secrets.migration)")]
        let running = Task { try await http.get("\(server.baseURL)/api/migrate", headers: auth, method: .POST) }
        try await Self.waitForSleep(db)
        kill(server.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        let refused = try await http.get("\(server.baseURL)/api/migrate", headers: auth, method: .POST)
        #expect(refused.0 == 503)
        let refusal = try JSONSerialization.jsonObject(with: Data(refused.1.utf8)) as? NSDictionary
        #expect(refusal == ["success": false, "error": "Server shutting down"])
        #expect(try await http.get("\(server.baseURL)/healthz").0 == 503)
        #expect(try await http.get("\(server.baseURL)/livez").0 == 200, "alive while it drains")
        let (status, body) = try await running.value
        #expect(status == 200)
        #expect(body.contains(#""applied":["0001_slow"]"#))
        #expect(try await Self.exit(server, within: .seconds(15)) == 0)
        #expect(try await historyIDs(db) == ["0001_slow"])
        #expect(server.output.contains("SIGTERM: new migration calls get 503"))
    }

    @Test("SIGTERM with a run longer than SHUTDOWN_TIMEOUT: the process exits 0 at the timeout, nothing of the migration remains, no lock is left")
    func timesOut() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try Self.folder(sleep: 20)
        let server = try await ServerProcess.start(environment: [
            "APP_ENV": "test", "DATABASE_URL": db.url, "MIGRATIONS_DIR": "m", "MIGRATION_SECRET": Secrets.migration, "SHUTDOWN_TIMEOUT": "1",
        ], directory: dir.url)
        let running = Task { try? await ServerProcessTests().get("\(server.baseURL)/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")], method: .POST) }
        try await Self.waitForSleep(db)
        let signalled = ContinuousClock.now
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await Self.exit(server, within: .seconds(15)) == 0)
        #expect(ContinuousClock.now - signalled < .seconds(10), "ended at the timeout, not after the migration's 20 s")
        #expect(await running.value?.0 != 200)
        #expect(server.output.contains("SHUTDOWN_TIMEOUT passed with a migration still running"))
        // PostgreSQL notices the closed connection only when the running statement ends (20 s on);
        // ending that statement now does what it would do then: the transaction, never committed,
        // rolls back and its advisory lock goes with it.
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                try await sql.raw("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()
                    """).run()
                for _ in 0..<200 {
                    let left = try await sql.raw("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'").first()?.decode(column: "n", as: Int.self) ?? 0
                    if left == 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let locks = try await sql.raw("""
                    SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """).first()?.decode(column: "n", as: Int.self)
                #expect(locks == 0)
            }
        }
        #expect(try await historyIDs(db) ?? [] == [])
        #expect(try await tableNames(db).contains("slow_done") == false)
    }
}
