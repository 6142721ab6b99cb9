import AppServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import AppCore

/// A loopback port that accepts no connection and refuses none: its listen queue is full, so a
/// connection attempt gets no answer and times out. Kept open for as long as the value lives.
final class SilentPort: Sendable {
    let port: Int
    private let descriptors: [Int32]

    init() throws {
        var (listener, address) = try boundLoopbackSocket()
        guard listen(listener, 0) == 0 else { throw POSIXError(.EADDRINUSE) }
        var descriptors = [listener]
        // Fill the queue; it is never accepted from, so later SYNs are dropped.
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        for _ in 0..<4 {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
            }
            descriptors.append(client)
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptors = descriptors
    }

    deinit { for fd in descriptors { close(fd) } }
}

/// A loopback port bound but not listening: a connection to it is refused. Unlike `refusedPort()`,
/// the port stays bound for as long as the value lives, so no other test can take it meanwhile.
final class RefusingPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let (fd, address) = try boundLoopbackSocket()
        port = Int(UInt16(bigEndian: address.sin_port))
        descriptor = fd
    }

    deinit { close(descriptor) }
}

/// The test cluster's URL with one part changed.
func testClusterURL(user: String? = nil, password: String? = nil, database: String? = nil, query: String? = nil) throws
    -> String
{
    let admin = try #require(TestDatabase.adminURL)
    var components = try #require(URLComponents(string: admin))
    if let user { components.user = user }
    if let password { components.password = password }
    if let database { components.path = "/\(database)" }
    if let query { components.query = query }
    return try #require(components.string)
}

/// Connects once through the pool; returns what it threw and how long the caller waited for it (the
/// pool's own shutdown afterwards, which a one-shot test adds, is not counted).
func connectFailure(_ url: String, wait: Duration = .seconds(3)) async throws -> (
    error: DatabaseConnectError?, took: Duration
) {
    let database = try AppDatabase(location: try DatabaseLocation(url: url), logger: quietLogger)
    return try await database.withRunning {
        let started = ContinuousClock.now
        do {
            try await database.withConnection(wait: wait) { try await $0.raw("SELECT 1").run() }
            return (nil, ContinuousClock.now - started)
        } catch {
            return (error as? DatabaseConnectError, ContinuousClock.now - started)
        }
    }
}

@Suite("database errors name their cause, at once")
struct DatabaseErrorTests {
    static let wrongPassword = "not-the-password-7f3a"

    /// The role `scripts/test`'s cluster makes give a password (SCRAM); everyone else is trusted.
    /// Made once per run, however many tests ask at the same time.
    static func makePasswordRole() async throws { try await passwordRole.value }

    private static let passwordRole = Task {
        try await TestDatabase.adminSQL(
            """
            DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'acc') THEN CREATE ROLE acc LOGIN PASSWORD 'acc-right-password'; END IF;
            END $$
            """)
    }

    struct ServerCase: Sendable, CustomTestStringConvertible {
        var name: String
        var url: @Sendable () throws -> String
        var cause: @Sendable (DatabaseConnectError.Cause) -> Bool
        var message: String
        var hint: String
        var testDescription: String { name }
    }

    static let serverCases: [ServerCase] = [
        ServerCase(
            name: "wrong password", url: { try testClusterURL(user: "acc", password: wrongPassword) },
            cause: { $0 == .server(sqlState: "28P01", message: "password authentication failed for user \"acc\"") },
            message: "password authentication failed for user \"acc\" (SQLSTATE 28P01)",
            hint: "Check the password in DATABASE_URL."),
        ServerCase(
            name: "database does not exist", url: { try testClusterURL(database: "nosuchdb") },
            cause: { $0 == .server(sqlState: "3D000", message: "database \"nosuchdb\" does not exist") },
            message: "database \"nosuchdb\" does not exist (SQLSTATE 3D000)",
            hint: "Create the database, or fix its name in DATABASE_URL."),
        ServerCase(
            name: "sslmode=require, server without TLS", url: { try testClusterURL(query: "sslmode=require") },
            cause: { $0 == .tlsUnsupported }, message: "the server does not support TLS, which sslmode requires",
            hint: "Set sslmode=disable in DATABASE_URL, or enable TLS on the server."),
    ]

