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
        let (sql, values) = serialize(query)
        if let level = queryLogLevel {
            logger.log(level: level, "Executing query", metadata: ["sql": "\(sql)", "binds": "\(values.count)"])
        }
        let binds: [SQLiteData]
        do {
            let encoder = SQLiteDataEncoder()
            binds = try values.map { try encoder.encode($0) }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return connection.query(sql, binds, logger: connection.logger) { onRow(SQLiteDirectRow(row: $0)) }
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
