import Foundation
import Logging
import SQLKit
import Synchronization

/// Applies migrations one transaction each, one runner at a time across every instance.
///
/// The lock is the engine's (`DatabaseEngine.beginLocked`): a transaction-level advisory lock on
/// PostgreSQL, the write lock on SQLite. After the lock is held the history is read again, so a
/// migration another instance applied meanwhile is skipped. A `transaction:false` migration runs under
/// the engine's run lock (a session-level advisory lock; a lock file beside an SQLite database): its
/// history row is written first, marked running, and marked applied after its last statement.
public struct Migrator: Sendable {
    /// The server's own history table (`AppHistory`).
    public static let historyTable = AppHistory.table

    let database: AppDatabase
    private(set) var catalog: MigrationCatalog
    let lockTimeout: Duration
    let logger: Logger
    /// Told as each migration starts and ends (the command line prints it; the server counts it).
    public var onProgress: (@Sendable (MigrationProgress) -> Void)?
    /// How long the unlocked read that starts every run may take, connection wait included.
    static let historyReadTimeout = Duration.seconds(30)
    /// Told how long each wait for the runner lock took, once the lock is held (the server's metrics).
    public var onLockWait: (@Sendable (Duration) -> Void)?
    /// How a migration's statements wait for table locks (PostgreSQL; `LockPolicy`).
    public var lockPolicy = LockPolicy()
    /// What a run does with the linter's findings on what it is about to apply (`MIGRATION_LINT`).
    public var lintMode = LintMode.off
    public var linter = MigrationLinter()
    /// The start of the history, read ahead (`HistoryStart`), for a migrator that makes one run, status
    /// or dry run (a one-shot command's): its read without the lock takes it from there rather than ask
    /// again, and fails as it failed. The reads under the runner lock always ask.
    public var historyAhead: Task<HistoryStart, any Error>?

    var migrations: [Migration] { catalog.migrations }
    /// The folder's tool's history, kept beside the server's; nil for the built-in set.
    var toolHistory: (any ToolHistory)? { catalog.format?.history }
    /// The server's own history table.
    var history: AppHistory { AppHistory(engine: database.engine) }

