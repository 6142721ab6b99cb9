import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization

/// A real HTTP listener on loopback that records what a Sentry client sends and answers as told.
final class SentryListener: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: Data
    }

    enum Answer: Sendable {
        case ok
        case limited(rateLimits: String)
        case tooManyRequests(retryAfter: String)
        case stall(Duration)
    }

    private let received = Mutex<[Received]>([])
    private let boundPort = Mutex(0)
    /// The port of the last run.
    var port: Int { boundPort.withLock { $0 } }
    private let answers: Mutex<[Answer]>

    init(answers: [Answer] = []) {
        self.answers = Mutex(answers)
    }

    var requests: [Received] { received.withLock { $0 } }

    /// Runs the listener on a free port for the duration of `body`.
    func run(_ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let router = Router()
        router.post("/api/{project}/envelope/") { request, _ -> Response in
            let data = try await request.body.collect(upTo: 1 << 20)
            SecretSweep.said(String(buffer: data), by: "alert")
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            self.received.withLock {
                $0.append(Received(path: request.uri.path, headers: headers, body: Data(buffer: data)))
            }
            let answer = self.answers.withLock { $0.isEmpty ? Answer.ok : $0.removeFirst() }
            switch answer {
            case .ok:
                return Response(status: .ok)
            case .limited(let limits):
                return Response(status: .ok, headers: [HTTPField.Name("X-Sentry-Rate-Limits")!: limits])
            case .tooManyRequests(let retryAfter):
                return Response(status: .tooManyRequests, headers: [.retryAfter: retryAfter])
            case .stall(let duration):
                try? await Task.sleep(for: duration)
                return Response(status: .ok)
            }
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        try await app.test(.live) { client in
            boundPort.withLock { $0 = client.port! }
            try await body(client.port!)
        }
    }
}

/// Our envelope bytes, parsed by the official `sentry_sdk.envelope.Envelope.deserialize`.
enum OfficialEnvelopeParser {
    /// Tests that call this are gated on `Tool.python("sentry_sdk")`; a missing module fails here.
    static func parse(_ data: Data) async throws -> [String: Any] {
        let dir = try TempDir()
        let file = dir.url.appendingPathComponent("envelope.bin")
        try writeFile(file.path, data)
        let script = URL(fileURLWithPath: ConfigTests.repoFile("scripts/checkers/check_envelope.py"))
        let result = try await runProcess(["python3", script.path, file.path])
        guard result.status == 0 else { throw ParseFailed(stderr: result.stderr) }
        return try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] ?? [:]
    }

    struct ParseFailed: Error, CustomStringConvertible {
        var stderr: String
        var description: String { "sentry_sdk could not parse our envelope: \(stderr)" }
    }
}
