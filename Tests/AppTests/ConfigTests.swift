import Foundation
import Testing

@testable import AppCore

@Suite("config")
struct ConfigTests {
    @Test("defaults: development, 127.0.0.1:8080, SQLite under ./data/, no secrets, 30 s lock wait")
    func defaults() throws {
        let config = try AppConfig(variables: [:])
        #expect(config.environment == .development)
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.database == .sqlite(path: "data/app.sqlite"))
        #expect(
            config.migrationSecret == nil && config.nextAuthSecret == nil && config.authSecret == nil
                && config.sentryDSN == nil)
        #expect(config.migrationLockTimeout == .seconds(30))
        #expect(config.logLevel == .info)
    }

    @Test("each variable is read")
    func everyVariable() throws {
        let config = try AppConfig(variables: [
            "APP_ENV": "staging", "HOST": "0.0.0.0", "PORT": "9090",
            "DATABASE_URL": "postgresql://app:pw@db.example:6543/appdb?sslmode=require",
            "MIGRATION_SECRET": "m", "NEXTAUTH_SECRET": "n", "AUTH_SECRET": "a",
            "SENTRY_DSN": "https://key@sentry.example/42", "SENTRY_RELEASE": "1.2.3",
            "MIGRATION_LOCK_TIMEOUT": "2.5", "LOG_LEVEL": "debug",
        ])
        #expect(config.environment == .staging)
        #expect(config.host == "0.0.0.0")
        #expect(config.port == 9090)
        guard case .postgres(let pg) = config.database else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(pg.host == "db.example" && pg.port == 6543 && pg.username == "app" && pg.database == "appdb")
        #expect(pg.password?.value == "pw")
        #expect(pg.sslMode == .require)
        #expect(config.migrationSecret?.value == "m")
        #expect(config.nextAuthSecret?.value == "n")
        #expect(config.authSecret?.value == "a")
        #expect(config.sentryDSN?.value == "https://key@sentry.example/42")
        #expect(config.sentryRelease == "1.2.3")
        #expect(config.migrationLockTimeout == .milliseconds(2500))
        #expect(config.logLevel == .debug)
    }

    @Test(
        "an empty secret is not set", arguments: ["MIGRATION_SECRET", "NEXTAUTH_SECRET", "AUTH_SECRET", "SENTRY_DSN"])
    func emptySecret(_ key: String) throws {
        let config = try AppConfig(variables: [key: ""])
        #expect(
            config.migrationSecret == nil && config.nextAuthSecret == nil && config.authSecret == nil
                && config.sentryDSN == nil)
    }

    @Test("unknown APP_ENV is treated as production; --env wins over APP_ENV")
    func environments() throws {
        #expect(try AppConfig(variables: ["APP_ENV": "prod-eu"]).environment == .production)
        let dir = try TempDir()
        let config = try AppConfig.load(
            processEnvironment: ["APP_ENV": "production"], directory: dir.url.path, environmentName: "test")
        #expect(config.environment == .test)
    }

    @Test("APP_ENV is resolved by one rule on both paths: --env, else APP_ENV from the process; never from a .env file")
    func oneEnvironmentRule() throws {
        let dir = try TempDir()
        try dir.write(".env", "APP_ENV=production\n")
        #expect(try AppConfig.load(processEnvironment: [:], directory: dir.url.path).environmentName == "development")
        #expect(
            try AppConfig.load(processEnvironment: ["APP_ENV": "staging"], directory: dir.url.path).environmentName
                == "staging")
        #expect(try AppConfig(variables: ["APP_ENV": "staging"]).environmentName == "staging")
        #expect(try AppConfig(variables: ["APP_ENV": "staging"], environmentName: "test").environment == .test)
        var config = try AppConfig(variables: [:])
        config.environmentName = "production"
        #expect(config.environment == .production, "environment follows environmentName")
    }

    @Test("the secret variables are exactly those the config redacts")
    func secretList() {
        #expect(
            AppConfig.secretKeys == [
                "MIGRATION_SECRET", "NEXTAUTH_SECRET", "AUTH_SECRET", "AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3",
                "DATABASE_URL", "SENTRY_DSN",
            ])
    }

    @Test("an unfilled copy of .env.example leaves MIGRATION_SECRET unset")
    func unfilledExample() throws {
        let dir = try TempDir()
        let example = try String(contentsOfFile: Self.repoFile(".env.example"), encoding: .utf8)
        try dir.write(".env", example)
        let config = try AppConfig.load(processEnvironment: [:], directory: dir.url.path)
        #expect(config.migrationSecret == nil)
        #expect(MigrationGate(config: config).state == .misconfigured(.missing))
    }

    @Test(
        "DATABASE_URL forms",
        arguments: [
            ("sqlite:///var/lib/app/db.sqlite", DatabaseLocation.sqlite(path: "/var/lib/app/db.sqlite")),
            ("sqlite://data/other.sqlite", .sqlite(path: "data/other.sqlite")),
            ("", .sqlite(path: "data/app.sqlite")),
            ("  sqlite:///tmp/a%20b%C3%A9.sqlite ", .sqlite(path: "/tmp/a bé.sqlite")),
            ("SQLite://x/y:z//w.sqlite", .sqlite(path: "x/y:z//w.sqlite")),
            ("sqlite:///tmp/100%.sqlite", .sqlite(path: "/tmp/100%.sqlite")),
        ])
    func sqliteURLs(_ raw: String, _ expected: DatabaseLocation) throws {
        #expect(try DatabaseLocation(url: raw) == expected)
    }

    @Test("a DATABASE_URL with no scheme, an empty SQLite path or another scheme is refused, naming why")
    func invalidURLs() {
        #expect(throws: ConfigError.invalidDatabaseURL("no scheme (sqlite:// or postgres://)")) {
            try DatabaseLocation(url: "data/app.sqlite")
        }
        #expect(throws: ConfigError.invalidDatabaseURL("no scheme (sqlite:// or postgres://)")) {
            try DatabaseLocation(url: "sqlite:/data/app.sqlite")
        }
        #expect(throws: ConfigError.invalidDatabaseURL("the SQLite path is empty")) {
            try DatabaseLocation(url: "sqlite:///")
        }
        #expect(throws: ConfigError.invalidDatabaseURL("unsupported scheme \"mysql\"")) {
            try DatabaseLocation(url: "mysql://localhost/app")
        }
    }

    @Test("postgres:// and postgresql:// URLs, with defaults and percent-encoded credentials")
    func postgresURLs() throws {
        guard case .postgres(let a) = try DatabaseLocation(url: "postgres://me@localhost/app") else {
            Issue.record()
            return
        }
        #expect(a.port == 5432 && a.sslMode == .prefer && a.password == nil && a.database == "app")
        guard
            case .postgres(let b) = try DatabaseLocation(
                url: "postgresql://us%40er:p%3Ass@[::1]:5433/d?sslmode=verify-full")
        else {
            Issue.record()
            return
        }
        #expect(
            b.username == "us@er" && b.password?.value == "p:ss" && b.host == "::1" && b.port == 5433
                && b.sslMode == .verifyFull)
    }

    @Test("a PostgreSQL URL's user, password and database name, percent-encoded, read back as written (generated)")
    func postgresURLCredentialsRoundTrip() throws {
        let alphabet = Array("aZ09-._~!$&'()*+,;=:@/?#[]% é✓\u{1F600}")
        var state: UInt64 = 0x5EED_0FCA_1100_D00D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func text() -> String { String((0...next(12)).map { _ in alphabet[next(alphabet.count)] }) }
        for _ in 0..<500 {
            let (user, password, database) = (text(), text(), text())
            func encoded(_ part: String) -> String {
                part.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            }
            let url = "postgres://\(encoded(user)):\(encoded(password))@localhost:5432/\(encoded(database))"
            guard case .postgres(let location) = try DatabaseLocation(url: url) else {
                Issue.record("not PostgreSQL: \(url)")
                continue
            }
            #expect(location.username == user && location.password?.value == password, "\(url)")
            #expect(location.database == database, "\(url)")
        }
    }

    @Test(
        "a malformed DATABASE_URL fails with an error naming the variable and not the password",
        arguments: [
            "mysql://u:hunter2secret@h/d",
            "postgres://u:hunter2secret@/d",
            "postgres://u:hunter2secret@h",
            "postgres://u:hunter2secret@h:99999/d",
            "postgres://u:hunter2secret@h/d?sslmode=sometimes",
            "postgres://:hunter2secret@h/d",
            "hunter2secret",
        ])
    func malformedDatabaseURL(_ raw: String) {
        do {
            _ = try AppConfig(variables: ["DATABASE_URL": raw])
            Issue.record("accepted \(raw)")
        } catch {
            let message = "\(error)"
            #expect(message.contains("DATABASE_URL"))
            #expect(!message.contains("hunter2"))
        }
    }

    @Test("a malformed PORT fails with an error naming the variable", arguments: ["http", "-1", "65536", "80x"])
    func malformedPort(_ raw: String) {
        #expect {
            _ = try AppConfig(variables: ["PORT": raw])
        } throws: { "\($0)".contains("PORT") }
    }

    @Test("MIGRATION_LOCK_TIMEOUT and LOG_LEVEL are validated")
    func otherValidation() {
        #expect(throws: ConfigError.invalidLockTimeout) { try AppConfig(variables: ["MIGRATION_LOCK_TIMEOUT": "soon"]) }
        #expect(throws: ConfigError.invalidLogLevel) { try AppConfig(variables: ["LOG_LEVEL": "loud"]) }
    }

    @Test("DATABASE_POOL_SIZE and DATABASE_POOL_TIMEOUT: read, defaulted, validated")
    func poolSettings() throws {
        #expect(try AppConfig(variables: [:]).databasePool == PostgresPool(size: 10, timeout: .seconds(10)))
        #expect(
            try AppConfig(variables: ["DATABASE_POOL_SIZE": "3", "DATABASE_POOL_TIMEOUT": "2.5"]).databasePool
                == PostgresPool(size: 3, timeout: .milliseconds(2500)))
        for bad in ["0", "-1", "many", "1001"] {
            #expect(throws: ConfigError.invalidPoolSize) { try AppConfig(variables: ["DATABASE_POOL_SIZE": bad]) }
        }
        for bad in ["0", "-2", "soon", "nan", "3601"] {
            #expect(throws: ConfigError.invalidPoolTimeout) { try AppConfig(variables: ["DATABASE_POOL_TIMEOUT": bad]) }
        }
    }

    @Test("MIGRATION_LOCK_WAIT, MIGRATION_STATEMENT_TIMEOUT, MIGRATION_LOCK_RETRIES: read, defaulted, validated")
    func lockPolicy() throws {
        #expect(
            try AppConfig(variables: [:]).lockPolicy
                == LockPolicy(lockWait: .seconds(5), statementTimeout: nil, retries: 5))
        #expect(
            try AppConfig(variables: [
                "MIGRATION_LOCK_WAIT": "0.5", "MIGRATION_STATEMENT_TIMEOUT": "90", "MIGRATION_LOCK_RETRIES": "0",
            ]).lockPolicy == LockPolicy(lockWait: .milliseconds(500), statementTimeout: .seconds(90), retries: 0))
        // 0 turns a bound off.
        let off = try AppConfig(variables: ["MIGRATION_LOCK_WAIT": "0", "MIGRATION_STATEMENT_TIMEOUT": "0"]).lockPolicy
        #expect(off.lockWait == nil && off.statementTimeout == nil)
        for bad in ["-1", "soon", "nan", "3601"] {
            #expect(throws: ConfigError.invalidLockWait) { try AppConfig(variables: ["MIGRATION_LOCK_WAIT": bad]) }
        }
        for bad in ["-1", "later", "86401"] {
            #expect(throws: ConfigError.invalidStatementTimeout) {
                try AppConfig(variables: ["MIGRATION_STATEMENT_TIMEOUT": bad])
            }
        }
        for bad in ["-1", "1.5", "101", "many"] {
            #expect(throws: ConfigError.invalidLockRetries) {
                try AppConfig(variables: ["MIGRATION_LOCK_RETRIES": bad])
            }
        }
    }

    @Test("MIGRATION_LINT, LOG_FORMAT, SQLITE_JOURNAL_MODE: defaulted, read in any case, anything else refused")
    func namedValues() throws {
        let defaults = try AppConfig(variables: [:])
        #expect(defaults.lintMode == .warn && defaults.logFormat == .text && defaults.sqliteJournalMode == .wal)
        let read = try AppConfig(variables: [
            "MIGRATION_LINT": "Error", "LOG_FORMAT": "JSON", "SQLITE_JOURNAL_MODE": "Delete",
        ])
        #expect(read.lintMode == .error && read.logFormat == .json && read.sqliteJournalMode == .delete)
        #expect(throws: ConfigError.invalidLintMode) { try AppConfig(variables: ["MIGRATION_LINT": "strict"]) }
        #expect(throws: ConfigError.invalidLogFormat) { try AppConfig(variables: ["LOG_FORMAT": "xml"]) }
        #expect(throws: ConfigError.invalidSQLiteJournalMode) {
            try AppConfig(variables: ["SQLITE_JOURNAL_MODE": "memory"])
        }
    }

    @Test("the pause before each retry doubles from the first, up to 30 s")
    func lockPauses() {
        let policy = LockPolicy()
        #expect((1...7).map { policy.pause(before: $0) } == [1, 2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
        #expect(policy.settings == ["SET LOCAL lock_timeout = '5000ms'"])
        #expect(
            LockPolicy(lockWait: nil, statementTimeout: .seconds(2)).settings == [
                "SET LOCAL statement_timeout = '2000ms'"
            ])
        #expect(LockPolicy.off.settings.isEmpty)
    }

    @Test("secrets are redacted in description, debugDescription and the config's description")
    func redaction() throws {
        let config = try AppConfig(variables: [
            "MIGRATION_SECRET": "migration-value-123", "NEXTAUTH_SECRET": "session-value-456",
            "AUTH_SECRET": "auth-value-789", "SENTRY_DSN": "https://dsnkey@s.example/1",
            "DATABASE_URL": "postgres://u:dbpass-000@h/d",
        ])
        let rendered = [
            "\(config)", String(reflecting: config), "\(config.migrationSecret!)",
            String(reflecting: config.migrationSecret!),
            "\(config.database)", String(reflecting: config.database),
        ].joined(separator: "\n")
        for value in ["migration-value-123", "session-value-456", "auth-value-789", "dsnkey", "dbpass-000"] {
            #expect(!rendered.contains(value), "\(value) leaked")
        }
    }

    static func repoFile(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(name).path
    }
}
