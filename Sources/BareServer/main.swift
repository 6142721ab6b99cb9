import Hummingbird
import Logging

// The baseline for scripts/bench: a bare Hummingbird 2 app with one route that answers every
// POST /api/migrate as this server answers a wrong token (the same status, headers and body), and
// nothing else: no gate, no middleware, no logging per request, no database. The same release build as
// `app`, so the comparison is the framework alone.
//
// usage: BareServer PORT

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8080 : 8080
let body = ByteBuffer(string: #"{"success":false,"error":"Unauthorized"}"#)
let router = Router()
router.post("/api/migrate") { _, _ in
    Response(
        status: .unauthorized,
        headers: [
            .contentType: "application/json", .cacheControl: "no-store", .wwwAuthenticate: #"Bearer realm="migrate""#,
        ],
        body: .init(byteBuffer: body)
    )
}
var logger = Logger(label: "bare")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
