import AppCore
import AppServer
import ArgumentParser
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the startup checks, print the report, and exit 1 when there are issues.",
        discussion: "Examples:\n  app check\n  APP_ENV=production app check --format json"
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(name: .long, help: "text or json.")
    var format: Format = .text

    @OptionGroup var env: EnvironmentOption
    @OptionGroup var migrations: MigrationsOption

    func run() async throws {
        let config = try loadConfig(environment: env.environment, migrationsDir: migrations.path)
        let logger = makeLogger(config, oneShot: true)
        // On the other core while the folder is read: nothing is opened (AppDatabase.warmUp).
        Task.detached { await AppDatabase.warmUp(for: config.database, oneShot: true) }
        let catalog = loadCatalog(config, oneShot: true)
        var report: CheckReport
        do {
            let database = try AppDatabase(
                location: config.database, sqliteJournalMode: config.sqliteJournalMode,
                postgresPool: config.databasePool, oneShot: true, logger: logger)
            let context = CheckContext(config: config, database: database, catalog: catalog)
            report = try await database.withRunning { await runStartupChecks(context) }
        } catch {
            // A database that cannot be set up is a finding of the report (database.unreachable, with its cause).
            report = await runStartupChecks(
                CheckContext(config: config, database: nil, databaseSetupError: error, catalog: catalog))
        }
        report.results += Self.checkTLS(config)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .text:
            if report.results.isEmpty { print("No issues.") }
            for result in report.results {
                print("\(result.level.rawValue.uppercased()) \(result.id): \(result.message)\n    hint: \(result.hint)")
            }
        }
        if report.hasIssues { throw ExitCode.failure }
    }

    /// `TLS_CERT_FILE` and `TLS_KEY_FILE` loaded as `app serve` loads them at startup, where a bad pair
    /// stops the server: the same one-line cause, naming the variable, never the key.
    static func checkTLS(_ config: AppConfig) -> [CheckResult] {
        guard let certFile = config.tlsCertFile, let keyFile = config.tlsKeyFile else { return [] }
        do {
            _ = try ServerTLS(certFile: certFile, keyFile: keyFile)
            return []
        } catch {
            return [
                CheckResult(
                    id: "transport.tls", level: .error,
                    message: "The TLS certificate and key cannot be used, so the server would not start: \(error).",
                    hint:
                        "Point TLS_CERT_FILE at a PEM certificate (leaf first) and TLS_KEY_FILE at its unencrypted key."
                )
            ]
        }
    }
}
