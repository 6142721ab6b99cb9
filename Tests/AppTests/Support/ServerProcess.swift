import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A request to a live server: its status and body.
func get(_ url: String, headers: [(String, String)] = [], method: HTTPMethod = .GET) async throws -> (Int, String) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// The built `app` executable, run as a real process.
enum AppBinary {
    static var url: URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/app")
    }

    /// Runs `app` to completion and returns its exit status, stdout and stderr.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) async throws -> (
        status: Int32, out: String, err: String
    ) {
        let result = try await runProcess(
            arguments, executable: url, environment: baseEnvironment.merging(environment) { $1 }, directory: directory)
        sweep(arguments, environment, result)
        return (result.status, result.out, result.stderr)
    }

    /// Runs `app` as a user without privileges, so file permissions apply: as `nobody` through
    /// `setpriv` when the tests run as root (as CI does), else as the current user.
    static func runUnprivileged(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil)
        async throws -> (status: Int32, out: String, err: String)
    {
        guard geteuid() == 0 else { return try await run(arguments, environment: environment, directory: directory) }
        let result = try await runProcess(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", url.path] + arguments,
            environment: baseEnvironment.merging(environment) { $1 }, directory: directory
        )
        sweep(arguments, environment, result)
        return (result.status, result.out, result.stderr)
    }

    /// Records a run for the secrets sweep. `app secret` and `app session mint` print a new secret or a
    /// token on stdout by design, so only their stderr is searched.
    private static func sweep(_ arguments: [String], _ environment: [String: String], _ result: ProcessOutput) {
        SecretSweep.secrets(in: environment)
        let printsSecrets = arguments.first == "secret" || arguments.starts(with: ["session", "mint"])
        SecretSweep.said(
            (printsSecrets ? "" : result.out) + result.stderr, by: "app " + arguments.joined(separator: " "))
    }

    /// A clean environment: only PATH and HOME, so the machine's own variables don't leak into a test.
    static var baseEnvironment: [String: String] {
        let env = ProcessInfo.processInfo.environment
        return ["PATH": env["PATH"] ?? "/usr/bin:/bin", "HOME": env["HOME"] ?? "/tmp"]
    }
}

/// `app serve` in the background on a port the OS picks; its log is kept for assertions.
final class ServerProcess: Sendable {
    let process: Process
    let port: Int
    private let log: LogBuffer

    var output: String { log.text }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: Int, log: LogBuffer) {
        self.process = process
        self.port = port
        self.log = log
    }

    /// Starts `app serve --port 0 --port-file …` and learns the bound port from the file the server
    /// writes in its `onServerRunning` callback.
    static func start(environment: [String: String], directory: URL, arguments: [String] = []) async throws
        -> ServerProcess
    {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("app-port-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: portFile) }
        let process = Process()
        process.executableURL = AppBinary.url
        process.arguments =
            ["serve", "--hostname", "127.0.0.1", "--port", "0", "--port-file", portFile.path] + arguments
        process.environment = AppBinary.baseEnvironment.merging(environment) { $1 }
        SecretSweep.secrets(in: environment)
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let collected = LogBuffer()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.append(data) }
        }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
                let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return ServerProcess(process: process, port: port, log: collected)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw ServerDidNotStart(log: collected.text)
    }

    /// SIGTERM, then wait for a graceful exit; returns the exit status.
    @discardableResult
    func stop() async -> Int32 {
        if process.isRunning { process.terminate() }
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    struct ServerDidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "app serve did not start:\n\(log)" }
    }
}

/// A process's output, gathered from its pipe's handler thread.
final class LogBuffer: Sendable {
    private let storage = Mutex(Data())
    func append(_ data: Data) {
        SecretSweep.said(String(decoding: data, as: UTF8.self), by: "app serve")
        storage.withLock { $0.append(data) }
    }
    var text: String { String(decoding: storage.withLock { $0 }, as: UTF8.self) }
}

/// An authorised POST /api/migrate to a live server.
func post(_ base: String) async throws -> (Int, String) {
    var request = HTTPClientRequest(url: "\(base)/api/migrate")
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(Secrets.migration)")
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
}

func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting until \(what)")
    throw CancellationError()
}

/// The text with its times masked: durations (`12 ms`, `1.4 s`, `2 min 5 s`) as `<t>`, RFC 3339
/// timestamps as `<when>`, so command output can be compared whole.
func maskTimes(_ text: String) -> String {
    var masked = text.replacingOccurrences(
        of: #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"#, with: "<when>", options: .regularExpression)
    masked = masked.replacingOccurrences(
        of: #"\d+ min \d+ s|\d+\.\d s|\d+ ms"#, with: "<t>", options: .regularExpression)
    return masked
}
