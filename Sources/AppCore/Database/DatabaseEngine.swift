import SQLKit
import Synchronization

/// The two engines the app runs on.
public enum SQLEngine: String, Sendable {
    case sqlite, postgres
}

/// Everything that differs between SQLite and PostgreSQL, one small type per engine behind this
/// interface. The migrator asks these questions and never switches on the engine itself.
protocol DatabaseEngine: Sendable {
    var kind: SQLEngine { get }

    /// Background work (PostgreSQL's pool) until the task is cancelled.
    func run() async

    /// Starts opening a connection in the background, for a caller that will lend one soon and has other
    /// work first; the first lease waits for it rather than open another. SQLite opens one only on a
    /// file already there: its first connection would create the file.
    func connectAhead()

    /// Lends one connection for the duration of `body`. `busyTimeout` bounds SQLite's wait for another
    /// writer; `wait` bounds PostgreSQL's wait for a connection (nil: `PostgresEngine.leaseTimeout`).
    /// `reusable`: false when `body` runs a migration's own SQL, which may leave state on the session
    /// (a `PRAGMA`, a temporary table): SQLite closes that connection instead of lending it again.
    func withConnection<T: Sendable>(
        busyTimeout: Duration, wait: Duration?, reusable: Bool,
        _ body: @Sendable @escaping (any SQLDatabase) async throws -> T
    ) async throws -> T

    /// Opens a transaction that holds the migration runner's lock, waiting until `deadline` at most.
    /// Returns false, with no transaction open, when the deadline passed first. `heldRunLock`: the
    /// caller holds the run lock itself; otherwise it also waits while another runner holds it.
    func beginLocked(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, heldRunLock: Bool) async throws -> Bool

