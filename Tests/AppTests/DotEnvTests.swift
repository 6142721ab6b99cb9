import AppCore
import Foundation
import Testing

/// One case per dotenv rule. `node` marks the rules Node's `util.parseEnv` also implements; for those
/// the test compares our result with Node's, run on the same input.
struct DotEnvCase: CustomTestStringConvertible, Sendable {
    var name: String
    var input: String
    var expected: [String: String]
    var node: Bool = true
    var testDescription: String { name }
}

private let exampleLine =
    "MIGRATION_SECRET=   # [REQUIRED] Bearer token for POST /api/migrate — must differ from NEXTAUTH_SECRET"

let dotEnvCases: [DotEnvCase] = [
    .init(name: "plain", input: "A=1\nB=two words", expected: ["A": "1", "B": "two words"]),
    .init(name: "export prefix", input: "export A=1\nB=2", expected: ["A": "1", "B": "2"]),
    .init(
        name: "export prefix with more spaces (dotenv only)", input: "export  A=1", expected: ["A": "1"], node: false),
    .init(
        name: "single quotes keep # and \\n literally", input: "A='x # y'\nB='a\\nb'",
        expected: ["A": "x # y", "B": "a\\nb"]),
    .init(name: "double quotes expand \\n", input: #"A="a\nb""#, expected: ["A": "a\nb"]),
    .init(name: "backtick quotes", input: "A=`it's \"q\"`", expected: ["A": "it's \"q\""]),
    .init(
        name: "multi-line double quotes", input: "A=\"line1\nline2\"\nB=2", expected: ["A": "line1\nline2", "B": "2"]),
    .init(name: "multi-line single quotes", input: "A='l1\nl2'", expected: ["A": "l1\nl2"]),
    .init(
        name: "# starts a comment in an unquoted value", input: "A=value # comment\nB=v#no-space",
        expected: ["A": "value", "B": "v"]),
    .init(
        name: "# inside quotes is kept", input: #"A="v # not a comment" # but this is"#,
        expected: ["A": "v # not a comment"]),
    .init(
        name: "comment lines and blank lines", input: "# a comment\n\nA=1\n   # indented comment\n",
        expected: ["A": "1"]),
    .init(name: "CRLF line endings", input: "A=1\r\nB=\"x\"\r\nC=3\r\n", expected: ["A": "1", "B": "x", "C": "3"]),
    .init(name: "UTF-8 BOM", input: "\u{FEFF}A=1\nB=2", expected: ["A": "1", "B": "2"], node: false),
    .init(name: ".env.example MIGRATION_SECRET line is empty", input: exampleLine, expected: ["MIGRATION_SECRET": ""]),
    .init(name: "empty value", input: "A=\nB=2", expected: ["A": "", "B": "2"]),
    .init(name: "spaces around key and value", input: "  A = spaced  ", expected: ["A": "spaced"]),
    .init(name: "a later duplicate wins", input: "A=1\nA=2", expected: ["A": "2"]),
    .init(name: "colon separator (dotenv only)", input: "A: b", expected: ["A": "b"], node: false),
    .init(name: "unterminated quote is read unquoted", input: "A=\"open\nB=2", expected: ["A": "\"open", "B": "2"]),
]

@Suite("dotenv")
struct DotEnvTests {
    @Test("parses like npm dotenv", arguments: dotEnvCases)
    func parse(_ c: DotEnvCase) throws {
        let parsed = Dictionary(DotEnv.parse(c.input).map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        #expect(parsed == c.expected)
    }

    @Test(
        "agrees with Node's util.parseEnv where Node implements the rule", .enabled(if: Tool.node),
        arguments: dotEnvCases.filter(\.node))
    func node(_ c: DotEnvCase) async throws {
        let nodeResult = try await Self.nodeParse(c.input)
        let parsed = Dictionary(DotEnv.parse(c.input).map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        #expect(parsed == nodeResult)
    }

    /// Node's own parser on the same bytes.
    static func nodeParse(_ text: String) async throws -> [String: String] {
        let result = try await runProcess(
            [
                "node", "-e",
                "let s='';process.stdin.setEncoding('utf8');process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(JSON.stringify(require('util').parseEnv(s))))",
            ], stdin: text)
        try #require(result.status == 0, "node failed: \(result.stderr)")
        return try JSONDecoder().decode([String: String].self, from: result.stdout)
    }

    @Test(
        "dotenv-expand: ${VAR}, $VAR, defaults, escapes, environment first",
        arguments: [
            ("A=x\nB=${A}y", [:], ["A": "x", "B": "xy"]),
            ("A=x\nB=$A-z", [:], ["A": "x", "B": "x-z"]),
            ("B=${MISSING:-fallback}", [:], ["B": "fallback"]),
            ("B=${HOME_DIR}/data", ["HOME_DIR": "/srv"], ["B": "/srv/data"]),
            ("B=price \\$5", [:], ["B": "price $5"]),
            ("A=$A", [:], ["A": "$A"]),
            ("A=from-file", ["A": "from-process"], ["A": "from-process"]),
            ("B='${A}'\nA=1", [:], ["B": "1", "A": "1"]),
        ] as [(String, [String: String], [String: String])])
    func expand(_ input: String, _ environment: [String: String], _ expected: [String: String]) {
        let text = input
        let expanded = DotEnv.expand(DotEnv.parse(text), environment: environment)
        #expect(Dictionary(expanded.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }) == expected)
    }

    @Test("files load in Next.js order; the process environment wins")
    func precedence() throws {
        let dir = try TempDir()
        try dir.write(".env", "A=env\nB=env\nC=env\nD=env\nE=env")
        try dir.write(".env.development", "A=dev\nB=dev\nC=dev")
        try dir.write(".env.local", "A=local\nB=local")
        try dir.write(".env.development.local", "A=devlocal")
        try dir.write(".env.production", "E=production")
        let merged = try DotEnv.load(
            directory: dir.url.path, environment: "development", processEnvironment: ["D": "process"])
        #expect(merged["A"] == "devlocal")
        #expect(merged["B"] == "local")
        #expect(merged["C"] == "dev")
        #expect(merged["D"] == "process")
        #expect(merged["E"] == "env")
    }

    @Test(".env.local is not read for the test environment")
    func testSkipsLocal() throws {
        let dir = try TempDir()
        try dir.write(".env.local", "B=local\nC=local")
        try dir.write(".env.test", "B=test")
        try dir.write(".env.test.local", "A=testlocal")
        let merged = try DotEnv.load(directory: dir.url.path, environment: "test", processEnvironment: [:])
        #expect(merged["A"] == "testlocal")
        #expect(merged["B"] == "test")
        #expect(merged["C"] == nil)
    }

    @Test("a later file expands against an earlier one")
    func crossFileExpansion() throws {
        let dir = try TempDir()
        try dir.write(".env.local", "HOSTNAME_PART=db.internal")
        try dir.write(".env", "URL=postgres://u@${HOSTNAME_PART}/app")
        let merged = try DotEnv.load(directory: dir.url.path, environment: "development", processEnvironment: [:])
        #expect(merged["URL"] == "postgres://u@db.internal/app")
    }

    @Test(
        "a .env name that is no readable UTF-8 file (a folder, a pipe, bytes that are not UTF-8) is an error naming it, never a wait; a link to nothing is no file"
    )
    func unreadable() throws {
        let folder = try TempDir()
        try FileManager.default.createDirectory(
            at: folder.url.appendingPathComponent(".env"), withIntermediateDirectories: false)
        let pipe = try TempDir()
        #expect(mkfifo(pipe.url.appendingPathComponent(".env.local").path, 0o600) == 0)
        let bytes = try TempDir()
        try Data([0x41, 0x3D, 0xFF, 0x0A]).write(to: bytes.url.appendingPathComponent(".env.development"))
        for (dir, name) in [(folder, ".env"), (pipe, ".env.local"), (bytes, ".env.development")] {
            #expect(throws: ConfigError.unreadableFile(name)) {
                try DotEnv.load(directory: dir.url.path, environment: "development", processEnvironment: [:])
            }
        }
        let dangling = try TempDir()
        try FileManager.default.createSymbolicLink(
            atPath: dangling.url.appendingPathComponent(".env").path, withDestinationPath: "/nonexistent/.env")
        #expect(
            try DotEnv.load(directory: dangling.url.path, environment: "development", processEnvironment: [:]) == [:])
    }
}
