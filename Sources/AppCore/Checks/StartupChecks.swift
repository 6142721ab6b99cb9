import Foundation

/// What a check may look at.
public struct CheckContext: Sendable {
    public var config: AppConfig
    /// Nil when the database could not even be set up; the database checks then report it unreachable.
    public var database: AppDatabase?
    /// Why `database` is nil, when setting it up failed; the database check names it.
    public var databaseSetupError: (any Error)?
    public var catalog: MigrationCatalog
    /// How long the database checks wait for an answer (5 s on a cold start).
    public var databaseTimeout: Duration

    public init(
        config: AppConfig, database: AppDatabase?, databaseSetupError: (any Error)? = nil, catalog: MigrationCatalog,
        databaseTimeout: Duration = .seconds(5)
    ) {
        self.config = config
        self.database = database
        self.databaseSetupError = databaseSetupError
        self.catalog = catalog
        self.databaseTimeout = databaseTimeout
    }

    public init(
        config: AppConfig, database: AppDatabase?, databaseSetupError: (any Error)? = nil, migrations: [Migration],
        databaseTimeout: Duration = .seconds(5)
    ) {
        self.init(
            config: config, database: database, databaseSetupError: databaseSetupError,
            catalog: MigrationCatalog(migrations: migrations),
            databaseTimeout: databaseTimeout
        )
    }
}

/// A registered check: a name and a function from the context to its results.
public struct StartupCheck: Sendable {
    public var name: String
    public var run: @Sendable (CheckContext) async -> [CheckResult]

    public init(name: String, run: @escaping @Sendable (CheckContext) async -> [CheckResult]) {
        self.name = name
        self.run = run
    }

    /// Every check the app ships, run on every cold start.
    public static let all: [StartupCheck] = [
        StartupCheck(name: "migration-secret") { checkMigrationSecret($0.config) },
        StartupCheck(name: "session-secret") { checkSessionSecret($0.config) },
        StartupCheck(name: "alerts") { checkAlerts($0.config) },
        StartupCheck(name: "transport") { checkTransport($0.config) },
        StartupCheck(name: "migrations") { checkMigrationFolder($0.catalog.current()) },
        StartupCheck(name: "database") { await checkDatabase($0) },
    ]
}

/// Runs every registered check and gathers the results.
public func runStartupChecks(_ context: CheckContext, checks: [StartupCheck] = StartupCheck.all) async -> CheckReport {
    var results: [CheckResult] = []
    for check in checks {
        results += await check.run(context)
    }
    return CheckReport(results: results)
}

private let generateHint =
    "Generate one with `app secret`; it must differ from every session key (NEXTAUTH_SECRET, AUTH_SECRET, AUTH_SECRET_1..3)."

/// The migration secret (README, "Startup checks"): the gate's own verdict on it (missing or reused as
/// a session-signing key), then whether it is strong and presentable.
public func checkMigrationSecret(_ config: AppConfig) -> [CheckResult] {
    var results: [CheckResult] = []
    switch MigrationGate(config: config).state {
    case .misconfigured(.missing):
        return [
            CheckResult(
                id: "migration-secret.missing", level: .error,
                message: "MIGRATION_SECRET is not set; POST /api/migrate answers 503 until it is.",
                hint: "\(generateHint) There is no fallback to any other variable."
            )
        ]
    case .misconfigured(.reused(let variables)):
        results.append(
            CheckResult(
                id: "migration-secret.reused", level: .error,
                message:
                    "MIGRATION_SECRET equals \(variables.joined(separator: " and ")), a session-signing key; POST /api/migrate answers 503 until they differ.",
                hint: generateHint
            ))
    case .ready:
        break
    }
    guard let secret = config.migrationSecret else { return results }
    if secret.value.count < 32 || Set(secret.value).count < 8 {
        results.append(
            CheckResult(
                id: "migration-secret.weak", level: .warning,
                message: "MIGRATION_SECRET is shorter than 32 characters or has fewer than 8 distinct characters.",
                hint: "The endpoint still works. \(generateHint)"
            ))
    }
    if MigrationGate.bearerToken("Bearer " + secret.value) == nil {
        results.append(
            CheckResult(
                id: "migration-secret.not-a-bearer-token", level: .warning,
                message:
                    "MIGRATION_SECRET has characters a bearer token cannot carry (RFC 6750 b64token: letters, digits, -._~+/ and trailing =); every call will get 401.",
                hint: generateHint
            ))
    }
    if case .postgres(let pg) = config.database, let password = pg.password, secret.matches(password) {
        results.append(
            CheckResult(
                id: "migration-secret.shared-with-database", level: .warning,
                message: "MIGRATION_SECRET equals the password in DATABASE_URL.",
                hint: "Never reuse a database password. \(generateHint)"
            ))
    }
    return results
}

