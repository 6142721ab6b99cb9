import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import Synchronization

/// A pooled PostgreSQL client. The runner lock is a transaction-level advisory lock.
struct PostgresEngine: DatabaseEngine {
    let client: PostgresClient
    let logger: Logger
    /// Finds out, with a connection of its own, why the pool lends none.
    let diagnosis: ConnectionDiagnosis
    /// Set as `run()` begins: PostgresNIO warns about a lease asked for before its pool runs.
    private let started = SharedFlag()
    /// The connection `connectAhead` asked for, for the first lease to wait for.
    private let ahead = AheadConnection()
    /// Whether the connections go through a transaction pooler, once a session lock has asked.
    private let pooler = PoolerFlag()
    /// False once the migration function could not be created, or a session did not have it.
    private let functionUsable = SharedFlag(true)

    var kind: SQLEngine { .postgres }

    /// How long a caller waits for a connection before giving up (`DATABASE_POOL_TIMEOUT`). The pool
    /// keeps retrying an unreachable server in the background; without this bound a request would wait
    /// forever.
    let leaseTimeout: Duration
    static let leaseTimeout = PostgresPool.defaultTimeout
    /// How long a caller waits for a lease before the diagnosis looks for a cause.
    static let diagnosisDelay = Duration.milliseconds(250)

    init(_ pg: PostgresLocation, pool: PostgresPool = PostgresPool(), logger: Logger) {
        var config = PostgresClient.Configuration(
            host: pg.host, port: pg.port, username: pg.username, password: pg.password?.value,
            database: pg.database, tls: Self.tls(for: pg.sslMode).client
        )
        config.options.connectTimeout = .seconds(5)
        config.options.maximumConnections = pool.size
        self.leaseTimeout = pool.timeout
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        self.client = PostgresClient(configuration: config, backgroundLogger: background)
        self.logger = logger
        self.diagnosis = ConnectionDiagnosis(pg, tls: Self.tls(for: pg.sslMode), logger: background)
    }

