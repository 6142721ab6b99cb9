import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization
import Testing

@testable import AppCore

/// `SQLiteDirectRow` reads text and integers itself and leaves the rest to SQLiteKit's row; every answer
/// must be SQLiteKit's: the same value, or an error both times. Compared on a real SQLite file holding
/// a value of every kind SQLite stores, each read as every type the server or a migration might ask.
@Suite("SQLite rows read directly")
struct SQLiteDirectRowTests {
    static let values = [
        "'text'", "''", "'héllo ✓'", "'42'", "'-7'", "'1.5'", "'true'", "0", "1", "-1", "42",
        "9223372036854775807", "-9223372036854775808", "2147483648", "1.5", "-0.25", "NULL", "x'00ff'", "x''",
    ]

    static func answers(_ row: any SQLRow, _ column: String) -> [String] {
        [
            rowAnswer(row, column, String.self), rowAnswer(row, column, Int.self), rowAnswer(row, column, Int64.self),
            rowAnswer(row, column, String?.self), rowAnswer(row, column, Int?.self),
            rowAnswer(row, column, Int64?.self),
            // Not narrower or unsigned integers: SQLiteNIO's conversion traps on a value out of their range.
            rowAnswer(row, column, Double.self), rowAnswer(row, column, Bool.self),
        ]
    }

    /// Every row of `sql` read both ways, on one connection to a file in a scratch folder.
    static func bothWays(_ query: SQLQueryString) async throws -> (direct: [any SQLRow], kit: [any SQLRow]) {
        let dir = try TempDir()
        let connection = try await SQLiteConnection.open(storage: .file(path: dir.path + "/rows.sqlite"))
        do {
            let direct = try await SQLiteDirectDatabase(connection, queryLogLevel: .trace).raw(query).all()
            let kit = try await connection.sql().raw(query).all()
            try await connection.close()
            return (direct, kit)
        } catch {
            try? await connection.close()
            throw error
        }
    }

    @Test("every kind of value, read as every type: SQLiteKit's answer each time")
    func sameAnswers() async throws {
        let (direct, kit) = try await Self.bothWays(selectingEach(Self.values))
        #expect(direct.count == 1 && kit.count == 1)
        let fast = compareAnswers(direct[0], kit[0], values: Self.values, answers: Self.answers)
        // The comparison means something only if values were read: most pairs are.
        #expect(fast > Self.values.count * 3)
        #expect(direct[0].allColumns == kit[0].allColumns)
        #expect(direct[0].contains(column: "c0") && !direct[0].contains(column: "missing"))
        #expect(rowAnswer(direct[0], "missing", String.self) == "threw")
        #expect(try direct[0].decodeNil(column: "c16") && !direct[0].decodeNil(column: "c0"))
    }

    @Test("values bound to a query are SQLiteKit's too")
    func binds() async throws {
        let text = "it's ✓"
        let number: Int64 = -9_223_372_036_854_775_807
        let absent: String? = nil
        let (rows, kitRows) = try await Self.bothWays(
            "SELECT \(bind: text) AS t, \(bind: number) AS n, \(bind: absent) AS a")
        #expect(try rows[0].decode(column: "t", as: String.self) == text)
        #expect(try rows[0].decode(column: "n", as: Int64.self) == number)
        #expect(try rows[0].decode(column: "a", as: String?.self) == nil)
        for column in ["t", "n", "a"] { #expect(Self.answers(rows[0], column) == Self.answers(kitRows[0], column)) }
    }

    @Test("an async query's rows are read on SQLite's thread, in order, and its error is the query's")
    func asyncRows() async throws {
        let dir = try TempDir()
        let connection = try await SQLiteConnection.open(storage: .file(path: dir.path + "/rows.sqlite"))
        let db = SQLiteDirectDatabase(connection, queryLogLevel: .trace)
        let seen = Mutex<(values: [Int], onLoop: Int)>(([], 0))
        do {
            let count = 500
            try await db.execute(
                sql: SQLRaw(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(count)) SELECT i FROM n"
                )
            ) { row in
                let value = (try? row.decode(column: "i", as: Int.self)) ?? -1
                let onLoop = connection.eventLoop.inEventLoop
                seen.withLock {
                    $0.values.append(value)
                    if onLoop { $0.onLoop += 1 }
                }
            }
            // SQLKit's default for `async` goes through the EventLoopFuture form, which hands each row
            // to the event loop in a task of its own: none may come that way.
            #expect(seen.withLock { $0.values } == Array(1...count))
            #expect(seen.withLock { $0.onLoop } == 0)
            // The EventLoopFuture form still reads every row.
            let rows = Mutex(0)
            try await db.execute(sql: SQLRaw("SELECT 1 AS i UNION ALL SELECT 2"), { _ in rows.withLock { $0 += 1 } })
                .get()
            #expect(rows.withLock { $0 } == 2)
            await #expect(throws: SQLiteError.self) { try await db.raw("SELECT * FROM missing_table").all() }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