/// Production needs a session-signing key.
public func checkSessionSecret(_ config: AppConfig) -> [CheckResult] {
    guard config.environment == .production, config.sessionKeys.isEmpty else { return [] }
    return [
        CheckResult(
            id: "session-secret.missing", level: .error,
            message:
                "None of NEXTAUTH_SECRET, AUTH_SECRET, AUTH_SECRET_1..3 is set in production; sessions cannot be signed.",
            hint:
                "Set NEXTAUTH_SECRET (or AUTH_SECRET) to the value your Next.js app uses; generate one with `app secret`."
        )
    ]
}

/// The bearer secret must not cross a network in clear: in production, a server bound to an address
/// other than loopback without TLS is reported (a warning; an error with `REQUIRE_TLS=1`). A wildcard
/// address (`0.0.0.0`, `::`) counts as a network address.
public func checkTransport(_ config: AppConfig) -> [CheckResult] {
    guard config.environment == .production, !config.servesTLS, !isLoopback(host: config.host) else { return [] }
    return [
        CheckResult(
            id: "transport.plain-http", level: config.requireTLS ? .error : .warning,
            message:
                "The server listens on \(config.host) over plain HTTP; the migration secret would cross the network in clear.",
            hint: "terminate TLS in front of it, or set TLS_CERT_FILE/TLS_KEY_FILE"
        )
    ]
}

/// Production should be able to raise alerts.
public func checkAlerts(_ config: AppConfig) -> [CheckResult] {
    if let dsn = config.sentryDSN, (try? SentryDSN(dsn.value)) == nil {
        return [
            CheckResult(
                id: "alerts.invalid-dsn", level: .warning,
                message: "SENTRY_DSN is malformed; alerts cannot be sent.",
                hint: "Copy the DSN from your Sentry project's Client Keys page: https://PUBLIC_KEY@HOST/PROJECT_ID."
            )
        ]
    }
    guard config.environment == .production, config.sentryDSN == nil else { return [] }
    return [
        CheckResult(
            id: "alerts.not-configured", level: .warning,
            message: "SENTRY_DSN is not set in production; startup errors are only logged.",
            hint: "Set SENTRY_DSN to your Sentry project's DSN so misconfiguration raises an alert."
        )
    ]
}

