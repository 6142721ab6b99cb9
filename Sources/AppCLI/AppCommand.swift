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
}

/// Options every command that reads the configuration shares.
struct EnvironmentOption: ParsableArguments {
    @Option(name: .customLong("env"), help: "The environment: production, staging, development or test (default: APP_ENV, else development).")
    var environment: String?
}

/// Loads the config, or logs why it can't and exits non-zero.
func loadConfig(environment: String?, host: String? = nil, port: Int? = nil) throws -> AppConfig {
    do {
        return try AppConfig.load(environmentName: environment, host: host, port: port)
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

func makeLogger(_ config: AppConfig, label: String = "app") -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = config.logLevel
        return handler
    }
    var logger = Logger(label: label)
    logger.logLevel = config.logLevel
    return logger
}
