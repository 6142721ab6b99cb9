import AppCore
import AppServer
import ArgumentParser
import Hummingbird

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (graceful shutdown on SIGINT and SIGTERM).")

    @Option(name: .long, help: "The address to bind (default: HOST, else 127.0.0.1).")
    var hostname: String?

    @Option(name: .long, help: "The port to bind (default: PORT, else 8080).")
    var port: Int?

    @OptionGroup var env: EnvironmentOption

    func run() async throws {
        let config = try loadConfig(environment: env.environment, host: hostname, port: port)
        let logger = makeLogger(config)
        let app: any ApplicationProtocol
        do {
            app = try buildApplication(config: config, logger: logger)
        } catch {
            logger.critical("startup failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        try await app.runService()
    }
}
