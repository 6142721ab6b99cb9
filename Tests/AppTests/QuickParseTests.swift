import ArgumentParser
import Testing

@testable import AppCLI

/// `QuickParse` takes only command lines ArgumentParser parses to the same command with the same
/// values, and leaves the rest to ArgumentParser.
@Suite("the quick parse of app serve and app migrate")
struct QuickParseTests {
    /// What ArgumentParser makes of `arguments`: serve's or migrate up's values, or nil for any other
    /// command, a help request or an error.
    static func parsedByArgumentParser(_ arguments: [String]) -> QuickParse.Command? {
        switch try? AppCommand.parseAsRoot(arguments) {
        case let serve as Serve: .serve(serve.arguments)
        case let apply as Migrate.Apply: .apply(apply.arguments)
        default: nil
        }
    }

    static let accepted: [(arguments: [String], command: QuickParse.Command)] = [
        ([], .serve(Serve.Arguments())),
        (["serve"], .serve(Serve.Arguments())),
        (
            ["serve", "--hostname", "127.0.0.1", "--port", "8080"],
            .serve(Serve.Arguments(hostname: "127.0.0.1", port: 8080))
        ),
        (
            ["serve", "--port-file", "p", "--env", "production", "--migrations-dir", "db", "--port", "+07"],
            .serve(Serve.Arguments(port: 7, portFile: "p", environment: "production", migrationsDir: "db"))
        ),
        (["migrate"], .apply(.init())),
        (["migrate", "up"], .apply(.init())),
        (["migrate", "--dry-run"], .apply(.init(dryRun: true))),
        (["migrate", "up", "--status", "--format", "json"], .apply(.init(status: true, format: .json))),
        (
            ["migrate", "--env", "staging", "--migrations-dir", "a b", "--status"],
            .apply(.init(status: true, settings: .init(environment: "staging", migrationsDir: "a b")))
        ),
    ]

    @Test("the plain forms are taken, with the values ArgumentParser gives them")
    func plainForms() {
        for (arguments, command) in Self.accepted {
            #expect(QuickParse.command(arguments) == command, "\(arguments)")
            #expect(Self.parsedByArgumentParser(arguments) == command, "\(arguments)")
        }
    }

    @Test(
        "everything else is left to ArgumentParser",
        arguments: [
            ["--help"], ["serve", "--help"], ["serve", "-h"], ["help"], ["migrate", "--help"],
            ["serve", "--port=8080"], ["serve", "--port", "80", "--port", "81"], ["serve", "--port", "eighty"],
            ["serve", "--port"], ["serve", "--hostname", ""], ["serve", "--hostname", "-x"],
            ["serve", "--status"], ["serve", "extra"], ["serve", "--"], ["--port", "8080"],
            ["migrate", "--format", "json"], ["migrate", "--format", "yaml"], ["migrate", "--status", "--status"],
            ["migrate", "rollback"], ["migrate", "up", "up"], ["migrate", "--port", "1"], ["check"],
            ["serve", "--generate-completion-script", "bash"], ["---completion"],
        ])
    func leftToArgumentParser(arguments: [String]) {
        #expect(QuickParse.command(arguments) == nil)
    }

    /// Command lines drawn from a fixed seed over the options' names, values that ArgumentParser
    /// takes and values it refuses (the same lines every run).
    static func commandLines(count: Int) -> [[String]] {
        let words = [
            "serve", "migrate", "up", "--hostname", "--port", "--port-file", "--env", "--migrations-dir", "--status",
            "--dry-run", "--format", "json", "text", "8080", "+1", "007", "-1", "x", "", "a=b", "--help", "-h",
            "--", "--port=1", "rollback", "help", " 1", "1.5", "99999999999999999999",
        ]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in
            let head = [[], ["serve"], ["migrate"], ["migrate", "up"]][next(4)]
            return head + (0..<next(7)).map { _ in words[next(words.count)] }
        }
    }

    @Test("on generated command lines, whatever it takes ArgumentParser parses to the same command")
    func agreesWithArgumentParser() {
        var taken = 0
        for arguments in Self.commandLines(count: 4000) {
            guard let command = QuickParse.command(arguments) else { continue }
            taken += 1
            #expect(Self.parsedByArgumentParser(arguments) == command, "\(arguments)")
        }
        // Enough of the lines are taken for the comparison to mean something.
        #expect(taken > 200)
    }
}