    /// Runs `body` holding the run lock, a lock that outlives transactions, for migrations run outside
    /// one; waits until `deadline` at most and returns nil when it passed first. Always released after.
    func withRunLock<T: Sendable>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T
    ) async throws -> T?

    /// True when transactional migrations can be applied whole (`applyWhole`). Asked once per run,
    /// before the first such migration.
    func sendsMigrationsWhole(_ db: any SQLDatabase) async throws -> Bool

    /// Applies transactional migrations in order, each in a transaction of its own taken in one go:
    /// runner lock, history check, statements, history rows, commit (`WholeMigration`); in as few
    /// calls to the database as the engine can. `applied` is told of each as it commits: its index in
    /// `batch` and its statements' run time in milliseconds. Returns how many it applied: it stops,
    /// having changed nothing more, at one it declines (the lock taken, the history changed, a value it
    /// cannot write). An error is that of the migration after the last one reported.
    func applyWhole(
        _ batch: [WholeMigration], _ db: any SQLDatabase, applied: @escaping @Sendable (Int, Int64) -> Void
    ) async throws -> Int

    /// Runs a migration's statements outside a transaction, one by one: each takes effect as it ends, and
    /// an error at its commit is reported as that statement's error. A statement stopped by the lock
    /// policy's wait is handed to `stopped`, which pauses (and returns) for it to be tried again, or throws.
    func runOutsideTransaction(
        _ statements: [String], policy: LockPolicy, _ db: any SQLDatabase,
        stopped: (any Error) async throws -> Void
    ) async throws

    /// The statements that put `policy` in force for the rest of the open transaction (none on SQLite,
    /// whose busy timeout bounds every wait).
    func lockSettings(_ policy: LockPolicy) -> [String]

    /// True when `error` is a statement given up for waiting longer than the lock policy allows.
    func isLockWaitTimeout(_ error: any Error) -> Bool

    /// The database's id for the session `db` is (PostgreSQL's backend pid); nil where there is none.
    func sessionID(_ db: any SQLDatabase) async throws -> Int?

    /// Who the session `id` waits for now, if it waits for a lock: read on another connection.
    func blocker(of id: Int) async -> LockBlocker?

    /// True when no runner holds the run lock now (so a history row marked running was interrupted).
    func runLockIsFree(_ db: any SQLDatabase) async throws -> Bool

    /// True when `table` exists in the schema the connection works in.
    func tableExists(_ db: any SQLDatabase, _ table: String) async throws -> Bool

    /// Those of `names` that are tables of the schema the connection works in and, on PostgreSQL,
    /// `schema.table` for those of them in each of `schemas`, in one query: asked by name, so that a
    /// database of many tables is not listed whole for the few a caller looks for. SQLite has no
    /// other schemas.
    func tableNames(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> Set<String>

    /// The names of each of `tables`' columns in the schema the connection works in, in one query; a
    /// table that is not there has no entry.
    func columnNames(_ db: any SQLDatabase, tables: [String]) async throws -> [String: Set<String>]

    /// `tableNames(db, among: names, schemas: schemas)`, and the columns of those of them in the
    /// connection's schema (as `columnNames`), in one query on each engine: on PostgreSQL each costs a
    /// round trip, and the first on a new connection a cold read of the catalog; on SQLite a trip to
    /// SQLite's thread.
    func tablesAndColumns(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> (
        names: Set<String>, columns: [String: Set<String>]
    )

    /// Runs `body`, a run of commits on `db`, letting each commit skip its own wait for the disk where
    /// the engine can make them all durable at once at the end. Every commit `body` made is durable
    /// when this returns, and when it throws.
    func withCommitsDurableAtEnd<T: Sendable>(_ db: any SQLDatabase, _ body: () async throws -> T) async throws -> T

    /// True when `error` means the connection itself is gone, rather than a statement failing.
    func isConnectionLost(_ error: any Error) -> Bool
}

/// The migration runner's lock key on PostgreSQL: "migrate1" as a 64-bit integer.
let migrationLockKey: Int64 = 0x6D69_6772_6174_6531

/// An error that stands for a lost connection though it is not the driver's own (a caller's name for
/// it, thrown through an engine's lock): engines treat it as lost without knowing whose it is.
protocol ReportsConnectionLoss: Error {
    var isConnectionLoss: Bool { get }
}

/// The run lock was refused: `DATABASE_URL` goes through a transaction pooler, where a session-level
/// lock cannot hold (`PostgresEngine.refuseTransactionPooler`). Nothing was locked or run.
struct TransactionPoolerRefused: Error {}

extension DatabaseEngine {
    /// Those of `names` that are tables of the schema the connection works in.
    func tableNames(_ db: any SQLDatabase, among names: [String]) async throws -> Set<String> {
        try await tableNames(db, among: names, schemas: [])
    }

    /// The names of `table`'s columns (none when there is no such table), in one query.
    func columnNames(_ db: any SQLDatabase, table: String) async throws -> Set<String> {
        try await columnNames(db, tables: [table])[table] ?? []
    }

    /// True when `table` has a column named `column`.
    func columnExists(_ db: any SQLDatabase, table: String, column: String) async throws -> Bool {
        try await columnNames(db, table: table).contains(column)
    }
}

/// The connection `connectAhead` asked for, and when: handed to the first lease, once.
final class AheadConnection: Sendable {
    private let value = Mutex<(task: Task<Void, any Error>, since: ContinuousClock.Instant)?>(nil)

    func set(_ task: Task<Void, any Error>) {
        value.withLock { $0 = (task, ContinuousClock.now) }
    }

    func take() -> (task: Task<Void, any Error>, since: ContinuousClock.Instant)? {
        value.withLock { ahead in
            defer { ahead = nil }
            return ahead
        }
    }
}

/// `text` as an SQL string literal, its quotes doubled (both engines, PostgreSQL with
/// `standard_conforming_strings` on, its default). For the names the catalog questions ask about,
/// written into the query rather than bound: a bind goes through `Encodable` and the run-time casts of
/// its encoder, a cost on every command's first history read.
func sqlStringLiteral(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
}

/// The rows of an engine's `columnNames` query (`table_name`, `column_name`), by table.
func columnsByTable(_ rows: [any SQLRow]) throws -> [String: Set<String>] {
    var columns: [String: Set<String>] = [:]
    for row in rows {
        columns[try row.decode(column: "table_name", as: String.self), default: []].insert(
            try row.decode(column: "column_name", as: String.self))
    }
    return columns
}

/// `names` as a list of SQL string literals, for `IN (…)`.
func sqlStringLiterals(_ names: [String]) -> String {
    names.map(sqlStringLiteral).joined(separator: ", ")
}
