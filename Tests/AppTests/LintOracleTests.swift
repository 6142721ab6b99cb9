import Foundation
import Testing

@testable import AppCore

/// Our rule hits against squawk's (PyPI `squawk-cli`, pinned in scripts/test) on the same files: for
/// squawk's rules that we implement, the same rules on the same statements, each file read both as a
/// migration outside a transaction and as one the server wraps in a transaction (squawk's
/// `--assume-in-transaction`).
@Suite("lint rules against squawk", .enabled(if: PostgresParser.available))
struct LintOracleTests {
    static let corpus = ConfigTests.repoFile("Tests/AppTests/Fixtures/lint-corpus")

    static var squawk: Bool { Tool.underCI || (try? runProcessBlocking(["squawk", "--version"]))?.status == 0 }

    struct Finding: Hashable, CustomStringConvertible {
        var statement: Int
        var rule: String
        var description: String { "\(rule) at statement \(statement)" }
    }

    /// squawk's findings for our rules, each placed on the statement whose text holds its line.
    static func squawk(_ path: String, statementLines: [Int], transactional: Bool) async throws -> Set<Finding> {
        let result = try await runProcess(
            ["squawk", "--reporter", "json"] + (transactional ? ["--assume-in-transaction"] : []) + [path])
        let reported = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        return Set(
            reported.compactMap { finding in
                guard let rule = finding["rule_name"] as? String, LintRules.all.contains(rule),
                    let line = finding["line"] as? Int
                else { return nil }
                // squawk counts lines from 0; ours from 1.
                let statement = statementLines.lastIndex { $0 <= line + 1 } ?? 0
                return Finding(statement: statement, rule: rule)
            })
    }

    @Test("the corpus: an unsafe and a safe form for every rule, over 60 statements")
    func corpusSize() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).filter { $0.hasSuffix(".sql") }
        var statements = 0
        var rules: Set<String> = []
        for file in files {
            let text = try String(contentsOfFile: "\(Self.corpus)/\(file)", encoding: .utf8)
            statements += try SQLSplitter.split(text, dialect: .postgres).count
            rules.formUnion(try LintRules.check(text, transactional: false).map(\.rule))
            rules.formUnion(try LintRules.check(text, transactional: true).map(\.rule))
        }
        #expect(statements >= 60)
        #expect(rules == LintRules.all, "rules never hit: \(LintRules.all.subtracting(rules).sorted())")
    }

    /// Where we differ from squawk on purpose, by file and reading. squawk flags a concurrent index
    /// build in an assumed transaction only when the file has other statements (a tool may run a lone
    /// statement outside one); the server runs every transactional migration in a transaction, a lone
    /// statement too, and PostgreSQL refuses the build there.
    static let onPurpose: [String: Set<Finding>] = [
        "rcic_safe.sql in a transaction": [
            Finding(statement: 0, rule: "ban-concurrent-index-creation-in-transaction")
        ]
    ]

    @Test("every corpus file, outside and inside a transaction: our hits are squawk's", .enabled(if: squawk))
    func oracle() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).filter { $0.hasSuffix(".sql") }
            .sorted()
        for file in files { try await Self.compare("\(Self.corpus)/\(file)", name: file) }
    }

    /// Every SQL file of the folders the other tests use (the tools' fixture folders, the splitter's
    /// PostgreSQL corpus, Supabase's and Atlas's), but those in SQLite's dialect, which PostgreSQL's
    /// parser rejects.
    @Test("every fixture folder's file the PostgreSQL parser reads: our hits are squawk's", .enabled(if: squawk))
    func fixtureFolders() async throws {
        let root = ConfigTests.repoFile("Tests/AppTests/Fixtures")
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        var compared = 0
        while let path = walker.nextObject() as? String {
            guard path.hasSuffix(".sql"), !path.hasPrefix("lint-corpus/"), !path.hasPrefix("sql-corpus/sqlite/") else {
                continue
            }
            let text = try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8)
            guard (try? PostgresParser.parse(text)) != nil else { continue }
            try await Self.compare("\(root)/\(path)", name: path)
            compared += 1
        }
        #expect(compared >= 60, "only \(compared) files compared")
    }

    static func compare(_ path: String, name file: String) async throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = try SQLSplitter.split(text, dialect: .postgres).map(\.line)
        for transactional in [false, true] {
            let ours = Set(
                try LintRules.check(text, transactional: transactional).map { hit in
                    Finding(statement: lines.firstIndex(of: hit.line) ?? -1, rule: hit.rule)
                })
            let theirs = try await Self.squawk(path, statementLines: lines, transactional: transactional)
                .union(Self.onPurpose["\(file) \(transactional ? "in a transaction" : "outside")"] ?? [])
            #expect(
                ours == theirs,
                """
                \(file) (\(transactional ? "in a transaction" : "outside")): only ours \
                \(ours.subtracting(theirs).sorted { $0.description < $1.description }), only squawk's \
                \(theirs.subtracting(ours).sorted { $0.description < $1.description })
                """)
        }
    }
}
