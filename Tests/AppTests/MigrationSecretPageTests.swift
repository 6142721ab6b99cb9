import Foundation
import Testing

/// docs/migration-secret.md runs as written: every `sh` block, in order, in one folder, with `app` on
/// PATH and a live server at `$APP_URL`; a `text` block right after a command lists lines its output
/// must contain.
@Suite("docs/migration-secret.md")
struct MigrationSecretPageTests {
    struct Block {
        var script: String
        var expected: [String]
    }

    static func blocks(_ markdown: String) -> [Block] {
        var blocks: [Block] = []
        var fence: String?
        var body: [String] = []
        for line in markdown.components(separatedBy: "\n") {
            if let open = fence {
                if line == "```" {
                    if open == "sh" {
                        blocks.append(Block(script: body.joined(separator: "\n"), expected: []))
                    } else if open == "text", !blocks.isEmpty {
                        blocks[blocks.count - 1].expected += body.filter { !$0.isEmpty }
                    }
                    fence = nil
                    body = []
                } else {
                    body.append(line)
                }
            } else if line.hasPrefix("```") {
                fence = String(line.dropFirst(3))
            }
        }
        return blocks
    }

    @Test("every command on the page runs and prints what the page says")
    func runsAsWritten() async throws {
        let page = try String(contentsOfFile: ConfigTests.repoFile("docs/migration-secret.md"), encoding: .utf8)
        let blocks = Self.blocks(page)
        #expect(blocks.count >= 10, "the page's commands were found")

        let serverDir = try TempDir()
        let server = try await ServerProcess.start(
            environment: [
                "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            ], directory: serverDir.url)
        defer { Task { await server.stop() } }
        let work = try TempDir()
        let bin = work.url.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: bin.appendingPathComponent("app"), withDestinationURL: AppBinary.url)
        let folder = work.url.appendingPathComponent("page")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var environment = AppBinary.baseEnvironment
        environment["PATH"] = bin.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["APP_URL"] = server.baseURL
        environment["MIGRATION_SECRET"] = Secrets.migration

        for (index, block) in blocks.enumerated() {
            let result = try await runProcess(
                ["bash", "-euo", "pipefail", "-c", block.script], environment: environment, directory: folder)
            #expect(result.status == 0, "block \(index + 1) failed:\n\(block.script)\n\(result.out)\n\(result.stderr)")
            for line in block.expected {
                #expect(result.out.contains(line), "block \(index + 1) did not print \(line):\n\(result.out)")
            }
            #expect(
                !result.out.contains(Secrets.migration) && !result.stderr.contains(Secrets.migration),
                "block \(index + 1) printed the secret")
        }
    }

    @Test("the page stands alone: it cites the README and docs/, never the page the product started from or an issue")
    func standsAlone() throws {
        let page = try String(contentsOfFile: ConfigTests.repoFile("docs/migration-secret.md"), encoding: .utf8)
        for needle in ["seed", "migration-secret-setup", "issue #", "/issues", "v1.0.321", "vercel"] {
            #expect(!page.lowercased().contains(needle), "\(needle)")
        }
    }
}
