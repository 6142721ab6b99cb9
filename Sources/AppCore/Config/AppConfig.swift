import Configuration
import Foundation
import Logging

/// The deployment environment. Unknown names are treated as production, the strictest.
public enum AppEnvironment: String, Sendable, CaseIterable {
    case production, staging, development, test

    public init(name: String) {
        self = AppEnvironment(rawValue: name.lowercased()) ?? .production
    }
}

/// How log lines are written.
public enum LogFormat: String, Sendable {
    case text, json
}

/// Every setting the app reads, read once at startup.
public struct AppConfig: Sendable, CustomStringConvertible {
    /// The name given in `APP_ENV` or `--env`; it picks the `.env.<name>` files.
    public var environmentName: String
    /// How the app behaves: derived from `environmentName`, so the two cannot disagree.
    public var environment: AppEnvironment { AppEnvironment(name: environmentName) }
    public var host: String
    public var port: Int
    public var database: DatabaseLocation
    /// `SQLITE_JOURNAL_MODE`: the journal mode an SQLite database is kept in (default `wal`).
    public var sqliteJournalMode: SQLiteJournalMode
    /// `DATABASE_POOL_SIZE` and `DATABASE_POOL_TIMEOUT`: PostgreSQL's pool (ignored for SQLite).
    public var databasePool: PostgresPool
    public var migrationSecret: Secret?
    public var nextAuthSecret: Secret?
    public var authSecret: Secret?
    /// `AUTH_SECRET_1`, `AUTH_SECRET_2`, `AUTH_SECRET_3` in that order (nil where unset): Auth.js's rotation list.
    public var numberedAuthSecrets: [Secret?]
    public var sentryDSN: Secret?
    public var sentryRelease: String?
    /// How long a migration call waits for another runner before answering 409.
    public var migrationLockTimeout: Duration
    /// `MIGRATION_LOCK_WAIT`, `MIGRATION_STATEMENT_TIMEOUT`, `MIGRATION_LOCK_RETRIES`: how a migration's
    /// statements wait for table locks on PostgreSQL.
    public var lockPolicy: LockPolicy
    /// `MIGRATION_LINT` (default `warn`) and `MIGRATION_LINT_SMALL_TABLE` (default 10 000 rows).
    public var lintMode: LintMode
    public var lintSmallTable: Int
    public var logLevel: Logger.Level
    /// True when `LOG_LEVEL` was given; one-shot commands log at `warning` otherwise (their output says it all).
    public var logLevelIsSet: Bool
    /// `LOG_FORMAT`: `text` (the default) or `json`, one object per line.
    public var logFormat: LogFormat
    /// A folder of migration files (relative to the working directory); nil: the built-in set.
    public var migrationsDir: String?
    /// `MIGRATIONS_FORMAT`: the folder's format by name, as written (checked when the folder is read);
    /// nil: recognised from the folder.
    public var migrationsFormat: String?
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE` (PEM): the server speaks HTTPS (and HTTP/2) when both are set.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// `REQUIRE_TLS=1`: plain HTTP on a non-loopback address in production is an error, not a warning.
    public var requireTLS: Bool
    /// `TRUST_PROXY`: the proxies whose `X-Forwarded-*`/`Forwarded` headers are believed.
    public var trustedProxies: TrustedProxies
    /// `METRICS_PORT`: Prometheus `/metrics` on its own port, bound to `host`; nil (unset): off.
    public var metricsPort: Int?
    /// `SHUTDOWN_TIMEOUT`: how long SIGTERM waits for the migration runs in progress (default 30 s).
    public var shutdownTimeout: Duration

    public var servesTLS: Bool { tlsCertFile != nil && tlsKeyFile != nil }

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 8080
    public static let defaultEnvironmentName = "development"

    public init(
        environmentName: String = AppConfig.defaultEnvironmentName,
        host: String = AppConfig.defaultHost,
        port: Int = AppConfig.defaultPort,
        database: DatabaseLocation = .sqlite(path: DatabaseLocation.defaultSQLitePath),
        sqliteJournalMode: SQLiteJournalMode = .wal,
        databasePool: PostgresPool = PostgresPool(),
        migrationSecret: Secret? = nil,
        nextAuthSecret: Secret? = nil,
        authSecret: Secret? = nil,
        numberedAuthSecrets: [Secret?] = [],
        sentryDSN: Secret? = nil,
        sentryRelease: String? = nil,
        migrationLockTimeout: Duration = .seconds(30),
        lockPolicy: LockPolicy = LockPolicy(),
        lintMode: LintMode = .warn,
        lintSmallTable: Int = MigrationLinter.defaultSmallTable,
        logLevel: Logger.Level = .info,
        logLevelIsSet: Bool = false,
        logFormat: LogFormat = .text,
        migrationsDir: String? = nil,
        migrationsFormat: String? = nil,
        tlsCertFile: String? = nil,
        tlsKeyFile: String? = nil,
        requireTLS: Bool = false,
        trustedProxies: TrustedProxies = TrustedProxies(),
        metricsPort: Int? = nil,
        shutdownTimeout: Duration = .seconds(30)
    ) {
        self.environmentName = environmentName
        self.host = host
        self.port = port
        self.database = database
        self.sqliteJournalMode = sqliteJournalMode
        self.databasePool = databasePool
        self.migrationSecret = migrationSecret
        self.nextAuthSecret = nextAuthSecret
        self.authSecret = authSecret
        self.numberedAuthSecrets = numberedAuthSecrets
        self.sentryDSN = sentryDSN
        self.sentryRelease = sentryRelease
        self.migrationLockTimeout = migrationLockTimeout
        self.lockPolicy = lockPolicy
        self.lintMode = lintMode
        self.lintSmallTable = lintSmallTable
        self.logLevel = logLevel
        self.logLevelIsSet = logLevelIsSet
        self.logFormat = logFormat
        self.migrationsDir = migrationsDir
        self.migrationsFormat = migrationsFormat
        self.tlsCertFile = tlsCertFile
        self.tlsKeyFile = tlsKeyFile
        self.requireTLS = requireTLS
        self.trustedProxies = trustedProxies
        self.metricsPort = metricsPort
        self.shutdownTimeout = shutdownTimeout
    }

    /// The session-signing keys that are set, each with the variable it came from.
    /// The migration gate refuses a `MIGRATION_SECRET` equal to any of them.
    public var sessionKeys: [(variable: String, secret: Secret)] {
        let numbered = numberedAuthSecrets.enumerated().map { ("AUTH_SECRET_\($0.offset + 1)", $0.element) }
        return ([("NEXTAUTH_SECRET", nextAuthSecret), ("AUTH_SECRET", authSecret)] + numbered).compactMap {
            name, secret in
            secret.map { (name, $0) }
        }
    }

    /// Auth.js v5's key list, built as `@auth/core`'s `setEnvDefaults` builds `config.secret`: `AUTH_SECRET`
    /// (here falling back to `NEXTAUTH_SECRET`, as `next-auth` v5 does) first, then each of `AUTH_SECRET_1..3`
    /// that is set put in front. So the list is `AUTH_SECRET_3, AUTH_SECRET_2, AUTH_SECRET_1, AUTH_SECRET`
    /// (the ones set): its first key encrypts new tokens, any of them decrypts.
    public var authJSKeys: [Secret] {
        var keys = [authSecret ?? nextAuthSecret].compactMap { $0 }
        for secret in numberedAuthSecrets.compactMap({ $0 }) { keys.insert(secret, at: 0) }
        return keys
    }

    public var description: String {
        "AppConfig(environment: \(environmentName), host: \(host), port: \(port), database: \(database), "
            + "MIGRATION_SECRET: \(migrationSecret == nil ? "unset" : "<redacted>"), "
            + "NEXTAUTH_SECRET: \(nextAuthSecret == nil ? "unset" : "<redacted>"), "
            + "AUTH_SECRET: \(authSecret == nil ? "unset" : "<redacted>"), "
            + numberedAuthSecrets.enumerated().compactMap {
                $0.element == nil ? nil : "AUTH_SECRET_\($0.offset + 1): <redacted>, "
            }.joined()
            + "SENTRY_DSN: \(sentryDSN == nil ? "unset" : "<redacted>"))"
    }

    /// Every variable the app reads, and whether its value is a secret. The one list: the reader
    /// redacts exactly these, and nothing else declares secrecy.
    public enum Variable: String, CaseIterable, Sendable {
        case appEnv = "APP_ENV"
        case host = "HOST"
        case port = "PORT"
        case databaseURL = "DATABASE_URL"
        case migrationSecret = "MIGRATION_SECRET"
        case nextAuthSecret = "NEXTAUTH_SECRET"
        case authSecret = "AUTH_SECRET"
        case authSecret1 = "AUTH_SECRET_1"
        case authSecret2 = "AUTH_SECRET_2"
        case authSecret3 = "AUTH_SECRET_3"
        case sentryDSN = "SENTRY_DSN"
        case sentryRelease = "SENTRY_RELEASE"
        case migrationLockTimeout = "MIGRATION_LOCK_TIMEOUT"
        case migrationLockWait = "MIGRATION_LOCK_WAIT"
        case migrationStatementTimeout = "MIGRATION_STATEMENT_TIMEOUT"
        case migrationLockRetries = "MIGRATION_LOCK_RETRIES"
        case migrationLint = "MIGRATION_LINT"
        case migrationLintSmallTable = "MIGRATION_LINT_SMALL_TABLE"
        case logLevel = "LOG_LEVEL"
        case logFormat = "LOG_FORMAT"
        case migrationsDir = "MIGRATIONS_DIR"
        case migrationsFormat = "MIGRATIONS_FORMAT"
        case tlsCertFile = "TLS_CERT_FILE"
        case tlsKeyFile = "TLS_KEY_FILE"
        case requireTLS = "REQUIRE_TLS"
        case trustProxy = "TRUST_PROXY"
        case metricsPort = "METRICS_PORT"
        case shutdownTimeout = "SHUTDOWN_TIMEOUT"
        case sqliteJournalMode = "SQLITE_JOURNAL_MODE"
        case databasePoolSize = "DATABASE_POOL_SIZE"
        case databasePoolTimeout = "DATABASE_POOL_TIMEOUT"

        public var isSecret: Bool {
            switch self {
            case .databaseURL, .migrationSecret, .nextAuthSecret, .authSecret, .authSecret1, .authSecret2, .authSecret3,
                .sentryDSN:
                true
            default: false
            }
        }

        /// swift-configuration's key for the variable: `MIGRATION_SECRET` is `migration.secret`.
        var key: ConfigKey { ConfigKey(rawValue.lowercased().split(separator: "_").map(String.init)) }
    }

    /// The variables whose values are secrets; swift-configuration redacts them in its own reporting.
    public static var secretKeys: Set<String> { Set(Variable.allCases.filter(\.isSecret).map(\.rawValue)) }

    /// The environment's name: the `--env` flag, else `APP_ENV`, else development.
    /// `load` and `init(variables:)` both resolve it here.
    public static func environmentName(flag: String?, variables: [String: String]) -> String {
        nonEmpty(flag) ?? nonEmpty(variables[Variable.appEnv.rawValue]) ?? defaultEnvironmentName
    }

    /// Reads the process environment and the `.env` files in `directory`.
    /// Command-line values (`environmentName`, `host`, `port`) win over both. `APP_ENV` comes from the
    /// process environment only, since it picks the `.env` files.
    public static func load(
        processEnvironment: [String: String] = ProcessEnvironment.current(),
        directory: String = ".",
        environmentName flagEnvironment: String? = nil,
        host flagHost: String? = nil,
        port flagPort: Int? = nil,
        migrationsDir flagMigrationsDir: String? = nil
    ) throws -> AppConfig {
        let envName = environmentName(flag: flagEnvironment, variables: processEnvironment)
        let merged = try DotEnv.load(directory: directory, environment: envName, processEnvironment: processEnvironment)
        return try AppConfig(
            variables: merged, environmentName: envName, host: flagHost, port: flagPort,
            migrationsDir: flagMigrationsDir)
    }

    /// Builds the config from already-merged variables: the path `load` takes, and the tests with it.
    public init(
        variables: [String: String], environmentName flagEnvironment: String? = nil, host flagHost: String? = nil,
        port flagPort: Int? = nil, migrationsDir flagMigrationsDir: String? = nil
    ) throws {
        let provider = EnvironmentVariablesProvider(
            environmentVariables: variables,
            secretsSpecifier: .specific(Self.secretKeys)
        )
        let reader = ConfigReader(provider: provider)
        func string(_ variable: Variable) -> String? {
            Self.nonEmpty(reader.string(forKey: variable.key))
        }

        var port = Self.defaultPort
        if let flagPort {
            guard (0...65535).contains(flagPort) else { throw ConfigError.invalidPort }
            port = flagPort
        } else if let raw = string(.port) {
            guard let value = Int(raw.trimmingSpaces()), (0...65535).contains(value) else {
                throw ConfigError.invalidPort
            }
            port = value
        }
        /// A variable given in seconds: nil when unset, `error` unless a finite number within `range`.
        func seconds(_ variable: Variable, in range: ClosedRange<Double>, or error: ConfigError) throws -> Double? {
            guard let raw = string(variable) else { return nil }
            guard let seconds = Double(raw), seconds.isFinite, range.contains(seconds) else { throw error }
            return seconds
        }
        func duration(_ seconds: Double) -> Duration { .milliseconds(Int64(seconds * 1000)) }
        /// One of `T`'s named values, in any case; nil when unset.
        func choice<T: RawRepresentable<String>>(_ variable: Variable, or error: ConfigError) throws -> T? {
            guard let raw = string(variable) else { return nil }
            guard let value = T(rawValue: raw.lowercased()) else { throw error }
            return value
        }

        var lockTimeout = Duration.seconds(30)
        if let value = try seconds(.migrationLockTimeout, in: 0...3600, or: .invalidLockTimeout) {
            lockTimeout = duration(value)
        }
        var lockPolicy = LockPolicy()
        if let value = try seconds(.migrationLockWait, in: 0...3600, or: .invalidLockWait) {
            lockPolicy.lockWait = value == 0 ? nil : duration(value)
        }
        if let value = try seconds(.migrationStatementTimeout, in: 0...86400, or: .invalidStatementTimeout) {
            lockPolicy.statementTimeout = value == 0 ? nil : duration(value)
        }
        if let raw = string(.migrationLockRetries) {
            guard let retries = Int(raw), (0...100).contains(retries) else { throw ConfigError.invalidLockRetries }
            lockPolicy.retries = retries
        }
        let lintMode: LintMode = try choice(.migrationLint, or: .invalidLintMode) ?? .warn
        var lintSmallTable = MigrationLinter.defaultSmallTable
        if let raw = string(.migrationLintSmallTable) {
            guard let rows = Int(raw), rows >= 0 else { throw ConfigError.invalidLintSmallTable }
            lintSmallTable = rows
        }
        let certFile = string(.tlsCertFile)
        let keyFile = string(.tlsKeyFile)
        if certFile != nil, keyFile == nil { throw ConfigError.tlsIncomplete(missing: Variable.tlsKeyFile.rawValue) }
        if keyFile != nil, certFile == nil { throw ConfigError.tlsIncomplete(missing: Variable.tlsCertFile.rawValue) }
        var requireTLS = false
        if let raw = string(.requireTLS) {
            switch raw.lowercased() {
            case "1", "true": requireTLS = true
            case "0", "false": requireTLS = false
            default: throw ConfigError.invalidRequireTLS
            }
        }
        let proxies = try TrustedProxies(list: string(.trustProxy) ?? "")
        var shutdownTimeout = Duration.seconds(30)
        if let value = try seconds(.shutdownTimeout, in: 0...3600, or: .invalidShutdownTimeout) {
            shutdownTimeout = duration(value)
        }
        var metricsPort: Int?
        if let raw = string(.metricsPort) {
            guard let value = Int(raw.trimmingSpaces()), (0...65535).contains(value) else {
                throw ConfigError.invalidMetricsPort
            }
            metricsPort = value
        }
        let logFormat: LogFormat = try choice(.logFormat, or: .invalidLogFormat) ?? .text
        let journalMode: SQLiteJournalMode = try choice(.sqliteJournalMode, or: .invalidSQLiteJournalMode) ?? .wal
        var pool = PostgresPool()
        if let raw = string(.databasePoolSize) {
            guard let size = Int(raw), (1...1000).contains(size) else { throw ConfigError.invalidPoolSize }
            pool.size = size
        }
        // Above 0, as ConfigError.invalidPoolTimeout says.
        if let value = try seconds(
            .databasePoolTimeout, in: Double.leastNonzeroMagnitude...3600, or: .invalidPoolTimeout)
        {
            pool.timeout = duration(value)
        }
        var logLevel = Logger.Level.info
        if let raw = string(.logLevel) {
            guard let level = Logger.Level(rawValue: raw.lowercased()) else { throw ConfigError.invalidLogLevel }
            logLevel = level
        }
        self.init(
            environmentName: Self.environmentName(flag: flagEnvironment, variables: variables),
            host: Self.nonEmpty(flagHost) ?? string(.host) ?? Self.defaultHost,
            port: port,
            database: try DatabaseLocation(url: string(.databaseURL)),
            sqliteJournalMode: journalMode,
            databasePool: pool,
            migrationSecret: Secret(string(.migrationSecret)),
            nextAuthSecret: Secret(string(.nextAuthSecret)),
            authSecret: Secret(string(.authSecret)),
            numberedAuthSecrets: [.authSecret1, .authSecret2, .authSecret3].map { Secret(string($0)) },
            sentryDSN: Secret(string(.sentryDSN)),
            sentryRelease: string(.sentryRelease),
            migrationLockTimeout: lockTimeout,
            lockPolicy: lockPolicy,
            lintMode: lintMode,
            lintSmallTable: lintSmallTable,
            logLevel: logLevel,
            logLevelIsSet: string(.logLevel) != nil,
            logFormat: logFormat,
            migrationsDir: Self.nonEmpty(flagMigrationsDir) ?? string(.migrationsDir),
            migrationsFormat: string(.migrationsFormat),
            tlsCertFile: certFile,
            tlsKeyFile: keyFile,
            requireTLS: requireTLS,
            trustedProxies: proxies,
            metricsPort: metricsPort,
            shutdownTimeout: shutdownTimeout
        )
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
