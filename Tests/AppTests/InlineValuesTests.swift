import Foundation
import SQLKit
import Testing

@testable import AppCore

/// `WholeMigration.inline` writes a history statement's bound values in place of their placeholders.
@Suite("bound values written in place")
struct InlineValuesTests {
    @Test("each ?n becomes its value, two-digit ones too; a ? without digits stays; other text is kept byte for byte")
    func inlinesValues() async throws {
        let dir = try TempDir()
        let database = try AppDatabase(
            location: try DatabaseLocation(url: "sqlite://\(dir.path)/inline.sqlite"), logger: quietLogger)
        try await database.withRunning {
            try await database.withConnection { db in
                func inline(_ query: SQLQueryString) -> String? {
                    WholeMigration.inline(query, db: db, placeholder: "?", literal: SQLiteMigrationBatch.literal)
                }
                #expect(
                    inline(
                        "INSERT INTO t (a, b, c, d) VALUES (\(bind: "it's"), \(bind: 42), \(bind: "é€𝄞"), \(bind: true))"
                    )
                        == "INSERT INTO t (a, b, c, d) VALUES ('it''s', 42, 'é€𝄞', TRUE)")
                let twelve = (1...12).map { "\(bind: Int64($0))" as SQLQueryString }
                var many: SQLQueryString = "SELECT '?' AS q, '€ ?x'"
                for value in twelve { many = many + ", " + value }
                #expect(inline(many) == "SELECT '?' AS q, '€ ?x', " + (1...12).map(String.init).joined(separator: ", "))
                #expect(inline("SELECT \(bind: 1.5)") == nil, "a kind of value it does not write")
                #expect(inline("SELECT \(bind: "a\u{0}b")") == nil, "text the literal refuses")
                #expect(inline("SELECT ?3, \(bind: 1)") == nil, "a placeholder past the last value")
                #expect(inline("SELECT ?0, \(bind: 1)") == nil, "a placeholder numbered 0")
            }
        }
    }
}