/// The database answers, and how many migrations wait (a fresh deploy before its migrate call is normal).
public func checkDatabase(_ context: CheckContext) async -> [CheckResult] {
    func unreachable(_ cause: (any Error)?) -> [CheckResult] {
        [
            CheckResult(
                id: "database.unreachable", level: .error,
                message: "The database named by DATABASE_URL cannot be used"
                    + (cause.map { ": \(AppDatabase.describe($0))." } ?? "."),
                hint: (cause as? DatabaseConnectError)?.hint
                    ?? ((cause as? DatabaseSetupError)?.location.hasPrefix("SQLite") == true
                        ? "Check the path in DATABASE_URL, and that this process may read and write the file and create files in its folder."
                        : "Check DATABASE_URL, that the server is running and reachable, and its credentials.")
            )
        ]
    }
    guard let database = context.database else { return unreachable(context.databaseSetupError) }
    if let problem = await database.problem(timeout: context.databaseTimeout) { return unreachable(problem) }
    // An invalid folder is the migrations check's finding; the database check still pings.
    guard context.catalog.current().invalid == nil else { return [] }
    var migrator = Migrator(
        database: database, catalog: context.catalog, lockTimeout: .seconds(1), logger: .init(label: "checks"))
    migrator.lintMode = context.config.lintMode
    migrator.linter = MigrationLinter(smallTable: context.config.lintSmallTable)
    let status: MigrationStatus
    do {
        status = try await withTimeout(context.databaseTimeout, waitingFor: "migration status") { [migrator] in
            try await migrator.status()
        }
    } catch MigrationError.foreignHistory(let table, let tool?) {
        return [
            CheckResult(
                id: "migrations.foreign-history", level: .error,
                message:
                    "The database holds \(tool)'s migration history (\(table)): it is kept by \(tool), not by the migration folder's tool; POST /api/migrate answers 409 and changes nothing.",
                hint:
                    "Point DATABASE_URL at the right database, or MIGRATIONS_DIR at \(tool)'s folder (MIGRATIONS_FORMAT for its format)."
            )
        ]
    } catch MigrationError.invalid(let invalid) {
        // A folder whose tool the database's history picks (a layout several tools share).
        return invalidFolder(invalid)
    } catch MigrationError.foreignHistory(let table, nil) {
        return [
            CheckResult(
                id: "migrations.foreign-history", level: .error,
                message:
                    "The table \(table) exists but is not laid out as this server (or the migration folder's tool) writes it; POST /api/migrate answers 409 and changes nothing.",
                hint:
                    "Point DATABASE_URL at the right database, set MIGRATIONS_FORMAT to the tool that wrote the table, or move the table out of the way."
            )
        ]
    } catch {
        return unreachable(error)
    }
    var results: [CheckResult] = status.interrupted.map { id in
        CheckResult(
            id: "migrations.interrupted", level: .error,
            message:
                "Migration \(id) ran outside a transaction and did not finish (or is running now); every migrate call answers 409 until it is resolved.",
            hint:
                "Check which of its statements took effect and finish or undo them by hand, then run `app migrate resolve \(id) --applied` (finished) or `--rolled-back` (undone)."
        )
    }
    if !status.outOfOrder.isEmpty {
        results.append(
            CheckResult(
                id: "migrations.out-of-order", level: .warning,
                message:
                    "Pending migration(s) older than the newest applied one: \(status.outOfOrder.joined(separator: ", ")). They will be applied.",
                hint:
                    "Usually a branch merged late. Check they do not depend on or conflict with the newer migrations already applied."
            ))
    }
    guard !status.pending.isEmpty else { return results }
    let warned = status.pending.compactMap { id -> String? in
        let rules = Set((status.lint ?? []).filter { $0.migration == id && $0.level == .warning }.map(\.rule))
        return rules.isEmpty ? nil : "\(id) (\(rules.sorted().joined(separator: ", ")))"
    }
    if !warned.isEmpty {
        let refused = context.config.lintMode == .error
        results.append(
            CheckResult(
                id: "migrations.lint", level: refused ? .error : .warning,
                message:
                    "Pending migration(s) the linter warns about: \(warned.joined(separator: "; "))."
                    + (refused ? " MIGRATION_LINT=error refuses them: POST /api/migrate answers 422." : ""),
                hint:
                    "Run `app migrate lint` for each finding and docs/safety.md for the safe form; `-- squawk-ignore rule` above a statement accepts it."
            ))
    }
    return results + [
        CheckResult(
            id: "database.pending-migrations", level: .info,
            message: "\(status.pending.count) migration(s) pending.",
            hint: "Apply them with POST /api/migrate (Authorization: Bearer $MIGRATION_SECRET) or `app migrate`."
        )
    ]
}

/// The migrations folder can be read and parsed; otherwise nothing of it is applied.
public func checkMigrationFolder(_ catalog: MigrationCatalog) -> [CheckResult] {
    guard let invalid = catalog.invalid else { return [] }
    return invalidFolder(invalid)
}

private func invalidFolder(_ invalid: MigrationsInvalid) -> [CheckResult] {
    [
        CheckResult(
            id: "migrations.invalid", level: .error,
            message: "The migrations folder is invalid, so none of it is applied: \(invalid).",
            hint:
                "Fix the file named here (see docs/migrations.md for the file format), or point MIGRATIONS_DIR at the right folder."
        )
    ]
}
