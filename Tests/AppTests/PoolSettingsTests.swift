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
}
