import Foundation
import Logging
import SQLKit

/// Both histories, read at one moment: the server's own and the folder's tool's.
struct Ledger: Sendable {
    /// The rows of `app_migrations`.
    var rows: [AppliedMigration]
    /// The tool's table; nil for the built-in set, or before the table exists.
    var tool: ToolLedger?

    /// The history is still in the legacy table (`schema_migrations` of earlier versions).
    var legacy = false

    /// A migration outside a transaction marked running (or interrupted), in either history.
    var runningID: String? { rows.first(where: \.isRunning)?.id ?? tool?.interrupted }

    var byID: [String: AppliedMigration] { Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }) }

    /// What a run applies next, and what it expects the history to hold meanwhile: worked out once
    /// per read of the history (`plan`) and kept up to date as the run appends its own rows, so that
    /// a long run does not plan again (and scan every row) for each migration. Nil until needed.
    var upcoming: Upcoming?

    struct Upcoming {
        var pending: ArraySlice<Migration>
        var expected: AppHistory.Fingerprint
    }

    /// `row` appended, as the run that wrote it saw it committed.
    mutating func append(_ row: AppliedMigration) {
        rows.append(row)
        tool?.applied.insert(row.id)
        guard var next = upcoming, next.pending.first?.id == row.id else {
            upcoming = nil
            return
        }
        next.pending.removeFirst()
        next.expected.append(row)
        upcoming = next
    }

    /// The tool's table decides when it exists; otherwise the server's rows do.
    func isApplied(_ migration: Migration, rows byID: [String: AppliedMigration]) -> Bool {
        if let tool { return tool.applied.contains(migration.id) }
        return byID[migration.id].map { !$0.isRunning } ?? false
    }
}

/// A run's progress, as it happens: for a person watching `app migrate`.
public enum MigrationProgress: Sendable, Equatable {
    /// The migration's statements are about to run.
    case started(id: String, transactional: Bool)
    /// It committed, with its history rows, after `executionMs`.
    case applied(id: String, executionMs: Int64)
}

/// A migration's state in a status report.
public enum MigrationState: String, Sendable, Codable {
    case applied, pending, interrupted
}

