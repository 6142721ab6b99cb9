import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit

/// The app's database: an SQLite file or a pooled PostgreSQL client, each behind `DatabaseEngine`.
/// Everything above this type talks SQLKit, so the migrator and the health check have one code path.
public final class AppDatabase: Sendable {
    public let location: DatabaseLocation
    let engine: any DatabaseEngine

    public var kind: SQLEngine { engine.kind }

    /// Throws `DatabaseSetupError` when the database cannot be set up at all (an SQLite folder that
    /// cannot be created); a server that does not answer is found later, by the first connection.
    /// `sqliteJournalMode`: the mode an SQLite file is put in by its first connection (ignored for PostgreSQL).
    /// `postgresPool`: the PostgreSQL pool's size and how long a caller waits for a connection.
    /// `oneShot`: for a command that runs once and ends (`app migrate`, `app check`). An SQLite file in
    /// write-ahead-log mode then gets no connection of its own held open while `run()` runs (see
    /// `SQLiteEngine.run()`): the command's work reuses its connections until it ends anyway. Its
    /// SQLite calls run on a pool of two threads, where a server's have eight.
    public init(
        location: DatabaseLocation, sqliteJournalMode: SQLiteJournalMode = .wal,
        postgresPool: PostgresPool = PostgresPool(), oneShot: Bool = false,
        logger: Logger
    ) throws {
        self.location = location
        switch location {
        case .sqlite(let path):
            self.engine = try SQLiteEngine(
                path: path, journalMode: sqliteJournalMode, oneShot: oneShot, logger: logger)
        case .postgres(let pg):
            self.engine = PostgresEngine(pg, pool: postgresPool, logger: logger)
        }
    }

    /// Gets ready what a database of `location`'s kind needs before its first connection: the threads
    /// it works on (NIO's event loops; SQLite's own pool) and, with `query`, for SQLite, one query on
    /// a database in memory. No file or server is touched. The commands call it on another thread
    /// while they read the migrations folder (and `serve` builds the app), so that the first
    /// connection waits for less. `serve` starts the threads only: its first answer needs no
    /// database, and the query's memory would stay with the process. `oneShot` as in `init`.
    public static func warmUp(for location: DatabaseLocation, oneShot: Bool, query: Bool = true) async {
        _ = MultiThreadedEventLoopGroup.singleton
        guard case .sqlite = location else { return }
        let pool = SQLiteEngine.threadPool(oneShot: oneShot)
        guard query else { return }
        // A query on a database in memory: SQLite itself and the code between it and the migrator
        // run once before the first real connection needs them.
        var quiet = Logger(label: "warm-up")
        quiet.logLevel = .critical
        guard
            let memory = try? await SQLiteConnection.open(
                storage: .memory, threadPool: pool, logger: quiet,
                on: MultiThreadedEventLoopGroup.singleton.any())
        else { return }
        _ = try? await SQLiteDirectDatabase(memory, queryLogLevel: .trace).raw("SELECT 1 AS one").all()
        try? await memory.close()
    }