    public init(database: AppDatabase, catalog: MigrationCatalog, lockTimeout: Duration, logger: Logger) {
        self.database = database
        self.catalog = catalog
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    public init(database: AppDatabase, migrations: [Migration], lockTimeout: Duration, logger: Logger) {
        self.init(
            database: database, catalog: MigrationCatalog(migrations: migrations), lockTimeout: lockTimeout,
            logger: logger)
    }

    // MARK: Reading

    public func status() async throws -> MigrationStatus {
        try await refreshed().readStatus()
    }

    /// This migrator with its folder as the folder is now (`MigrationCatalog.current()`), a shared
    /// layout read as the tool whose history the database holds: every run, status and command
    /// starts from it.
    func refreshed() async throws -> Migrator {
        var copy = self
        copy.catalog = catalog.current()
        if !copy.catalog.candidates.isEmpty {
            let unresolved = copy.catalog
            copy.catalog = try await database.withConnection { db in
                try await unresolved.resolved(db, engine: database.engine)
            }
        }
        return copy
    }

    private func readStatus() async throws -> MigrationStatus {
        try validCatalog()
        let start = try await historyAhead?.value
        let ledger = try await database.withConnection { db in try await readLedger(db, start: start) }
        var status = plan(ledger).status(migrations, ledger)
        if lintMode != .off, lints {
            let pending = Set(status.pending)
            status.lint = try await lintFindings(migrations.filter { pending.contains($0.id) })
        }
        return status
    }

    /// The linter's findings on what `migrate()` would apply now (PostgreSQL; none on SQLite), whatever
    /// `lintMode` says: `app migrate lint`.
    public func lint() async throws -> [LintFinding] {
        let current = try await refreshed()
        try current.validCatalog()
        guard current.lints else { return [] }
        let pending = try await current.database.withConnection { db in try await current.unlockedPlan(db).pending }
        return try await current.lintFindings(pending)
    }

    /// True where the linter applies: PostgreSQL (its rules are PostgreSQL's).
    public var lints: Bool { database.engine.kind == .postgres }

    func lintFindings(_ pending: [Migration]) async throws -> [LintFinding] {
        guard !pending.isEmpty else { return [] }
        let sources = MigrationSources(folder: catalog.folder)
        return try await database.withConnection { [linter] db in
            try await linter.findings(pending, sources: sources, db: db)
        }
    }

    /// Before a run applies `pending`: each warning logged (`warn`), or the first migration with one
    /// refused (`error`). Without PostgreSQL's parser (not built in, or not loaded) it lints nothing,
    /// and says so.
    private func checkLint(_ pending: [Migration]) async throws {
        guard lintMode != .off, lints, !pending.isEmpty else { return }
        if let reason = PostgresParser.unavailableReason {
            logger.warning("MIGRATION_LINT is set but nothing was linted: \(reason)")
            return
        }
        let warnings = try await lintFindings(pending).filter { $0.level == .warning }
        for finding in warnings {
            logger.warning(
                "migration lint",
                metadata: [
                    "migration": "\(finding.migration)", "line": "\(finding.line)", "rule": "\(finding.rule)",
                    "table": "\(finding.table ?? "")", "rows": "\(finding.rows.map(String.init) ?? "")",
                ])
        }
        if lintMode == .error, let first = warnings.first {
            var rules: [String] = []
            for finding in warnings where finding.migration == first.migration && !rules.contains(finding.rule) {
                rules.append(finding.rule)
            }
            throw MigrationError.refusedByLint(migration: first.migration, rules: rules)
        }
    }

    /// What `migrate()` would apply now, changing nothing. Throws where `migrate()` would
    /// (drift, interrupted, invalid), and `.lockTimeout` while a runner is inside a non-transactional migration.
    public func pending() async throws -> [String] {
        try await refreshed().readPending()
    }

    private func readPending() async throws -> [String] {
        try validCatalog()
        let start = try await historyAhead?.value
        return try await database.withConnection { db in try await unlockedPlan(db, start: start).pending }.map(\.id)
    }

    func validCatalog() throws {
        if let invalid = catalog.invalid { throw MigrationError.invalid(invalid) }
    }

    /// What the histories in `ledger` say is to be done with this migrator's set.
    func plan(_ ledger: Ledger) -> Plan {
        Plan(migrations, ledger, keepsToolHistory: toolHistory != nil)
    }

    /// The plan from the history as it is, and whether a run has history to bring up to date even with
    /// nothing pending (the legacy table to carry over, the tool's table to create, rows to adopt).
    private func unlockedPlan(_ db: any SQLDatabase, start: HistoryStart? = nil) async throws -> (
        pending: [Migration], needsReconcile: Bool
    ) {
        let ledger = try await readLedger(db, start: start)
        guard ledger.runningID != nil else {
            let plan = plan(ledger)
            return (try plan.checked(), plan.needsReconcile)
        }
        // A migration marked running: interrupted only if it still is once the run lock is ours (its
        // runner may have finished between the read and now). Held by another runner: it is in progress.
        let confirmed: [Migration]? = try await runLocked(db, deadline: .now) {
            let again = try await readLedger(db)
            if let running = again.runningID { throw MigrationError.interrupted(migration: running) }
            return try plan(again).checked()
        }
        guard let confirmed else { throw MigrationError.lockTimeout }
        return (confirmed, true)
    }

    // MARK: Applying

    /// Applies every pending migration and returns the ids this call applied, in order.
    public func migrate() async throws -> [String] {
        try await refreshed().applyPending()
    }

    private func applyPending() async throws -> [String] {
        try validCatalog()
        // Fast path without the lock: a committed history with nothing pending, and nothing to bring up
        // to date, needs no writer.
        do {
            // A read, bounded: a connection that stopped answering (a database dropped under it, say)
            // cannot hold the call; the connection wait itself is bounded by the engine.
            let now = try await withTimeout(Self.historyReadTimeout, waitingFor: "answer to the history read") {
                [self] in
                let start = try await historyAhead?.value
                return try await database.withConnection { db in try await unlockedPlan(db, start: start) }
            }
            if now.pending.isEmpty, !now.needsReconcile { return [] }
            try await checkLint(now.pending)
        } catch MigrationError.lockTimeout {
            // A runner is inside a non-transactional migration: wait for it below.
        }

        let deadline = ContinuousClock.now + lockTimeout
        // One connection for the whole run; still one transaction (and one lock) per migration.
        return try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout, reusable: false) { db in
            try await database.engine.withCommitsDurableAtEnd(db) { try await applyAll(db, deadline: deadline) }
        }
    }