    @Test(
        "an error the server sends while connecting reaches the caller in about a second, with its message and SQLSTATE, never the password",
        .enabled(if: Tool.postgres), arguments: serverCases)
    func serverErrors(_ item: ServerCase) async throws {
        try await Self.makePasswordRole()
        let url = try item.url()
        // A long wait, so "at once" is measured against it rather than against a loaded machine's pace.
        let (error, took) = try await connectFailure(url, wait: .seconds(30))
        let failure = try #require(error)
        #expect(item.cause(failure.cause), "\(failure.cause)")
        #expect(failure.description.contains(item.message), "\(failure)")
        #expect(failure.description.hasPrefix("PostgreSQL at 127.0.0.1:"))
        #expect(failure.hint == item.hint)
        #expect(!failure.description.contains(Self.wrongPassword) && !failure.description.contains("test-db-password"))
        // Well under the wait: the cause ends it, not the clock.
        #expect(took < .seconds(10), "took \(took)")
    }

    @Test("a refused connection is retried for the whole wait, then reported as refused with how long it was retried")
    func refused() async throws {
        let refusing = try RefusingPort()
        let port = refusing.port
        // A wait long enough that the diagnosis's own attempt is answered within it however loaded the machine.
        let (error, took) = try await connectFailure(
            "postgres://u:secret-pass@127.0.0.1:\(port)/d?sslmode=disable", wait: .seconds(6))
        withExtendedLifetime(refusing) {}
        let failure = try #require(error)
        #expect(failure.cause == .refused)
        // Bounded by the wait, not for ever; the upper bound leaves room for the suite's own load.
        #expect(took >= .seconds(6) && took < .seconds(30), "took \(took)")
        #expect(
            failure.description.contains("connection refused (nothing listens on port \(port)), retried for "),
            "\(failure)")
        #expect(!failure.description.contains("secret-pass"))
        #expect(failure.hint.contains("that PostgreSQL is running"))
    }

    @Test("a connection attempt nobody answers is reported as timed out, told apart from refused")
    func timedOut() async throws {
        let silent = try SilentPort()
        let (error, took) = try await connectFailure(
            "postgres://u@127.0.0.1:\(silent.port)/d?sslmode=disable", wait: .seconds(2))
        let failure = try #require(error)
        #expect(failure.cause == .timedOut)
        #expect(failure.description.contains("the connection attempt timed out"), "\(failure)")
        // Bounded by the wait, not for ever; the upper bound leaves room for the suite's own load.
        #expect(took >= .seconds(2) && took < .seconds(30), "took \(took)")
        withExtendedLifetime(silent) {}
    }

    @Test(
        "app migrate, app check and POST /api/migrate's log each name a wrong password's cause at once, without it",
        .enabled(if: Tool.postgres))
    func everySurface() async throws {
        try await Self.makePasswordRole()
        let url = try testClusterURL(user: "acc", password: Self.wrongPassword)
        let dir = try TempDir()
        let started = ContinuousClock.now
        // A 60 s connection wait: "at once" is measured against it, not against a loaded machine's pace.
        let migrate = try await AppBinary.run(
            ["migrate"], environment: ["DATABASE_URL": url, "APP_ENV": "test", "DATABASE_POOL_TIMEOUT": "60"],
            directory: dir.url)
        #expect(ContinuousClock.now - started < .seconds(30), "the cause ended the wait, not the clock")
        #expect(migrate.status == 1)
        #expect(migrate.err.hasPrefix("error: database unavailable: PostgreSQL at 127.0.0.1:"), "\(migrate.err)")
        #expect(migrate.err.contains("password authentication failed") && migrate.err.contains("28P01"))

        let check = try await AppBinary.run(
            ["check"],
            environment: [
                "DATABASE_URL": url, "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration,
                "NEXTAUTH_SECRET": Secrets.session,
            ], directory: dir.url)
        #expect(
            check.out.contains(
                "ERROR database.unreachable: The database named by DATABASE_URL cannot be used: PostgreSQL at 127.0.0.1:"
            ), "\(check.out)")
        #expect(check.out.contains("Check the password in DATABASE_URL."))
        for output in [migrate.out, migrate.err, check.out, check.err] { #expect(!output.contains(Self.wrongPassword)) }

        let logs = LogCapture()
        let config = try AppConfig(variables: [
            "DATABASE_URL": url, "APP_ENV": "test", "MIGRATION_SECRET": Secrets.migration,
        ])
        try await buildApplication(config: config, logger: logs.logger(), migrations: Migration.all).sweptTest(.router)
        { client in
            try await client.execute(
                uri: "/api/migrate", method: .post, headers: [.authorization: "Bearer \(Secrets.migration)"]
            ) { response in
                #expect(response.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
        }
        let lines = logs.lines.filter { $0.text.contains("28P01") }
        #expect(lines.contains { $0.message.contains("migration endpoint") }, "\(logs.text)")
        #expect(lines.contains { $0.message.contains("health") }, "\(logs.text)")
        #expect(!logs.text.contains(Self.wrongPassword))
    }
}