    /// The TLS `sslmode` asks for, and whether the server must offer it.
    static func tls(for mode: PostgresLocation.SSLMode) -> (
        configuration: TLSConfiguration?, required: Bool, client: PostgresClient.Configuration.TLS
    ) {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable:
            return (nil, false, .disable)
        case .allow, .prefer:
            tls.certificateVerification = .none
            return (tls, false, .prefer(tls))
        case .require:
            tls.certificateVerification = .none
            return (tls, true, .require(tls))
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return (tls, true, .require(tls))
        case .verifyFull:
            return (tls, true, .require(tls))
        }
    }

    func run() async {
        started.value.withLock { $0 = true }
        await client.run()
    }

    /// Whether `run()` has begun.
    var runs: Bool { started.value.withLock { $0 } }

    /// Lets the pool go first, for a caller that starts the pool and its work side by side without
    /// `AppDatabase.withRunning` (which starts the pool before the work).
    private func waitForRun() async throws {
        guard !started.value.withLock({ $0 }) else { return }
        for _ in 0..<100 where !started.value.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        try await Task.sleep(for: .milliseconds(1))  // past run()'s first steps
    }

    /// The pool's first connection, opened while the caller does other work, and lent to its first
    /// lease. It asks no diagnosis and reports no failure: the caller's own lease meets the same cause
    /// and reports it as it always has. Its wait ends when the pool stops or the first lease gives up
    /// on it. The lease is asked for at once, on the caller's thread (up to its first wait), so that the
    /// pool has begun opening the connection before the caller goes on to its own work.
    func connectAhead() {
        let task = Task.immediate { [self] in
            try await waitForRun()
            try await client.withConnection { _ in }
        }
        ahead.set(task)
    }

    /// Lends a pooled connection. When none comes within `diagnosisDelay`, a connection of the
    /// diagnosis's own asks the server why: an error the server sends (authentication, an unknown
    /// database, TLS refused) fails the caller at once with that cause; a refused or unanswered
    /// connection is retried until `wait` (default `leaseTimeout`) runs out, then reported with how
    /// long it was retried. Only the wait for a connection is bounded; work after the lease is never cut short.
    func withConnection<T: Sendable>(
        busyTimeout: Duration, wait: Duration?, reusable: Bool = true,
        _ body: @Sendable @escaping (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await waitForRun()
        let limit = wait ?? leaseTimeout
        let lease = LeaseState()
        let asked = ahead.take()
        // The pool opens a connection for each lease that finds none idle: the first waits for the one
        // asked for ahead, until its diagnosis would begin, and counts its wait from then.
        let start = asked?.since ?? ContinuousClock.now
        if let (task, since) = asked {
            let left = min(Self.diagnosisDelay, limit) - (ContinuousClock.now - since)
            if left > .zero {
                try? await abandoning(task) {
                    try await cancellableSleep(for: left)
                    throw CancellationError()
                }
            }
        }
        // The lease runs in a task of its own, so that giving up on it never waits for the pool to
        // notice the cancellation. The body runs only if the lease came before the caller gave up.
        let work = Task { [client] in
            try await client.withConnection { connection in
                guard lease.take() else { throw CancellationError() }
                return try await body(WatchedConnection(connection, queryLogLevel: .trace))
            }
        }
        return try await abandoning(
            work,
            watchdog: { [diagnosis] in
                // Once per lease: leaves no timer behind.
                let first = min(Self.diagnosisDelay, limit) - (ContinuousClock.now - start)
                if first > .zero { try await cancellableSleep(for: first) }
                var last: DatabaseConnectError?
                while !lease.isTaken {
                    let elapsed = ContinuousClock.now - start
                    var failure: DatabaseConnectError?
                    if elapsed >= limit {
                        if last == nil {
                            // Nothing learnt yet: one last, short look before calling it timed out. The
                            // process itself may have been held up past the limit (a loaded machine), and a
                            // refusal it has not read yet is the cause, not the clock.
                            switch await diagnosis.probe(
                                maxAge: .seconds(1), timeout: .seconds(1), until: .now + .seconds(1))
                            {
                            case .failed(let problem): last = problem
                            case .connected: last = diagnosis.failure(.poolExhausted)
                            case .unanswered: break
                            }
                        }
                        failure = last ?? diagnosis.failure(.timedOut)
                        failure?.waited = ContinuousClock.now - start
                    } else {
                        switch await diagnosis.probe(
                            maxAge: .seconds(1), timeout: min(.seconds(3), limit), until: start + limit)
                        {
                        case .unanswered:
                            continue  // the limit has passed; the loop reports it
                        case .connected:
                            last = diagnosis.failure(.poolExhausted)
                        case .failed(let problem):
                            if !problem.isRetried { failure = problem } else { last = problem }
                        }
                    }
                    if let failure {
                        // Give up only if the lease has not come meanwhile; if it has, the body runs and is awaited.
                        guard lease.abandon() else { return }
                        throw failure
                    }
                    let remaining = limit - (ContinuousClock.now - start)
                    if remaining > .zero { try await Task.sleep(for: min(.milliseconds(500), remaining)) }
                }
            })
    }

    /// A transaction-level advisory lock, so it is released at COMMIT and works behind a
    /// transaction-mode pooler; polled with `pg_try_`, so the wait is bounded by the deadline.
    /// (The run lock is a session lock on the same key, so taking this lock waits for it anyway.)
    func beginLocked(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, heldRunLock: Bool) async throws -> Bool {
        while true {
            try await db.raw("BEGIN").run()
            do {
                let row = try await db.raw("SELECT pg_try_advisory_xact_lock(\(bind: migrationLockKey)) AS locked")
                    .first()
                if try row?.decode(column: "locked", as: Bool.self) == true { return true }
                try await db.raw("ROLLBACK").run()
            } catch {
                try? await db.raw("ROLLBACK").run()
                throw error
            }
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
        }
    }

    /// A session-level advisory lock on the same key, polled with `pg_try_`; it conflicts with the
    /// transaction-level one, so transactional runners wait while it is held. A connection that dies
    /// releases it. Refused behind a transaction pooler, where it could not hold (`refuseTransactionPooler`).
    func withRunLock<T: Sendable>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T
    ) async throws -> T? {
        try await refuseTransactionPooler(db)
        while try await !tryLock(db) {
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
        }
        // Released whatever happens; a connection that is gone has released it already.
        do {
            let result = try await body()
            try? await unlock(db)
            return result
        } catch {
            if !isConnectionLost(error) { try? await unlock(db) }
            throw error
        }
    }

    /// A `DO` block or the migration function needs PL/pgSQL, installed in every database by default,
    /// and the right to use it, which an administrator may have revoked; and READ COMMITTED, the
    /// default isolation, for its history check (each checks that again itself). The function is
    /// created in the run's session here when it is not there yet; a role that may not create
    /// temporary objects goes on with `DO` blocks.
    func sendsMigrationsWhole(_ db: any SQLDatabase) async throws -> Bool {
        let row = try await db.raw(
            """
            SELECT has_language_privilege(oid, 'USAGE') AND current_setting('transaction_isolation') = 'read committed' AS usable,
                   \(unsafeRaw: PostgresMigrationFunction.exists) AS present
            FROM pg_language WHERE lanname = 'plpgsql'
            """
        ).first()
        guard let row, try row.decode(column: "usable", as: Bool.self) else { return false }
        if functionUsable.value.withLock({ $0 }), try !row.decode(column: "present", as: Bool.self) {
            do {
                try await db.raw("\(unsafeRaw: PostgresMigrationFunction.definition)").run()
            } catch let error where !isConnectionLost(error) {
                functionUsable.value.withLock { $0 = false }
                logger.debug(
                    "migrations go as DO blocks: the migration function cannot be created",
                    metadata: ["reason": "\(Self.describeError(error) ?? "\(error)")"])
            }
        }
        return true
    }

    /// Each migration as one call of the migration function (`PostgresMigrationFunction`), or as one
    /// `DO` block (`PostgresMigrationBlock`) where the session has no function.
    func applyWhole(
        _ batch: [WholeMigration], _ db: any SQLDatabase, applied: @escaping @Sendable (Int, Int64) -> Void
    ) async throws -> Int {
        for (index, whole) in batch.enumerated() {
            guard let executionMs = try await applyWhole(whole, db) else { return index }
            applied(index, executionMs)
        }
        return batch.count
    }

    /// One migration in one round trip; the run time is measured here, around the call. Nil: declined.
    private func applyWhole(_ whole: WholeMigration, _ db: any SQLDatabase) async throws -> Int64? {
        // A statement_timeout set inside the call would bound the statements after it, not the call.
        guard whole.policy.statementTimeout == nil else { return nil }
        let started = ContinuousClock.now
        if functionUsable.value.withLock({ $0 }), let call = PostgresMigrationFunction.call(whole, db: db) {
            do {
                try await db.raw(call).run()
                return (ContinuousClock.now - started).milliseconds
            } catch let error where PostgresMigrationBlock.declined(error) {
                return nil
            } catch let error where PostgresMigrationFunction.missing(error) {
                // Not in this session: a transaction pooler hands statements to other sessions, or a
                // migration discarded the session's temporary objects. Blocks from now on.
                functionUsable.value.withLock { $0 = false }
                logger.debug("migrations go as DO blocks: the session has no migration function")
            }
        }
        guard let block = PostgresMigrationBlock.render(whole, db: db) else { return nil }
        do {
            try await db.raw("\(unsafeRaw: block)").run()
        } catch let error where PostgresMigrationBlock.declined(error) {
            return nil
        }
        return (ContinuousClock.now - started).milliseconds
    }

    /// A statement sent alone is committed at the protocol's Sync, after the server reported it complete;
    /// an error there (a deferred constraint) comes after PostgresNIO already returned success, and it
    /// closes the connection (docs/reliability.md). So each statement runs in a transaction of its own,
    /// whose COMMIT reports its error, with the lock policy `SET LOCAL` in it; one stopped by
    /// `lock_timeout` is rolled back and, once `stopped` returns, tried again. One that may not run in a
    /// transaction block (SQLSTATE 25001: `CREATE INDEX CONCURRENTLY`, `VACUUM` …) is refused before it
    /// does anything, and is then sent alone, without the policy: such statements do not hold up the
    /// table's reads and writes while they wait, and one stopped half-way (an index build) would leave
    /// its work behind. Inside the file's own `BEGIN … COMMIT` each statement is sent as written, with
    /// the policy set after the file's BEGIN; a statement stopped there ends the file's transaction.
    func runOutsideTransaction(
        _ statements: [String], policy: LockPolicy, _ db: any SQLDatabase,
        stopped: (any Error) async throws -> Void
    ) async throws {
        var inFileTransaction = false
        for statement in statements {
            let sql = SQLQueryString("\(unsafeRaw: statement)")
            if TransactionControl.opensTransaction(statement) {
                try await db.raw(sql).run()
                inFileTransaction = true
                for setting in policy.settings { try await db.raw("\(unsafeRaw: setting)").run() }
                continue
            }
            if TransactionControl.endsTransaction(statement) {
                inFileTransaction = false
            } else if !inFileTransaction {
                try await runAlone(sql, policy: policy, db, stopped: stopped)
                continue
            }
            do {
                try await db.raw(sql).run()
            } catch {
                // The file's own transaction is over with its error, as a session's end would leave it.
                if inFileTransaction, !isConnectionLost(error) { try? await db.raw("ROLLBACK").run() }
                throw error
            }
        }
    }

    /// One statement in a transaction of its own (`runOutsideTransaction`).
    private func runAlone(
        _ sql: SQLQueryString, policy: LockPolicy, _ db: any SQLDatabase, stopped: (any Error) async throws -> Void
    ) async throws {
        while true {
            try await db.raw("BEGIN").run()
            do {
                for setting in policy.settings { try await db.raw("\(unsafeRaw: setting)").run() }
                try await db.raw(sql).run()
            } catch let error where Self.sqlState(error) == "25001" {
                try await db.raw("ROLLBACK").run()
                try await db.raw(sql).run()
                return
            } catch let error where isLockWaitTimeout(error) {
                try await db.raw("ROLLBACK").run()
                try await stopped(error)
                continue
            } catch {
                if !isConnectionLost(error) { try? await db.raw("ROLLBACK").run() }
                throw error
            }
            try await db.raw("COMMIT").run()
            return
        }
    }

    func lockSettings(_ policy: LockPolicy) -> [String] { policy.settings }

    /// 55P03 (lock_not_available): `lock_timeout` ran out, or a `NOWAIT` found the lock taken.
    func isLockWaitTimeout(_ error: any Error) -> Bool { Self.sqlState(error) == "55P03" }

    func sessionID(_ db: any SQLDatabase) async throws -> Int? { try await backendPID(db) }

    /// The oldest of the sessions `pid` waits for (`pg_blocking_pids`), on a pooled connection of its
    /// own, given a second at most; nil when it waits for none, or the question could not be asked.
    func blocker(of pid: Int) async -> LockBlocker? {
        let found = try? await withConnection(busyTimeout: .seconds(1), wait: .seconds(1)) { db -> LockBlocker? in
            guard
                let row = try await db.raw(
                    """
                    SELECT pid, left(query, 200) AS query,
                           (extract(epoch FROM now() - COALESCE(xact_start, query_start, backend_start)) * 1000)::bigint AS ms
                    FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(\(bind: pid)::integer))
                    ORDER BY COALESCE(xact_start, query_start, backend_start) LIMIT 1
                    """
                ).first()
            else { return nil }
            return LockBlocker(
                pid: try row.decode(column: "pid", as: Int.self),
                query: try row.decode(column: "query", as: String?.self) ?? "",
                runningMs: try row.decode(column: "ms", as: Int64?.self) ?? 0)
        }
        return found ?? nil
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Inside a transaction that holds the transaction-level lock this is always true; outside, it asks.
    func runLockIsFree(_ db: any SQLDatabase) async throws -> Bool {
        guard try await tryLock(db) else { return false }
        try await unlock(db)
        return true
    }

    /// A session-level lock needs every statement of the run on one server session. A transaction
    /// pooler (PgBouncer's `pool_mode = transaction`, and the like) hands each statement outside a
    /// transaction to whichever server connection is free: the lock would be taken on one session,
    /// released (or not) on another, and shared with any other client routed to the first. Found out
    /// before any lock is taken, from the server's own process ids: a second client connection that
    /// lands on our session, or our next statement landing on another one, can only be a pooler (a
    /// direct connection, or a session pooler, keeps one server process per client connection).
    /// The second connection is one of its own, outside the pool, which concurrent runners may have
    /// exhausted. Remembered once known, so the probe costs two round trips and one connection per process.
    private func refuseTransactionPooler(_ db: any SQLDatabase) async throws {
        switch pooler.value.withLock({ $0 }) {
        case .some(false): return
        case .some(true): throw TransactionPoolerRefused()
        case .none: break
        }
        let ours = try await backendPID(db)
        let other = try await diagnosis.separateBackendPID()
        let again = try await backendPID(db)
        let pooled = other == ours || again != ours
        pooler.value.withLock { $0 = pooled }
        if pooled { throw TransactionPoolerRefused() }
    }

    private func backendPID(_ db: any SQLDatabase) async throws -> Int {
        let row = try await db.raw("SELECT pg_backend_pid() AS pid").first()
        return try row?.decode(column: "pid", as: Int.self) ?? -1
    }

    private func tryLock(_ db: any SQLDatabase) async throws -> Bool {
        let row = try await db.raw("SELECT pg_try_advisory_lock(\(bind: migrationLockKey)) AS locked").first()
        return try row?.decode(column: "locked", as: Bool.self) == true
    }

    private func unlock(_ db: any SQLDatabase) async throws {
        try await db.raw("SELECT pg_advisory_unlock(\(bind: migrationLockKey))").run()
    }

    func tableNames(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> Set<String> {
        guard !names.isEmpty else { return [] }
        let among = sqlStringLiterals(names)
        var query = """
            SELECT c.relname::text AS table_name FROM \(PostgresCatalog.tables)
            AND \(PostgresCatalog.inConnectionSchema) AND c.relname::text IN (\(among))
            """
        if !schemas.isEmpty {
            query += """

                UNION ALL SELECT n.nspname || '.' || c.relname AS table_name FROM \(PostgresCatalog.tables)
                AND n.nspname IN (\(sqlStringLiterals(schemas))) AND c.relname::text IN (\(among))
                """
        }
        return Set(
            try await db.raw("\(unsafeRaw: query)").all().map { try $0.decode(column: "table_name", as: String.self) })
    }

    func columnNames(_ db: any SQLDatabase, tables: [String]) async throws -> [String: Set<String>] {
        guard !tables.isEmpty else { return [:] }
        return try columnsByTable(
            await db.raw(
                """
                SELECT c.relname::text AS table_name, a.attname::text AS column_name FROM \(unsafeRaw: PostgresCatalog.columns)
                AND n.nspname = current_schema() AND c.relname::text IN (\(unsafeRaw: sqlStringLiterals(tables)))
                """
            ).all())
    }

    /// One row for each relation found, its columns an array (`ARRAY(SELECT …)`): one relation of a
    /// tool's schema that is also the connection's has both names, as `tableNames` lists it twice.
    /// One round trip, and one plan on a new session's catalog not yet read, where `tableNames` and
    /// `columnNames` take two of each (by hand, in fresh psql sessions: 2.7–3.8 ms; the two written as
    /// one `UNION ALL`, 3.4–5.3 ms).
    func tablesAndColumns(_ db: any SQLDatabase, among names: [String], schemas: [String]) async throws -> (
        names: Set<String>, columns: [String: Set<String>]
    ) {
        guard !names.isEmpty else { return ([], [:]) }
        let here = PostgresCatalog.inConnectionSchema
        let inSchemas = schemas.isEmpty ? "false" : "n.nspname IN (\(sqlStringLiterals(schemas)))"
        let rows = try await db.raw(
            """
            SELECT CASE WHEN \(unsafeRaw: here) THEN c.relname::text END AS table_name,
            CASE WHEN \(unsafeRaw: inSchemas) THEN n.nspname || '.' || c.relname END AS qualified_name,
            CASE WHEN \(unsafeRaw: here) THEN ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND \(unsafeRaw: PostgresCatalog.columnListed)) END AS column_names
            FROM \(unsafeRaw: PostgresCatalog.tables)
            AND c.relname::text IN (\(unsafeRaw: sqlStringLiterals(names))) AND ((\(unsafeRaw: here)) OR \(unsafeRaw: inSchemas))
            """
        ).all()
        var found: Set<String> = []
        var columns: [String: Set<String>] = [:]
        for row in rows {
            if let qualified = try row.decode(column: "qualified_name", as: String?.self) { found.insert(qualified) }
            guard let table = try row.decode(column: "table_name", as: String?.self) else { continue }
            found.insert(table)
            let names = try row.decode(column: "column_names", as: [String].self)
            if !names.isEmpty { columns[table] = Set(names) }
        }
        return (found, columns)
    }

    func tableExists(_ db: any SQLDatabase, _ table: String) async throws -> Bool {
        try await db.raw(
            """
            SELECT 1 AS found FROM \(unsafeRaw: PostgresCatalog.tables)
            AND n.nspname = current_schema() AND c.relname = \(unsafeRaw: sqlStringLiteral(table))
            """
        ).first() != nil
    }

    /// Each commit waits for the server's own durability (`synchronous_commit`), as it is set.
    func withCommitsDurableAtEnd<T: Sendable>(_ db: any SQLDatabase, _ body: () async throws -> T) async throws -> T {
        try await body()
    }

    /// The connection closed, broke, or the server ended the session (SQLSTATE class 08, or 57P0x:
    /// an administrator's terminate, a shutdown, a crash).
    func isConnectionLost(_ error: any Error) -> Bool {
        if let reported = error as? any ReportsConnectionLoss { return reported.isConnectionLoss }
        guard let pg = error as? PSQLError else { return false }
        switch pg.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            let state = Self.sqlState(pg) ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P0")
        default:
            return false
        }
    }

    /// A log-safe account of an error from this engine: its message, never connection parameters.
    static func describeError(_ error: any Error) -> String? {
        guard let pg = error as? PSQLError else { return nil }
        let state = sqlState(pg) ?? "?"
        let message = pg.serverInfo?[.message] ?? "\(pg.code)"
        return "PostgreSQL \(state): \(message)"
    }
}

private final class SharedFlag: Sendable {
    let value: Mutex<Bool>
    init(_ initial: Bool = false) { value = Mutex(initial) }
}

private final class PoolerFlag: Sendable {
    let value = Mutex<Bool?>(nil)
}

/// Who wins between a lease arriving and its caller giving up on it: exactly one of them.
private final class LeaseState: Sendable {
    private enum State { case waiting, taken, abandoned }
    private let state = Mutex(State.waiting)

    var isTaken: Bool { state.withLock { $0 == .taken } }

    /// The lease arrived: true unless the caller gave up first.
    func take() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .taken
            return true
        }
    }

    /// The caller gives up: true unless the lease arrived first.
    func abandon() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .abandoned
            return true
        }
    }
}
