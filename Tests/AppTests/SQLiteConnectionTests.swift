import Foundation
import Logging
import SQLKit
import SQLiteKit
import Testing

@testable import AppCore

@Suite("SQLite connections", .dropsTestDatabases)
struct SQLiteConnectionTests {
    @Test(
        "every connection enforces foreign keys (set while it opens) and has the busy timeout asked for, not SQLiteNIO's endless wait",
        arguments: [5000, 10, 30000])
    func settings(_ milliseconds: Int) async throws {
        let db = try await TestDatabase.make(.sqlite)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let (keys, timeout) = try await database.withConnection(busyTimeout: .milliseconds(milliseconds)) { sql in
            (
                try await sql.raw("PRAGMA foreign_keys").first()!.decode(column: "foreign_keys", as: Int.self),
                try await sql.raw("PRAGMA busy_timeout").first()!.decode(column: "timeout", as: Int.self)
            )
        }
        #expect(keys == 1)
        #expect(timeout == milliseconds)
        try await TestSQL.run(db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        try await TestSQL.run(db, "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
        await #expect(throws: (any Error).self) { try await TestSQL.run(db, "INSERT INTO child VALUES (1)") }
    }
}

extension SQLiteConnectionTests {
    @Test(
        "with a rollback journal, opening a connection while another holds the file's exclusive lock waits the busy timeout asked for, not until the lock goes"
    )
    func openBoundedByBusyTimeout() async throws {
        let db = try await TestDatabase.make(.sqlite)
        // Write-ahead-log mode (the default) never holds a reader this way: `readerGoesOnInWAL` below.
        let holder = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        let other = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        try await holder.withConnection { sql in try await sql.raw("CREATE TABLE t (id INTEGER)").run() }
        #expect(try await journalMode(db) == "delete")
        try await holder.withConnection { lock in
            try await lock.raw("BEGIN EXCLUSIVE").run()
            let started = ContinuousClock.now
            // The lock goes after 20 s at the latest (so that a wait without bound still ends), or as
            // soon as the attempt is over. A wait without bound would then succeed: the attempt must fail.
            let release = Task {
                try? await Task.sleep(for: .seconds(20))
                try? await lock.raw("ROLLBACK").run()
            }
            let error = await #expect(throws: SQLiteError.self) {
                try await other.withConnection(busyTimeout: .milliseconds(100)) { sql in
                    try await sql.raw("SELECT COUNT(*) AS n FROM t").run()
                }
            }
            #expect(error?.message.contains("locked") == true, "\(String(describing: error))")
            // Far below the 20 s: the suite's load can delay the attempt, never by that much.
            #expect(ContinuousClock.now - started < .seconds(10))
            release.cancel()
            await release.value
        }
    }
}

extension SQLiteConnectionTests {
    @Test(
        "in write-ahead-log mode (the default), a reader goes on at once while a writer holds BEGIN EXCLUSIVE, and sees what was committed"
    )
    func readerGoesOnInWAL() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let holder = try AppDatabase(location: db.location, logger: quietLogger)
        let other = try AppDatabase(location: db.location, logger: quietLogger)
        try await holder.withConnection { sql in
            try await sql.raw("CREATE TABLE t (id INTEGER)").run()
            try await sql.raw("INSERT INTO t VALUES (1)").run()
        }
        #expect(try await journalMode(db) == "wal")
        try await holder.withConnection { lock in
            try await lock.raw("BEGIN EXCLUSIVE").run()
            try await lock.raw("INSERT INTO t VALUES (2)").run()
            let n = try await other.withConnection(busyTimeout: .milliseconds(100)) { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM t").first()!.decode(column: "n", as: Int.self)
            }
            #expect(n == 1, "the committed row only")
            try await lock.raw("ROLLBACK").run()
        }
    }
}
