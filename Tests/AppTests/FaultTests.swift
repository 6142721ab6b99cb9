import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresKit
import Synchronization
import Testing

@testable import AppCore

/// Faults on a live `app serve`, each ending with the schema and the history checked. The slow
/// migration waits at an advisory lock the test holds (a gate), so the test decides when it goes on.
@Suite("faults during a migration", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct FaultTests {
    static let gateKey = 616_161
    static let folderFiles = [
        "1_a.sql": "-- migrate:up\nCREATE TABLE a (id INTEGER);",
        "2_slow.sql": "-- migrate:up\nCREATE TABLE slow (id INTEGER);\nSELECT pg_advisory_xact_lock(\(gateKey));\n",
        "3_c.sql": "-- migrate:up\nCREATE TABLE c (id INTEGER);",
    ]
    static let advisoryLocks = """
        SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid <> \(gateKey)
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    static func environment(_ db: TestDatabase, _ folder: MigrationsDir) -> [String: String] {
        [
            "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            "APP_ENV": "test", "MIGRATIONS_DIR": folder.path, "MIGRATION_LOCK_TIMEOUT": "30",
        ]
    }

    static func tables(_ db: TestDatabase) async throws -> Set<String> {
        try await tableNames(db).intersection(["a", "slow", "c"])
    }

    /// Where the gate is: in the run's first migration, which goes the long way (BEGIN, lock, re-read,
    /// statements, rows, COMMIT: the backend waits for a COMMIT that never comes), or in a later one,
    /// sent whole as one statement (`PostgresMigrationBlock`), which the server finishes and commits on
    /// its own once the gate opens.
    enum Killed: String, CaseIterable, CustomStringConvertible {
        case inFirst, inLater
        var description: String { rawValue }
        var files: [String: String] {
            switch self {
            case .inFirst:
                ["1_slow.sql": FaultTests.folderFiles["2_slow.sql"]!, "2_c.sql": FaultTests.folderFiles["3_c.sql"]!]
            case .inLater: FaultTests.folderFiles
            }
        }
        /// The history right after the kill, and what the next instance applies.
        var history: [String] { self == .inFirst ? [] : ["1_a", "2_slow"] }
        var appliedNext: [String] { self == .inFirst ? ["1_slow", "2_c"] : ["3_c"] }
    }

    @Test(
        "app serve SIGKILLed inside a transactional migration: it is there whole or not at all, no lock is left, another instance applies the rest",
        arguments: Killed.allCases)
    func killedInsideTransaction(_ killed: Killed) async throws {
        let folder = try MigrationsDir(killed.files)
        let db = try await TestDatabase.make(.postgres)
        let env = Self.environment(db, folder)
        let first = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            let call = Task { try? await post(first.baseURL) }
            try await waitForLockWaiter(sql, Self.gateKey)
            kill(first.process.processIdentifier, SIGKILL)
            _ = await call.value
            await first.stop()
            try await sql.raw("SELECT pg_advisory_unlock(\(unsafeRaw: String(Self.gateKey)))").run()
        }
        try await waitUntil("the killed server's lock is gone") { try await count(db, Self.advisoryLocks) == 0 }
        #expect(try await historyIDs(db) ?? [] == killed.history)
        let slowThere = killed.history.contains { $0.hasSuffix("_slow") }
        #expect(
            try await Self.tables(db) == (slowThere ? ["a", "slow"] : []),
            "the slow migration with its history row, or nothing of it")

        let second = try await ServerProcess.start(environment: env, directory: folder.dir.url)
        let (status, body) = try await post(second.baseURL)
        await second.stop()
        #expect(status == 200)
        let applied = killed.appliedNext.map { "\"\($0)\"" }.joined(separator: ",")
        #expect(body.contains("\"applied\":[\(applied)]"), "\(body)")
        #expect(try await Self.tables(db) == (killed == .inFirst ? ["slow", "c"] : ["a", "slow", "c"]))
    }

    @Test(
        "the backend terminated during a migration: 503 naming it, nothing partial, the server serves on and the next POST applies it"
    )
    func backendTerminated() async throws {
        let folder = try MigrationsDir(Self.folderFiles)
        let db = try await TestDatabase.make(.postgres)
        let server = try await ServerProcess.start(environment: Self.environment(db, folder), directory: folder.dir.url)
        let answered = Mutex<(Int, String)>((0, ""))
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            let call = Task { try await post(server.baseURL) }
            try await waitForLockWaiter(sql, Self.gateKey)
            try await sql.raw(
                """
                SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                AND objid = \(unsafeRaw: String(Self.gateKey))
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """
            ).run()
            let answer = try await call.value
            answered.withLock { $0 = answer }
        }
        let answer = answered.withLock { $0 }
        #expect(answer.0 == 503)
        let json = try JSONSerialization.jsonObject(with: Data(answer.1.utf8)) as? [String: Any]
        #expect(json?["error"] as? String == "Database unavailable")
        #expect(json?["migration"] as? String == "2_slow")
        #expect(try await historyIDs(db) == ["1_a"])
        #expect(try await Self.tables(db) == ["a"], "nothing of 2_slow remains")
        #expect(try await count(db, Self.advisoryLocks) == 0)

        // The same process, no restart: the pool replaces the dead connection.
        let (status, body) = try await post(server.baseURL)
        await server.stop()
        #expect(status == 200)
        #expect(body.contains(#""applied":["2_slow","3_c"]"#), "\(body)")
        #expect(server.output.contains("connection lost during a migration"))
    }

    @Test(
        "the caller disconnects in the middle of a run: the run finishes as if it were there, and the next call reports the truth"
    )
    func callerDisconnects() async throws {
        let folder = try MigrationsDir(Self.folderFiles)
        let db = try await TestDatabase.make(.postgres)
        let server = try await ServerProcess.start(environment: Self.environment(db, folder), directory: folder.dir.url)
        try await holdingAdvisoryLock(db, Self.gateKey) { sql in
            // A raw connection that sends the call and closes without reading the answer.
            let caller = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: server.port).get()
            let request =
                "POST /api/migrate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Secrets.migration)\r\nContent-Length: 0\r\n\r\n"
            try await caller.writeAndFlush(ByteBuffer(string: request)).get()
            try await waitForLockWaiter(sql, Self.gateKey)
            try await caller.close().get()
            try await Task.sleep(for: .milliseconds(200))
        }
        try await waitUntil("the run ends") { try await count(db, Self.advisoryLocks) == 0 }
        // The run is not cut by its caller leaving: all of it is applied, and history and schema agree.
        let history = try await historyIDs(db) ?? []
        #expect(history == ["1_a", "2_slow", "3_c"], "\(server.output)")
        let tables = try await Self.tables(db)
        let byTable = ["1_a": "a", "2_slow": "slow", "3_c": "c"]
        for (id, table) in byTable {
            #expect(history.contains(id) == tables.contains(table), "\(id): history \(history), tables \(tables)")
        }
        // The next call applies exactly what is missing.
        let (status, body) = try await post(server.baseURL)
        await server.stop()
        #expect(status == 200)
        let applied =
            (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["applied"] as? [String]
        #expect(applied == ["1_a", "2_slow", "3_c"].filter { !history.contains($0) }, "\(body)")
        #expect(try await Self.tables(db) == ["a", "slow", "c"])
    }
}
