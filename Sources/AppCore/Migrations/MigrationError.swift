import Foundation

/// Why a migration call did not do what was asked.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    /// A migration failed; a transactional one was rolled back with its history row.
    case failed(migration: String)
    /// Another runner held the lock for longer than `MIGRATION_LOCK_TIMEOUT`.
    case lockTimeout
    /// An applied migration's checksum no longer matches its file (or code).
    case drift(migration: String)
    /// A migration run outside a transaction was cut short (or failed) and is still marked running.
    case interrupted(migration: String)
    /// The migrations folder cannot be used; nothing of it is applied.
    case invalid(MigrationsInvalid)
    /// `rollback` needs a down section this migration does not have.
    case noDownSection(migration: String)
    /// `resolve` was asked about a migration that is not marked interrupted.
    case notInterrupted(migration: String)
    /// `rollback` reached a history row whose migration is not in the folder.
    case unknownMigration(String)
    /// The history table (the server's, or the folder's tool's) is taken by a table of other columns,
    /// or the database holds another tool's history than the folder's; `tool` names that tool when known.
    case foreignHistory(table: String, tool: String? = nil)
    /// The connection to the database was lost while this migration ran; a transactional one was
    /// rolled back whole by the server, one outside a transaction stays marked running.
    case connectionLost(migration: String)
    /// A migration outside a transaction needs a session-level lock, and DATABASE_URL goes through a
    /// transaction pooler, where such a lock cannot hold. Nothing was applied.
    case transactionPooler
    /// A statement of this migration waited for a table lock past `MIGRATION_LOCK_WAIT`, on every try
    /// `MIGRATION_LOCK_RETRIES` allows; a transactional one was rolled back whole, one outside a
    /// transaction stays marked running. `blocker`: the session it waited for, when seen.
    case blockedByLock(migration: String, blocker: LockBlocker?)
    /// `MIGRATION_LINT=error` and the linter warns about this migration (`rules`, squawk's names);
    /// nothing was applied.
    case refusedByLint(migration: String, rules: [String])

    public var description: String {
        switch self {
        case .failed(let id): "migration \(id) failed"
        case .lockTimeout: "another migration runner held the lock past MIGRATION_LOCK_TIMEOUT"
        case .drift(let id): "applied migration \(id) no longer matches its checksum"
        case .interrupted(let id):
            "migration \(id) was interrupted outside a transaction; finish or undo it by hand, then run `app migrate resolve \(id) --applied` or `--rolled-back`"
        case .invalid(let problem): "migrations invalid: \(problem)"
        case .noDownSection(let id): "migration \(id) has no -- migrate:down section; nothing was rolled back"
        case .notInterrupted(let id): "migration \(id) is not marked interrupted; nothing to resolve"
        case .unknownMigration(let id):
            "the history holds \(id), which is not among the migrations; nothing was rolled back"
        case .foreignHistory(let table, let tool?):
            "the database holds \(tool)'s migration history (\(table)): it is kept by \(tool), not by the folder's tool; nothing was changed. Point DATABASE_URL at the right database, or MIGRATIONS_DIR at \(tool)'s folder"
        case .foreignHistory(let table, nil):
            "the table \(table) exists but is not laid out as this server (or the folder's tool) writes it; nothing was changed"
        case .connectionLost(let id): "the connection to the database was lost while migration \(id) ran"
        case .blockedByLock(let id, let blocker):
            "migration \(id) waited for a table lock past MIGRATION_LOCK_WAIT on every try"
                + (blocker.map { " (held by PostgreSQL process \($0.pid))" } ?? "")
                + "; nothing of its last try was applied. Finish or stop the transaction that holds the table, or try again later"
        case .refusedByLint(let id, let rules):
            "migration \(id) has lint warnings (\(rules.joined(separator: ", "))) and MIGRATION_LINT=error refuses it; nothing was applied. See `app migrate lint`"
        case .transactionPooler:
            "DATABASE_URL goes through a transaction pooler (PgBouncer with pool_mode = transaction, or the like): a migration outside a transaction needs a session-level lock, which cannot hold there; nothing was applied. Run migrations with a DATABASE_URL that reaches PostgreSQL directly (or through a session pooler)"
        }
    }
}

extension MigrationError: ReportsConnectionLoss {
    var isConnectionLoss: Bool {
        if case .connectionLost = self { return true }
        return false
    }
}

/// Every way a migration call can fail, for whoever reports it (the HTTP answer, `app migrate`'s exit
/// code, the metrics): each maps it with an exhaustive switch, so an error added here cannot go unmapped.
public enum MigrationFailure: Sendable {
    /// The migrator's own account of what went wrong.
    case migration(MigrationError)
    /// Anything else: the database could not be reached, or failed outside any migration.
    case databaseUnavailable

    public init(_ error: any Error) {
        if let error = error as? MigrationError {
            self = .migration(error)
        } else {
            self = .databaseUnavailable
        }
    }
}
