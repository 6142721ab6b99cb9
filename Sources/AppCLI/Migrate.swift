import AppCore
import ArgumentParser
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations (the same migrator as POST /api/migrate).")

    @Flag(name: .long, help: "Print applied and pending migrations; change nothing.")
    var status = false

    @Flag(name: .customLong("dry-run"), help: "Print what would be applied; change nothing.")
    var dryRun = false

    @OptionGroup var env: EnvironmentOption

    func run() async throws {
        let config = try loadConfig(environment: env.environment)
        let logger = makeLogger(config)
        let database = try openDatabase(config, logger: logger)
        let migrator = Migrator(database: database, migrations: Migration.all, lockTimeout: config.migrationLockTimeout, logger: logger)
        let status = self.status, dryRun = self.dryRun
        do {
            try await database.withRunning {
                if status {
                    let report = try await migrator.status()
                    for row in report.applied { print("applied  \(row.id)  \(row.appliedAt)  \(row.executionMs) ms") }
                    for id in report.pending { print("pending  \(id)") }
                    for id in report.unknown { print("unknown  \(id)  (in the history, not in this build)") }
                } else if dryRun {
                    let pending = try await migrator.pending()
                    print(pending.isEmpty ? "Nothing to apply." : pending.map { "would apply  \($0)" }.joined(separator: "\n"))
                } else {
                    let applied = try await migrator.migrate()
                    print(applied.isEmpty ? "Nothing to apply." : applied.map { "applied  \($0)" }.joined(separator: "\n"))
                }
            }
        } catch let error as MigrationError {
            throw fail("\(error)")
        } catch {
            throw fail("database unavailable: \(AppDatabase.describe(error))")
        }
    }
}
