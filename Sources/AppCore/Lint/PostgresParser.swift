import Foundation

#if PG_QUERY
import AppPgParser
#endif

/// PostgreSQL's own parser (libpg_query): a statement's parse tree, as PostgreSQL builds it.
enum PostgresParser {
    /// Why the parser cannot be used, or nil where it can. The build carries it where libpg_query was
    /// installed (docs/safety.md says how to add it), and loads it the first time this is asked.
    static let unavailableReason: String? = {
        #if PG_QUERY
        app_pg_parser_load().map { "PostgreSQL's parser could not be loaded (\(String(cString: $0)))" }
        #else
        "this build has no PostgreSQL parser: install libpg_query (Debian: libpg-query-dev) and build again"
        #endif
    }()

    /// False where the build has no parser or it could not be loaded.
    static var available: Bool { unavailableReason == nil }

    struct ParseError: Error, CustomStringConvertible {
        var message: String
        /// The byte offset (from 1) in the text where the parser stopped, when it says.
        var position: Int?
        var description: String { message }
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String { PostgresParser.unavailableReason ?? "PostgreSQL's parser is available" }
    }

    /// One statement of the text: its parse tree (`{"AlterTableStmt": {…}}`), and where it starts and
    /// how long it is, in bytes of the UTF-8 text.
    struct Statement: @unchecked Sendable {
        var node: [String: Any]
        var location: Int
        var length: Int?
    }

    /// Parses `sql` (any number of statements) with PostgreSQL's grammar.
    static func parse(_ sql: String) throws -> [Statement] {
        #if PG_QUERY
        guard available else { throw Unavailable() }
        let result = app_pg_query_parse(sql)
        defer { app_pg_query_free_parse_result(result) }
        if let error = result.errorDetail {
            throw ParseError(
                message: String(cString: error.message), position: error.cursorpos > 0 ? Int(error.cursorpos) : nil)
        }
        guard let tree = result.parse_tree,
            let json = try JSONSerialization.jsonObject(with: Data(String(cString: tree).utf8)) as? [String: Any]
        else { return [] }
        return (json["stmts"] as? [[String: Any]] ?? []).map {
            Statement(
                node: $0["stmt"] as? [String: Any] ?? [:], location: $0["stmt_location"] as? Int ?? 0,
                length: $0["stmt_len"] as? Int)
        }
        #else
        throw Unavailable()
        #endif
    }
}

#if PG_QUERY
extension PgQueryParseResult {
    fileprivate var errorDetail: PgQueryError? { error?.pointee }
}
#endif
