import Foundation
import PostgresKit
import Synchronization
import Testing

@testable import AppCore

/// A query on a leased PostgreSQL connection that the server has ended. PostgresNIO drops a query
/// written to a closed channel and never answers it; the engine's connections fail it at once.
@Suite("a connection closed under its lease", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct ClosedConnectionTests {
    static func closedUnderLease(_ end: @escaping @Sendable (_ pid: Int, _ database: String) async throws -> Void)
        async throws
    {
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                let pid = try await sql.raw("SELECT pg_backend_pid() AS pid").first()!
                    .decode(column: "pid", as: Int.self)
                try await end(pid, try #require(db.postgres).database)
                // Once the channel is closed: the moment a query written to it used to be lost.
                try await #require(sql as? WatchedConnection).closed.get()
                // The bound only turns a hang into a failure; the answer comes at once.
                let outcome = await Result(catching: {
                    try await withTimeout(.seconds(10), waitingFor: "answer to SELECT 1") {
                        try await sql.raw("SELECT 1 AS one").run()
                    }
                })
                guard case .failure(let error) = outcome else {
                    Issue.record("a query on a closed connection succeeded")
                    return
                }
                #expect(error is ConnectionClosedUnderQuery, "\(error)")
                #expect(database.engine.isConnectionLost(error), "named a lost connection: 503, not a failed migration")
            }
        }
    }

    @Test("the backend terminated by an administrator: the next query fails at once as connection lost")
    func terminated() async throws {
        try await Self.closedUnderLease { pid, _ in
            try await TestDatabase.adminSQL("SELECT pg_terminate_backend(\(pid))")
        }
    }

    @Test("the database dropped WITH (FORCE) under the lease: the next query fails at once as connection lost")
    func dropped() async throws {
        try await Self.closedUnderLease { _, name in
            try await TestDatabase.adminSQL("DROP DATABASE \(name) WITH (FORCE)")
        }
    }
}

extension ClosedConnectionTests {
    @Test("answered queries leave nothing behind on a connection the pool keeps")
    func nothingPilesUp() async throws {
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, postgresPool: PostgresPool(size: 1), logger: quietLogger)
        try await database.withRunning {
            for _ in 0..<3 {
                try await database.withConnection { sql in
                    for _ in 0..<100 { try await sql.raw("SELECT 1 AS one").run() }
                    let watched = try #require(sql as? WatchedConnection)
                    #expect(watched.watch.outstanding == 0)
                    // The same connection (a pool of one) has one watch, however many leases.
                    #expect(ObjectIdentifier(watched.watch) == ObjectIdentifier(Self.firstWatch(watched.watch)))
                }
            }
        }
    }

    private static let first = Mutex<ConnectionWatch?>(nil)
    static func firstWatch(_ watch: ConnectionWatch) -> ConnectionWatch {
        first.withLock { first in
            if first == nil { first = watch }
            return first!
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
