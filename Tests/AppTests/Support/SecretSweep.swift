import AppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization

/// The secrets sweep. With `SECRET_SWEEP_DIR` set (scripts/test sets it), every secret the tests hand
/// the server (the migration and session secrets, the database password) goes to `secrets.txt`, and
/// everything the server says back (log lines, response heads and bodies, the alerts a Sentry
/// listener receives, the output of `app` commands) goes to `said.txt`. `scripts/checkers/secret_sweep.py`
/// runs after the whole suite and fails when any secret appears in what was said.
enum SecretSweep {
    private static let files: (secrets: FileHandle, said: FileHandle)? = {
        guard let dir = ProcessInfo.processInfo.environment["SECRET_SWEEP_DIR"], !dir.isEmpty else { return nil }
        let folder = URL(fileURLWithPath: dir)
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func open(_ name: String) -> FileHandle? {
            let url = folder.appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: url.path) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            let handle = try? FileHandle(forWritingTo: url)
            _ = try? handle?.seekToEnd()
            return handle
        }
        guard let secrets = open("secrets.txt"), let said = open("said.txt") else { return nil }
        return (secrets, said)
    }()
    /// The secrets most tests share, and the test cluster's password, recorded once.
    private static let recorded = Mutex<Set<String>>([])
    private static let shared: Void = {
        var variables = ["MIGRATION_SECRET": Secrets.migration, "NEXTAUTH_SECRET": Secrets.session]
        variables["TEST_DATABASE_URL"] = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"]
        record(variables)
    }()
    private static let writing = Mutex(())

    /// Records the secret values among `variables` (and the password of any database URL among them).
    static func secrets(in variables: [String: String]) {
        guard files != nil else { return }
        _ = shared
        record(variables)
    }

    private static func record(_ variables: [String: String]) {
        var values: [String] = []
        for (name, value) in variables where !value.isEmpty {
            if name.hasSuffix("DATABASE_URL") {
                if let password = URLComponents(string: value)?.password, !password.isEmpty {
                    values.append(password.removingPercentEncoding ?? password)
                }
            } else if AppConfig.secretKeys.contains(name), name != "SENTRY_DSN" {
                values.append(value)
            }
        }
        let new = recorded.withLock { seen in values.filter { seen.insert($0).inserted } }
        guard !new.isEmpty else { return }
        write(new.map { $0 + "\n" }.joined(), to: \.secrets)
    }

    /// Records what the server said (`source` says where it came from, for the sweep's report).
    static func said(_ text: String, by source: String) {
        guard files != nil, !text.isEmpty else { return }
        _ = shared
        write("--- \(source)\n\(text)\n", to: \.said)
    }

    private static func write(_ text: String, to file: KeyPath<(secrets: FileHandle, said: FileHandle), FileHandle>) {
        guard let files else { return }
        writing.withLock { _ in try? files[keyPath: file].write(contentsOf: Data(text.utf8)) }
    }
}

/// A test client whose every response (head and body) is recorded for the sweep.
struct SweptClient: TestClientProtocol {
    let base: any TestClientProtocol
    var port: Int? { base.port }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws
        -> TestResponse
    {
        let response = try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
        let head = response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
        SecretSweep.said(
            "\(response.status.code)\n\(head)\n\n\(String(buffer: response.body))",
            by: "response to \(method) \(uri.prefix { $0 != "?" })")
        return response
    }
}

extension ApplicationProtocol {
    /// `test(_:_:)` with every response recorded for the secrets sweep.
    func sweptTest<Value>(_ setup: TestingSetup, _ body: @Sendable (any TestClientProtocol) async throws -> Value)
        async throws -> Value
    {
        try await test(setup) { client in try await body(SweptClient(base: client)) }
    }
}
