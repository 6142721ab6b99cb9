import AppCore
import AppServer
import ArgumentParser
import Foundation
import Hummingbird
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run the HTTP server (SIGTERM: finish the migration runs in progress, within SHUTDOWN_TIMEOUT, then stop; SIGINT: stop).",
        discussion: "Examples:\n  app serve\n  app serve --hostname 0.0.0.0 --port 8080 --env production"
    )

    @Option(name: .long, help: "The address to bind (default: HOST, else 127.0.0.1).")
    var hostname: String?

    @Option(name: .long, help: "The port to bind (default: PORT, else 8080).")
    var port: Int?

    @Option(
        name: .customLong("port-file"),
        help: "Once listening, write the bound port to this file (useful with --port 0).")
    var portFile: String?

    @OptionGroup var env: EnvironmentOption
    @OptionGroup var migrations: MigrationsOption

    /// What `app serve` is given, as ArgumentParser or `QuickParse` parsed it.
    struct Arguments: Equatable {
        var hostname: String?
        var port: Int?
        var portFile: String?
        var environment: String?
        var migrationsDir: String?
    }

    var arguments: Arguments {
        Arguments(
            hostname: hostname, port: port, portFile: portFile, environment: env.environment,
            migrationsDir: migrations.path)
    }

    func run() async throws {
        try await Self.run(arguments)
    }

    static func run(_ arguments: Arguments) async throws {
        let config = try loadConfig(
            environment: arguments.environment, host: arguments.hostname, port: arguments.port,
            migrationsDir: arguments.migrationsDir)
        // On the other core while the folder is read and the app is built: threads only.
        Task.detached { await AppDatabase.warmUp(for: config.database, oneShot: false, query: false) }
        let logger = makeLogger(config)
        let app: any ApplicationProtocol
        let portFile = arguments.portFile
        let drain = ShutdownDrain()
        do {
            app = try buildApplication(
                config: config, logger: logger, catalog: loadCatalog(config, oneShot: false), drain: drain,
                onServerRunning: { port in
                    guard let portFile else { return }
                    do {
                        try Data("\(port)\n".utf8).write(to: URL(fileURLWithPath: portFile), options: .atomic)
                    } catch {
                        logger.error(
                            "could not write --port-file",
                            metadata: ["path": "\(portFile)", "cause": "\(error.localizedDescription)"])
                    }
                })
        } catch {
            throw fail("startup failed: \(error)")
        }
        // SIGTERM first drains the migration runs (DrainOnSIGTERM), whose return then shuts the server
        // down gracefully; SIGINT shuts it down gracefully at once.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: NamedService("HTTPServer", app)),
                    .init(
                        service: NamedService(
                            DrainOnSIGTERM(drain: drain, timeout: config.shutdownTimeout, logger: logger)),
                        successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigint],
                logger: logger
            ))
        do {
            try await group.run()
        } catch {
            throw fail("the server stopped: \(error)")
        }
    }
}
