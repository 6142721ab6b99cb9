import Hummingbird
import Logging

/// The baseline for scripts/bench: a bare Hummingbird 2 app with one route that answers every
/// POST /api/migrate as this server answers a wrong token (the same status, headers and body), and
/// nothing else: no gate, no middleware, no logging per request, no database. Built in the same release
/// build as `app`, so the comparison is the framework alone. Two executables run it: `BareServer` links
/// only Hummingbird, `BareLinkedServer` links every module `app` links as well, and runs none of them.
public enum BareRoute {
    /// Serves on 127.0.0.1:`port` until the process is stopped.
    public static func run(port: Int) async throws {
        let body = ByteBuffer(string: #"{"success":false,"error":"Unauthorized"}"#)
        let router = Router()
        router.post("/api/migrate") { _, _ in
            Response(
                status: .unauthorized,
                headers: [
                    .contentType: "application/json", .cacheControl: "no-store",
                    .wwwAuthenticate: #"Bearer realm="migrate""#,
                ],
                body: .init(byteBuffer: body)
            )
        }
        var logger = Logger(label: "bare")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.runService()
    }

    /// The port named by the first argument (8080 without one).
    public static var port: Int {
        CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8080 : 8080
    }
}
