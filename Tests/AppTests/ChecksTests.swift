import AppCore
import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@Suite("startup checks", .dropsTestDatabases)
struct ChecksTests {
    static func config(_ variables: [String: String]) throws -> AppConfig {
        try AppConfig(variables: variables)
    }

    static let good = ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]

    // MARK: Each check id: triggers, and does not trigger.

    struct IDCase: CustomTestStringConvertible, Sendable {
        var id: String
        var level: CheckLevel
        var triggering: [String: String]
        var fine: [String: String]
        var testDescription: String { id }
    }

    static let idCases: [IDCase] = [
        .init(
            id: "migration-secret.missing", level: .error,
            triggering: ["NEXTAUTH_SECRET": Secrets.session, "MIGRATION_SECRET": ""], fine: good),
        .init(
            id: "migration-secret.reused", level: .error,
            triggering: ["MIGRATION_SECRET": Secrets.session, "NEXTAUTH_SECRET": Secrets.session], fine: good),
        .init(
            id: "migration-secret.reused", level: .error,
            triggering: ["MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.migration],
            fine: ["MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.session]),
        .init(
            id: "session-secret.missing", level: .error,
            triggering: ["APP_ENV": "production", "MIGRATION_SECRET": Secrets.migration],
            fine: ["APP_ENV": "production", "MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.session]),
        .init(
            id: "migration-secret.weak", level: .warning, triggering: ["MIGRATION_SECRET": "short-but-varied"],
            fine: good),
        .init(
            id: "migration-secret.weak", level: .warning,
            triggering: ["MIGRATION_SECRET": String(repeating: "ab", count: 20)], fine: good),
        .init(
            id: "migration-secret.shared-with-database", level: .warning,
            triggering: [
                "MIGRATION_SECRET": Secrets.migration, "DATABASE_URL": "postgres://u:\(Secrets.migration)@db.invalid/d",
            ],
            fine: ["MIGRATION_SECRET": Secrets.migration, "DATABASE_URL": "postgres://u:other-password@db.invalid/d"]),
        .init(
            id: "migration-secret.not-a-bearer-token", level: .warning,
            triggering: ["MIGRATION_SECRET": "correct horse battery staple 12345 xyz"], fine: good),
        .init(
            id: "alerts.not-configured", level: .warning, triggering: ["APP_ENV": "production"],
            fine: ["APP_ENV": "production", "SENTRY_DSN": "https://k@sentry.example/1"]),
        .init(
            id: "alerts.invalid-dsn", level: .warning, triggering: ["SENTRY_DSN": "not-a-dsn"],
            fine: ["SENTRY_DSN": "https://k@sentry.example/1"]),
    ]

    @Test("each configuration check triggers, and does not trigger", arguments: idCases)
    func configurationCheck(_ c: IDCase) async throws {
        let on = await runStartupChecks(
            CheckContext(config: try Self.config(c.triggering), database: nil, migrations: Migration.all),
            checks: Self.configChecks)
        #expect(on.results.contains { $0.id == c.id && $0.level == c.level })
        let off = await runStartupChecks(
            CheckContext(config: try Self.config(c.fine), database: nil, migrations: Migration.all),
            checks: Self.configChecks)
        #expect(!off.ids.contains(c.id))
    }

    static let configChecks = StartupCheck.all.filter { $0.name != "database" }

    @Test(
        "the check and the gate agree: a 503 gate always has its error check, and a ready gate none",
        arguments: [
            [:], ["MIGRATION_SECRET": Secrets.migration],
            ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.migration],
            ["MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.migration],
            [
                "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.migration,
                "AUTH_SECRET": Secrets.migration,
            ],
            [
                "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
                "AUTH_SECRET": Secrets.session,
            ],
            [
                "MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET": Secrets.session,
                "AUTH_SECRET_2": Secrets.migration,
            ],
            [
                "MIGRATION_SECRET": Secrets.migration, "AUTH_SECRET_1": Secrets.migration,
                "AUTH_SECRET_3": Secrets.migration,
            ],
        ] as [[String: String]])
    func gateAndCheckAgree(_ variables: [String: String]) throws {
        let config = try Self.config(variables)
        let gate = MigrationGate(config: config)
        let errors = checkMigrationSecret(config).filter { $0.level == .error }
        switch gate.state {
        case .ready:
            #expect(errors.isEmpty)
        case .misconfigured(.missing):
            #expect(errors.map(\.id) == ["migration-secret.missing"])
        case .misconfigured(.reused(let names)):
            #expect(errors.map(\.id) == ["migration-secret.reused"])
            #expect(
                names.allSatisfy { name in errors[0].message.contains(name) },
                "the check names every variable the gate found")
        }
        #expect((gate.decide(authorization: ["Bearer \(Secrets.migration)"]) == .misconfigured) == !errors.isEmpty)
    }

    @Test(
        "database.unreachable triggers for a database that does not answer, and not for one that does",
        arguments: Engine.available)
    func unreachable(_ engine: Engine) async throws {
        let dead: DatabaseLocation =
            engine == .sqlite
            ? .sqlite(path: "/proc/no-such-dir/x.sqlite")
            : try DatabaseLocation(url: "postgres://u@127.0.0.1:\(try refusedPort())/d?sslmode=disable")
        let deadDB = try? AppDatabase(location: dead, logger: quietLogger)
        let down = await Self.runDatabaseCheck(try Self.config([:]), deadDB)
        #expect(down.ids == ["database.unreachable"])
        #expect(down.results.first?.level == .error)

        let db = try await TestDatabase.make(engine)
        let up = await Self.runDatabaseCheck(
            try Self.config(["DATABASE_URL": db.url]), try AppDatabase(location: db.location, logger: quietLogger),
            timeout: Self.loaded)
        #expect(!up.ids.contains("database.unreachable"))
    }

    @Test("database.pending-migrations is info with the count, and gone once applied", arguments: Engine.available)
    func pending(_ engine: Engine) async throws {
        let db = try await TestDatabase.make(engine)
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        let config = try Self.config(["DATABASE_URL": db.url])
        let checks = StartupCheck.all.filter { $0.name == "database" }
        try await database.withRunning {
            let before = await runStartupChecks(
                CheckContext(
                    config: config, database: database, migrations: Migration.all, databaseTimeout: Self.loaded),
                checks: checks)
            let result = try #require(before.results.first { $0.id == "database.pending-migrations" })
            #expect(result.level == .info)
            #expect(result.message.contains("\(Migration.all.count)"))
            #expect(!before.hasIssues, "info is never an issue")
            _ = try await Migrator(
                database: database, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger
            ).migrate()
            let after = await runStartupChecks(
                CheckContext(
                    config: config, database: database, migrations: Migration.all, databaseTimeout: Self.loaded),
                checks: checks)
            #expect(after.results.isEmpty)
        }
    }

    /// The database checks' budget where the database is known to answer: a machine loaded by the whole
    /// suite can take longer than a cold start's 5 s, and that must not read as "unreachable".
    static let loaded = Duration.seconds(30)

    static func runDatabaseCheck(_ config: AppConfig, _ database: AppDatabase?, timeout: Duration = .seconds(5)) async
        -> CheckReport
    {
        let checks = StartupCheck.all.filter { $0.name == "database" }
        guard let database else {
            return await runStartupChecks(
                CheckContext(config: config, database: nil, migrations: Migration.all), checks: checks)
        }
        return
            (try? await database.withRunning {
                await runStartupChecks(
                    CheckContext(
                        config: config, database: database, migrations: Migration.all, databaseTimeout: timeout),
                    checks: checks)
            }) ?? CheckReport(results: [])
    }

    @Test("hasIssues is true for warnings and errors, never for info alone")
    func hasIssues() {
        func report(_ levels: [CheckLevel]) -> CheckReport {
            CheckReport(results: levels.map { CheckResult(id: "x", level: $0, message: "", hint: "") })
        }
        #expect(!report([]).hasIssues)
        #expect(!report([.info, .info]).hasIssues)
        #expect(report([.info, .warning]).hasIssues)
        #expect(report([.error]).hasIssues)
    }

    @Test("no message or hint contains a secret value")
    func noSecretsInResults() async throws {
        let weak = "weak-secret-value"
        let variables = [
            "APP_ENV": "production", "MIGRATION_SECRET": weak, "NEXTAUTH_SECRET": weak, "AUTH_SECRET": weak,
            "DATABASE_URL": "postgres://u:\(weak)@db.invalid/d", "SENTRY_DSN": "garbage-\(weak)",
        ]
        let report = await runStartupChecks(
            CheckContext(config: try Self.config(variables), database: nil, migrations: Migration.all))
        #expect(report.ids.contains("migration-secret.reused") && report.ids.contains("migration-secret.weak"))
        let text = report.results.map { "\($0.id) \($0.message) \($0.hint)" }.joined(separator: "\n")
        #expect(!text.contains(weak))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(!json.contains(weak))
    }

    // MARK: docs/checks.md, "Reporting, by environment": one case per environment and configuration.

    struct BehaviourRow: CustomTestStringConvertible, Sendable {
        var environment: String
        var misconfigured: Bool
        var testDescription: String {
            "\(environment), \(misconfigured ? "MIGRATION_SECRET missing or equal to NEXTAUTH_SECRET" : "correctly configured")"
        }
    }

    static let behaviourRows: [BehaviourRow] = ["production", "development", "staging"].flatMap {
        [BehaviourRow(environment: $0, misconfigured: true), BehaviourRow(environment: $0, misconfigured: false)]
    }

    @Test(
        "the listener does not wait for the checks: /livez answers while the report's alert waits on a Sentry that does not answer"
    )
    func checksBesideTheListener() async throws {
        let db = try await TestDatabase.make(.sqlite)
        // Production without MIGRATION_SECRET: an error, so the report sends an alert, to a Sentry that
        // holds it past the sink's 6 s budget.
        let listener = SentryListener(answers: [.stall(.seconds(9))])
        let logs = LogCapture()
        try await listener.run { port in
            let dsn = "http://publickey@127.0.0.1:\(port)/42"
            let config = try AppConfig(variables: [
                "APP_ENV": "production", "DATABASE_URL": db.url, "NEXTAUTH_SECRET": Secrets.session, "SENTRY_DSN": dsn,
            ])
            let sink = SentryClient(
                dsn: try SentryDSN(dsn), environment: config.environmentName, release: nil,
                logger: logs.logger(level: .info), timeout: .seconds(6)
            )
            let reported = Mutex(false)
            let (reports, report) = AsyncStream<CheckReport>.makeStream()
            let app = try buildApplication(
                config: config, logger: logs.logger(level: .info), alerts: sink, migrations: Migration.all,
                onChecksReported: { result in
                    reported.withLock { $0 = true }
                    report.yield(result)
                }
            )
            try await app.sweptTest(.live) { client in
                try await client.execute(uri: "/livez", method: .get) { response in
                    #expect(response.status == .ok)
                }
                #expect(!reported.withLock { $0 }, "answered before the report was out")
                let result = await reports.first { _ in true }
                #expect(result?.results.contains { $0.id == "migration-secret.missing" } == true)
                // The missing secret's alert; under the suite's load the database check may time out
                // and send one of its own, which is not what this test is about.
                let secretAlerts = listener.requests.filter {
                    String(decoding: $0.body, as: UTF8.self).contains("MIGRATION_SECRET")
                }
                #expect(secretAlerts.count == 1, "the alert was sent")
            }
        }
    }

    @Test("startup check behaviour table", arguments: behaviourRows, [false, true])
    func behaviour(_ row: BehaviourRow, _ reused: Bool) async throws {
        let db = try await TestDatabase.make(.sqlite)
        // A migrated database, so a correct configuration has nothing at all to report.
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        _ = try await Migrator(
            database: database, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger
        ).migrate()

        let listener = SentryListener()
        let logs = LogCapture()
        try await listener.run { port in
            var variables = [
                "APP_ENV": row.environment, "DATABASE_URL": db.url, "NEXTAUTH_SECRET": Secrets.session,
                "SENTRY_DSN": "http://publickey@127.0.0.1:\(port)/42",
            ]
            if row.misconfigured {
                variables["MIGRATION_SECRET"] = reused ? Secrets.session : ""
            } else {
                variables["MIGRATION_SECRET"] = Secrets.migration
            }
            let config = try AppConfig(variables: variables)
            // The sink the app would make from SENTRY_DSN, with room for a machine loaded by the suite
            // (the 2 s startup budget itself is SentryTests' subject).
            let sink = SentryClient(
                dsn: try SentryDSN("http://publickey@127.0.0.1:\(port)/42"), environment: config.environmentName,
                release: nil, logger: logs.logger(level: .info), timeout: .seconds(15)
            )
            // The checks run beside the server, so the test waits for their report.
            let (reports, reported) = AsyncStream<Void>.makeStream()
            let app = try buildApplication(
                config: config, logger: logs.logger(level: .info), alerts: sink, migrations: Migration.all,
                onChecksReported: { _ in reported.yield() }
            )
            try await app.sweptTest(.router) { _ in
                for await _ in reports { break }
            }
        }
        let checkLines = logs.lines.filter { $0.metadata.contains("check=") }
        let envelopes = listener.requests
        switch (row.environment, row.misconfigured) {
        case ("production", true):
            #expect(checkLines.contains { $0.level == .error && $0.message.contains("MIGRATION_SECRET") })
            #expect(envelopes.count == 1)
            let tag = reused ? "migration-secret.reused" : "migration-secret.missing"
            #expect(
                envelopes.first.map { String(decoding: $0.body, as: UTF8.self).contains(#""check":"\#(tag)""#) } == true
            )
        case (_, true):
            #expect(checkLines.contains { $0.level == .warning && $0.message.contains("MIGRATION_SECRET") })
            #expect(!checkLines.contains { $0.level >= .error })
            #expect(envelopes.isEmpty)
        case (_, false):
            #expect(
                checkLines.isEmpty, "a correct configuration produces no output about checks: \(checkLines.map(\.text))"
            )
            #expect(envelopes.isEmpty)
        }
        let everything = logs.text + envelopes.map { String(decoding: $0.body, as: UTF8.self) }.joined()
        #expect(!everything.contains(Secrets.session) && !everything.contains(Secrets.migration))
    }

    @Test("test environment: results are returned but nothing is logged or sent")
    func testEnvironment() async throws {
        let logs = LogCapture()
        let listener = SentryListener()
        try await listener.run { port in
            let config = try AppConfig(variables: ["APP_ENV": "test", "SENTRY_DSN": "http://k@127.0.0.1:\(port)/1"])
            let report = await runStartupChecks(CheckContext(config: config, database: nil, migrations: Migration.all))
            #expect(report.hasIssues)
            await CheckReporter(
                environment: config.environment, logger: logs.logger(),
                alerts: makeAlertSink(config: config, logger: logs.logger())
            ).report(report)
        }
        #expect(logs.lines.isEmpty)
        #expect(listener.requests.isEmpty)
    }

    @Test("an unknown APP_ENV reports like production")
    func unknownEnvironment() async throws {
        let logs = LogCapture()
        let config = try AppConfig(variables: ["APP_ENV": "qa-eu", "NEXTAUTH_SECRET": Secrets.session])
        let report = await runStartupChecks(
            CheckContext(config: config, database: nil, migrations: Migration.all), checks: Self.configChecks)
        await CheckReporter(environment: config.environment, logger: logs.logger(), alerts: nil).report(report)
        #expect(logs.lines.contains { $0.level == .error && $0.metadata.contains("migration-secret.missing") })
    }

    // MARK: app check

    @Test("app check: exit 0 and no issues when configured; exit 1 and the JSON shape when not")
    func checkCommand() async throws {
        let db = try await TestDatabase.make(.sqlite)
        let dir = try TempDir()
        let database = try AppDatabase(location: db.location, logger: quietLogger)
        _ = try await Migrator(
            database: database, migrations: Migration.all, lockTimeout: .seconds(5), logger: quietLogger
        ).migrate()

        let ok = try await AppBinary.run(
            ["check"],
            environment: [
                "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session,
            ], directory: dir.url)
        #expect(ok.status == 0)
        #expect(ok.out.contains("No issues."))

        let bad = try await AppBinary.run(
            ["check", "--format", "json", "--env", "production"],
            environment: [
                "DATABASE_URL": db.url, "MIGRATION_SECRET": Secrets.session, "NEXTAUTH_SECRET": Secrets.session,
            ],
            directory: dir.url)
        #expect(bad.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(bad.out.utf8)) as! [String: Any]
        #expect(json["hasIssues"] as? Bool == true)
        let results = json["results"] as! [[String: String]]
        #expect(results.contains { $0["id"] == "migration-secret.reused" && $0["level"] == "error" })
        #expect(results.contains { $0["id"] == "alerts.not-configured" && $0["level"] == "warning" })
        #expect(results.allSatisfy { Set($0.keys) == ["id", "level", "message", "hint"] })
        #expect(!(bad.out + bad.err).contains(Secrets.session))

        let text = try await AppBinary.run(["check"], environment: ["DATABASE_URL": db.url], directory: dir.url)
        #expect(text.status == 1)
        #expect(text.out.contains("ERROR migration-secret.missing"))
        #expect(text.out.contains("hint: Generate one with `app secret`"))
    }
}
