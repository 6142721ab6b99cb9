import AppCore
import AppServer
import ArgumentParser
import Foundation
import Logging

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, list, roll back, create or resolve migrations (the same migrator as POST /api/migrate).",
        discussion: """
            Examples:
              app migrate                           apply every pending migration
              app migrate --status                  list each migration and its state
              app migrate --status --format json    the same document as GET /api/migrate
              app migrate rollback --steps 2        undo the two newest
              app migrate new add_widgets           write a new migration in the folder's format
              app migrate lint --strict             lint what would be applied (PostgreSQL)

            \(exitCodes)
            """,
        subcommands: [Apply.self, Rollback.self, New.self, Resolve.self, Lint.self],
        defaultSubcommand: Apply.self
    )

    static let exitCodes = """
        Exit codes: 0 done (or nothing to do), 1 failed (a migration, the database; lint warnings with \
        --strict), 2 the migrations folder is invalid (or a migration refused by MIGRATION_LINT=error), 3 interrupted, locked (another runner, or a migration to resolve) or the \
        database kept by another tool, 64 usage.
        """
}

/// `app migrate`'s exit codes, the same for every subcommand (see `Migrate.exitCodes`).
enum MigrateExit {
    static let failed = ExitCode.failure
    static let invalid = ExitCode(2)
    static let blocked = ExitCode(3)

    static func code(for error: MigrationError) -> ExitCode {
        switch error {
        case .invalid, .refusedByLint: invalid
        case .interrupted, .lockTimeout, .foreignHistory, .blockedByLock: blocked
        case .failed, .drift, .noDownSection, .notInterrupted, .unknownMigration, .connectionLost, .transactionPooler:
            failed
        }
    }
}

/// The options every `app migrate` subcommand shares.
struct MigrateOptions: ParsableArguments {
    @OptionGroup var env: EnvironmentOption
    @OptionGroup var migrations: MigrationsOption

    var settings: MigrateSettings { MigrateSettings(environment: env.environment, migrationsDir: migrations.path) }
}

/// What every `app migrate` subcommand shares: the config, the migrations and a migrator, with every
/// failure reported as one `error:` line.
struct MigrateSettings: Equatable {
    var environment: String?
    var migrationsDir: String?

    func withMigrator<T: Sendable>(
        onProgress: (@Sendable (MigrationProgress) -> Void)? = nil,
        _ body: @Sendable @escaping (Migrator) async throws -> T
    ) async throws -> T {
        let config = try loadConfig(environment: environment, migrationsDir: migrationsDir)
        let logger = makeLogger(config, oneShot: true)
        let ahead = AppDatabase.connectsAhead(config.database)
        // On the other core while the folder is read: nothing is opened (AppDatabase.warmUp). Its query
        // on a database in memory only stands in for a first connection that cannot be opened ahead.
        Task.detached { await AppDatabase.warmUp(for: config.database, oneShot: true, query: !ahead) }
        @Sendable func migrator(_ database: AppDatabase, _ catalog: MigrationCatalog) -> Migrator {
            var migrator = Migrator(
                database: database, catalog: catalog, lockTimeout: config.migrationLockTimeout, logger: logger)
            migrator.onProgress = onProgress
            migrator.lockPolicy = config.lockPolicy
            migrator.lintMode = config.lintMode
            migrator.linter = MigrationLinter(smallTable: config.lintSmallTable)
            return migrator
        }
        guard ahead else {
            // An SQLite file not there yet is made only once the folder is found valid: an invalid
            // folder makes none.
            let catalog = try Self.validCatalog(config)
            let database = try openDatabase(config, logger: logger)
            return try await Self.running(database) { try await body(migrator(database, catalog)) }
        }
        // The first connection (PostgreSQL's, or an SQLite file's already there) opens while the folder
        // is read, and the history's first questions are asked on it (Migrator.historyAhead). An invalid
        // folder is still reported first, and alone (the connection's own failure, if any, is the first
        // read's to report).
        let database = try openDatabase(config, logger: logger)
        return try await Self.running(database) {
            database.connectAhead()
            let historyAhead = Task { try await HistoryStart.read(database) }
            do {
                var ready = migrator(database, try Self.validCatalog(config))
                ready.historyAhead = historyAhead
                let result = try await body(ready)
                _ = await historyAhead.result
                return result
            } catch {
                // SQLite's read is waited for, so that its connection goes back before the pool stops
                // (its wait for another writer is bounded by the busy timeout). PostgreSQL's lease wait
                // is not bounded so: its read is cancelled and left, and the error is reported at once.
                historyAhead.cancel()
                if case .sqlite = config.database { _ = await historyAhead.result }
                throw error
            }
        }
    }

