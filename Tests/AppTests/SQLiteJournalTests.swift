import AppServer
import Foundation
import HummingbirdTesting
import Testing

@testable import AppCore

/// `SQLITE_JOURNAL_MODE`: the mode the server keeps an SQLite file in, and what a migration run's
/// commits cost on disk in write-ahead-log mode.
@Suite("SQLite journal mode", .dropsTestDatabases)
struct SQLiteJournalTests {
    @Test("SQLITE_JOURNAL_MODE is wal by default, or delete; anything else stops startup with a clear error")
    func setting() throws {
        #expect(try AppConfig(variables: [:]).sqliteJournalMode == .wal)
        #expect(try AppConfig(variables: ["SQLITE_JOURNAL_MODE": "DELETE"]).sqliteJournalMode == .delete)
        for bad in ["off", "memory", "truncate", "persist", "wal2", "1"] {
            let error = #expect(throws: ConfigError.invalidSQLiteJournalMode) {
                try AppConfig(variables: ["SQLITE_JOURNAL_MODE": bad])
            }
            #expect(error?.description.contains("SQLITE_JOURNAL_MODE") == true)
        }
    }

    @Test(
        "a file is put in the mode asked for by the first connection that finds it unused, and back again",
        arguments: SQLiteJournalMode.allCases)
    func modeSet(_ mode: SQLiteJournalMode) async throws {
        let db = try await TestDatabase.make(.sqlite)
        try await AppDatabase(location: db.location, logger: quietLogger).withConnection { sql in
            try await sql.raw("CREATE TABLE t (id INTEGER)").run()
        }
        #expect(try await journalMode(db) == "wal")
        try await AppDatabase(location: db.location, sqliteJournalMode: mode, logger: quietLogger).withConnection {
            sql in try await sql.raw("SELECT 1").run()
        }
        #expect(try await journalMode(db) == mode.rawValue)
    }

    @Test(
        "while another connection has the file open, the switch waits for a later connection; work goes on in the file's mode meanwhile"
    )
    func switchRetried() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let wal = try AppDatabase(location: db.location, logger: quietLogger)
        try await wal.withConnection { sql in try await sql.raw("CREATE TABLE t (id INTEGER)").run() }
        let delete = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        try await wal.withConnection { reader in
            try await reader.raw("BEGIN").run()
            _ = try await reader.raw("SELECT COUNT(*) AS n FROM t").all()
            // Leaving write-ahead-log mode needs the file to itself: refused while `reader` reads.
            try await delete.withConnection(busyTimeout: .milliseconds(50)) { sql in
                try await sql.raw("INSERT INTO t VALUES (1)").run()
            }
            try await reader.raw("COMMIT").run()
        }
        #expect(try await journalMode(db) == "wal")
        try await delete.withConnection { sql in try await sql.raw("INSERT INTO t VALUES (2)").run() }
        #expect(try await journalMode(db) == "delete")
        #expect(try await count(db, "SELECT COUNT(*) AS n FROM t") == 2)
    }

    @Test(
        "a server whose first switch to the log is refused (another process reads) still puts the file in the log's mode once the reader is gone, with no request to retry it"
    )
    func heldConnectionWaitsForTheSwitch() async throws {
        let (db, file) = try await Self.sqliteDatabase()
        // A file in a rollback journal, with a reader in it: the switch to the log needs the file to itself.
        let delete = try AppDatabase(location: db.location, sqliteJournalMode: .delete, logger: quietLogger)
        try await delete.withConnection { sql in try await sql.raw("CREATE TABLE t (id INTEGER)").run() }
        #expect(try await journalMode(db) == "delete")
        let (released, release) = AsyncStream<Void>.makeStream()
        let (isReading, reading) = AsyncStream<Void>.makeStream()
        let reader = Task {
            try await delete.withConnection { sql in
                try await sql.raw("BEGIN").run()
                _ = try await sql.raw("SELECT COUNT(*) AS n FROM t").all()
                reading.yield()
                for await _ in released { break }
                try await sql.raw("COMMIT").run()
            }
        }
        for await _ in isReading { break }
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(.router) {
            _ in
            // The server's own connections (its held one, the startup checks) open while the reader reads.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "the switch needs the reader gone")
            release.yield()
            try await reader.value
            // No request comes: the held connection itself tries the switch again.
            try await waitUntil("the log is made", timeout: .seconds(20)) {
                FileManager.default.fileExists(atPath: file + "-wal")
            }
        }
        #expect(try await journalMode(db) == "wal")
    }

    @Test(
        "while the server runs, the log and its index stay beside the file between requests (a connection is held open); once it stops they are folded in and gone"
    )
    func logKeptWhileServing() async throws {
        let (db, file) = try await Self.sqliteDatabase()
        let config = try AppHarness.config(db, ["MIGRATION_SECRET": Secrets.migration])
        try await buildApplication(config: config, logger: quietLogger, migrations: Migration.all).sweptTest(.router) {
            client in
            // The held connection opens beside the first requests.
            try await waitUntil("the log is made", timeout: .seconds(30)) {
                FileManager.default.fileExists(atPath: file + "-wal")
            }
            for _ in 0..<3 {
                // The status read: a request's own connection, without the tight limit of /healthz.
                try await client.execute(uri: "/api/migrate", method: .get, headers: authHeader) {
                    #expect($0.status == .ok)
                }
                // A request's connection is closed before its answer is sent: the log is still there.
                #expect(FileManager.default.fileExists(atPath: file + "-wal"))
                #expect(FileManager.default.fileExists(atPath: file + "-shm"))
            }
        }
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"))
        #expect(!FileManager.default.fileExists(atPath: file + "-shm"))
    }

    @Test(
        "a one-shot command's database holds no connection of its own while it runs, where a server's holds one; its connections stay open for its next unit of work until it ends"
    )
    func oneShotHoldsNone() async throws {
        let (db, file) = try await Self.sqliteDatabase()
        // The file made, in the log's mode, with no connection left open.
        try await AppDatabase(location: db.location, logger: quietLogger).withConnection { sql in
            try await sql.raw("CREATE TABLE t (id INTEGER)").run()
        }
        #expect(try await journalMode(db) == "wal")
        #expect(Self.descriptors(of: file) == 0)
        try await AppDatabase(location: db.location, logger: quietLogger).withRunning {
            try await waitUntil("the server's held connection opens") { Self.descriptors(of: file) == 1 }
        }
        #expect(Self.descriptors(of: file) == 0)

        let oneShot = try AppDatabase(location: db.location, oneShot: true, logger: quietLogger)
        try await oneShot.withRunning {
            try await Task.sleep(for: .milliseconds(500))
            #expect(Self.descriptors(of: file) == 0, "no connection before the command's own")
            try await oneShot.withConnection { sql in
                _ = try await sql.raw("SELECT COUNT(*) AS n FROM t").all()
                #expect(Self.descriptors(of: file) == 1)
            }
            #expect(Self.descriptors(of: file) == 1, "kept for the command's next unit of work")
        }
        #expect(Self.descriptors(of: file) == 0)
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "the last close folds the log in")
    }

    @Test(
        "connecting ahead opens one connection, on a file already there only, and the first unit of work waits for it rather than open a second"
    )
    func connectAhead() async throws {
        let (db, file) = try await Self.sqliteDatabase()
        let missing = try AppDatabase(location: db.location, oneShot: true, logger: quietLogger)
        #expect(!AppDatabase.connectsAhead(db.location))
        try await missing.withRunning {
            missing.connectAhead()
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(!FileManager.default.fileExists(atPath: file), "no file made ahead")

        try await AppDatabase(location: db.location, logger: quietLogger).withConnection { sql in
            try await sql.raw("CREATE TABLE t (id INTEGER)").run()
        }
        #expect(AppDatabase.connectsAhead(db.location))
        let oneShot = try AppDatabase(location: db.location, oneShot: true, logger: quietLogger)
        try await oneShot.withRunning {
            oneShot.connectAhead()
            // Lent at once, while the connection ahead may still be opening: still the one connection.
            try await oneShot.withConnection { sql in
                _ = try await sql.raw("SELECT COUNT(*) AS n FROM t").all()
                try await Task.sleep(for: .milliseconds(300))
                #expect(Self.descriptors(of: file) == 1)
            }
        }
        #expect(Self.descriptors(of: file) == 0)

        // Ended before anything lent it: closed with the rest.
        let unused = try AppDatabase(location: db.location, oneShot: true, logger: quietLogger)
        try await unused.withRunning {
            unused.connectAhead()
            try await waitUntil("the connection ahead opens") { Self.descriptors(of: file) == 1 }
        }
        #expect(Self.descriptors(of: file) == 0)
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "the last close folds the log in")
    }

    /// A new SQLite test database, and its file's path.
    static func sqliteDatabase() async throws -> (db: TestDatabase, file: String) {
        let db = try await TestDatabase.make(.sqlite)
        guard case .sqlite(let file) = db.location else { throw NotSQLite() }
        return (db, file)
    }

    /// How many of this process's open file descriptors are `path` itself (not its log or journal).
    static func descriptors(of path: String) -> Int {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == target
        }.count
    }

    /// 30 migrations, each its own transaction, with `app migrate` traced by strace: the writes and
    /// syncs of the file whose name ends in `suffix` (`-wal`, `-journal`), by their place in the trace.
    static func tracedRun(_ variables: [String: String], file suffix: String, holdingReader: Bool) async throws -> (
        writes: [Int], syncs: [Int]
    ) {
        var files: [String: String] = [:]
        for i in 1...30 {
            files["\(i)_t\(i).sql"] =
                "-- migrate:up\nCREATE TABLE t\(i) (id INTEGER PRIMARY KEY, name TEXT);\nCREATE INDEX t\(i)_name ON t\(i) (name);\n"
        }
        let folder = try MigrationsDir(files)
        let db = try await TestDatabase.make(.sqlite)
        let trace = db.dir.url.appendingPathComponent("strace.txt").path
        let env = AppBinary.baseEnvironment.merging(
            [
                "DATABASE_URL": db.url, "MIGRATIONS_DIR": folder.path, "APP_ENV": "test",
            ].merging(variables) { $1 }
        ) { $1 }
        let run: @Sendable () async throws -> ProcessOutput = {
            try await runProcess(
                [
                    "strace", "-f", "-qq", "-y", "-e", "trace=write,pwrite64,fsync,fdatasync", "-o", trace,
                    AppBinary.url.path, "migrate",
                ],
                environment: env, directory: folder.dir.url
            )
        }
        let result: ProcessOutput
        if holdingReader {
            // A reader in a transaction all along: the run's connection is then not the file's last, and
            // its close makes no checkpoint (which would sync the log whatever the run did).
            try await AppDatabase(location: db.location, logger: quietLogger).withConnection { sql in
                try await sql.raw("CREATE TABLE r (id INTEGER)").run()
            }
            result = try await AppDatabase(location: db.location, logger: quietLogger).withConnection { reader in
                try await reader.raw("BEGIN").run()
                _ = try await reader.raw("SELECT COUNT(*) AS n FROM r").all()
                let result = try await run()
                try await reader.raw("COMMIT").run()
                return result
            }
        } else {
            result = try await run()
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try await historyIDs(db)?.count == 30)
        // One line per call: `pid pwrite64(5</path/test.sqlite-wal>, ...) = 4096`.
        let text = try String(contentsOfFile: trace, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { $0.contains(suffix + ">") }
        var writes: [Int] = []
        var syncs: [Int] = []
        for (index, line) in lines.enumerated() {
            if line.contains(" fsync(") || line.contains(" fdatasync(") {
                syncs.append(index)
            } else if line.contains(" write(") || line.contains(" pwrite64(") {
                writes.append(index)
            }
        }
        return (writes, syncs)
    }

    @Test(
        "app migrate in write-ahead-log mode: the commits do not sync one by one, and the log is synced after its last write, before the run ends"
    )
    func oneSyncAtTheEnd() async throws {
        let run = try await Self.tracedRun([:], file: "-wal", holdingReader: true)
        #expect(!run.writes.isEmpty, "the run wrote its commits to the log")
        #expect(run.syncs.count < 10, "far fewer syncs than the run's 30 commits: \(run.syncs.count)")
        #expect(
            (run.syncs.last ?? -1) > (run.writes.last ?? Int.max), "the last write to the log is followed by a sync")
    }

    @Test("the control: with SQLITE_JOURNAL_MODE=delete the same trace shows a sync of the journal for each commit")
    func rollbackJournalSyncsEachCommit() async throws {
        let run = try await Self.tracedRun(["SQLITE_JOURNAL_MODE": "delete"], file: "-journal", holdingReader: false)
        #expect(run.syncs.count >= 30, "\(run.syncs.count)")
    }
}