    private func applyAll(_ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws -> [String] {
        var run = Run()
        if lockPolicy.lockWait != nil { run.session = try await database.engine.sessionID(db) }
        let retries = LockRetries(policy: lockPolicy, logger: logger)
        while true {
            let watch = run.session.map { LockWatch(database.engine, session: $0, policy: lockPolicy) }
            do {
                let done = try await step(db, deadline: deadline, run: &run, retries: retries, watch: watch)
                watch?.stop()
                if done { return run.applied }
            } catch MigrationError.blockedByLock(let id, _) {
                // Rolled back whole: pause, then read the history again and take it from there.
                try await retries.stopped(id, blocker: watch?.stop())
                run.known = nil
            } catch {
                watch?.stop()
                throw error
            }
        }
    }

    /// One migration (or the finding that there is none left, true): in one call, the long way, or
    /// outside a transaction.
    private func step(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, run: inout Run, retries: LockRetries,
        watch: LockWatch?
    ) async throws -> Bool {
        if try await applyWhole(db, run: &run) { return false }
        switch try await applyNext(db, deadline: deadline, run: &run) {
        case .done:
            return true
        case .applied(let row):
            applied(row, run: &run)
        case .busy:
            guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout }
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
        case .outsideTransaction(let migration):
            let stopped: (any Error) async throws -> Void = { _ in
                try await retries.stopped(migration.id, blocker: watch?.latest)
            }
            if try await applyOutsideTransaction(migration, db, deadline: deadline, stopped: stopped) {
                run.applied.append(migration.id)
            }
            run.known = nil
        }
        return false
    }

    /// One run of `migrate()` and what it has learnt so far: the history as it last saw it, and
    /// whether the engine takes a migration in one call.
    private struct Run {
        /// The history this run last saw, with the rows it appended since; nil: read it again. Rows
        /// are only appended (or change state, which the running count reveals), so while the table's
        /// fingerprint matches it, the rows are not fetched and decoded again (which would make a long
        /// run quadratic). The tool's table is written only with the server's rows, so the same check
        /// covers it.
        var known: Ledger?
        /// Whether the engine takes a migration as one statement; asked once, when first needed.
        var whole: Bool?
        /// The migration last reported as started, so that a retry does not report it twice.
        var announced: String?
        /// The ids applied, in order.
        var applied: [String] = []
        /// The run's database session (PostgreSQL's backend pid), watched for lock waits; nil: not watched.
        var session: Int?

        mutating func announce(_ migration: Migration, to onProgress: (@Sendable (MigrationProgress) -> Void)?) {
            guard announced != migration.id else { return }
            announced = migration.id
            onProgress?(.started(id: migration.id, transactional: migration.transactional))
        }
    }

    private enum Step {
        case done
        /// Committed with its rows.
        case applied(AppliedMigration)
        /// Another runner is inside a non-transactional migration.
        case busy
        /// The next migration runs outside a transaction (the transaction was closed).
        case outsideTransaction(Migration)
    }

