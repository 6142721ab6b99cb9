import Foundation
import SQLKit
import Testing

@testable import AppCore

/// An SQLite connection is lent again to the next caller instead of opened anew, unless it could carry
/// something over: a migration's own SQL ran on it, a transaction was left open, the body failed, or the
/// path now names another file. A temporary table (which lives as long as its connection) tells whether
/// the next caller got the same connection.
@Suite("SQLite connections lent again")
struct SQLiteReuseTests {
    static func marked(_ sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("SELECT COUNT(*) AS n FROM temp.sqlite_master WHERE name = 'marker'").first()!
            .decode(column: "n", as: Int.self) == 1
    }

    static func running(_ body: @Sendable @escaping (AppDatabase, TestDatabase) async throws -> Void) async throws {
        let db = try await TestDatabase.make(.sqlite)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning { try await body(database, db) }
    }

    @Test("the next caller gets the same connection, its pragmas already set")
    func reused() async throws {
        try await Self.running { database, _ in
            try await database.withConnection { try await $0.raw("CREATE TEMP TABLE marker (x)").run() }
            try await database.withConnection { sql in
                #expect(try await Self.marked(sql))
                let keys = try await sql.raw("PRAGMA foreign_keys").first()?.decode(
                    column: "foreign_keys", as: Int.self)
                #expect(keys == 1)
            }
        }
    }

    @Test("a connection a migration ran on, one left in a transaction, or one whose body failed is not lent again")
    func notReused() async throws {
        try await Self.running { database, _ in
            try await database.withConnection(reusable: false) {
                try await $0.raw("CREATE TEMP TABLE marker (x)").run()
            }
            try await database.withConnection { sql in
                let marked = try await Self.marked(sql)
                #expect(!marked)
            }

            try await database.withConnection { sql in
                try await sql.raw("CREATE TEMP TABLE marker (x)").run()
                try await sql.raw("BEGIN").run()
            }
            try await database.withConnection { sql in
                #expect(try await !Self.marked(sql))
                let open = try await sql.raw("SELECT app_in_transaction() AS open").first()?
                    .decode(column: "open", as: Int.self)
                #expect(open == 0)
            }

            await #expect(throws: (any Error).self) {
                try await database.withConnection { sql in
                    try await sql.raw("CREATE TEMP TABLE marker (x)").run()
                    try await sql.raw("SELECT * FROM no_such_table").run()
                }
            }
            try await database.withConnection { sql in
                let marked = try await Self.marked(sql)
                #expect(!marked)
            }
        }
    }

    @Test("a file removed or replaced under the server is opened anew, never read through an old connection")
    func replacedFile() async throws {
        try await Self.running { database, db in
            guard case .sqlite(let path) = db.location else { throw NotSQLite() }
            try await database.withConnection { sql in
                try await sql.raw("CREATE TABLE old_table (x)").run()
                try await sql.raw("CREATE TEMP TABLE marker (x)").run()
            }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            try await database.withConnection { sql in
                let marked = try await Self.marked(sql)
                let tables = try await database.engine.tableNames(sql, among: ["old_table"])
                #expect(!marked)
                #expect(!tables.contains("old_table"), "the new, empty file")
            }
        }
    }
}
