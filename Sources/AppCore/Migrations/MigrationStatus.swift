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
    /// The linter's findings on the pending migrations (PostgreSQL, `MIGRATION_LINT` not `off`); absent
    /// where nothing was linted.
    public var lint: [LintFinding]?
}
