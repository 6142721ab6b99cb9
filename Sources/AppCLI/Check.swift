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
        let catalog = loadCatalog(config)
        let logger = makeLogger(config, oneShot: true)
        let report: CheckReport
        do {
            let database = try AppDatabase(
                location: config.database, sqliteJournalMode: config.sqliteJournalMode, logger: logger)
            let context = CheckContext(config: config, database: database, catalog: catalog)
            report = try await database.withRunning { await runStartupChecks(context) }
        } catch {
            // A database that cannot be set up is a finding of the report (database.unreachable, with its cause).
            report = await runStartupChecks(
                CheckContext(config: config, database: nil, databaseSetupError: error, catalog: catalog))
        }
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
}
