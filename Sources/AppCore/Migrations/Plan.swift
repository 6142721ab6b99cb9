/// What a set of migrations and both histories, read at one moment, say is to be done. Pure: no
/// database, so each rule is tested on values (`PlanTests`). The run (`Migrator`), the status report,
/// the fast path's "anything to bring up to date?" and the reconciliation of the two histories all
/// read it, and none of them works it out again.
struct Plan: Sendable {
    /// Applied, in order of application: by the tool's table where it exists, else by the server's rows.
    let applied: [Migration]
    /// Neither applied nor marked running, in order of application.
    let pending: [Migration]
    /// Marked running (or interrupted) in either history.
    let running: String?
    /// The first applied migration whose file no longer matches a checksum in either history.
    let drifted: String?
    /// Recorded as applied by the folder's tool without a row of the server's: adopted, never run again.
    let toAdopt: [Migration]
    /// A row of the server's (not running) that the folder's tool no longer records: the tool rolled it
    /// back, so it is pending again once the row goes.
    let toForget: [Migration]
    /// The history needs bringing up to date even with nothing pending: the legacy table to carry over,
    /// the tool's table to create, rows to adopt or forget.
    let needsReconcile: Bool

    /// `keepsToolHistory`: the migrations are a folder's, whose tool's table is kept beside the server's.
    init(_ migrations: [Migration], _ ledger: Ledger, keepsToolHistory: Bool) {
        let byID = ledger.byID
        var applied: [Migration] = []
        var pending: [Migration] = []
        var drifted: String?
        var toAdopt: [Migration] = []
        var toForget: [Migration] = []
        for migration in migrations {
            let row = byID[migration.id]
            if ledger.isApplied(migration, rows: byID) {
                applied.append(migration)
                if drifted == nil,
                    (row.map { $0.checksum != migration.checksum } ?? false) || ledger.tool?.drifted == migration.id
                {
                    drifted = migration.id
                }
            } else if row?.isRunning != true {
                pending.append(migration)
            }
            guard let tool = ledger.tool else { continue }
            let toolApplied = tool.applied.contains(migration.id)
            if toolApplied, row == nil { toAdopt.append(migration) }
            if !toolApplied, let row, !row.isRunning { toForget.append(migration) }
        }
        self.applied = applied
        self.pending = pending
        self.running = ledger.runningID
        self.drifted = drifted
        self.toAdopt = toAdopt
        self.toForget = toForget
        needsReconcile =
            ledger.legacy || keepsToolHistory && (ledger.tool == nil || !toAdopt.isEmpty || !toForget.isEmpty)
    }

    /// The pending migrations, once no applied one has drifted.
    func checked() throws -> [Migration] {
        if let drifted { throw MigrationError.drift(migration: drifted) }
        return pending
    }

    /// Pending migrations whose version is lower than the highest applied one (a branch merged late).
    var outOfOrder: [Migration] {
        guard let highest = applied.map(\.orderKey).max(by: Migration.orderLess) else { return [] }
        return pending.filter { Migration.orderLess($0.orderKey, highest) }
    }

    /// The status report of `migrations` (the same set the plan was made of) and `ledger`.
    func status(_ migrations: [Migration], _ ledger: Ledger) -> MigrationStatus {
        let byID = ledger.byID
        let known = Set(migrations.map(\.id))
        let appliedIDs = Set(applied.map(\.id))
        // Applied rows: the server's own, and the tool's not taken over yet (shown as adopted).
        var rows = ledger.rows.filter { !$0.isRunning && (!known.contains($0.id) || appliedIDs.contains($0.id)) }
        for migration in applied where byID[migration.id] == nil {
            rows.append(
                AppliedMigration(
                    id: migration.id, checksum: migration.checksum, appliedAt: "", executionMs: 0, state: .adopted))
        }
        var interrupted = ledger.rows.filter(\.isRunning).map(\.id)
        if let toolRunning = ledger.tool?.interrupted, !interrupted.contains(toolRunning) {
            interrupted.append(toolRunning)
        }
        let waiting = pending.filter { $0.id != running }
        return MigrationStatus(
            applied: rows.sorted { $0.id < $1.id },
            pending: waiting.map(\.id),
            unknown: ledger.rows.map(\.id).filter { !known.contains($0) },
            interrupted: interrupted,
            outOfOrder: outOfOrder.filter { $0.id != running }.map(\.id),
            migrations: migrations.map { migration in
                let state: MigrationState =
                    interrupted.contains(migration.id)
                    ? .interrupted : appliedIDs.contains(migration.id) ? .applied : .pending
                return .init(id: migration.id, state: state, transactional: migration.transactional)
            }
        )
    }
}
