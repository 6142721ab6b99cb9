import Foundation
import Testing

@testable import AppCore

#if PG_QUERY
import AppPgParser
#endif

/// PostgreSQL's own parser (libpg_query), carried in the binary where Debian's libpg-query-dev is
/// installed (scripts/test installs it, so CI always has it).
@Suite("PostgreSQL's own parser")
struct PostgresParserTests {
    @Test("built in wherever scripts/test runs (under CI=true it must be)")
    func available() {
        #expect(PostgresParser.available || ProcessInfo.processInfo.environment["CI"] != "true")
    }

    @Test("a statement's parse tree, with where it starts", .enabled(if: PostgresParser.available))
    func tree() throws {
        let statements = try PostgresParser.parse(
            "ALTER TABLE t ADD COLUMN c integer NOT NULL;\nCREATE INDEX CONCURRENTLY i ON t (c);")
        #expect(statements.count == 2)
        #expect(statements.map { $0.node.keys.first } == ["AlterTableStmt", "IndexStmt"])
        #expect((statements[1].node["IndexStmt"] as? [String: Any])?["concurrent"] as? Bool == true)
        #expect(statements[1].location == 44)
    }

    @Test("a syntax error names where the parser stopped", .enabled(if: PostgresParser.available))
    func syntaxError() {
        #expect {
            try PostgresParser.parse("SELECT 1;\nALTER TABEL t ADD COLUMN c integer;")
        } throws: { error in
            guard let error = error as? PostgresParser.ParseError else { return false }
            return error.message.contains("syntax error") && error.position == 17
        }
    }

    /// Where our splitter and PostgreSQL's parser agree on the corpus, the hand-written splitter can be
    /// retired for PostgreSQL: same count, and each of our statements is one statement to PostgreSQL.
    @Test(
        "every PostgreSQL corpus file: PostgreSQL's parser finds the statements our splitter finds",
        .enabled(if: PostgresParser.available))
    func splitAgrees() throws {
        for file in try SplitterTests.corpus(.postgres) {
            let ours = try SQLSplitter.split(file.text, dialect: .postgres)
            let theirs = try PostgresParser.parse(file.text.replacingOccurrences(of: "\u{FEFF}", with: ""))
            #expect(theirs.count == ours.count, "\(file.name): PostgreSQL \(theirs.count), ours \(ours.count)")
            for statement in ours {
                #expect(try PostgresParser.parse(statement.text).count == 1, "\(file.name) line \(statement.line)")
            }
        }
    }

    /// Why the hand-written splitter still cuts PostgreSQL migrations: neither of libpg_query's own
    /// splits cuts every file as psql does. Its scanner split knows no `BEGIN ATOMIC` body, and its
    /// parser split refuses any statement newer than the parser (Debian's is PostgreSQL 15's grammar),
    /// such as PostgreSQL 17's `MERGE … RETURNING`, which a server of that version runs. If either
    /// expectation fails, libpg_query has caught up, and the splitter can be retired for PostgreSQL.
    @Test(
        "libpg_query's own splits are not psql's: BEGIN ATOMIC and newer grammar",
        .enabled(if: PostgresParser.available))
    func ownSplitsFallShort() throws {
        let atomic = try #require(try SplitterTests.files(.postgres).first { $0.name == "11_begin_atomic.sql" })
        #expect(try SQLSplitter.split(atomic.text, dialect: .postgres).count == 3)
        #expect(Self.scannerSplitCount(atomic.text) ?? 0 > 3)

        let newer = "CREATE TABLE t (a int);\nMERGE INTO t USING t s ON true WHEN MATCHED THEN DELETE RETURNING *;"
        #expect(try SQLSplitter.split(newer, dialect: .postgres).count == 2)
        #expect(throws: PostgresParser.ParseError.self) { try PostgresParser.parse(newer) }
    }

    /// How many statements libpg_query's scanner split finds in `sql` (nil where it fails).
    static func scannerSplitCount(_ sql: String) -> Int? {
        #if PG_QUERY
        guard PostgresParser.available else { return nil }
        let result = app_pg_query_split_with_scanner(sql)
        defer { app_pg_query_free_split_result(result) }
        return result.error == nil ? Int(result.n_stmts) : nil
        #else
        nil
        #endif
    }
}