    /// One transaction: lock, re-read the history (unless it is the one the run last saw), apply the
    /// first pending migration and its rows.
    private func applyNext(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, run: inout Run) async throws
        -> Step
    {
        try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
            let ledger: Ledger
            if let cached = run.known, try await history.unchanged(db, since: cached.rows) {
                ledger = cached
            } else {
                if run.known == nil { try await history.create(db, logger: logger) }
                ledger = try await reconcile(db)
            }
            run.known = ledger
            if let running = ledger.runningID {
                if try await database.engine.runLockIsFree(db) { throw MigrationError.interrupted(migration: running) }
                run.known = nil
                return .rollBack(.busy)
            }
            guard let migration = try plan(ledger).checked().first else { return .commit(.done) }
            guard migration.transactional else { return .commit(.outsideTransaction(migration)) }
            run.announce(migration, to: onProgress)
            return .commitFailingAs(migration.id, .applied(try await apply(migration, db)))
        }
    }

    /// The next transactional migrations in as few calls to the database as the engine takes
    /// (`WholeMigration`), when it takes them so and the history this run last read has a transactional
    /// migration next; each is reported as it commits. False when none ran: not such a case, another
    /// runner holds the lock, or the history changed; `applyNext` then takes the long way.
    private func applyWhole(_ db: any SQLDatabase, run: inout Run) async throws -> Bool {
        guard let upcoming = try upcoming(&run), upcoming.pending.first?.transactional == true else { return false }
        if run.whole == nil { run.whole = try await database.engine.sendsMigrationsWhole(db) }
        guard run.whole == true else { return false }
        let migrations = Array(upcoming.pending.prefix(while: \.transactional))
        let engine = database.engine.kind
        let tool = toolHistory
        // Each expects the history its predecessors leave.
        var expected = upcoming.expected
        let batch = migrations.map { migration in
            defer {
                expected.append(
                    AppliedMigration(
                        id: migration.id, checksum: migration.checksum, appliedAt: "", executionMs: 0, state: .applied))
            }
            return WholeMigration(
                migration: migration, expected: expected,
                toolStatements: { ms in tool?.appliedStatements(migration, executionMs: ms, engine: engine) ?? [] },
                policy: lockPolicy
            )
        }
        run.announce(migrations[0], to: onProgress)
        // Each as it commits: reported at once, and the next one's start (the call may run on).
        let committed = Committed()
        var failure: (any Error)?
        do {
            _ = try await database.engine.applyWhole(batch, db) { [onProgress, logger] index, executionMs in
                let row = AppliedMigration(
                    id: migrations[index].id, checksum: migrations[index].checksum, appliedAt: RFC3339.string(),
                    executionMs: executionMs, state: .applied)
                committed.rows.withLock { $0.append(row) }
                Self.report(row, onProgress: onProgress, logger: logger)
                if index + 1 < migrations.count {
                    let next = migrations[index + 1]
                    onProgress?(.started(id: next.id, transactional: next.transactional))
                }
            }
        } catch {
            failure = error
        }
        let rows = committed.rows.withLock { $0 }
        for row in rows {
            run.known?.append(row)
            run.applied.append(row.id)
        }
        if rows.count < migrations.count { run.announced = migrations[rows.count].id }
        // Each took the lock once, only tried: taken at once, or declined.
        for _ in rows { onLockWait?(.zero) }
        if let failure {
            // The migration after the last one committed failed.
            try await failing(as: migrations[min(rows.count, migrations.count - 1)].id) { throw failure }
        }
        return !rows.isEmpty
    }

    /// The rows a call committed, as it reports them from the database's thread.
    private final class Committed: Sendable {
        let rows = Mutex<[AppliedMigration]>([])
    }

    /// What the run applies next, planned once per read of the history and kept up to date as the run
    /// appends its rows; nil while the history must be read again, or a migration is marked running.
    /// (A function of its own, so that no copy of the rows outlives it: the run appends to them in place.)
    private func upcoming(_ run: inout Run) throws -> Ledger.Upcoming? {
        guard let known = run.known, known.runningID == nil else { return nil }
        if let planned = known.upcoming { return planned }
        let upcoming = Ledger.Upcoming(
            pending: try plan(known).checked()[...], expected: AppHistory.Fingerprint(known.rows))
        run.known?.upcoming = upcoming
        return upcoming
    }

    /// Reports `row`'s migration applied, once committed, and appends it to the history as the run knows it.
    private func applied(_ row: AppliedMigration, run: inout Run) {
        Self.report(row, onProgress: onProgress, logger: logger)
        run.known?.append(row)
        run.applied.append(row.id)
    }

    /// Tells of `row`'s migration, committed: its progress line, and the log.
    private static func report(
        _ row: AppliedMigration, onProgress: (@Sendable (MigrationProgress) -> Void)?, logger: Logger
    ) {
        onProgress?(.applied(id: row.id, executionMs: row.executionMs))
        logger.info("migration applied", metadata: ["migration": "\(row.id)", "executionMs": "\(row.executionMs)"])
    }

    /// The migration's statements and its history rows, inside the open transaction, which its caller
    /// commits. A failure of any of them is the migration's failure (500 with its id), unless the
    /// connection itself is gone: then the database is unavailable and the error goes up as it is.
    private func apply(_ migration: Migration, _ db: any SQLDatabase) async throws -> AppliedMigration {
        let started = ContinuousClock.now
        return try await failing(as: migration.id) {
            try await run(database.engine.lockSettings(lockPolicy), db)
            try await run(migration.statements, db)
            let row = AppliedMigration(
                id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(),
                executionMs: (ContinuousClock.now - started).milliseconds, state: .applied
            )
            try await history.insert(row, db)
            try await toolHistory?.recordApplied(
                migration, executionMs: row.executionMs, db, engine: database.engine.kind)
            return row
        }
    }

    /// A `transaction:false` migration, under the run lock held for all of it: re-check under the
    /// lock, write its row marked running, run its statements one by one, mark it applied.
    /// Returns false when another runner applied it meanwhile.
    private func applyOutsideTransaction(
        _ migration: Migration, _ db: any SQLDatabase, deadline: ContinuousClock.Instant,
        stopped: (any Error) async throws -> Void
    ) async throws -> Bool {
        try await underRunLock(db, deadline: deadline) {
            let stillPending = try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                let ledger = try await reconcile(db)
                if let running = ledger.runningID {
                    // We hold the run lock, so nobody is running it: it was interrupted.
                    throw MigrationError.interrupted(migration: running)
                }
                guard try plan(ledger).checked().first?.id == migration.id else { return .commit(false) }
                try await history.insert(
                    AppliedMigration(
                        id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0,
                        state: .running
                    ), db)
                try await toolHistory?.recordStarted(migration, db)
                return .commit(true)
            }
            guard stillPending else { return false }
            let started = ContinuousClock.now
            logger.info("migration started outside a transaction", metadata: ["migration": "\(migration.id)"])
            onProgress?(.started(id: migration.id, transactional: false))
            // From here a failure leaves the row marked running: statements may have taken effect.
            try await failing(as: migration.id) {
                try await database.engine.runOutsideTransaction(
                    migration.statements, policy: lockPolicy, db, stopped: stopped)
                let executionMs = (ContinuousClock.now - started).milliseconds
                try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                    try await history.markApplied(migration.id, executionMs: executionMs, db)
                    try await toolHistory?.recordApplied(
                        migration, executionMs: executionMs, db, engine: database.engine.kind)
                    return .commit(())
                }
            }
            logger.info("migration applied", metadata: ["migration": "\(migration.id)", "transactional": "false"])
            onProgress?(.applied(id: migration.id, executionMs: (ContinuousClock.now - started).milliseconds))
            return true
        }
    }
}
