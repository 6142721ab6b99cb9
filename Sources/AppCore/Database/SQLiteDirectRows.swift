import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO

/// SQLiteKit's `SQLDatabase` for one connection, with rows that read the values the server asks for
/// most (text as `String`, integers as `Int` or `Int64`) straight from SQLite's value.
///
/// SQLiteKit's row asks the Swift runtime whether each type it decodes to is `SQLiteDataConvertible`.
/// The first such question about a type walks every protocol conformance record of the binary (11 000
/// with the Swift runtime and Foundation linked in, about 0.2 ms each on this machine), and a no-op
/// `app migrate` asked three (docs/benchmarks.md). Any other type, and a value of another kind (a
/// `NULL`, a number read as text), is decoded by SQLiteKit's own row, so every answer is SQLiteKit's.
struct SQLiteDirectDatabase: SQLDatabaseWrapper {
    let connection: SQLiteConnection
    let base: any SQLDatabase

    init(_ connection: SQLiteConnection, queryLogLevel: Logger.Level?) {
        self.connection = connection
        self.base = connection.sql(queryLogLevel: queryLogLevel)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void)
        -> EventLoopFuture<Void>
    {
        let sql: String
        let binds: [SQLiteData]
        do {
            (sql, binds) = try serialized(query)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return connection.query(sql, binds, logger: connection.logger) { onRow(SQLiteDirectRow(row: $0)) }
    }

    /// What every `async` query of the server's takes (SQLKit's `run`, `all`, `first`): the rows are
    /// read, and handed to `onRow`, on SQLite's thread, and the caller resumes once, as SQLiteKit's
    /// own `async` path does. The `EventLoopFuture` form above, which SQLKit's default for this
    /// forwards to, hands each row to the event loop in a task of its own, a wake-up of its thread per
    /// row (reading 200 history rows took a few hundred of them).
    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try serialized(query)
        try await connection.query(sql, binds) { onRow(SQLiteDirectRow(row: $0)) }
    }

    /// The query's text and its values as SQLite's, logged at `queryLogLevel` (the values counted, never shown).
    private func serialized(_ query: any SQLExpression) throws -> (String, [SQLiteData]) {
        let (sql, values) = serialize(query)
        if let level = queryLogLevel {
            logger.log(level: level, "Executing query", metadata: ["sql": "\(sql)", "binds": "\(values.count)"])
        }
        let encoder = SQLiteDataEncoder()
        return (sql, try values.map { try encoder.encode($0) })
    }
}

/// One row of `SQLiteDirectDatabase`.
struct SQLiteDirectRow: SQLRow {
    let row: SQLiteRow

    var allColumns: [String] { row.sql().allColumns }

    func contains(column: String) -> Bool { row.column(column) != nil }

    func decodeNil(column: String) throws -> Bool { try row.sql().decodeNil(column: column) }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        // Each comparison is of two metadata pointers; the casts are from a type to itself.
        switch row.column(column) {
        case .text(let text)? where D.self == String.self: text as! D
        case .integer(let value)? where D.self == Int.self: value as! D
        case .integer(let value)? where D.self == Int64.self: Int64(value) as! D
        default: try row.sql().decode(column: column, as: type)
        }
    }
}
