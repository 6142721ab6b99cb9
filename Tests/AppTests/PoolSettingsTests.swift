import Foundation
import SQLKit
import Testing

@testable import AppCore

@Suite("PostgreSQL's pool settings", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct PoolSettingsTests {
    @Test(
        "a pool of one: a second caller waits DATABASE_POOL_TIMEOUT and is told all of the pool's connections are in use"
    )
    func sizeAndTimeout() async throws {
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(
            location: db.location, postgresPool: PostgresPool(size: 1, timeout: .seconds(3)), logger: quietLogger
        )
        try await database.withRunning {
            try await database.withConnection { _ in
                let started = ContinuousClock.now
                await #expect {
                    try await database.withConnection { sql in try await sql.raw("SELECT 1 AS ok").run() }
                } throws: { error in
                    "\(error)".contains("no pooled connection came free in ")
                        && "\(error)".contains("all of the pool's are in use")
                }
                // Not before the wait it was given.
                #expect(ContinuousClock.now - started >= .seconds(3))
            }
            // The connection is back: the next caller gets it.
            try await database.withConnection { sql in try await sql.raw("SELECT 1 AS ok").run() }
        }
    }

    /// `app migrate` asks for its first connection before it reads the folder (`connectAhead`). The pool
    /// opens one connection for each lease that finds none idle, so the first lease waits for that one
    /// rather than have a second opened beside it.
    @Test("a connection asked for ahead is the one the first lease gets: the pool opens no second")
    func connectAhead() async throws {
        let db = try await TestDatabase.make(.postgres)
        guard let name = db.postgres?.database else { return }
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            let asked = ContinuousClock.now
            database.connectAhead()
            let first = try await database.withConnection { sql in
                try await sql.raw("SELECT pg_backend_pid() AS pid").first()?.decode(column: "pid", as: Int.self)
            }
            let leased = ContinuousClock.now - asked
            // Time for a second connection, had one been started, to show in pg_stat_activity.
            try await Task.sleep(for: .milliseconds(300))
            let pids = try await database.withConnection { sql in
                try await sql.raw(
                    "SELECT pid FROM pg_stat_activity WHERE datname = \(bind: name) AND pid <> pg_backend_pid()"
                ).all().map { try $0.decode(column: "pid", as: Int.self) }
            }
            #expect(first != nil)
            // The lease waits for that connection for a quarter of a second at most; past that (a machine
            // too loaded to connect in time) a second one is expected, and proves nothing either way.
            if leased < .milliseconds(200) {
                #expect(pids.isEmpty, "one connection only: the second lease got the first's again, and no other")
            }
        }
    }
}
