import AppCore
import AppServer
import ArgumentParser
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the startup checks, print the report, and exit 1 when there are issues.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(name: .long, help: "text or json.")
    var format: Format = .text

    @OptionGroup var env: EnvironmentOption

    func run() async throws {
        let config = try loadConfig(environment: env.environment)
        let logger = makeLogger(config)
        let database = try? AppDatabase(location: config.database, logger: logger)
        let report: CheckReport
        if let database {
            report = try await database.withRunning { await runStartupChecks(CheckContext(config: config, database: database)) }
        } else {
            report = await runStartupChecks(CheckContext(config: config, database: nil))
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
