import Foundation
import Testing

@testable import AppCore

@Suite("statement splitter")
struct SplitterTests {
    static let corpusRoot = ConfigTests.repoFile("Tests/AppTests/Fixtures/sql-corpus")

    static func files(_ dialect: SQLEngine) throws -> [(name: String, text: String)] {
        let dir = "\(corpusRoot)/\(dialect.rawValue)"
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sql") }.sorted().map {
            name in
            (name, try String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8))
        }
    }

    /// Every corpus file as written, with CRLF line endings, and with CRLF and a UTF-8 BOM.
    static func corpus(_ dialect: SQLEngine) throws -> [(name: String, text: String)] {
        try files(dialect).flatMap { file in
            let crlf = file.text.replacingOccurrences(of: "\n", with: "\r\n")
            return [file, ("\(file.name) (CRLF)", crlf), ("\(file.name) (BOM, CRLF)", "\u{FEFF}" + crlf)]
        }
    }

    @Test("the corpus holds at least 30 files")
    func corpusSize() throws {
        #expect(try Self.files(.postgres).count + Self.files(.sqlite).count >= 30)
    }

    /// Our boundaries against the engine's own parser: pglast (libpg_query) for PostgreSQL,
    /// sqlite3_complete (through Python's sqlite3.complete_statement) for SQLite.
    @Test(
        "every corpus file splits where the engine's own parser does", .enabled(if: Tool.python("pglast")),
        arguments: [SQLEngine.postgres, .sqlite])
    func oracle(_ dialect: SQLEngine) async throws {
        let files = try Self.corpus(dialect)
        let cases: [[String: Any]] = try files.map { file in
            [
                "name": file.name, "dialect": dialect.rawValue, "text": file.text,
                "ours": try SQLSplitter.split(file.text, dialect: dialect).map(\.text),
            ]
        }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let result = try await runProcess(
            ["python3", ConfigTests.repoFile("scripts/checkers/split_oracle.py")], stdin: input)
        try #require(result.status == 0, "the oracle failed: \(result.stderr)")
        let verdicts = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        #expect(verdicts.count == files.count)
        for (file, verdict) in zip(files, verdicts) {
            let ours = try SQLSplitter.split(file.text, dialect: dialect)
            #expect(
                verdict["oracle"] as? Int == ours.count,
                "\(file.name): the engine sees \(verdict["oracle"] ?? "?") statements, we split \(ours.count)")
            #expect(
                (verdict["problems"] as? [String] ?? ["no verdict"]).isEmpty,
                "\(file.name): \(verdict["problems"] ?? "")")
        }
    }

    @Test("statements come back trimmed, without their ;, comment-only ones dropped, with their line")
    func shape() throws {
        let text =
            "\u{FEFF}-- header\r\nCREATE TABLE a (id INTEGER);\r\n\r\n;  /* c */ ;\r\nINSERT INTO a VALUES (1)\r\n"
        let statements = try SQLSplitter.split(text, dialect: .sqlite)
        #expect(statements.map(\.text) == ["CREATE TABLE a (id INTEGER)", "INSERT INTO a VALUES (1)"])
        #expect(statements.map(\.line) == [2, 5])
    }

    @Test(
        "text ending inside a token is an error naming the line where the token began",
        arguments: [
            (SQLEngine.postgres, "SELECT 1;\nSELECT 'open;\nmore", 2, "a string"),
            (.postgres, "SELECT 1;\n\nSELECT $body$ never closed", 3, "a $body$ dollar quote"),
            (.postgres, "/* outer /* inner */ still open", 1, "a /* comment"),
            (.postgres, "SELECT \"open", 1, "a quoted identifier"),
            (.postgres, "SELECT E'\\'", 1, "a string"),
            (.sqlite, "SELECT 1;\nSELECT [open", 2, "a [bracketed] identifier"),
            (.sqlite, "SELECT `open", 1, "a quoted identifier"),
            (.sqlite, "\n\n/* open", 3, "a /* comment"),
        ] as [(SQLEngine, String, Int, String)])
    func unterminated(_ dialect: SQLEngine, _ text: String, _ line: Int, _ what: String) {
        #expect(throws: SQLSplitter.Unterminated(line: line, what: what)) {
            try SQLSplitter.split(text, dialect: dialect)
        }
    }

    @Test("dialects differ: $$ and E'' are PostgreSQL's, [..] and `..` SQLite's, nested comments PostgreSQL's")
    func dialects() throws {
        #expect(try SQLSplitter.split("SELECT $$a;b$$;", dialect: .postgres).count == 1)
        #expect(try SQLSplitter.split("SELECT [a;b];", dialect: .sqlite).count == 1)
        #expect(try SQLSplitter.split("SELECT E'\\';';", dialect: .postgres).count == 1)
        #expect(
            try SQLSplitter.split("/* a /* b */ SELECT 1; */ SELECT 2;", dialect: .postgres).map(\.text) == ["SELECT 2"]
        )
        #expect(
            try SQLSplitter.split("/* a /* b */ SELECT 1; */ SELECT 2;", dialect: .sqlite).map(\.text) == [
                "SELECT 1", "*/ SELECT 2",
            ])
    }
}
