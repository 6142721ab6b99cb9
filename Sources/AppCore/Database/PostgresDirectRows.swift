import PostgresKit
import SQLKit

/// One row of a query `WatchedConnection` ran itself (a query without binds), reading the values the
/// server asks for most (`String`, `String?`, `Int`, `Int64`, `Bool`, `[String]`) straight from
/// PostgresNIO's cell.
///
/// PostgresKit's row decodes each value through its `Decodable` translation: a dynamic cast to
/// `PostgresDecodable`, a coding path and type checks allocated for every value. Reading a no-op
/// run's 200 history rows that way took about 1.5 ms of its critical path (by hand, timed in the
/// process), against 0.1 ms for SQLite's rows read directly (`SQLiteDirectRow`). For these types, on
/// a cell of one of PostgreSQL's own types, PostgresKit's translation ends in the same
/// `PostgresCell.decode`; anything else (another type, a user-defined type such as an enum, a value
/// the direct read refuses) is PostgresKit's row's to answer, so every answer is PostgresKit's.
struct PostgresDirectRow: SQLRow {
    let row: PostgresRow
    let cells: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        self.row = row
        self.cells = row.makeRandomAccess()
    }

    var allColumns: [String] { cells.map(\.columnName) }

    func contains(column: String) -> Bool { cells.contains(column) }

    func decodeNil(column: String) throws -> Bool { !cells.contains(column) || cells[column].bytes == nil }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        if cells.contains(column), case let cell = cells[column], !cell.dataType.isUserDefined,
            let value = try? Self.direct(cell, as: type)
        {
            return value
        }
        return try row.sql().decode(column: column, as: type)
    }

    /// The cell read as `D` by PostgresNIO itself; nil for a type not read here. Each comparison is of
    /// two metadata pointers; each cast is from a type to itself.
    private static func direct<D>(_ cell: PostgresCell, as type: D.Type) throws -> D? {
        let value: D
        if D.self == String.self {
            value = try cell.decode(String.self) as! D
        } else if D.self == String?.self {
            value = try cell.decode(String?.self) as! D
        } else if D.self == Int64.self {
            value = try cell.decode(Int64.self) as! D
        } else if D.self == Int.self {
            value = try cell.decode(Int.self) as! D
        } else if D.self == Bool.self {
            value = try cell.decode(Bool.self) as! D
        } else if D.self == [String].self {
            value = try cell.decode([String].self) as! D
        } else {
            return nil
        }
        return value
    }
}
