import PostgresKit
import SQLKit
import Testing

@testable import AppCore

/// `PostgresDirectRow` reads a few types itself and leaves the rest to PostgresKit's row; every answer
/// must be PostgresKit's: the same value, or an error both times. Compared on a real PostgreSQL
/// session, with a value of each of PostgreSQL's common types (and a user-defined one), each read as
/// every type the server or a migration might ask.
@Suite("PostgreSQL rows read directly", .dropsTestDatabases, .enabled(if: Tool.postgres))
struct PostgresDirectRowTests {
    static let values = [
        "'text'::text", "''::text", "'héllo ✓'::varchar", "'a name'::name", "'ab'::char(4)", "'42'::text",
        "'-7'::varchar", "'true'::text", "0::int2", "1::int4", "-1::int8", "9223372036854775807::int8",
        "'-9223372036854775808'::int8", "2147483647::int4", "true", "false", "NULL", "NULL::text", "NULL::int8",
        "1.5::float8", "1.5::numeric", "'00000000-0000-0000-0000-000000000001'::uuid", "'{a,b}'::text[]",
        "'\\x00ff'::bytea", "'{\"a\": 1}'::json", "'{\"a\": 1}'::jsonb", "'happy'::mood", "'2024-01-02'::date",
        "'42'::oid",
    ]

    static func answers(_ row: any SQLRow, _ column: String) -> [String] {
        [
            rowAnswer(row, column, String.self), rowAnswer(row, column, Int.self), rowAnswer(row, column, Int64.self),
            rowAnswer(row, column, Bool.self), rowAnswer(row, column, String?.self), rowAnswer(row, column, Int?.self),
            rowAnswer(row, column, Int64?.self), rowAnswer(row, column, Bool?.self),
            rowAnswer(row, column, Double.self),
            rowAnswer(row, column, [String].self), rowAnswer(row, column, Int32.self),
        ]
    }

    /// Every row of `query`, read by a leased connection (`WatchedConnection`) and by PostgresKit on
    /// the same session.
    static func bothWays(_ query: SQLQueryString) async throws -> (direct: [any SQLRow], kit: [any SQLRow]) {
        let db = try await TestDatabase.make(.postgres)
        try await TestSQL.run(db, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        return try await database.withRunning {
            try await database.withConnection { sql in
                let watched = try #require(sql as? WatchedConnection)
                return (try await sql.raw(query).all(), try await watched.connection.sql().raw(query).all())
            }
        }
    }

    @Test("every kind of value, read as every type: PostgresKit's answer each time")
    func sameAnswers() async throws {
        let (direct, kit) = try await Self.bothWays(selectingEach(Self.values))
        #expect(direct.count == 1 && kit.count == 1)
        #expect(direct[0] is PostgresDirectRow)
        let read = compareAnswers(direct[0], kit[0], values: Self.values, answers: Self.answers)
        // The comparison means something only if values were read: many pairs are.
        #expect(read > Self.values.count * 2)
        #expect(rowAnswer(direct[0], "c0", String.self) == "value \"text\"")
        #expect(rowAnswer(direct[0], "c26", String.self) == "value \"happy\"")
        #expect(direct[0].allColumns == kit[0].allColumns)
        #expect(direct[0].contains(column: "c0") && !direct[0].contains(column: "missing"))
        #expect(rowAnswer(direct[0], "missing", String.self) == "threw")
        #expect(try direct[0].decodeNil(column: "c16") && !direct[0].decodeNil(column: "c0"))
        #expect(try direct[0].decodeNil(column: "missing") == kit[0].decodeNil(column: "missing"))
    }

    @Test("a query with binds is PostgresKit's, which encodes them; its rows answer the same")
    func binds() async throws {
        let text = "it's ✓"
        let number: Int64 = -9_223_372_036_854_775_807
        let absent: String? = nil
        let (rows, kitRows) = try await Self.bothWays(
            "SELECT \(bind: text) AS t, \(bind: number) AS n, \(bind: absent)::text AS a")
        #expect(!(rows[0] is PostgresDirectRow))
        #expect(try rows[0].decode(column: "t", as: String.self) == text)
        #expect(try rows[0].decode(column: "n", as: Int64.self) == number)
        #expect(try rows[0].decode(column: "a", as: String?.self) == nil)
        for column in ["t", "n", "a"] { #expect(Self.answers(rows[0], column) == Self.answers(kitRows[0], column)) }
    }

    @Test("rows come in order, and a failing query's error is PostgreSQL's")
    func orderAndErrors() async throws {
        let (direct, _) = try await Self.bothWays("SELECT i FROM generate_series(1, 500) AS i")
        #expect(try direct.map { try $0.decode(column: "i", as: Int.self) } == Array(1...500))
        let db = try await TestDatabase.make(.postgres)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { sql in
                await #expect(throws: PSQLError.self) { try await sql.raw("SELECT * FROM missing_table").all() }
            }
        }
    }
}
