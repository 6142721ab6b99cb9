import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import AppCore

@Suite("the app migrate command line", .dropsTestDatabases)
struct MigrateCommandTests {
    static let folder = [
        "1_create_widgets.sql":
            "-- migrate:up\nCREATE TABLE widgets (id INTEGER);\n-- migrate:down\nDROP TABLE widgets;\n",
        "2_index_widgets.sql": "-- migrate:up transaction:false\nCREATE INDEX widgets_id ON widgets (id);\n",
        "3_seed.sql": "-- migrate:up\nINSERT INTO widgets VALUES (1);\n",
    ]

    @Test("applying: a line as each migration starts and its time when it ends, a summary, and no log lines on stderr")
    func applyOutput() async throws {
        let folder = try MigrationsDir(Self.folder)
        let db = try await TestDatabase.make(.sqlite)
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        let run = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(run.status == 0)
        #expect(
            maskTimes(run.out) == """
                Applying 1_create_widgets
                Applied 1_create_widgets in <t>
                Applying 2_index_widgets (outside a transaction)
                Applied 2_index_widgets in <t>
                Applying 3_seed
                Applied 3_seed in <t>
                Applied 3 migrations in <t>.

                """)
        #expect(run.err == "", "the events are not repeated as log lines")
        #expect(!run.out.contains("\u{1B}"), "no color when piped")

