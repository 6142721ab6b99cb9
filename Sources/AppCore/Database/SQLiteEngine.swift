import Foundation
import Logging
import NIOPosix
import SQLiteKit
import Synchronization

/// The journal mode the server keeps an SQLite file in (`SQLITE_JOURNAL_MODE`). SQLite records
/// write-ahead-log mode in the file: every program that opens it afterwards uses the log too.
public enum SQLiteJournalMode: String, Sendable, CaseIterable {
    /// Write-ahead log: readers never wait for a writer, and a commit is one sync of the log.
    case wal
    /// SQLite's own default: a rollback journal, deleted after each commit. For a file system that
    /// cannot share the log's memory between processes (a network file system).
    case delete
}

/// An SQLite file, one connection per unit of work. The runner lock is SQLite's write lock.
struct SQLiteEngine: DatabaseEngine {
    let path: String
    /// The folder `path` is in, absolute as `path` is.
    let folder: String
    let logger: Logger
    let journalMode: SQLiteJournalMode
    /// A one-shot command's engine (`app migrate`, `app check`): `run()` holds no connection open in
    /// write-ahead-log mode (a server's holds one), and its SQLite calls block the threads of the
    /// smaller pool (`threadPool(oneShot:)`).
    let oneShot: Bool
    /// Set once the file is in `journalMode` (or SQLite refused the mode for good): the switch is tried
    /// on each connection until then, since another connection can hold the file while it is asked for.
    private let journalModeSettled = JournalModeSettled()
    /// Connections handed back after use, for the next caller (`withConnection`).
    private let idle = IdleConnections()
    /// The connection `connectAhead` opens, for the first caller to wait for.
    private let ahead = AheadConnection()

    private final class JournalModeSettled: Sendable {
        let done = Atomic<Bool>(false)
    }

    var kind: SQLEngine { .sqlite }

    /// The threads SQLite's calls block, the process's own. Every call into SQLite holds one until it
    /// returns, and a call may wait there for another writer (`busy_timeout`, up to seconds). On NIO's
    /// shared pool, which has a thread per core (two here), two such waits stalled every other SQLite
    /// call in the process, a health check's `SELECT 1` among them. Started once, never stopped.
    private static let serverPool = startedPool(threads: 8)
    /// A one-shot command's: its work makes one call at a time (a few side by side at most, `app
    /// check`'s). Its threads start while the command reads its migrations folder on the other core,
    /// and a new thread can wait there for a core (up to 2 ms, `perf sched`) before its first
    /// connection can open: the fewer, the sooner.
    private static let oneShotPool = startedPool(threads: 2)

