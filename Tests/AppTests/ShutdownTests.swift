import AppServer
import Foundation
import SQLKit
import Testing

@testable import AppCore

/// SIGTERM during a migration (README, "Shutdown"): new calls get 503, the run in progress finishes
/// within SHUTDOWN_TIMEOUT or is rolled back whole, and the process exits 0. The migration waits on an
/// advisory lock the test holds, so the test decides when it may finish, however loaded the machine.
@Suite("shutdown", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct ShutdownTests {
    static let gateKey = 424_242

    static func folder() throws -> TempDir {
        let dir = try TempDir()
        try FileManager.default.createDirectory(
            at: dir.url.appendingPathComponent("m"), withIntermediateDirectories: true)
        try dir.write(
            "m/0001_gated.sql",
            "-- migrate:up\nSELECT pg_advisory_xact_lock(\(gateKey));\nCREATE TABLE gated_done (x int);\n")
        return dir
    }

    static func start(_ db: TestDatabase, _ dir: TempDir, _ extra: [String: String] = [:]) async throws -> ServerProcess
    {
        try await ServerProcess.start(
            environment: [
                "APP_ENV": "test", "DATABASE_URL": db.url, "MIGRATIONS_DIR": "m", "MIGRATION_SECRET": Secrets.migration,
            ].merging(extra) { $1 }, directory: dir.url)
    }

    /// Waits for the process to end; its exit status, or nil after `limit`.
    static func exit(_ server: ServerProcess, within limit: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + limit
        while server.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard !server.process.isRunning else { return nil }
        server.process.waitUntilExit()
        return server.process.terminationStatus
    }

    static func count(_ sql: any SQLDatabase, _ query: String) async throws -> Int {
        try await sql.raw("\(unsafeRaw: query)").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    @Test(
        "SIGTERM mid-migration: new calls and /healthz get 503, the run finishes and answers 200, the process exits 0")
    func drains() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try Self.folder()
        let server = try await Self.start(db, dir)
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            let auth = [("Authorization", "Bearer \(Secrets.migration)")]
            let running = Task { try await get("\(server.baseURL)/api/migrate", headers: auth, method: .POST) }
            try await waitForLockWaiter(sql, Self.gateKey)
            kill(server.process.processIdentifier, SIGTERM)
            // The drain begins: each new call is refused until the run is over.
            var refused = (0, "")
            for _ in 0..<200 {
                refused = try await get("\(server.baseURL)/api/migrate", headers: auth, method: .POST)
                if refused.0 == 503 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(refused.0 == 503)
            let refusal = try JSONSerialization.jsonObject(with: Data(refused.1.utf8)) as? NSDictionary
            #expect(refusal == ["success": false, "error": "Server shutting down"])
            #expect(try await get("\(server.baseURL)/healthz").0 == 503)
            #expect(try await get("\(server.baseURL)/livez").0 == 200, "alive while it drains")
            #expect(server.process.isRunning)
            // Let the migration finish.
            try await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.gateKey)))").run()
            let (status, body) = try await running.value
            #expect(status == 200)
            #expect(body.contains(#""applied":["0001_gated"]"#))
        }
        #expect(try await Self.exit(server, within: .seconds(30)) == 0)
        #expect(try await historyIDs(db) == ["0001_gated"])
        #expect(server.output.contains("SIGTERM: new migration calls get 503"))
    }

    @Test(
        "SIGTERM with a run that outlasts SHUTDOWN_TIMEOUT: the process exits 0 at the timeout, nothing of the migration remains, no lock is left"
    )
    func timesOut() async throws {
        let db = try await TestDatabase.make(.postgres)
        let dir = try Self.folder()
        let server = try await Self.start(db, dir, ["SHUTDOWN_TIMEOUT": "1"])
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            let running = Task {
                try? await get(
                    "\(server.baseURL)/api/migrate", headers: [("Authorization", "Bearer \(Secrets.migration)")],
                    method: .POST)
            }
            try await waitForLockWaiter(sql, Self.gateKey)
            kill(server.process.processIdentifier, SIGTERM)
            #expect(try await Self.exit(server, within: .seconds(30)) == 0)
            #expect(await running.value?.0 != 200)
            #expect(server.output.contains("SHUTDOWN_TIMEOUT passed with a migration still running"))
            // Released: the server's backend gets the lock, finds its client gone, and rolls back.
            try await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.gateKey)))").run()
            for _ in 0..<400 {
                let others = try await Self.count(
                    sql,
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if others == 0 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(
                try await Self.count(
                    sql,
                    """
                    SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """) == 0)
        }
        #expect(try await historyIDs(db) ?? [] == [])
        #expect(try await tableNames(db).contains("gated_done") == false)
    }
}
