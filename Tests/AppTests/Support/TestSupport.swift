import AppCore
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

// No suite here is `.serialized`: Swift Testing 6.3 already runs at most 2 × cores test cases at once,
// which bounds the load of the process-spawning suites. Child processes are waited for off the
// concurrency pool (`runProcess`): on 2 cores a blocked pool thread stalls every other test.

/// Whether a tool a test needs is here. Under `CI=true` every tool counts as present, so a test that
/// needs a missing one runs and fails instead of being skipped: `scripts/test` installs them all.
/// Locally a missing tool skips the test, visibly (`.enabled(if:)` or `Test.cancel`).
enum Tool {
    static var underCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The throwaway PostgreSQL cluster `scripts/test` starts.
    static var postgres: Bool { underCI || ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] != nil }

    /// PgBouncer in transaction pooling mode in front of that cluster (TEST_PGBOUNCER_URL).
    static var pgbouncer: Bool { underCI || ProcessInfo.processInfo.environment["TEST_PGBOUNCER_URL"] != nil }

    /// Node.js, for the dotenv comparison with `util.parseEnv`.
    static var node: Bool { underCI || succeeds(["node", "--version"]) }

    /// Python modules, for the independent checkers in `scripts/`.
    static func python(_ modules: String...) -> Bool {
        underCI || succeeds(["python3", "-c", "import " + modules.joined(separator: ", ")])
    }

    private static func succeeds(_ arguments: [String]) -> Bool {
        (try? runProcessBlocking(arguments))?.status == 0
    }
}

/// The database engines a test runs against. PostgreSQL comes from `scripts/test` (TEST_DATABASE_URL).
/// Engine-parameterised tests take `Engine.available`: both engines wherever `Tool.postgres` holds
/// (always under CI, so a missing cluster fails there), else SQLite alone. The test
/// "PostgreSQL cases run" is then shown as skipped, so the omission is never silent.
enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var available: [Engine] { Tool.postgres ? [.sqlite, .postgres] : [.sqlite] }
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

/// A fresh, empty database for one test: an SQLite file in a temp folder, or a new PostgreSQL database
/// that the suite's `.dropsTestDatabases` trait drops when the test ends.
struct TestDatabase: Sendable {
    let location: DatabaseLocation
    let url: String
    let dir: TempDir

    var postgres: PostgresLocation? {
        if case .postgres(let pg) = location { pg } else { nil }
    }

    static var adminURL: String? { ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] }

    static func make(_ engine: Engine) async throws -> TestDatabase {
        let dir = try TempDir()
        switch engine {
        case .sqlite:
            let path = dir.url.appendingPathComponent("test.sqlite").path
            return TestDatabase(location: .sqlite(path: path), url: "sqlite://\(path)", dir: dir)
        case .postgres:
            guard let admin = adminURL else { throw MissingPostgres() }
            guard let registry = CreatedDatabases.current else {
                throw UnscopedDatabase()
            }
            let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try await adminSQL("CREATE DATABASE \(name)")
            registry.add(String(name))
            var components = URLComponents(string: admin)!
            components.path = "/\(name)"
            let url = components.string!
            return TestDatabase(location: try DatabaseLocation(url: url), url: url, dir: dir)
        }
    }

    /// Runs one statement on the cluster's `postgres` database.
    static func adminSQL(_ statement: String) async throws {
        guard let admin = adminURL else { throw MissingPostgres() }
        let adminDB = try AppDatabase(location: try DatabaseLocation(url: admin), logger: quietLogger)
        try await adminDB.withRunning {
            try await adminDB.withConnection { db in try await db.raw("\(unsafeRaw: statement)").run() }
        }
    }

    struct UnscopedDatabase: Error, CustomStringConvertible {
        var description: String { "TestDatabase.make(.postgres) needs the suite trait .dropsTestDatabases, which drops it afterwards" }
    }
}

/// The PostgreSQL databases made during one test, dropped when it ends (pass or fail).
final class CreatedDatabases: Sendable {
    @TaskLocal static var current: CreatedDatabases?

    private let names = Mutex<[String]>([])
    func add(_ name: String) { names.withLock { $0.append(name) } }

    func dropAll() async {
        for name in names.withLock({ $0 }) {
            do {
                try await TestDatabase.adminSQL("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            } catch {
                Issue.record("could not drop test database \(name): \(error)")
            }
        }
    }
}

/// Suite trait: every PostgreSQL database a test of the suite makes is dropped when the test ends.
struct DropsTestDatabases: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    /// Only around each test case (the leaves): a scope around a whole suite or a parameterised test
    /// would hold its databases, and a slot of Swift Testing's parallelism, for all of its children.
    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite || (test.isParameterized && testCase == nil) ? nil : self
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let created = CreatedDatabases()
        do {
            try await CreatedDatabases.$current.withValue(created) { try await function() }
        } catch {
            await created.dropAll()
            throw error
        }
        await created.dropAll()
    }
}

