import AppCore
import AppServer
import ArgumentParser
import Foundation
import Logging

@main
struct AppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app",
        abstract: "A web server whose schema migrations are applied by POST /api/migrate, guarded by MIGRATION_SECRET.",
        subcommands: [Serve.self, Migrate.self, Check.self, SecretCommand.self, SessionCommand.self],
        defaultSubcommand: Serve.self
    )

    /// The plain forms of `app serve` and `app migrate` go straight to their commands (`QuickParse`);
    /// every other command line is ArgumentParser's, and so is every error's message and exit code.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if !Self.serves(arguments) { AppDatabase.useOneEventLoop() }
        guard let command = QuickParse.command(arguments) else {
            await main(nil)
            return
        }
        if case .apply = command { AppDatabase.startOneShotThreadsAhead() }
        await run(command)
    }

    /// Whether the command line runs the server: `serve`, or no command at all (an option first, or
    /// nothing), since `serve` is the default. Every other command runs once and ends.
    static func serves(_ arguments: [String]) -> Bool {
        guard let first = arguments.first else { return true }
        return first == "serve" || first.hasPrefix("-")
    }

    /// Runs a command `QuickParse` took, then exits from the thread it ran on. Back in `main`, on the
    /// main actor, the exit would wait for a thread started to run the main queue.
    private nonisolated static func run(_ command: QuickParse.Command) async -> Never {
        do {
            switch command {
            case .serve(let arguments): try await Serve.run(arguments)
            case .apply(let arguments): try await Migrate.Apply.run(arguments)
            }
        } catch {
            exit(withError: error)
        }
        exit()
    }
}

/// Options every command that reads the configuration shares.
struct EnvironmentOption: ParsableArguments {
    @Option(
        name: .customLong("env"),
        help: "The environment: production, staging, development or test (default: APP_ENV, else development).")
    var environment: String?
}

/// `--migrations-dir`, shared by serve, migrate and check.
struct MigrationsOption: ParsableArguments {
    @Option(
        name: .customLong("migrations-dir"),
        help: "A folder of migration files (default: MIGRATIONS_DIR, else the built-in set).")
    var path: String?
}

/// How every command fails: one line on stderr naming the cause (never a secret), then a non-zero
/// exit. Use as `throw fail("…")`.
func fail(_ message: String, exitCode: ExitCode = .failure) -> ExitCode {
    Output.write("error: \(message)\n", to: STDERR_FILENO)
    return exitCode
}

/// Loads the config, or fails with the reason.
func loadConfig(environment: String?, host: String? = nil, port: Int? = nil, migrationsDir: String? = nil) throws
    -> AppConfig
{
    do {
        return try AppConfig.load(environmentName: environment, host: host, port: port, migrationsDir: migrationsDir)
    } catch {
        throw fail("\(error)")
    }
}

/// Sets up the database named by the config for a one-shot command, or fails naming the place and the
/// cause.
func openDatabase(_ config: AppConfig, logger: Logger) throws -> AppDatabase {
    do {
        return try AppDatabase(
            location: config.database, sqliteJournalMode: config.sqliteJournalMode, postgresPool: config.databasePool,
            oneShot: true, logger: logger)
    } catch {
        throw fail("database unavailable: \(AppDatabase.describe(error))")
    }
}

/// The migrations the config names: the folder's (read now), or the built-in set. A server's folder
/// is read again when it changes; a one-shot command's is read once.
func loadCatalog(_ config: AppConfig, oneShot: Bool) -> MigrationCatalog {
    MigrationCatalog.load(
        folder: config.migrationsDir, format: config.migrationsFormat, dialect: config.database.engine,
        rereads: !oneShot)
}

/// The server logs at `LOG_LEVEL` (default info); a one-shot command at `warning` unless `LOG_LEVEL`
/// is set, since what it prints already tells each event.
func makeLogger(_ config: AppConfig, label: String = "app", oneShot: Bool = false) -> Logger {
    let level = oneShot && !config.logLevelIsSet ? .warning : config.logLevel
    let format = config.logFormat
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = TextLogHandler(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}
