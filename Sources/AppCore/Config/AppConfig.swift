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

/// Every setting the app reads, read once at startup.
public struct AppConfig: Sendable, CustomStringConvertible {
    /// The name given in `APP_ENV` or `--env`; it picks the `.env.<name>` files.
    public var environmentName: String
    public var environment: AppEnvironment
    public var host: String
    public var port: Int
    public var database: DatabaseLocation
    public var migrationSecret: Secret?
    public var nextAuthSecret: Secret?
    public var authSecret: Secret?
    public var sentryDSN: Secret?
    public var sentryRelease: String?
    /// How long a migration call waits for another runner before answering 409.
    public var migrationLockTimeout: Duration
    public var logLevel: Logger.Level

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 8080

    public init(
        environmentName: String = "development",
        host: String = AppConfig.defaultHost,
        port: Int = AppConfig.defaultPort,
        database: DatabaseLocation = .sqlite(path: DatabaseLocation.defaultSQLitePath),
        migrationSecret: Secret? = nil,
        nextAuthSecret: Secret? = nil,
        authSecret: Secret? = nil,
        sentryDSN: Secret? = nil,
        sentryRelease: String? = nil,
        migrationLockTimeout: Duration = .seconds(30),
        logLevel: Logger.Level = .info
    ) {
        self.environmentName = environmentName
        self.environment = AppEnvironment(name: environmentName)
        self.host = host
        self.port = port
        self.database = database
        self.migrationSecret = migrationSecret
        self.nextAuthSecret = nextAuthSecret
        self.authSecret = authSecret
        self.sentryDSN = sentryDSN
        self.sentryRelease = sentryRelease
        self.migrationLockTimeout = migrationLockTimeout
        self.logLevel = logLevel
    }

    public var description: String {
        "AppConfig(environment: \(environmentName), host: \(host), port: \(port), database: \(database), "
            + "MIGRATION_SECRET: \(migrationSecret == nil ? "unset" : "<redacted>"), "
            + "NEXTAUTH_SECRET: \(nextAuthSecret == nil ? "unset" : "<redacted>"), "
            + "AUTH_SECRET: \(authSecret == nil ? "unset" : "<redacted>"), "
            + "SENTRY_DSN: \(sentryDSN == nil ? "unset" : "<redacted>"))"
    }

    /// The variables whose values are secrets; swift-configuration redacts them in its own reporting.
    public static let secretKeys: Set<String> = ["MIGRATION_SECRET", "NEXTAUTH_SECRET", "AUTH_SECRET", "DATABASE_URL", "SENTRY_DSN"]

    /// Reads the process environment and the `.env` files in `directory`.
    /// Command-line values (`environmentName`, `host`, `port`) win over both.
    public static func load(
        processEnvironment: [String: String] = ProcessInfo.processInfo.environment,
        directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        environmentName flagEnvironment: String? = nil,
        host flagHost: String? = nil,
        port flagPort: Int? = nil
    ) throws -> AppConfig {
        let envName = nonEmpty(flagEnvironment) ?? nonEmpty(processEnvironment["APP_ENV"]) ?? "development"
        let merged = try DotEnv.load(directory: directory, environment: envName, processEnvironment: processEnvironment)
        return try AppConfig(variables: merged, environmentName: envName, host: flagHost, port: flagPort)
    }

    /// Builds the config from already-merged variables.
    public init(variables: [String: String], environmentName: String? = nil, host flagHost: String? = nil, port flagPort: Int? = nil) throws {
        let provider = EnvironmentVariablesProvider(
            environmentVariables: variables,
            secretsSpecifier: .specific(Self.secretKeys)
        )
        let reader = ConfigReader(provider: provider)
        func string(_ key: String, secret: Bool = false) -> String? {
            Self.nonEmpty(reader.string(forKey: ConfigKey(key), isSecret: secret))
        }

        let envName = Self.nonEmpty(environmentName) ?? string("app.env") ?? "development"
        var port = Self.defaultPort
        if let flagPort {
            guard (0...65535).contains(flagPort) else { throw ConfigError.invalidPort }
            port = flagPort
        } else if let raw = string("port") {
            guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), (0...65535).contains(value) else {
                throw ConfigError.invalidPort
            }
            port = value
        }
        var lockTimeout = Duration.seconds(30)
        if let raw = string("migration.lock.timeout") {
            guard let seconds = Double(raw), seconds.isFinite, (0...3600).contains(seconds) else {
                throw ConfigError.invalidLockTimeout
            }
            lockTimeout = .milliseconds(Int64(seconds * 1000))
        }
        var logLevel = Logger.Level.info
        if let raw = string("log.level") {
            guard let level = Logger.Level(rawValue: raw.lowercased()) else { throw ConfigError.invalidLogLevel }
            logLevel = level
        }
        self.init(
            environmentName: envName,
            host: Self.nonEmpty(flagHost) ?? string("host") ?? Self.defaultHost,
            port: port,
            database: try DatabaseLocation(url: string("database.url", secret: true)),
            migrationSecret: Secret(string("migration.secret", secret: true)),
            nextAuthSecret: Secret(string("nextauth.secret", secret: true)),
            authSecret: Secret(string("auth.secret", secret: true)),
            sentryDSN: Secret(string("sentry.dsn", secret: true)),
            sentryRelease: string("sentry.release"),
            migrationLockTimeout: lockTimeout,
            logLevel: logLevel
        )
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
