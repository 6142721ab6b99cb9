/// A configuration problem that stops startup. Messages name the variable, never its value.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case invalidDatabaseURL(String)
    case invalidPort
    case invalidLockTimeout
    case invalidPoolSize
    case invalidPoolTimeout
    case invalidLogLevel
    case invalidLogFormat
    case invalidSQLiteJournalMode
    case invalidMetricsPort
    case invalidShutdownTimeout
    case invalidLockWait
    case invalidStatementTimeout
    case invalidLockRetries
    case invalidLintMode
    case invalidLintSmallTable
    case unreadableFile(String)
    /// One of TLS_CERT_FILE and TLS_KEY_FILE is set without the other: the one missing.
    case tlsIncomplete(missing: String)
    case invalidRequireTLS
    case invalidTrustProxy(String)

    public var description: String {
        switch self {
        case .invalidDatabaseURL(let reason):
            "DATABASE_URL is malformed: \(reason). Expected sqlite:///absolute/path, sqlite://relative/path or postgres://user:password@host:port/database"
        case .invalidPort:
            "PORT must be a whole number from 0 to 65535"
        case .invalidLockTimeout:
            "MIGRATION_LOCK_TIMEOUT must be a number of seconds from 0 to 3600"
        case .invalidPoolSize:
            "DATABASE_POOL_SIZE must be a whole number from 1 to 1000"
        case .invalidPoolTimeout:
            "DATABASE_POOL_TIMEOUT must be a number of seconds above 0, at most 3600"
        case .invalidLogLevel:
            "LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical"
        case .invalidLockWait:
            "MIGRATION_LOCK_WAIT must be a number of seconds from 0 (no bound) to 3600"
        case .invalidStatementTimeout:
            "MIGRATION_STATEMENT_TIMEOUT must be a number of seconds from 0 (no bound) to 86400"
        case .invalidLintMode:
            "MIGRATION_LINT must be off, warn or error"
        case .invalidLintSmallTable:
            "MIGRATION_LINT_SMALL_TABLE must be a whole number of rows, 0 or more"
        case .invalidLockRetries:
            "MIGRATION_LOCK_RETRIES must be a whole number from 0 to 100"
        case .invalidShutdownTimeout:
            "SHUTDOWN_TIMEOUT must be a number of seconds from 0 to 3600"
        case .invalidMetricsPort:
            "METRICS_PORT must be a whole number from 0 to 65535"
        case .invalidLogFormat:
            "LOG_FORMAT must be text or json"
        case .invalidSQLiteJournalMode:
            "SQLITE_JOURNAL_MODE must be wal or delete"
        case .unreadableFile(let name):
            "\(name) could not be read as UTF-8 text"
        case .tlsIncomplete(let missing):
            "\(missing) is not set: TLS needs both TLS_CERT_FILE and TLS_KEY_FILE"
        case .invalidRequireTLS:
            "REQUIRE_TLS must be 1, true, 0 or false"
        case .invalidTrustProxy(let entry):
            "TRUST_PROXY has an entry that is not an IP address or CIDR range: \(entry)"
        }
    }
}
