import AppServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import AppCore

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
        var description: String {
            "TestDatabase.make(.postgres) needs the suite trait .dropsTestDatabases, which drops it afterwards"
        }
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

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void)
        async throws
    {
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

/// Runs `body` on a connection of its own to `db` holding the session-level advisory lock `key`: a
/// gate a migration statement such as `SELECT pg_advisory_xact_lock(key)` waits at until the test
/// releases it, so a test decides when a migration may go on however loaded the machine is.
func holdingAdvisoryLock(
    _ db: TestDatabase, _ key: Int, _ body: @escaping @Sendable (any SQLDatabase) async throws -> Void
) async throws {
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
        let waiting =
            try await sql.raw(
                """
                SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = \(unsafeRaw: String(key))
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        if waiting > 0 { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("nothing waited for advisory lock \(key)")
}