    /// The migrations the config names, or the `error:` line and exit code of an invalid folder.
    private static func validCatalog(_ config: AppConfig) throws -> MigrationCatalog {
        let catalog = loadCatalog(config, oneShot: true)
        if let invalid = catalog.invalid {
            throw fail("\(MigrationError.invalid(invalid))", exitCode: MigrateExit.invalid)
        }
        return catalog
    }

    /// Runs `work` while the database's pool runs, each failure turned into its `error:` line.
    private static func running<T: Sendable>(
        _ database: AppDatabase, _ work: @Sendable @escaping () async throws -> T
    ) async throws -> T {
        do {
            return try await database.withRunning(work)
        } catch let exit as ExitCode {
            throw exit
        } catch let error as MigrationError {
            throw fail("\(error)", exitCode: MigrateExit.code(for: error))
        } catch {
            throw fail("database unavailable: \(AppDatabase.describe(error))")
        }
    }
}

extension Migrate {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "up", abstract: "Apply pending migrations (the default).",
            discussion: """
                Prints a line as each migration starts and its time when it ends, then a summary.

                Examples:
                  app migrate
                  app migrate --dry-run
                  app migrate --status
                  MIGRATIONS_DIR=db/migrations app migrate --status --format json

                \(Migrate.exitCodes)
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Flag(name: .long, help: "Print each migration's state and whether it runs in a transaction; change nothing.")
        var status = false

        @Option(help: "With --status: text (a table) or json (the document GET /api/migrate answers).")
        var format: Format = .text

        @Flag(name: .customLong("dry-run"), help: "Print what would be applied; change nothing.")
        var dryRun = false

        @OptionGroup var options: MigrateOptions

        /// What `app migrate [up]` is given, as ArgumentParser or `QuickParse` parsed it.
        struct Arguments: Equatable {
            var status = false
            var format = Format.text
            var dryRun = false
            var settings = MigrateSettings()

            func validate() throws {
                if format == .json, !status { throw ValidationError("--format json goes with --status") }
            }
        }

        var arguments: Arguments {
            Arguments(status: status, format: format, dryRun: dryRun, settings: options.settings)
        }

        func validate() throws {
            try arguments.validate()
        }

        func run() async throws {
            try await Self.run(arguments)
        }

        static func run(_ arguments: Arguments) async throws {
            let settings = arguments.settings
            let out = Output()
            if arguments.status {
                let report = try await settings.withMigrator { try await $0.status() }
                switch arguments.format {
                case .json: out.line(try Self.json(report))
                case .text: Self.printStatus(report, out)
                }
            } else if arguments.dryRun {
                let (pending, findings) = try await settings.withMigrator { migrator in
                    let pending = try await migrator.pending()
                    let findings = migrator.lintMode == .off ? [] : try await migrator.lint()
                    return (pending, findings)
                }
                for id in pending {
                    let rules = findings.filter { $0.migration == id && $0.level == .warning }.map(\.rule)
                    out.line(
                        "Would apply \(id)"
                            + (rules.isEmpty ? "" : " (lint: \(Set(rules).sorted().joined(separator: ", ")))"))
                }
                out.line(pending.isEmpty ? "Nothing to apply." : "\(Self.count(pending.count)) to apply.")
            } else {
                let started = ContinuousClock.now
                let progress: @Sendable (MigrationProgress) -> Void = { event in
                    switch event {
                    case .started(let id, let transactional):
                        out.line(
                            "\(out.dim(out.fancy ? "→" : "")) Applying \(id)\(transactional ? "" : " (outside a transaction)")"
                                .trimmingSpaces())
                    case .applied(let id, let ms):
                        out.line(
                            "\(out.green(out.fancy ? "✓" : "")) Applied \(id) in \(Output.duration(milliseconds: ms))"
                                .trimmingSpaces())
                    }
                }
                let applied = try await settings.withMigrator(onProgress: progress) { try await $0.migrate() }
                let total = Output.duration(milliseconds: (ContinuousClock.now - started).milliseconds)
                out.line(applied.isEmpty ? "Nothing to apply." : "Applied \(Self.count(applied.count)) in \(total).")
            }
        }

        static func count(_ n: Int) -> String { n == 1 ? "1 migration" : "\(n) migrations" }

        /// The status as GET /api/migrate encodes it.
        static func json(_ report: MigrationStatus) throws -> String {
            String(decoding: try apiJSON(report), as: UTF8.self)
        }

        /// What the STATE column shows: the report's state, with adopted rows told apart, and the
        /// history's rows the folder lacks.
        enum Shown: String {
            case applied, adopted, pending, interrupted, unknown

            init(_ state: MigrationState) {
                switch state {
                case .applied: self = .applied
                case .pending: self = .pending
                case .interrupted: self = .interrupted
                }
            }
        }

        /// One aligned row per migration (and per history row the folder lacks), then the counts.
        static func printStatus(_ report: MigrationStatus, _ out: Output) {
            let rows = Dictionary(report.applied.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            var table = [["STATE", "MIGRATION", "APPLIED AT", "DURATION", "TRANSACTION"]]
            var shown: [Shown] = []
            for entry in report.migrations {
                let row = rows[entry.id]
                let adopted = row?.state == .adopted
                let appliedAt = row.map { $0.appliedAt.isEmpty ? "(by the folder's tool)" : $0.appliedAt } ?? "-"
                let duration = row.map { adopted ? "-" : Output.duration(milliseconds: $0.executionMs) } ?? "-"
                shown.append(adopted ? .adopted : Shown(entry.state))
                table.append([
                    shown[shown.count - 1].rawValue, entry.id, appliedAt, duration, entry.transactional ? "yes" : "no",
                ])
            }
            for id in report.unknown {
                shown.append(.unknown)
                table.append([
                    Shown.unknown.rawValue, id, rows[id]?.appliedAt ?? "-", "-", "(not among the migrations)",
                ])
            }
            let lines = Output.table(table) { row, column, cell in
                guard row > 0, column == 0 else { return row == 0 ? out.dim(cell) : cell }
                switch shown[row - 1] {
                case .pending: return out.yellow(cell)
                case .interrupted, .unknown: return out.red(cell)
                case .applied, .adopted: return out.green(cell)
                }
            }
            for line in lines { out.line(line) }
            // Pending migrations the linter warns about (PostgreSQL, MIGRATION_LINT not off).
            for id in report.pending {
                let rules = Set((report.lint ?? []).filter { $0.migration == id && $0.level == .warning }.map(\.rule))
                if !rules.isEmpty { out.line(out.yellow("Lint: \(id): \(rules.sorted().joined(separator: ", "))")) }
            }
            var counts = [
                "Applied: \(report.migrations.filter { $0.state == .applied }.count)",
                "Pending: \(report.pending.count)",
            ]
            if !report.interrupted.isEmpty { counts.append("Interrupted: \(report.interrupted.count)") }
            if !report.unknown.isEmpty { counts.append("Unknown: \(report.unknown.count)") }
            if !report.outOfOrder.isEmpty { counts.append("Out of order: \(report.outOfOrder.count)") }
            out.line("")
            out.line(counts.joined(separator: "  "))
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract:
                "Run the down sections of the newest applied migrations, newest first; refuse, changing nothing, when one has none.",
            discussion: "Examples:\n  app migrate rollback\n  app migrate rollback --steps 3\n\n\(Migrate.exitCodes)"
        )

        @Option(help: "How many migrations to roll back.") var steps: Int = 1
        @OptionGroup var options: MigrateOptions

        func run() async throws {
            guard steps >= 1 else { throw fail("--steps must be 1 or more", exitCode: .validationFailure) }
            let steps = self.steps
            let started = ContinuousClock.now
            let done = try await options.settings.withMigrator { try await $0.rollback(steps: steps) }
            let out = Output()
            for id in done { out.line("Rolled back \(id)") }
            let total = Output.duration(milliseconds: (ContinuousClock.now - started).milliseconds)
            out.line(done.isEmpty ? "Nothing to roll back." : "Rolled back \(Apply.count(done.count)) in \(total).")
        }
    }

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract:
                "Write a new migration, named <UTC yyyymmddHHMMSS>_<description>, in the folder's format (dbmate's: one .sql file with both section markers).",
            discussion: "Example:\n  MIGRATIONS_DIR=db/migrations app migrate new create_widgets"
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
                throw fail(
                    "the description must be letters, digits and _, as in create_widgets", exitCode: .validationFailure)
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
                throw fail(
                    "drizzle's migrations are written by drizzle-kit generate, which also updates meta/_journal.json")
            }
            let urls = files.map { URL(fileURLWithPath: folder).appendingPathComponent($0.name) }
            if let taken = urls.first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
                throw fail("\(taken.path) already exists")
            }
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for (url, file) in zip(urls, files) {
                    try FileManager.default.createDirectory(
                        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(file.text.utf8).write(to: url, options: .withoutOverwriting)
                }
            } catch {
                throw fail("could not write into \(folder): \(error.localizedDescription)")
            }
            do {
                try format.wroteNewFiles(in: folder)
            } catch {
                throw fail("\(error)")
            }
            for url in urls { print(url.path) }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve",
            abstract:
                "Clear an interrupted migration, after finishing (--applied) or undoing (--rolled-back) its statements by hand.",
            discussion:
                "Examples:\n  app migrate resolve 20261129093000_add_index --applied\n  app migrate resolve 20261129093000_add_index --rolled-back\n\n\(Migrate.exitCodes)"
        )

        @Argument(help: "The migration's id (its file name without .sql).") var id: String
        @Flag(help: "It was finished by hand: keep it as applied.") var applied = false
        @Flag(name: .customLong("rolled-back"), help: "It was undone by hand: make it pending again.") var rolledBack =
            false
        @OptionGroup var options: MigrateOptions

        func validate() throws {
            guard applied != rolledBack else {
                throw ValidationError("give exactly one of --applied and --rolled-back")
            }
        }

        func run() async throws {
            let id = self.id
            let applied = self.applied
            try await options.settings.withMigrator { try await $0.resolve(id, applied: applied) }
            Output().line("Resolved \(id) as \(applied ? "applied" : "rolled back").")
        }
    }
}

extension Migrate {
    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lint",
            abstract: "Lint the migrations that would be applied, with squawk's rules, rated by each table's size.",
            discussion: """
                PostgreSQL only: each pending migration is read with PostgreSQL's own parser. A finding about
                lock time or a table rewrite is information below MIGRATION_LINT_SMALL_TABLE rows (from the
                catalog's estimate) and a warning above; one about compatibility or lost data is a warning at
                any size. `-- squawk-ignore rule` above a statement (or `-- squawk-ignore-file rule`) leaves
                it out. Changes nothing.

                Examples:
                  app migrate lint
                  app migrate lint --format json
                  app migrate lint --strict          exit 1 when there is a warning

                \(Migrate.exitCodes)
                """
        )

        @Option(help: "text (one line per finding) or json ({\"findings\":[…]}).")
        var format: Apply.Format = .text

        @Flag(help: "Exit 1 when a finding is a warning.")
        var strict = false

        @OptionGroup var options: MigrateOptions

        struct Report: Encodable { var findings: [LintFinding] }

        func run() async throws {
            let out = Output()
            let (lints, findings) = try await options.settings.withMigrator { migrator in
                guard migrator.lints, MigrationLinter.available else { return (migrator.lints, [LintFinding]()) }
                return (true, try await migrator.lint())
            }
            if lints, let reason = MigrationLinter.unavailableReason { throw fail(reason) }
            switch format {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                out.line(String(decoding: try encoder.encode(Report(findings: findings)), as: UTF8.self))
            case .text:
                if !lints {
                    out.line("Nothing to lint: the linter reads PostgreSQL migrations, and DATABASE_URL is SQLite.")
                }
                for finding in findings {
                    let size = finding.rows.map { ", \($0) rows" } ?? ""
                    out.line(
                        "\(finding.level.rawValue): \(finding.migration):\(finding.line) \(finding.rule)"
                            + (finding.table.map { " (\($0)\(size))" } ?? "") + ": \(finding.message)")
                }
                if lints {
                    let warnings = findings.filter { $0.level == .warning }.count
                    out.line(
                        "\(findings.count) finding\(findings.count == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")."
                    )
                }
            }
            if strict, findings.contains(where: { $0.level == .warning }) { throw ExitCode.failure }
        }
    }
}
