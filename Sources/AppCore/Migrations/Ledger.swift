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

    var byID: [String: AppliedMigration] {
        Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

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
