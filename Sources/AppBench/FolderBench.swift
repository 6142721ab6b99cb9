import AppCore
import Foundation
import Logging

/// One folder of N migrations in dbmate's format, applied to a fresh database by `app migrate` and by
/// `dbmate up` (both as processes, from the same files), medians of 7 rounds, the two alternating; then
/// both with nothing to apply, on the same database.
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
            "\(engine) folder: \(count) files, median of 7: app migrate \(seconds(a)) s, dbmate \(seconds(b)) s, ratio \(ratio(a, b))x (goal <= \(engine == "sqlite" ? "1.0" : "0.9")x)"
        )
        try await nothingToApply(folder)
        guard engine == "sqlite" else { return }
        // At equal settings: both on a rollback journal, each commit synced in full (the server's mode
        // set to SQLite's default, where it keeps synchronous = FULL; dbmate's driver told the same),
        // and both on a file already in write-ahead-log mode (where dbmate's driver, synchronous =
        // NORMAL, syncs nothing until its connection closes, and the server syncs the log once at the
        // end of its run).
        let (c, d) = try await compare(
            folder, "journal", journalMode: "delete", preparedInWAL: false, dbmateQuery: "?_sync=FULL")
        print(
            "sqlite folder, both with a rollback journal and synchronous = FULL (SQLITE_JOURNAL_MODE=delete; dbmate's URL ?_sync=FULL): app migrate \(seconds(c)) s, dbmate \(seconds(d)) s, ratio \(ratio(c, d))x (goal <= 1.0x)"
        )
        let (e, f) = try await compare(folder, "wal", journalMode: nil, preparedInWAL: true)
        print(
            "sqlite folder, both on a file already in write-ahead-log mode: app migrate \(seconds(e)) s, dbmate \(seconds(f)) s, ratio \(ratio(e, f))x (goal <= 1.0x)"
        )
    }

    /// `app migrate` and `dbmate up` with nothing to apply, on one database both histories describe (the
    /// server keeps dbmate's beside its own): medians of 20 runs each, the two alternating.
    func nothingToApply(_ folder: URL) async throws {
        let (ourURL, _) = try await databases("noop")
        let sameDatabase = engine == "sqlite" ? "sqlite:" + ourURL.dropFirst("sqlite://".count) : ourURL
        let environment = [
            "DATABASE_URL": ourURL, "MIGRATIONS_DIR": folder.path, "APP_ENV": "test", "LOG_LEVEL": "error",
        ]
        _ = try time(app, ["migrate"], environment: environment)
        if engine != "sqlite" {
            // The runs before (and the one above, which applied the folder) leave the server writing out
            // their changes: a checkpoint now, so that none lands among the rounds of either tool.
            try await adminSQL(target, ["CHECKPOINT"])
        }
        var ours: [Double] = []
        var theirs: [Double] = []
        for _ in 0..<20 {
            ours.append(try time(app, ["migrate"], environment: environment))
            theirs.append(
                try time(
                    dbmate, ["--url", sameDatabase, "--migrations-dir", folder.path, "--no-dump-schema", "up"],
                    environment: [:]))
        }
        let (a, b) = (median(ours), median(theirs))
        print(
            "\(engine) folder, nothing to apply, on the same database, median of 20: app migrate \(String(format: "%.1f", a * 1000)) ms, dbmate \(String(format: "%.1f", b * 1000)) ms, ratio \(ratio(a, b))x (goal <= 1.0x)"
        )
    }

    func seconds(_ value: Double) -> String { String(format: "%.3f", value) }
    func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f", a / b) }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Medians of 7 rounds each, ours and dbmate's alternating, each round on fresh databases: this
    /// machine's speed changes by ±10% from one moment to the next, and a best of a few rounds of each
    /// side turned that into the ratio.
    func compare(_ folder: URL, _ label: String, journalMode: String?, preparedInWAL: Bool, dbmateQuery: String = "")
        async throws -> (Double, Double)
    {
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
                    dbmate,
                    ["--url", dbmateURL + dbmateQuery, "--migrations-dir", folder.path, "--no-dump-schema", "up"],
                    environment: [:]))
        }
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

    /// One whole process, from its spawn to its exit as `waitpid` reports it, with output to /dev/null.
    /// Spawned and waited for directly, as hyperfine does: Foundation's `Process` notices the exit
    /// through a signal source and its run loop, and timed each run of either tool 1.5–2 ms longer
    /// (by hand, alternating the two ways), which pulled their ratio towards 1.
    func time(_ tool: String, _ args: [String], environment: [String: String]) throws -> Double {
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        // A path is run as it is; a name is looked up on PATH.
        let argv = ([tool] + args).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0)=\($1)") } + [nil]
        defer { for string in argv + envp { free(string) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let started = ContinuousClock.now
        let spawned = posix_spawnp(&pid, tool, &actions, nil, argv, envp)
        guard spawned == 0 else { throw BenchError("\(tool) could not start: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let elapsed = ContinuousClock.now - started
        // Exited (the low seven bits 0) with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw BenchError("\(tool) \(args.joined(separator: " ")) failed")
        }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// Creates empty PostgreSQL databases through the admin URL and returns their URLs.
func createDatabases(admin url: String, _ names: [String]) async throws -> [String] {
    try await adminSQL(url, names.map { "CREATE DATABASE \($0)" })
    return names.map { name in
        var components = URLComponents(string: url)!
        components.path = "/\(name)"
        return components.string!
    }
}

/// Runs `statements`, one after the other, on the database `url` names (PostgreSQL's admin URL).
func adminSQL(_ url: String, _ statements: [String]) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let admin = try AppDatabase(location: try DatabaseLocation(url: url), logger: logger)
    try await admin.withRunning {
        for statement in statements {
            try await admin.withConnection { try await $0.raw("\(unsafeRaw: statement)").run() }
        }
    }
}