/// What `status` reports.
public struct MigrationStatus: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var id: String
        public var state: MigrationState
        public var transactional: Bool
    }

    public var applied: [AppliedMigration]
    /// In the order they would be applied.
    public var pending: [String]
    /// History rows with no migration in the set (applied by a newer build, or removed).
    public var unknown: [String]
    /// Marked running: in progress now, or interrupted.
    public var interrupted: [String]
    /// Pending migrations whose version is lower than the highest applied one (a branch merged late).
    public var outOfOrder: [String]
    /// Every migration of the set, in order of application.
    public var migrations: [Entry]
}

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
    let catalog: MigrationCatalog
    let lockTimeout: Duration
    let logger: Logger
    /// Told as each migration starts and ends (the command line prints it; the server counts it).
    public var onProgress: (@Sendable (MigrationProgress) -> Void)?
    /// How long the unlocked read that starts every run may take, connection wait included.
    static let historyReadTimeout = Duration.seconds(30)
    /// Told how long each wait for the runner lock took, once the lock is held (the server's metrics).
    public var onLockWait: (@Sendable (Duration) -> Void)?

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
        self.init(database: database, catalog: MigrationCatalog(migrations: migrations), lockTimeout: lockTimeout, logger: logger)
    }

    // MARK: Reading

    public func status() async throws -> MigrationStatus {
        try validCatalog()
        let ledger = try await database.withConnection { db in try await readLedger(db) }
        let byID = ledger.byID
        let known = Set(migrations.map(\.id))
        let running = ledger.runningID
        let applied = migrations.filter { ledger.isApplied($0, rows: byID) }
        let appliedIDs = Set(applied.map(\.id))
        let pending = migrations.filter { !appliedIDs.contains($0.id) && $0.id != running && byID[$0.id]?.isRunning != true }
        // Applied rows: the server's own, and the tool's not taken over yet (shown as adopted).
        var rows = ledger.rows.filter { !$0.isRunning && (!known.contains($0.id) || appliedIDs.contains($0.id)) }
        for migration in applied where byID[migration.id] == nil {
            rows.append(AppliedMigration(id: migration.id, checksum: migration.checksum, appliedAt: "", executionMs: 0, state: .adopted))
        }
        var interrupted = ledger.rows.filter(\.isRunning).map(\.id)
        if let toolRunning = ledger.tool?.interrupted, !interrupted.contains(toolRunning) { interrupted.append(toolRunning) }
        return MigrationStatus(
            applied: rows.sorted { $0.id < $1.id },
            pending: pending.map(\.id),
            unknown: ledger.rows.map(\.id).filter { !known.contains($0) },
            interrupted: interrupted,
            outOfOrder: outOfOrder(pending, applied: applied).map(\.id),
            migrations: migrations.map { migration in
                let state: MigrationState = interrupted.contains(migration.id) ? .interrupted : appliedIDs.contains(migration.id) ? .applied : .pending
                return .init(id: migration.id, state: state, transactional: migration.transactional)
            }
        )
    }

    /// What `migrate()` would apply now, changing nothing. Throws where `migrate()` would
    /// (drift, interrupted, invalid), and `.lockTimeout` while a runner is inside a non-transactional migration.
    public func pending() async throws -> [String] {
        try validCatalog()
        return try await database.withConnection { db in try await unlockedPlan(db).pending }.map(\.id)
    }

    private func validCatalog() throws {
        if let invalid = catalog.invalid { throw MigrationError.invalid(invalid) }
    }

    /// The plan from the history as it is, and whether a run has history to bring up to date even with
    /// nothing pending (the legacy table to carry over, the tool's table to create, rows to adopt).
    private func unlockedPlan(_ db: any SQLDatabase) async throws -> (pending: [Migration], needsReconcile: Bool) {
        let ledger = try await readLedger(db)
        guard ledger.runningID != nil else { return (try plan(ledger), needsReconcile(ledger)) }
        // A migration marked running: interrupted only if it still is once the run lock is ours (its
        // runner may have finished between the read and now). Held by another runner: it is in progress.
        let confirmed: [Migration]? = try await runLocked(db, deadline: .now) {
            let again = try await readLedger(db)
            if let running = again.runningID { throw MigrationError.interrupted(migration: running) }
            return try plan(again)
        }
        guard let confirmed else { throw MigrationError.lockTimeout }
        return (confirmed, true)
    }

    /// True when the two histories disagree in a way `reconcile` settles, or the legacy table is still there.
    private func needsReconcile(_ ledger: Ledger) -> Bool {
        if ledger.legacy { return true }
        guard toolHistory != nil else { return false }
        guard let tool = ledger.tool else { return true }
        let byID = ledger.byID
        return migrations.contains { migration in
            let ours = byID[migration.id].map { !$0.isRunning } ?? false
            return ours != tool.applied.contains(migration.id) && byID[migration.id]?.isRunning != true
        }
    }

    /// The pending migrations in order, after checking every applied one for drift.
    private func plan(_ ledger: Ledger) throws -> [Migration] {
        let byID = ledger.byID
        var pending: [Migration] = []
        for migration in migrations {
            if ledger.isApplied(migration, rows: byID) {
                if let row = byID[migration.id], row.checksum != migration.checksum { throw MigrationError.drift(migration: migration.id) }
                if ledger.tool?.drifted == migration.id { throw MigrationError.drift(migration: migration.id) }
            } else if byID[migration.id]?.isRunning != true {
                pending.append(migration)
            }
        }
        return pending
    }

    private func outOfOrder(_ pending: [Migration], applied: [Migration]) -> [Migration] {
        guard let highest = applied.map(\.orderKey).max(by: Migration.orderLess) else { return [] }
        return pending.filter { Migration.orderLess($0.orderKey, highest) }
    }

    // MARK: Applying

    /// Applies every pending migration and returns the ids this call applied, in order.
    public func migrate() async throws -> [String] {
        try validCatalog()
        // Fast path without the lock: a committed history with nothing pending, and nothing to bring up
        // to date, needs no writer.
        do {
            // A read, bounded: a connection that stopped answering (a database dropped under it, say)
            // cannot hold the call; the connection wait itself is bounded by the engine.
            let now = try await withTimeout(Self.historyReadTimeout, waitingFor: "answer to the history read") { [self] in
                try await database.withConnection { db in try await unlockedPlan(db) }
            }
            if now.pending.isEmpty, !now.needsReconcile { return [] }
        } catch MigrationError.lockTimeout {
            // A runner is inside a non-transactional migration: wait for it below.
        }

        let deadline = ContinuousClock.now + lockTimeout
        // One connection for the whole run; still one transaction (and one lock) per migration.
        return try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout) { db in
            try await database.engine.withCommitsDurableAtEnd(db) { try await applyAll(db, deadline: deadline) }
        }
    }

    private func applyAll(_ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws -> [String] {
        var applied: [String] = []
        var known: Ledger? = nil
        var run = RunState()
        while true {
            if let id = try await applyWhole(db, known: &known, run: &run) {
                applied.append(id)
                continue
            }
            switch try await applyNext(db, deadline: deadline, known: &known, run: &run) {
            case .done:
                return applied
            case .applied(let id):
                applied.append(id)
            case .busy:
                guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout }
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
            case .outsideTransaction(let migration):
                if try await applyOutsideTransaction(migration, db, deadline: deadline) { applied.append(migration.id) }
                known = nil
            }
        }
    }

    /// What one run has learnt so far.
    private struct RunState {
        /// Whether the engine takes a migration as one statement; asked once, when first needed.
        var whole: Bool?
        /// The migration last reported as started, so that a retry does not report it twice.
        var announced: String?

        mutating func announce(_ migration: Migration, to onProgress: (@Sendable (MigrationProgress) -> Void)?) {
            guard announced != migration.id else { return }
            announced = migration.id
            onProgress?(.started(id: migration.id, transactional: migration.transactional))
        }
    }

    private enum Step {
        case done
        case applied(String)
        /// Another runner is inside a non-transactional migration.
        case busy
        /// The next migration runs outside a transaction (the transaction was closed).
        case outsideTransaction(Migration)
    }

    /// One transaction: lock, re-read the history, apply the first pending migration and its row.
    /// `known` carries the history this call last saw: rows are only appended (or change state, which
    /// the running count reveals), so when count, greatest id and running count still match, the rows
    /// are not fetched and decoded again (which would make a long run quadratic). The tool's table is
    /// written only with the server's rows, so the same check covers it.
    private func applyNext(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, known: inout Ledger?, run: inout RunState) async throws -> Step {
        try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
            let ledger: Ledger
            if let cached = known, try await history.unchanged(db, since: cached.rows) {
                ledger = cached
            } else {
                if known == nil { try await history.create(db, logger: logger) }
                ledger = try await reconcile(db)
            }
            known = ledger
            if let running = ledger.runningID {
                let free = try await database.engine.runLockIsFree(db)
                try await db.raw("ROLLBACK").run()
                if free { throw MigrationError.interrupted(migration: running) }
                known = nil
                return .busy
            }
            guard let migration = try plan(ledger).first else {
                try await db.raw("COMMIT").run()
                return .done
            }
            guard migration.transactional else {
                try await db.raw("COMMIT").run()
                return .outsideTransaction(migration)
            }
            run.announce(migration, to: onProgress)
            let row = try await apply(migration, db)
            var next = ledger
            applied(row, to: &next)
            known = next
            return .applied(migration.id)
        }
    }

    /// The next migration in one call to the database (`WholeMigration`), when the engine takes one and
    /// the history this run last read has a transactional migration next. Nil when it did not run: not
    /// such a case, another runner holds the lock, or the history changed; `applyNext` then takes the long way.
    private func applyWhole(_ db: any SQLDatabase, known: inout Ledger?, run: inout RunState) async throws -> String? {
        guard var ledger = known, ledger.runningID == nil else { return nil }
        if ledger.upcoming == nil {
            ledger.upcoming = .init(
                pending: try plan(ledger)[...],
                expected: AppHistory.Fingerprint(ledger.rows)
            )
            known = ledger
        }
        guard let upcoming = ledger.upcoming, let migration = upcoming.pending.first, migration.transactional else { return nil }
        if run.whole == nil { run.whole = try await database.engine.sendsMigrationsWhole(db) }
        guard run.whole == true else { return nil }
        let engine = database.engine.kind
        let whole = WholeMigration(
            migration: migration, expected: upcoming.expected, appliedAt: RFC3339.string(),
            toolStatements: { ms in toolHistory?.appliedStatements(migration, executionMs: ms, engine: engine) ?? [] }
        )
        run.announce(migration, to: onProgress)
        let executionMs = try await failing(as: migration.id) { try await database.engine.applyWhole(whole, db) }
        guard let executionMs else { return nil }
        onLockWait?(.zero)  // the lock is only tried: taken at once, or declined above
        known = nil  // `ledger` is then the rows' only owner, and appends in place
        applied(AppliedMigration(
            id: migration.id, checksum: migration.checksum, appliedAt: whole.appliedAt, executionMs: executionMs, state: .applied
        ), to: &ledger)
        known = ledger
        return migration.id
    }

    /// Reports `row`'s migration applied, and appends it to the history as this run knows it.
    private func applied(_ row: AppliedMigration, to ledger: inout Ledger) {
        onProgress?(.applied(id: row.id, executionMs: row.executionMs))
        logger.info("migration applied", metadata: ["migration": "\(row.id)", "executionMs": "\(row.executionMs)"])
        ledger.append(row)
    }

    /// The migration's statements, its history rows and the COMMIT, inside the open transaction.
    /// A failure of any of them is the migration's failure (500 with its id), unless the connection
    /// itself is gone: then the database is unavailable and the error goes up as it is.
    private func apply(_ migration: Migration, _ db: any SQLDatabase) async throws -> AppliedMigration {
        let started = ContinuousClock.now
        return try await failing(as: migration.id) {
            try await run(migration.statements, db)
            let row = AppliedMigration(
                id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(),
                executionMs: (ContinuousClock.now - started).milliseconds, state: .applied
            )
            try await history.insert(row, db)
            try await toolHistory?.recordApplied(migration, executionMs: row.executionMs, db, engine: database.engine.kind)
            try await db.raw("COMMIT").run()
            return row
        }
    }

    /// A `transaction:false` migration, under the run lock held for all of it: re-check under the
    /// lock, write its row marked running, run its statements one by one, mark it applied.
    /// Returns false when another runner applied it meanwhile.
    private func applyOutsideTransaction(_ migration: Migration, _ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws -> Bool {
        try await underRunLock(db, deadline: deadline) {
            let stillPending = try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                let ledger = try await reconcile(db)
                if let running = ledger.runningID {
                    // We hold the run lock, so nobody is running it: it was interrupted.
                    throw MigrationError.interrupted(migration: running)
                }
                guard try plan(ledger).first?.id == migration.id else {
                    try await db.raw("COMMIT").run()
                    return false
                }
                try await history.insert(AppliedMigration(
                    id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0,
                    state: .running
                ), db)
                try await toolHistory?.recordStarted(migration, db)
                try await db.raw("COMMIT").run()
                return true
            }
            guard stillPending else { return false }
            let started = ContinuousClock.now
            logger.info("migration started outside a transaction", metadata: ["migration": "\(migration.id)"])
            onProgress?(.started(id: migration.id, transactional: false))
            // From here a failure leaves the row marked running: statements may have taken effect.
            try await failing(as: migration.id) {
                try await run(migration.statements, db)
                let executionMs = (ContinuousClock.now - started).milliseconds
                try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                    try await history.markApplied(migration.id, executionMs: executionMs, db)
                    try await toolHistory?.recordApplied(migration, executionMs: executionMs, db, engine: database.engine.kind)
                    try await db.raw("COMMIT").run()
                }
            }
            logger.info("migration applied", metadata: ["migration": "\(migration.id)", "transactional": "false"])
            onProgress?(.applied(id: migration.id, executionMs: (ContinuousClock.now - started).milliseconds))
            return true
        }
    }

    /// Opens a transaction holding the runner lock (or throws `.lockTimeout`) and runs `body`, which
    /// ends it with COMMIT; an error rolls it back.
    private func inLockedTransaction<T>(
        _ db: any SQLDatabase, deadline: ContinuousClock.Instant, heldRunLock: Bool, _ body: () async throws -> T
    ) async throws -> T {
        let waitStarted = ContinuousClock.now
        guard try await database.engine.beginLocked(db, deadline: deadline, heldRunLock: heldRunLock) else {
            throw MigrationError.lockTimeout
        }
        onLockWait?(ContinuousClock.now - waitStarted)
        do {
            return try await body()
        } catch {
            await rollBackTransaction(db, after: error)
            throw error
        }
    }

    /// Runs `body` under the run lock, or throws `.lockTimeout` when it cannot be had by `deadline`.
    private func underRunLock<T: Sendable>(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T) async throws -> T {
        guard let result = try await runLocked(db, deadline: deadline, body) else { throw MigrationError.lockTimeout }
        return result
    }

    /// The engine's run lock, with a transaction pooler's refusal named as the migrator names it.
    private func runLocked<T: Sendable>(_ db: any SQLDatabase, deadline: ContinuousClock.Instant, _ body: () async throws -> T) async throws -> T? {
        do {
            return try await database.engine.withRunLock(db, deadline: deadline, body)
        } catch is TransactionPoolerRefused {
            throw MigrationError.transactionPooler
        }
    }

    /// Ends the open transaction after `error`. Nothing is sent on a lost connection: the server already
    /// rolled the transaction back, and a query sent on a closing connection may never be answered.
    private func rollBackTransaction(_ db: any SQLDatabase, after error: any Error) async {
        guard !database.engine.isConnectionLost(error) else { return }
        try? await db.raw("ROLLBACK").run()
    }

    /// Runs `body`; an error becomes `.failed(migration:)`, or `.connectionLost(migration:)` when the
    /// connection went, logged with its cause.
    private func failing<T>(as id: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as MigrationError {
            throw error
        } catch {
            let lost = database.engine.isConnectionLost(error)
            logger.error(lost ? "connection lost during a migration" : "migration failed",
                         metadata: ["migration": "\(id)", "cause": "\(AppDatabase.describe(error))"])
            throw lost ? MigrationError.connectionLost(migration: id) : MigrationError.failed(migration: id)
        }
    }

    private func run(_ statements: [String], _ db: any SQLDatabase) async throws {
        for statement in statements {
            try await db.raw("\(unsafeRaw: statement)").run()
        }
    }

    // MARK: Rolling back and resolving (command line only)

    /// Runs the down sections of the `steps` newest applied migrations (by version), newest first, each
    /// with the removal of its history rows in one transaction. Refuses, changing nothing, when one of
    /// them has no down section. Returns the ids rolled back.
    public func rollback(steps: Int) async throws -> [String] {
        try validCatalog()
        let deadline = ContinuousClock.now + lockTimeout
        return try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout) { db in
            let ledger = try await lockedLedger(db, deadline: deadline)
            if let running = ledger.runningID { throw MigrationError.interrupted(migration: running) }
            let known = Set(migrations.map(\.id))
            if let unknown = ledger.rows.first(where: { !known.contains($0.id) }) { throw MigrationError.unknownMigration(unknown.id) }
            let byID = ledger.byID
            let applied = Array(migrations.filter { ledger.isApplied($0, rows: byID) }.reversed())
            let targets = applied.prefix(max(0, steps))
            if let missing = targets.first(where: { $0.down == nil }) { throw MigrationError.noDownSection(migration: missing.id) }
            var done: [String] = []
            for (index, migration) in targets.enumerated() {
                let previous = index + 1 < applied.count ? applied[index + 1] : nil
                try await rollBack(migration, previous: previous, db, deadline: deadline)
                done.append(migration.id)
                logger.info("migration rolled back", metadata: ["migration": "\(migration.id)"])
            }
            return done
        }
    }

    /// `previous`: the newest migration still applied after this one is rolled back.
    private func rollBack(_ migration: Migration, previous: Migration?, _ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws {
        let statements = migration.down ?? []
        let forget = { () async throws in
            try await history.delete(migration.id, db)
            try await toolHistory?.recordRolledBack(migration, previous: previous, db, engine: database.engine.kind)
        }
        if migration.downTransactional {
            try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
                try await failing(as: migration.id) {
                    try await run(statements, db)
                    try await forget()
                    try await db.raw("COMMIT").run()
                }
            }
        } else {
            try await underRunLock(db, deadline: deadline) {
                try await failing(as: migration.id) {
                    try await run(statements, db)
                    try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                        try await forget()
                        try await db.raw("COMMIT").run()
                    }
                }
            }
        }
    }

    /// Clears an interrupted migration: `applied` keeps its row (it was finished by hand), otherwise the
    /// row is removed (it was undone by hand) and the migration is pending again. The tool's history
    /// is set to match.
    public func resolve(_ id: String, applied: Bool) async throws {
        let deadline = ContinuousClock.now + lockTimeout
        try await database.withConnection(busyTimeout: SQLiteEngine.lockPollBusyTimeout) { db in
            try await underRunLock(db, deadline: deadline) {
                try await inLockedTransaction(db, deadline: deadline, heldRunLock: true) {
                    try await history.create(db, logger: logger)
                    let ledger = try await reconcile(db)
                    let row = ledger.byID[id]
                    guard row?.isRunning == true || ledger.tool?.interrupted == id else { throw MigrationError.notInterrupted(migration: id) }
                    let migration = migrations.first(where: { $0.id == id })
                    if toolHistory != nil, migration == nil { throw MigrationError.unknownMigration(id) }
                    if applied {
                        if row != nil {
                            try await history.markApplied(id, db)
                        } else if let migration {
                            try await history.insert(AppliedMigration(
                                id: id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0, state: .adopted
                            ), db)
                        }
                        if let migration { try await toolHistory?.recordApplied(migration, executionMs: 0, db, engine: database.engine.kind) }
                    } else {
                        try await history.delete(id, db)
                        if let migration {
                            let byID = ledger.byID
                            let previous = migrations.last { $0.id != id && ledger.isApplied($0, rows: byID) }
                            try await toolHistory?.recordRolledBack(migration, previous: previous, db, engine: database.engine.kind)
                        }
                    }
                    try await db.raw("COMMIT").run()
                }
            }
        }
        logger.info("interrupted migration resolved", metadata: ["migration": "\(id)", "as": "\(applied ? "applied" : "rolled back")"])
    }

    // MARK: The history table

    /// Both histories under the runner lock, reconciled, the table created (or carried over) first.
    private func lockedLedger(_ db: any SQLDatabase, deadline: ContinuousClock.Instant) async throws -> Ledger {
        try await inLockedTransaction(db, deadline: deadline, heldRunLock: false) {
            try await history.create(db, logger: logger)
            let ledger = try await reconcile(db)
            try await db.raw("COMMIT").run()
            return ledger
        }
    }

    /// Both histories as they are; writes nothing.
    /// Before the first run of this version the server's history is still in the legacy table, and read there.
    private func readLedger(_ db: any SQLDatabase) async throws -> Ledger {
        let oursExists = try await history.exists(db)
        let legacy = oursExists ? false : try await history.hasLegacy(db)
        let rows = oursExists ? try await history.rows(db) : legacy ? try await history.rows(db, table: AppHistory.legacyTable) : []
        guard let tool = toolHistory, try await tool.exists(db, engine: database.engine) else { return Ledger(rows: rows, tool: nil, legacy: legacy) }
        // Before the first run, `schema_migrations` may still be this server's own legacy history.
        if tool.table == AppHistory.legacyTable, legacy { return Ledger(rows: rows, tool: nil, legacy: legacy) }
        return Ledger(rows: rows, tool: try await readTool(tool, db), legacy: legacy)
    }

    private func readTool(_ tool: any ToolHistory, _ db: any SQLDatabase) async throws -> ToolLedger {
        guard try await tool.isToolsTable(db, engine: database.engine) else { throw MigrationError.foreignHistory(table: tool.table) }
        do {
            return try await tool.read(db, migrations: migrations, engine: database.engine.kind)
        } catch let error where !database.engine.isConnectionLost(error) && !(error is CancellationError) {
            // Not the columns the folder's tool writes: another tool's table of the same name.
            throw MigrationError.foreignHistory(table: tool.table)
        }
    }

    /// Under the runner lock (inside its transaction, the server's table in place): brings the two
    /// histories into agreement, the tool's deciding.
    /// - No tool table yet: it is created and filled from the server's rows.
    /// - A migration the tool records as applied without a row here gets one, marked adopted (the
    ///   tool applied it: before the switch, or while it had taken over again); nothing runs again.
    /// - A row here whose migration the tool does not count as applied (the tool rolled it back) is
    ///   removed, and the migration is pending again.
    private func reconcile(_ db: any SQLDatabase) async throws -> Ledger {
        var rows = try await history.rows(db)
        guard let tool = toolHistory else { return Ledger(rows: rows, tool: nil) }
        let engine = database.engine.kind
        var byID = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        if try await !tool.exists(db, engine: database.engine) {
            try await tool.create(db, engine: engine)
            try await tool.backfill(migrations.filter { byID[$0.id].map { !$0.isRunning } ?? false }, db, engine: engine)
            if let running = rows.first(where: \.isRunning), let migration = migrations.first(where: { $0.id == running.id }) {
                try await tool.recordStarted(migration, db)
            }
        }
        let ledger = try await readTool(tool, db)
        var changed = false
        for migration in migrations where ledger.applied.contains(migration.id) && byID[migration.id] == nil {
            try await history.insert(AppliedMigration(
                id: migration.id, checksum: migration.checksum, appliedAt: RFC3339.string(), executionMs: 0, state: .adopted
            ), db)
            changed = true
            logger.notice("migration adopted from \(tool.table)", metadata: ["migration": "\(migration.id)"])
        }
        for migration in migrations where !ledger.applied.contains(migration.id) {
            guard let row = byID[migration.id], !row.isRunning else { continue }
            try await history.delete(migration.id, db)
            changed = true
            logger.notice("migration pending again: \(tool.table) no longer records it", metadata: ["migration": "\(migration.id)"])
        }
        if changed {
            rows = try await history.rows(db)
            byID = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
        return Ledger(rows: rows, tool: ledger)
    }
}