    /// Starts, on a thread of its own, the threads a one-shot command's database work runs on (NIO's
    /// event loop, and SQLite's pool of two threads whichever database the configuration names: on
    /// PostgreSQL they stay idle until the command ends), for a command that reads its configuration
    /// and then opens a database (`app migrate`). Each start waits for its new threads to come up
    /// (about 2 ms of CPU here, most of it the Swift runtime's first look-ups of NIO's types): begun
    /// after the configuration was read, it competed with the folder's read for the two cores, and
    /// the connection opened ahead often waited for the whole read. Not a task: the concurrency
    /// runtime's first thread would wait on these starts, and the command's own first step waited
    /// 0.6–0.9 ms for a second one to come up. Call it after `useOneEventLoop`. `app serve` does not
    /// (its cold start gained nothing from it), nor does a command that needs no database (`app
    /// secret`, `--help`). Nothing happens if no thread can be started: the first use starts them.
    public static func startOneShotThreadsAhead() {
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { _ in
                _ = MultiThreadedEventLoopGroup.singleton
                _ = SQLiteEngine.threadPool(oneShot: true)
                return nil
            }, nil)
        if started == 0 { pthread_detach(thread) }
    }

    /// For a process that runs one command and ends (`app migrate`, `app check`): NIO's shared event
    /// loops are one, where a server has one per core. A command's work waits on one connection at a
    /// time, and each loop's thread is started beside the command's own work (while it reads its
    /// configuration, `startOneShotThreadsAhead`, or its folder, `warmUp`), where a new thread can wait
    /// for a core. Call it first thing in `main`, while no other thread runs (it sets an environment
    /// variable), and before anything uses the loops (NIO counts them once, at their first use).
    ///
    /// NIO's own variable, rather than `NIOSingletons.groupLoopCountSuggestion`: that setter's first
    /// use made the Swift runtime look up `ManagedAtomic<Int>`'s conformances (about 0.8 ms) on the main
    /// thread, before anything ran beside it. The variable is read where the loops start (for `app
    /// migrate`, on the thread `startOneShotThreadsAhead` starts them on). It replaces a value the
    /// environment gave, as the setter did (the process starts no other program).
    public static func useOneEventLoop() {
        setenv("NIO_SINGLETON_GROUP_LOOP_COUNT", "1", 1)
    }

    /// Runs the connection pool until the task is cancelled.
    /// Call it (or `withRunning`) once per instance: PostgreSQL's pool cannot be restarted.
    public func run() async {
        await engine.run()
    }

    /// Starts opening a connection in the background, for a one-shot command that reads its migrations
    /// folder before it needs one (inside `withRunning`). For SQLite only on a file already there
    /// (`connectsAhead`): an invalid folder must make none.
    public func connectAhead() {
        engine.connectAhead()
    }

    /// Whether `connectAhead` opens anything for `location`: always on PostgreSQL, on SQLite only when
    /// the file is already there.
    public static func connectsAhead(_ location: DatabaseLocation) -> Bool {
        switch location {
        case .sqlite(let path): FileIdentity(path) != nil
        case .postgres: true
        }
    }

    /// Runs `body` while the pool runs, for one-shot commands. The pool starts first, on the caller's
    /// thread (`race`), so that `body`'s first lease finds it running and need not wait for it.
    public func withRunning<T: Sendable>(_ body: @Sendable @escaping () async throws -> T) async throws -> T {
        try await race(body) { await self.run() }
    }

    /// Lends one connection, as an SQLKit database, for the duration of `body`.
    /// `busyTimeout` is how long SQLite waits for another writer before failing with "busy";
    /// a PostgreSQL caller waits `wait` (default `leaseTimeout`) at most for a connection, and fails at
    /// once, with the server's reason, when the server refuses one (`DatabaseConnectError`).
    public func withConnection<T: Sendable>(
        busyTimeout: Duration = AppDatabase.defaultBusyTimeout,
        wait: Duration? = nil,
        reusable: Bool = true,
        _ body: @Sendable @escaping (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await engine.withConnection(busyTimeout: busyTimeout, wait: wait, reusable: reusable, body)
    }

    /// How long an SQLite caller waits for another writer, by default.
    public static let defaultBusyTimeout = Duration.seconds(5)

    /// How long a caller waits for a PostgreSQL connection before giving up, by default.
    public static var leaseTimeout: Duration { PostgresPool.defaultTimeout }

    /// Nil when the database answers `SELECT 1` within `timeout`, else why not.
    public func problem(timeout: Duration = .seconds(2)) async -> (any Error)? {
        do {
            // The connection wait is bounded (and explained) by `wait`; the outer limit bounds a query
            // that hangs on a connection already made.
            _ = try await withTimeout(timeout + .seconds(1), waitingFor: "answer to SELECT 1") {
                try await self.withConnection(busyTimeout: timeout, wait: timeout) { db in
                    try await db.raw("SELECT 1 AS ok").run()
                }
            }
            return nil
        } catch {
            return error
        }
    }

    /// True when the database answers `SELECT 1` within `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        await problem(timeout: timeout) == nil
    }

    /// A log-safe account of a database error: the server's message, never connection parameters.
    public static func describe(_ error: any Error) -> String {
        SQLiteEngine.describeError(error) ?? PostgresEngine.describeError(error)
            ?? (error as? DatabaseConnectError)?.description ?? (error as? DatabaseSetupError)?.description
            ?? (error as? DatabaseTimeout)?.description
            ?? (error as? ConnectionClosedUnderQuery)?.description ?? String(describing: type(of: error))
    }
}

/// PostgreSQL's connection pool: how many connections it keeps at most (`DATABASE_POOL_SIZE`), and how
/// long a caller waits for one before the call fails as unavailable (`DATABASE_POOL_TIMEOUT`).
public struct PostgresPool: Sendable, Equatable {
    public static let defaultSize = 10
    public static let defaultTimeout = Duration.seconds(10)
    public var size: Int
    public var timeout: Duration

    public init(size: Int = PostgresPool.defaultSize, timeout: Duration = PostgresPool.defaultTimeout) {
        self.size = size
        self.timeout = timeout
    }
}