extension Trait where Self == DropsTestDatabases {
    static var dropsTestDatabases: Self { Self() }
}

/// A loopback port with nothing listening on it (bound by the OS, then released): connections to it
/// are refused. No fixed port numbers in tests.
func refusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
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

    func append(_ line: Line) {
        SecretSweep.said(line.text, by: "log")
        storage.withLock { $0.append(line) }
    }

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

/// Runs a program to completion on a thread of its own, so the wait never holds one of the few
/// threads Swift concurrency runs tests on (two on this machine): a blocked pool stalls every test.
func runProcess(
    _ arguments: [String], executable: URL? = nil, environment: [String: String]? = nil,
    directory: URL? = nil, stdin text: String? = nil
) async throws -> ProcessOutput {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                try runProcessBlocking(arguments, executable: executable, environment: environment, directory: directory, stdin: text)
            })
        }
    }
}

/// Runs a program to completion, feeding `stdin`; stdout and stderr are drained side by side so a
/// chatty stderr can never block the child. `executable` nil means "find `arguments[0]` on PATH".
/// Blocks its thread: from async code, call `runProcess`.
func runProcessBlocking(
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

/// Runs `body` on a connection of its own to `db` holding the session-level advisory lock `key`: a
/// gate a migration statement such as `SELECT pg_advisory_xact_lock(key)` waits at until the test
/// releases it, so a test decides when a migration may go on however loaded the machine is.
func holdingAdvisoryLock(_ db: TestDatabase, _ key: Int, _ body: @escaping @Sendable (any SQLDatabase) async throws -> Void) async throws {
    let database = try AppDatabase(location: db.location, logger: quietLogger)
    try await database.withRunning {
        try await database.withConnection { sql in
            try await sql.raw("SELECT pg_advisory_lock(\(unsafeRaw: String(key)))").run()
            try await body(sql)
        }
    }
}

/// Waits until a session in `db` waits for the advisory lock `key`.
func waitForLockWaiter(_ sql: any SQLDatabase, _ key: Int) async throws {
    for _ in 0..<1200 {
        let waiting = try await sql.raw("""
            SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = \(unsafeRaw: String(key))
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """).first()?.decode(column: "n", as: Int.self) ?? 0
        if waiting > 0 { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("nothing waited for advisory lock \(key)")
}

/// A PostgreSQL cluster of a test's own, in a temp folder on a free loopback port, for faults that stop
/// and start the server itself (the shared cluster of scripts/test must stay up). `initdb` and
/// `pg_ctl` come from PATH (scripts/test puts PostgreSQL's bin folder there), run as `postgres` when
/// the tests run as root.
final class OwnCluster: Sendable {
    let dir: TempDir
    let port: Int
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    init() async throws {
        dir = try TempDir()
        port = try refusedPort()
        if geteuid() == 0 {
            _ = try await runProcess(["chown", "postgres", dir.path])
        }
        try await run("initdb -D \(dir.path)/data -U postgres --auth=trust --no-sync > /dev/null")
    }

    deinit {
        _ = Self.spawnAndWait(Self.shell("pg_ctl -D \(dir.path)/data -m immediate stop"), errors: "/dev/null")
    }

    func start() async throws {
        try await run("pg_ctl -D \(dir.path)/data -l \(dir.path)/log -w -o '-p \(port) -k \(dir.path) -c listen_addresses=127.0.0.1' start > /dev/null")
    }

    /// A fast restart: every client connection is ended.
    func restart() async throws {
        try await run("pg_ctl -D \(dir.path)/data -l \(dir.path)/log -w -m fast -o '-p \(port) -k \(dir.path) -c listen_addresses=127.0.0.1' restart > /dev/null")
    }

    /// `command` in a shell, as `postgres` (through setpriv) when the tests run as root.
    private static func shell(_ command: String) -> [String] {
        geteuid() == 0
            ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "sh", "-c", command]
            : ["sh", "-c", command]
    }

    private func run(_ command: String) async throws {
        let errors = dir.path + "/command.err"
        let status = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: Self.spawnAndWait(Self.shell(command), errors: errors)) }
        }
        guard status == 0 else {
            throw ClusterFailed(command: command, output: (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")
        }
    }

    /// Runs a command to its end with posix_spawn and waitpid, its stderr into `errors`. Not
    /// Foundation's Process: a `pg_ctl start` run through it stayed a zombie that `waitUntilExit`
    /// never saw end (its exit went unnoticed), so the test hung.
    private static func spawnAndWait(_ arguments: [String], errors: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    struct ClusterFailed: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String { "\(command): \(output)" }
    }
}
