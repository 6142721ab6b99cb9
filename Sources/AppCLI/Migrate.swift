import AppCore
import ArgumentParser
import Foundation
import Logging

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply, list, roll back, create or resolve migrations (the same migrator as POST /api/migrate).",
        subcommands: [Apply.self, Rollback.self, New.self, Resolve.self],
        defaultSubcommand: Apply.self
    )
}

/// What every `app migrate` subcommand shares: the config, the migrations and a migrator, with every
/// failure reported as one `error:` line.
struct MigrateOptions: ParsableArguments {
    @OptionGroup var env: EnvironmentOption
    @OptionGroup var migrations: MigrationsOption

    func withMigrator<T: Sendable>(_ body: @Sendable @escaping (Migrator) async throws -> T) async throws -> T {
        let config = try loadConfig(environment: env.environment, migrationsDir: migrations.path)
        let logger = makeLogger(config)
        let catalog = loadCatalog(config)
        if let invalid = catalog.invalid { throw fail("\(MigrationError.invalid(invalid))") }
        let database = try openDatabase(config, logger: logger)
        let migrator = Migrator(database: database, catalog: catalog, lockTimeout: config.migrationLockTimeout, logger: logger)
        do {
            return try await database.withRunning { try await body(migrator) }
        } catch let error as MigrationError {
            throw fail("\(error)")
        } catch {
            throw fail("database unavailable: \(AppDatabase.describe(error))")
        }
    }
}

extension Migrate {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "up", abstract: "Apply pending migrations (the default).")

        @Flag(name: .long, help: "Print each migration's state and whether it runs in a transaction; change nothing.")
        var status = false

        @Flag(name: .customLong("dry-run"), help: "Print what would be applied; change nothing.")
        var dryRun = false

        @OptionGroup var options: MigrateOptions

        func run() async throws {
            let status = self.status, dryRun = self.dryRun
            try await options.withMigrator { migrator in
                if status {
                    let report = try await migrator.status()
                    let rows = Dictionary(report.applied.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    for entry in report.migrations {
                        let mode = entry.transactional ? "" : "  (no transaction)"
                        if let row = rows[entry.id] {
                            print("applied      \(entry.id)  \(row.appliedAt)  \(row.executionMs) ms\(mode)")
                        } else {
                            print("\(entry.state.padding(toLength: 11, withPad: " ", startingAt: 0))  \(entry.id)\(mode)")
                        }
                    }
                    for id in report.unknown { print("unknown      \(id)  (in the history, not among the migrations)") }
                } else if dryRun {
                    let pending = try await migrator.pending()
                    print(pending.isEmpty ? "Nothing to apply." : pending.map { "would apply  \($0)" }.joined(separator: "\n"))
                } else {
                    let applied = try await migrator.migrate()
                    print(applied.isEmpty ? "Nothing to apply." : applied.map { "applied  \($0)" }.joined(separator: "\n"))
                }
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the down sections of the newest applied migrations, newest first; refuse, changing nothing, when one has none."
        )

        @Option(help: "How many migrations to roll back.") var steps: Int = 1
        @OptionGroup var options: MigrateOptions

        func run() async throws {
            guard steps >= 1 else { throw fail("--steps must be 1 or more", exitCode: .validationFailure) }
            let steps = self.steps
            let done = try await options.withMigrator { try await $0.rollback(steps: steps) }
            print(done.isEmpty ? "Nothing to roll back." : done.map { "rolled back  \($0)" }.joined(separator: "\n"))
        }
    }

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new migration, named <UTC yyyymmddHHMMSS>_<description>, in the folder's format (dbmate's: one .sql file with both section markers)."
        )

        @Argument(help: "What the migration does, as in create_widgets.") var description: String
        @OptionGroup var options: MigrateOptions

        func run() throws {
            let config = try loadConfig(environment: options.env.environment, migrationsDir: options.migrations.path)
            guard let folder = config.migrationsDir else {
                throw fail("no migrations folder: set MIGRATIONS_DIR or pass --migrations-dir")
            }
            let slug = description.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            guard !slug.isEmpty, slug.allSatisfy({ $0.isASCII }) else {
                throw fail("the description must be letters, digits and _, as in create_widgets", exitCode: .validationFailure)
            }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMddHHmmss"
            let format: MigrationFormat
            do {
                format = try MigrationFolder.format(of: folder, setting: config.migrationsFormat)
            } catch {
                throw fail("\(error)")
            }
            guard let files = format.newFiles(stamp: formatter.string(from: Date()), slug: String(slug)) else {
                throw fail("drizzle's migrations are written by drizzle-kit generate, which also updates meta/_journal.json")
            }
            let urls = files.map { URL(fileURLWithPath: folder).appendingPathComponent($0.name) }
            if let taken = urls.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { throw fail("\(taken.path) already exists") }
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for (url, file) in zip(urls, files) {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(file.text.utf8).write(to: url, options: .withoutOverwriting)
                }
            } catch {
                throw fail("could not write into \(folder): \(error.localizedDescription)")
            }
            for url in urls { print(url.path) }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear an interrupted migration, after finishing (--applied) or undoing (--rolled-back) its statements by hand."
        )

        @Argument(help: "The migration's id (its file name without .sql).") var id: String
        @Flag(help: "It was finished by hand: keep it as applied.") var applied = false
        @Flag(name: .customLong("rolled-back"), help: "It was undone by hand: make it pending again.") var rolledBack = false
        @OptionGroup var options: MigrateOptions

        func validate() throws {
            guard applied != rolledBack else { throw ValidationError("give exactly one of --applied and --rolled-back") }
        }

        func run() async throws {
            let id = self.id, applied = self.applied
            try await options.withMigrator { try await $0.resolve(id, applied: applied) }
            print("resolved  \(id)  as \(applied ? "applied" : "rolled back")")
        }
    }
}
