import AppCore
import Foundation
import Logging

/// One folder of N migrations in dbmate's format, applied to a fresh database by `app migrate` and by
/// `dbmate up` (both as processes, from the same files), medians of 7 rounds, the two alternating.
struct FolderBench {
    let engine: String
    let target: String
    let count: Int
    let app: String
    /// dbmate's binary itself: a launcher in front of it (pyenv's shims are shell scripts) would be timed too.
    let dbmate: String

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-folder-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for i in 1...count {
            let sql = """
                -- migrate:up
                CREATE TABLE bench_\(i) (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT);
                CREATE INDEX bench_\(i)_name ON bench_\(i) (name);

                -- migrate:down
                DROP TABLE bench_\(i);

                """
            try Data(sql.utf8).write(to: folder.appendingPathComponent(String(format: "%05d_bench_%d.sql", i, i)))
        }
        let (a, b) = try await compare(folder, "fresh", journalMode: nil, preparedInWAL: false)
        print(
            "\(engine) folder: \(count) files, median of 7: app migrate \(String(format: "%.3f", a)) s, dbmate \(String(format: "%.3f", b)) s, ratio \(String(format: "%.2f", a / b))x (goal <= 1.0x)"
        )
        guard engine == "sqlite" else { return }
        // For the record, no goal: the same with both on a rollback journal (the server's mode set to
        // SQLite's default, dbmate's as above), and both on a file already in write-ahead-log mode
        // (where dbmate's driver, synchronous=NORMAL, syncs nothing until its connection closes).
        let (c, d) = try await compare(folder, "journal", journalMode: "delete", preparedInWAL: false)
        print(
            "sqlite folder, both with a rollback journal (SQLITE_JOURNAL_MODE=delete): app migrate \(String(format: "%.3f", c)) s, dbmate \(String(format: "%.3f", d)) s, ratio \(String(format: "%.2f", c / d))x"
        )
        let (e, f) = try await compare(folder, "wal", journalMode: nil, preparedInWAL: true)
        print(
            "sqlite folder, both on a file already in write-ahead-log mode: app migrate \(String(format: "%.3f", e)) s, dbmate \(String(format: "%.3f", f)) s, ratio \(String(format: "%.2f", e / f))x"
        )
    }

    /// Medians of 7 rounds each, ours and dbmate's alternating, each round on fresh databases: this
    /// machine's speed changes by ±10% from one moment to the next, and a best of a few rounds of each
    /// side turned that into the ratio.
    func compare(_ folder: URL, _ label: String, journalMode: String?, preparedInWAL: Bool) async throws -> (
        Double, Double
    ) {
        var ours: [Double] = []
        var theirs: [Double] = []
        for round in 0..<7 {
            let (ourURL, dbmateURL) = try await databases("\(label)_\(round)")
            if preparedInWAL {
                for url in [ourURL, "sqlite://" + dbmateURL.dropFirst("sqlite:".count)] {
                    try await AppDatabase(location: try DatabaseLocation(url: url), logger: Logger(label: "bench"))
                        .withConnection { _ in }
                }
            }
            var environment = [
                "DATABASE_URL": ourURL, "MIGRATIONS_DIR": folder.path, "APP_ENV": "test", "LOG_LEVEL": "error",
            ]
            environment["SQLITE_JOURNAL_MODE"] = journalMode
            ours.append(try time(app, ["migrate"], environment: environment))
            theirs.append(
                try time(
                    dbmate, ["--url", dbmateURL, "--migrations-dir", folder.path, "--no-dump-schema", "up"],
                    environment: [:]))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return (median(ours), median(theirs))
    }

    /// Fresh databases for one round (`name`: a word), ours and dbmate's (dbmate spells SQLite URLs `sqlite:PATH`).
    func databases(_ name: String) async throws -> (String, String) {
        switch engine {
        case "sqlite":
            return ("sqlite://\(target)/folder-ours-\(name).sqlite", "sqlite:\(target)/folder-dbmate-\(name).sqlite")
        default:
            let urls = try await createDatabases(
                admin: target, ["folder_ours_\(name)_\(getpid())", "folder_dbmate_\(name)_\(getpid())"])
            return (urls[0], urls[1])
        }
    }

    func time(_ tool: String, _ args: [String], environment: [String: String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + args
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        let started = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let elapsed = ContinuousClock.now - started
        guard process.terminationStatus == 0 else { throw BenchError("\(tool) \(args.joined(separator: " ")) failed") }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// Creates empty PostgreSQL databases through the admin URL and returns their URLs.
func createDatabases(admin url: String, _ names: [String]) async throws -> [String] {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let admin = try AppDatabase(location: try DatabaseLocation(url: url), logger: logger)
    try await admin.withRunning {
        for name in names {
            try await admin.withConnection { try await $0.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        }
    }
    return names.map { name in
        var components = URLComponents(string: url)!
        components.path = "/\(name)"
        return components.string!
    }
}