    private static func startedPool(threads: Int) -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }

    /// The pool a server's (or a one-shot command's) SQLite calls run on, started at first use.
    static func threadPool(oneShot: Bool) -> NIOThreadPool { oneShot ? oneShotPool : serverPool }

    var threadPool: NIOThreadPool { Self.threadPool(oneShot: oneShot) }

    init(path: String, journalMode: SQLiteJournalMode = .wal, oneShot: Bool = false, logger: Logger) throws {
        let (file, folder) = Self.resolved(path)
        if RegularFile.kind(of: folder) != S_IFDIR {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw DatabaseSetupError(
                    location: "SQLite file \(file)",
                    reason: "its folder \(folder) cannot be created (\(Self.reason(error)))")
            }
        }
        self.path = file
        self.folder = folder
        self.logger = logger
        self.journalMode = journalMode
        self.oneShot = oneShot
        // Before this engine's first connection opens, so that every one of them has the function.
        _ = SQLiteMigrationBatch.installed
    }

    /// `path` made absolute as `URL(fileURLWithPath:).path` makes it, and its folder as
    /// `deletingLastPathComponent().path` gives it. Worked out here for a plain path (no `~`, no `.`,
    /// `..` or empty component, no trailing slash): `URL`'s first use in a process costs run-time type
    /// lookups on every command's path. `URL`'s own answer for any other.
    static func resolved(_ path: String) -> (file: String, folder: String) {
        let absolute = path.hasPrefix("/")
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(absolute ? 1 : 0)
        let plain =
            !path.hasPrefix("~") && !components.isEmpty
            && components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
        guard plain, let base = absolute ? "" : Self.workingDirectory() else {
            let url = URL(fileURLWithPath: path)
            return (url.path, url.deletingLastPathComponent().path)
        }
        let file = absolute ? path : (base == "/" ? "/" : base + "/") + path
        let slash = file.utf8.lastIndex(of: UInt8(ascii: "/"))!
        return (file, slash == file.startIndex ? "/" : String(file[..<slash]))
    }

    private static func workingDirectory() -> String? {
        guard let buffer = getcwd(nil, 0) else { return nil }
        defer { free(buffer) }
        return String(cString: buffer)
    }

    /// In write-ahead-log mode, holds one connection open until cancelled. Without it, every unit of
    /// work would close the file's last connection, and that close folds the log into the file and
    /// removes the log and its index, for the next unit of work to make again (about half a
    /// millisecond of each request). A connection that cannot be opened now is left to the requests,
    /// which report why. A one-shot command holds none (`oneShot`): its work reuses its idle
    /// connections until it ends, and a held one would only open beside the first of them.
    func run() async {
        idle.start()
        var retry = Duration.milliseconds(50)
        while !Task.isCancelled {
            if journalMode == .wal, !oneShot {
                // Short waits, retried: this connection is worth no thread of SQLite's pool held waiting.
                let held = try? await withConnection(busyTimeout: .milliseconds(100), wait: nil) {
                    [journalModeSettled] db -> Bool in
                    // Not while the switch to the log is still to be made (this connection's was refused,
                    // another connection was reading): held open, this connection would refuse every later
                    // switch, and the file would stay in its old mode while the server runs. Tried again
                    // shortly.
                    guard journalModeSettled.done.load(ordering: .relaxed) else { return false }
                    // A read in the log's mode: from then on the connection holds the file open (a shared lock).
                    try await db.raw("PRAGMA schema_version").run()
                    await untilCancelled()
                    throw CancellationError()
                }
                // The switch refused: soon again (from 50 ms, doubling to a second), so the file is held
                // within moments of the other connection's close. A connection that could not be opened:
                // in a second.
                try? await Task.sleep(for: held == false ? retry : .seconds(1))
                if held == false { retry = min(retry * 2, .seconds(1)) }
            } else {
                await untilCancelled()
            }
        }
        // A connection opened ahead goes to the idle list, which closes it.
        if let (task, _) = ahead.take() { _ = await task.result }
        await idle.stop()
    }

    /// Opens the first connection in the background (with `AppDatabase.defaultBusyTimeout`)
    /// and keeps it idle. Only on a file already there: the first connection creates a missing file,
    /// and a command whose migrations turn out invalid must make none. The open is handed to SQLite's
    /// pool at once, on the caller's thread (up to its first wait), as PostgreSQL's is: as a task of its
    /// own it waited for the concurrency runtime's second thread while the caller read the folder.
    func connectAhead() {
        guard FileIdentity(path) != nil else { return }
        ahead.set(
            Task.immediate { [self, idle] in
                let entry = try await openConnection(busyMs: AppDatabase.defaultBusyTimeout.milliseconds)
                if !idle.give(entry) { try? await entry.connection.close() }
            })
    }

    /// Lends a connection: an idle one the last caller handed back, or a new one. An idle connection is
    /// handed out only while the path still names the file it was opened on (a file deleted or replaced
    /// under the server is opened anew, and fails as a new connection would); its busy timeout is set
    /// again only when it differs. It goes back to the idle list after a body that succeeded and left
    /// no transaction open (`app_in_transaction()`); after an error it is closed.
    func withConnection<T: Sendable>(
        busyTimeout: Duration, wait: Duration?, reusable: Bool = true,
        _ body: @Sendable @escaping (any SQLDatabase) async throws -> T
    ) async throws -> T {
        let busyMs = busyTimeout.milliseconds
        // The first caller waits for the connection opened ahead rather than open a second; if it
        // failed, a new one is opened here, and fails (or not) on its own.
        if let (task, _) = ahead.take() { _ = await task.result }
        var lent: IdleConnections.Entry
        if let identity = FileIdentity(path), let reused = idle.take(matching: identity) {
            lent = reused
        } else {
            lent = try await openConnection(busyMs: busyMs)
        }
        // Closed in a task of its own, so a cancelled caller (a timed-out ping) still closes it.
        let connection = lent.connection
        let close = { await Task { try? await connection.close() }.value }
        do {
            let db = SQLiteDirectDatabase(connection, queryLogLevel: .trace)
            if lent.busyMs != busyMs {
                try await db.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyMs))").run()
                lent.busyMs = busyMs
            }
            if !journalModeSettled.done.load(ordering: .relaxed) {
                try await settleJournalMode(db, busyTimeout: busyTimeout)
            }
            let result = try await body(db)
            // Unknown (not reusable, or the question failed): closed, never lent again.
            var open: Int?
            if reusable {
                let row = try? await db.raw("SELECT app_in_transaction() AS open").all().first
                open = try? row?.decode(column: "open", as: Int.self)
            }
            if open != 0 || !idle.give(lent) { await close() }
            return result
        } catch let error as SQLiteError where error.reason == .readOnly {
            await close()
            throw readOnlyFailure(error)
        } catch {
            await close()
            throw error
        }
    }

    /// A new connection, its busy timeout set and the file read once (SQLite opens it lazily: an
    /// unusable path fails here). The same read tells the journal mode the file is in: already
    /// `journalMode`, it is settled, three statements fewer for a one-shot command's only connection.
    /// (Read by SQLite, not from the file's header by the server: closing a descriptor of its own on
    /// the file would drop every POSIX lock this process's connections hold on it.)
    private func openConnection(busyMs: Int64) async throws -> IdleConnections.Entry {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            throw openFailure(error)
        }
        do {
            let db = SQLiteDirectDatabase(connection, queryLogLevel: .trace)
            // First: it replaces SQLiteNIO's busy handler, which waits for ever, so that nothing on this
            // connection (the read below included) waits longer than `busyTimeout` for another writer.
            try await db.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyMs))").run()
            let row: (any SQLRow)?
            do {
                // `all().first`, here and after each unit of work: `first()` asks at run time whether the
                // builder takes a LIMIT, one more type lookup on a command's path.
                row = try await db.raw("SELECT journal_mode FROM pragma_schema_version, pragma_journal_mode").all()
                    .first
            } catch let error as SQLiteError where Self.isBusy(error) {
                throw error  // another writer held the file past the busy timeout: not a path problem
            } catch {
                throw openFailure(error)
            }
            if try row?.decode(column: "journal_mode", as: String.self) == journalMode.rawValue {
                journalModeSettled.done.store(true, ordering: .relaxed)
            }
            // Set while the connection opened (`SQLiteMigrationBatch.installed`), else here.
            if !SQLiteMigrationBatch.installed { try await db.raw("PRAGMA foreign_keys = ON").run() }
            // The file as opened: read after the open, which may have created it.
            guard let identity = FileIdentity(path) else { throw openFailure(SQLiteSetupRace()) }
            return IdleConnections.Entry(connection: connection, busyMs: busyMs, identity: identity)
        } catch {
            await Task { try? await connection.close() }.value
            throw error
        }
    }

    /// Puts the file in `journalMode`. A refusal that can pass (another connection holds the file, the
    /// file is read-only for now) is retried by the next connection; SQLite answering with another
    /// mode (a file system without shared memory for the write-ahead log) is logged once and kept.
    ///
    /// The switch does not wait for other connections (they may be in the middle of a migration): a
    /// thread of SQLite's small pool waiting here would be one fewer for every other request.
    private func settleJournalMode(_ db: any SQLDatabase, busyTimeout: Duration) async throws {
        try await db.raw("PRAGMA busy_timeout = 0").run()
        do {
            let row = try await db.raw("PRAGMA journal_mode = \(unsafeRaw: journalMode.rawValue)").first()
            let now = try row?.decode(column: "journal_mode", as: String.self)
            if now != journalMode.rawValue {
                logger.warning(
                    "SQLite keeps the file in another journal mode than asked for",
                    metadata: [
                        "path": "\(path)", "asked": "\(journalMode.rawValue)", "mode": "\(now ?? "unknown")",
                    ])
            }
            journalModeSettled.done.store(true, ordering: .relaxed)
        } catch {
            logger.debug(
                "SQLite journal mode not set yet",
                metadata: ["path": "\(path)", "reason": "\(Self.describeError(error) ?? "\(error)")"])
        }
        try await db.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyTimeout.milliseconds))").run()
    }

    /// A write refused because the file (or its folder, for the journal) is read-only to this process.
    func readOnlyFailure(_ error: SQLiteError) -> DatabaseSetupError {
        DatabaseSetupError(
            location: "SQLite file \(path)",
            reason: "it is read-only for this process, and migrations write to it (\(error.message))")
    }

    /// `BEGIN IMMEDIATE` polled with short busy waits and async sleeps in between, so waiting runners
    /// never hold SQLite's thread pool (and with it every other request) for the whole lock wait.
    ///
    /// While another runner holds the run lock (a migration outside a transaction), this waits on that
    /// lock rather than on SQLite's: SQLite's write lock is not fair, and runners retaking it again and
    /// again could starve that migration's statements past their busy timeout.
    func beginLocked(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, heldRunLock: Bool) async throws -> Bool {
        while true {
            if !heldRunLock, try await !runLockIsFree(db) {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...25)))
                continue
            }
            do {
                try await db.raw("BEGIN IMMEDIATE").run()
                return true
            } catch let error as SQLiteError where Self.isBusy(error) {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...25)))
            }
        }
    }

    /// The busy timeout while polling for the write lock: short, so one attempt never holds a thread
    /// of SQLite's pool for long.
    static let lockPollBusyTimeout = Duration.milliseconds(10)

    /// The run lock is an exclusive `flock` on a file beside the database (`<file>-migrate.lock`):
    /// it spans transactions, and the kernel releases it when its holder dies.
    var runLockPath: String { path + "-migrate.lock" }

    func withRunLock<T: Sendable>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T
    ) async throws -> T? {
        let fd = open(runLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DatabaseSetupError(
                location: "SQLite lock file \(runLockPath)", reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...25)))
        }
        defer { flock(fd, LOCK_UN) }
        // Statements outside a transaction wait for other writers' short transactions instead of failing.
        let restore: SQLQueryString =
            "PRAGMA busy_timeout = \(unsafeRaw: String(Self.lockPollBusyTimeout.milliseconds))"
        try await db.raw("PRAGMA busy_timeout = 5000").run()
        do {
            let result = try await body()
            try? await db.raw(restore).run()
            return result
        } catch {
            try? await db.raw(restore).run()
            throw error
        }
    }

    /// Always: `app_migrate_batch` is registered on every connection (`SQLiteMigrationBatch`).
    func sendsMigrationsWhole(_ db: any SQLDatabase) async throws -> Bool { SQLiteMigrationBatch.installed }

    /// In one call (`SQLiteMigrationBatch`). While another runner holds the run lock (a migration
    /// outside a transaction) this declines, and the long way waits on that lock (`beginLocked`);
    /// a runner that takes it during the call marks its migration running first, which the next
    /// migration's history check sees.
    func applyWhole(
        _ batch: [WholeMigration], _ db: any SQLDatabase, applied: @escaping @Sendable (Int, Int64) -> Void
    ) async throws -> Int {
        guard try await runLockIsFree(db), let call = SQLiteMigrationBatch(batch, db: db) else { return 0 }
        return try await call.apply(db, applied: applied)
    }

    func runLockIsFree(_ db: any SQLDatabase) async throws -> Bool {
        let fd = open(runLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        flock(fd, LOCK_UN)
        return true
    }

    /// SQLite reports a statement's commit-time error (a deferred foreign key) as the statement's own.
    func runOutsideTransaction(
        _ statements: [String], policy: LockPolicy, _ db: any SQLDatabase,
        stopped: (any Error) async throws -> Void
    ) async throws {
        for statement in statements { try await db.raw("\(unsafeRaw: statement)").run() }
    }

    func lockSettings(_ policy: LockPolicy) -> [String] { [] }
    func isLockWaitTimeout(_ error: any Error) -> Bool { false }
    func sessionID(_ db: any SQLDatabase) async throws -> Int? { nil }
    func blocker(of id: Int) async -> LockBlocker? { nil }

    func tableNames(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> Set<String> {
        guard !names.isEmpty else { return [] }
        return Set(
            try await db.raw(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (\(unsafeRaw: sqlStringLiterals(names)))"
            )
            .all().map { try $0.decode(column: "name", as: String.self) })
    }

    func columnNames(_ db: any SQLDatabase, tables: [String]) async throws -> [String: Set<String>] {
        guard !tables.isEmpty else { return [:] }
        return try columnsByTable(
            await db.raw(
                """
                SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p
                WHERE m.type = 'table' AND m.name IN (\(unsafeRaw: sqlStringLiterals(tables)))
                """
            ).all())
    }

    func tableExists(_ db: any SQLDatabase, _ table: String) async throws -> Bool {
        try await tableNames(db, among: [table]).contains(table)
    }

    /// The columns' query alone: an SQLite table always has a column, so its rows name every table
    /// `tableNames` would find. One statement, and so one trip to SQLite's thread, where the two
    /// queries took two (each a chance to wait for a core: docs/benchmarks.md, "Both no-op lines").
    func tablesAndColumns(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> (
        names: Set<String>, columns: [String: Set<String>]
    ) {
        let columns = try await columnNames(db, tables: names)
        return (Set(columns.keys), columns)
    }

    /// Why the file cannot be opened, in the user's terms, naming the path.
    func openFailure(_ error: any Error) -> DatabaseSetupError {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let reason: String
        if exists, isDirectory.boolValue {
            reason = "it is a directory, not a database file"
        } else if exists, !FileManager.default.isReadableFile(atPath: path) {
            reason = "no permission to read it"
        } else if !exists, !FileManager.default.isWritableFile(atPath: folder) {
            reason = "it does not exist, and there is no permission to create it in \(folder)"
        } else {
            reason = "it cannot be opened (\(Self.describeError(error) ?? "\(error)"))"
        }
        return DatabaseSetupError(location: "SQLite file \(path)", reason: reason)
    }

    /// In write-ahead-log mode, the commits inside skip their sync (`synchronous = NORMAL`: after a
    /// power cut the file holds a prefix of them, never a torn one) and one sync of the log at the end
    /// makes them all durable, as `FULL` makes each. A rollback journal keeps `FULL`: there, `NORMAL`
    /// could leave a damaged file.
    func withCommitsDurableAtEnd<T: Sendable>(_ db: any SQLDatabase, _ body: () async throws -> T) async throws -> T {
        let mode = try await db.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self)
        guard mode == SQLiteJournalMode.wal.rawValue else { return try await body() }
        try await db.raw("PRAGMA synchronous = NORMAL").run()
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        try? await db.raw("PRAGMA synchronous = FULL").run()
        do {
            try await syncLog()
        } catch {
            guard case .failure(let first) = outcome else { throw error }
            logger.error("SQLite write-ahead log not synced", metadata: ["path": "\(path)", "reason": "\(error)"])
            throw first
        }
        return try outcome.get()
    }

    /// The write-ahead log and the folder (which holds its name, and the file's when the run made it)
    /// to disk: what `synchronous = FULL` does at each commit, done once.
    private func syncLog() async throws {
        let paths = [path + "-wal", folder]
        try await threadPool.runIfActive {
            for target in paths {
                let fd = open(target, O_RDONLY | O_CLOEXEC)
                // No log: nothing was written since the last connection's checkpoint, which synced.
                if fd < 0, errno == ENOENT { continue }
                guard fd >= 0 else {
                    throw DatabaseSetupError(location: target, reason: String(cString: strerror(errno)))
                }
                defer { close(fd) }
                guard fsync(fd) == 0 else {
                    throw DatabaseSetupError(
                        location: target, reason: "fsync failed: \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// An SQLite file has no connection to lose: every error is the statement's.
    func isConnectionLost(_ error: any Error) -> Bool { false }

    /// A log-safe account of an error from this engine: its message, never connection parameters.
    static func describeError(_ error: any Error) -> String? {
        (error as? SQLiteError).map { "SQLite: \($0.message)" }
    }

    private static func isBusy(_ error: SQLiteError) -> Bool {
        [.busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked].contains(error.reason)
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}

/// The database could not even be set up (before any connection): names the place and the cause.
public struct DatabaseSetupError: Error, CustomStringConvertible {
    public var location: String
    public var reason: String
    public var description: String { "\(location): \(reason)" }
}

/// Which file a path names now (device and inode), to tell an idle connection's file from a new one.
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// The path named no file right after SQLite opened it (removed in between).
struct SQLiteSetupRace: Error, CustomStringConvertible {
    var description: String { "the file was removed as it was opened" }
}

/// SQLite connections not in use, at most `limit` (the threads SQLite's calls have).
final class IdleConnections: Sendable {
    struct Entry: Sendable {
        let connection: SQLiteConnection
        var busyMs: Int64
        let identity: FileIdentity
    }

    static let limit = 8
    private struct State {
        var entries: [Entry] = []
        /// Only while the engine runs (`SQLiteEngine.run`), which closes what is left when it ends: a
        /// connection must be closed before it is freed.
        var accepting = false
    }
    private let state = Mutex(State())

    /// An idle connection on the file `identity` names; connections on another file are closed.
    func take(matching identity: FileIdentity) -> Entry? {
        let (found, stale) = state.withLock { state -> (Entry?, [Entry]) in
            let stale = state.entries.filter { $0.identity != identity }
            state.entries.removeAll { $0.identity != identity }
            return (state.entries.popLast(), stale)
        }
        for entry in stale { Task { try? await entry.connection.close() } }
        return found
    }

    /// Keeps `entry` for the next caller; false when the list is full or the engine is not running
    /// (the caller closes it).
    func give(_ entry: Entry) -> Bool {
        state.withLock { state in
            guard state.accepting, state.entries.count < Self.limit else { return false }
            state.entries.append(entry)
            return true
        }
    }

    func start() { state.withLock { $0.accepting = true } }

    /// Takes no more connections, and closes those it kept.
    func stop() async {
        let left = state.withLock { state -> [Entry] in
            state.accepting = false
            defer { state.entries = [] }
            return state.entries
        }
        // In a task of its own: the engine's run is being cancelled, and a cancelled close would not close.
        for entry in left { await Task { try? await entry.connection.close() }.value }
    }
}