        let again = try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url)
        #expect(again.out == "Nothing to apply.\n")

        // LOG_LEVEL set: the log lines come back, on stderr.
        let other = try await TestDatabase.make(.sqlite)
        let logged = try await AppBinary.run(
            ["migrate"], environment: env.merging(["LOG_LEVEL": "info", "DATABASE_URL": other.url]) { $1 },
            directory: folder.dir.url)
        #expect(logged.err.contains("migration applied"), "\(logged.err)")
    }

    @Test(
        "--status: aligned columns, adopted and pending marked, counts at the end; --format json is GET /api/migrate's document"
    )
    func statusOutput() async throws {
        let folder = try MigrationsDir(Self.folder)
        let db = try await TestDatabase.make(.sqlite)
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        // dbmate applied the first file: adopted on the next run.
        try await TestSQL.run(db, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        try await TestSQL.run(db, "INSERT INTO schema_migrations (version) VALUES ('1')")
        try await TestSQL.run(db, "CREATE TABLE widgets (id INTEGER)")
        let before = try await AppBinary.run(["migrate", "--status"], environment: env, directory: folder.dir.url)
        #expect(before.status == 0)
        #expect(
            maskTimes(before.out) == """
                STATE    MIGRATION         APPLIED AT              DURATION  TRANSACTION
                adopted  1_create_widgets  (by the folder's tool)  -         yes
                pending  2_index_widgets   -                       -         no
                pending  3_seed            -                       -         yes

                Applied: 1  Pending: 2

                """)

        #expect(try await AppBinary.run(["migrate"], environment: env, directory: folder.dir.url).status == 0)
        let after = try await AppBinary.run(["migrate", "--status"], environment: env, directory: folder.dir.url)
        let lines = after.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let table = Array(lines.prefix(4))
        #expect(
            table.map { maskTimes($0).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
                == [
                    "STATE MIGRATION APPLIED AT DURATION TRANSACTION",
                    "adopted 1_create_widgets <when> - yes",
                    "applied 2_index_widgets <when> <t> no",
                    "applied 3_seed <when> <t> yes",
                ])
        // Aligned: every column starts where its header does.
        for header in ["MIGRATION", "APPLIED AT", "DURATION", "TRANSACTION"] {
            let column = try #require(table[0].range(of: header)).lowerBound.utf16Offset(in: table[0])
            for row in table.dropFirst() {
                let index = row.index(row.startIndex, offsetBy: column)
                #expect(row[row.index(before: index)] == " " && row[index] != " ", "\(header) lines up in \(row)")
            }
        }
        #expect(Array(lines.suffix(3)) == ["", "Applied: 3  Pending: 0", ""])

        let json = try await AppBinary.run(
            ["migrate", "--status", "--format", "json"], environment: env, directory: folder.dir.url)
        let cliJSON = json.out
        #expect(json.status == 0)
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, catalog: folder.catalog(.sqlite)).sweptTest(
            .router
        ) { client in
            try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) { response in
                let cli = (try? JSONSerialization.jsonObject(with: Data(cliJSON.utf8))) as? [String: Any] ?? [:]
                #expect(NSDictionary(dictionary: response.json) == NSDictionary(dictionary: cli))
            }
        }
        let misuse = try await AppBinary.run(
            ["migrate", "--format", "json"], environment: env, directory: folder.dir.url)
        #expect(misuse.status == 64 && misuse.err.contains("--format json goes with --status"))
    }

    @Test(
        "color and symbols on a terminal only, and never with NO_COLOR",
        .enabled(if: Tool.underCI || Tool.onPath("script")))
    func colorOnTerminal() async throws {
        let folder = try MigrationsDir(Self.folder)
        let db = try await TestDatabase.make(.sqlite)
        let env = ["DATABASE_URL": db.url, "APP_ENV": "test", "MIGRATIONS_DIR": folder.path]
        // `script` gives the command a terminal.
        let command = "\(AppBinary.url.path) migrate --status"
        let tty = try await runProcess(
            ["script", "-qec", command, "/dev/null"], environment: AppBinary.baseEnvironment.merging(env) { $1 },
            directory: folder.dir.url)
        #expect(tty.out.contains("\u{1B}[33mpending"), "\(tty.out)")
        let plain = try await runProcess(
            ["script", "-qec", command, "/dev/null"],
            environment: AppBinary.baseEnvironment.merging(env.merging(["NO_COLOR": "1"]) { $1 }) { $1 },
            directory: folder.dir.url)
        #expect(plain.status == 0)
        #expect(!plain.out.contains("\u{1B}"))
        #expect(plain.out.contains("pending"))
    }

    @Test(
        "exit codes: 2 for an invalid folder, 3 for an interrupted migration, 1 for a failed one; every --help has an example"
    )
    func exitCodes() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let bad = try MigrationsDir(["1_a.sql": "-- migrate:up\nSELECT 'unclosed;\n"])
        #expect(
            try await AppBinary.run(
                ["migrate"], environment: ["DATABASE_URL": db.url, "MIGRATIONS_DIR": bad.path], directory: bad.dir.url
            ).status == 2)
        // The database's threads start while the folder is read, but nothing is opened for an invalid one.
        guard case .sqlite(let path) = db.location else { return }
        #expect(!FileManager.default.fileExists(atPath: path), "no SQLite file made for an invalid folder")

        let failing = try MigrationsDir([
            "1_x.sql": "-- migrate:up transaction:false\nCREATE TABLE x (id INTEGER);\nINSERT INTO nope VALUES (1);\n"
        ])
        let env = ["DATABASE_URL": db.url, "MIGRATIONS_DIR": failing.path]
        let failed = try await AppBinary.run(["migrate"], environment: env, directory: failing.dir.url)
        #expect(failed.status == 1)
        #expect(maskTimes(failed.out) == "Applying 1_x (outside a transaction)\n")
        let interrupted = try await AppBinary.run(["migrate"], environment: env, directory: failing.dir.url)
        #expect(interrupted.status == 3)
        #expect(interrupted.err.contains("migration 1_x was interrupted"))
        // On a file already there, the first connection opens while the folder is read: an invalid
        // folder is still the one error, and that connection is closed before the command ends.
        let onFile = try await AppBinary.run(
            ["migrate"], environment: ["DATABASE_URL": db.url, "MIGRATIONS_DIR": bad.path], directory: bad.dir.url)
        #expect(onFile.status == 2)
        #expect(onFile.err.split(separator: "\n").count == 1, "one line: \(onFile.err)")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "its connection closed, the log folded in")

        for command in [
            ["migrate"], ["migrate", "up"], ["migrate", "rollback"], ["migrate", "new"], ["migrate", "resolve"],
            ["serve"], ["check"], ["secret"], ["session", "mint"],
        ] {
            let help = try await AppBinary.run(command + ["--help"])
            #expect(help.out.contains("Example"), "\(command) --help shows an example")
        }
    }

    @Test(
        "a one-shot command runs one event loop and two threads for SQLite's calls; the server one loop per core and eight"
    )
    func threads() async throws {
        let db = try await TestDatabase.make(.sqlite)
        // A migration that takes a while, to look at the process as it runs.
        let slow = try MigrationsDir([
            "1_slow.sql":
                "-- migrate:up\nCREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT count(*) AS n FROM c;\n"
        ])
        let process = Process()
        process.executableURL = AppBinary.url
        process.arguments = ["migrate"]
        process.environment = AppBinary.baseEnvironment.merging([
            "DATABASE_URL": db.url, "MIGRATIONS_DIR": slow.path, "APP_ENV": "test",
        ]) { $1 }
        process.currentDirectoryURL = slow.dir.url
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen: [String] = []
        // Once SQLite's threads are up, the run is under way: every thread has started.
        for _ in 0..<500 where process.isRunning {
            seen = Self.threadNames(of: process.processIdentifier)
            if seen.contains(where: { $0.hasPrefix("TP-") }) { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100))
        if process.isRunning { seen = Self.threadNames(of: process.processIdentifier) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(seen.filter { $0.hasPrefix("NIO-SGLTN") }.count == 1, "\(seen)")
        #expect(seen.filter { $0.hasPrefix("TP-") }.count == 2, "\(seen)")

        let dir = try TempDir()
        let server = try await ServerProcess.start(environment: ["APP_ENV": "test"], directory: dir.url)
        let serving = Self.threadNames(of: server.process.processIdentifier)
        await server.stop()
        #expect(serving.filter { $0.hasPrefix("NIO-SGLTN") }.count == System.coreCount, "\(serving)")
        #expect(serving.filter { $0.hasPrefix("TP-") }.count == 8, "\(serving)")
    }

    /// The names of a process's threads, from /proc.
    static func threadNames(of pid: Int32) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingSpacesAndNewlines() }
    }
}
