import AppCore
import Foundation
import Logging
import Synchronization
import Testing

/// The database engines a test runs against. PostgreSQL comes from `scripts/test` (TEST_DATABASE_URL);
/// without it the PostgreSQL cases are left out locally, and fail under CI=true.
enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var available: [Engine] {
        let env = ProcessInfo.processInfo.environment
        return env["TEST_DATABASE_URL"] != nil || env["CI"] == "true" ? [.sqlite, .postgres] : [.sqlite]
    }
}

struct MissingPostgres: Error, CustomStringConvertible {
    var description: String { "TEST_DATABASE_URL is not set; run the tests with scripts/test" }
}

/// A scratch folder removed at the end of the test.
final class TempDir: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("apptest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: url.appendingPathComponent(name))
    }

    var path: String { url.path }
}

/// A fresh, empty database for one test: an SQLite file in a temp folder, or a new PostgreSQL database.
struct TestDatabase: Sendable {
    let location: DatabaseLocation
    let url: String
    let dir: TempDir

    static func make(_ engine: Engine) async throws -> TestDatabase {
        let dir = try TempDir()
        switch engine {
        case .sqlite:
            let path = dir.url.appendingPathComponent("test.sqlite").path
            return TestDatabase(location: .sqlite(path: path), url: "sqlite://\(path)", dir: dir)
        case .postgres:
            guard let admin = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] else { throw MissingPostgres() }
            let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            let adminDB = try AppDatabase(location: try DatabaseLocation(url: admin), logger: quietLogger)
            try await adminDB.withRunning {
                try await adminDB.withConnection { db in try await db.raw("CREATE DATABASE \(unsafeRaw: String(name))").run() }
            }
            var components = URLComponents(string: admin)!
            components.path = "/\(name)"
            let url = components.string!
            return TestDatabase(location: try DatabaseLocation(url: url), url: url, dir: dir)
        }
    }
}

/// Log lines captured in memory, for asserting what was (and was not) logged.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: String
        var text: String { "\(level) \(message) \(metadata)" }
    }

    private let storage = Mutex<[Line]>([])

    var lines: [Line] { storage.withLock { $0 } }
    var text: String { lines.map(\.text).joined(separator: "\n") }

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    func append(_ line: Line) { storage.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let extra = event.metadata { all.merge(extra) { $1 } }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append(Line(level: event.level, message: "\(event.message)", metadata: rendered))
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "quiet") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()

/// Two strong, distinct secrets used across tests.
enum Secrets {
    static let migration = "m1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2"
    static let session = "s9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8"
}

/// What a finished child process printed.
struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: String
    var out: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion, feeding `stdin`; stdout and stderr are drained side by side so a
/// chatty stderr can never block the child. `executable` nil means "find `arguments[0]` on PATH".
func runProcess(
    _ arguments: [String], executable: URL? = nil, environment: [String: String]? = nil,
    directory: URL? = nil, stdin text: String? = nil
) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable ?? URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let input = Pipe(), out = Pipe(), err = Pipe()
    process.standardInput = text == nil ? FileHandle.nullDevice : input
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errData = LockedData()
    let drained = DispatchGroup()
    drained.enter()
    DispatchQueue.global().async {
        errData.set(err.fileHandleForReading.readDataToEndOfFile())
        drained.leave()
    }
    if let text {
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData.get(), as: UTF8.self))
}

private final class LockedData: Sendable {
    private let storage = Mutex(Data())
    func set(_ data: Data) { storage.withLock { $0 = data } }
    func get() -> Data { storage.withLock { $0 } }
}
